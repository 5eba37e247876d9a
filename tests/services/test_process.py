"""Process bookkeeping without services: log tails, records, port checks."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from telemetry_lib.services.ports import port_in_use, port_owner
from telemetry_lib.services.process import ProcessRecord, is_ours, read_record, tail
from telemetry_lib.services.spec import ServicePaths


def test_tail_reads_the_last_lines_after_the_offset(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    head = b"old run\n" * 10
    body = b"".join(f"line {i:06d} ".encode() + b"x" * 100 + b"\n" for i in range(3000))
    log.write_bytes(head + body)
    last = tail(log, 3, offset=len(head))
    assert [line.split()[1] for line in last] == ["002997", "002998", "002999"]
    assert tail(log, 50, offset=len(head) + len(body) - 20) == [
        body.splitlines()[-1][-19:].decode()
    ]
    assert tail(log, 100000, offset=len(head))[0].startswith("line 000000")
    assert tail(tmp_path / "missing.log", 5) == []


def test_unreadable_record_is_treated_as_absent(tmp_path: Path) -> None:
    paths = ServicePaths(tmp_path, "kafka")
    paths.run_dir.mkdir()
    paths.meta_file.write_text("{not json")
    paths.pid_file.write_text("1\n")
    assert read_record(paths) is None


def test_a_live_process_with_another_command_line_is_not_ours() -> None:
    record = ProcessRecord(
        service="kafka",
        pid=os.getpid(),
        port=1,
        argv=("/opt/tansu", "broker"),
        started_at=0.0,
        proc_start=None,
        log_file="/dev/null",
        log_offset=0,
    )
    assert not is_ours(record)


def test_port_checks_see_a_listener_and_name_its_process() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert port_in_use(port)
        owner = port_owner(port)
        assert owner is not None and owner.startswith(f"pid {os.getpid()} ")
    assert not port_in_use(port)
