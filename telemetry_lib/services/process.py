"""Processes the Stack owns: pid files and their meta, starting, identity checks, stopping.

A started service leaves two files in ``<workdir>/run/``: ``<name>.pid`` (the pid, for humans
and scripts) and ``<name>.json`` (:class:`ProcessRecord`: pid, port, exact argv, start time,
kernel start tick, log file). A pid is trusted, and ever signalled, only when the live process
has exactly the recorded command line and kernel start time; otherwise the record is stale
(the process died, or the pid was reused by something else) and is discarded untouched.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from telemetry_lib.errors import ServiceError
from telemetry_lib.services.spec import ServicePaths

__all__ = [
    "ProcessRecord",
    "clear_record",
    "exit_code",
    "is_alive",
    "is_ours",
    "read_record",
    "spawn",
    "tail",
    "terminate",
]

logger = logging.getLogger(__name__)

# Default SIGTERM grace before SIGKILL: NX-27017 closes its SQLite files within a second;
# 10 s leaves room for a loaded 2-core machine. (Tansu's spec sets a shorter one.)
STOP_GRACE_S = 10.0
# After SIGKILL the kernel tears the process down at once; this only bounds a hung D-state.
KILL_WAIT_S = 5.0
# Poll interval while waiting for a process to exit.
_EXIT_POLL_S = 0.02
# Popen handles of the processes this Python process started, so they are reaped (no zombies).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
# A service log bigger than this at start is moved to <name>.log.1 (replacing the previous
# one): NX-27017 logs every generic command at INFO, so a long-lived workdir would grow unbounded.
LOG_ROTATE_BYTES = 64 * 1024 * 1024
# Exit status of those children once reaped (for "exited during start (exit code N)").
_EXIT_CODES: dict[int, int] = {}


@dataclass(frozen=True)
class ProcessRecord:
    """What we know about a service process we started (``run/<name>.json``)."""

    service: str
    pid: int
    port: int
    argv: tuple[str, ...]
    started_at: float
    proc_start: int | None
    log_file: str
    log_offset: int

    def uptime_s(self, now: float | None = None) -> float:
        return max((time.time() if now is None else now) - self.started_at, 0.0)


def read_record(paths: ServicePaths) -> ProcessRecord | None:
    """The service's record, or None when there is none or it cannot be read."""
    if not paths.meta_file.exists():
        if paths.pid_file.exists():
            logger.warning("%s has no %s: ignoring it", paths.pid_file, paths.meta_file.name)
        return None
    try:
        data = json.loads(paths.meta_file.read_text())
        data["argv"] = tuple(data["argv"])
        return ProcessRecord(**data)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        logger.warning("unreadable %s (%s): treating it as stale", paths.meta_file, exc)
        return None


def clear_record(paths: ServicePaths) -> None:
    paths.pid_file.unlink(missing_ok=True)
    paths.meta_file.unlink(missing_ok=True)


def spawn(
    paths: ServicePaths,
    argv: Sequence[str],
    *,
    port: int,
    env: Mapping[str, str],
    cwd: Path,
) -> ProcessRecord:
    """Start ``argv`` in its own session, output appended to the service log; record it."""
    paths.run_dir.mkdir(parents=True, exist_ok=True)
    paths.logs_dir.mkdir(parents=True, exist_ok=True)
    if paths.log_file.exists() and paths.log_file.stat().st_size > LOG_ROTATE_BYTES:
        os.replace(paths.log_file, paths.log_file.with_name(paths.log_file.name + ".1"))
    with paths.log_file.open("ab") as log:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        log.write(f"--- {stamp} telemetry starts {paths.name}: {shlex.join(argv)}\n".encode())
        log.flush()
        offset = log.tell()
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=dict(env),
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            raise ServiceError(
                f"could not start {paths.name} ({argv[0]}): {exc.strerror or exc}",
                hint="check that the binary exists and is executable",
            ) from None
    _CHILDREN[proc.pid] = proc
    _EXIT_CODES.pop(proc.pid, None)
    record = ProcessRecord(
        service=paths.name,
        pid=proc.pid,
        port=port,
        argv=tuple(argv),
        started_at=time.time(),
        proc_start=_proc_start(proc.pid),
        log_file=str(paths.log_file),
        log_offset=offset,
    )
    _write_atomic(paths.meta_file, json.dumps(asdict(record), indent=2))
    _write_atomic(paths.pid_file, f"{proc.pid}\n")
    logger.info("started %s (pid %d): %s", paths.name, proc.pid, shlex.join(argv))
    return record


def is_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone; our own children get reaped)."""
    child = _CHILDREN.get(pid)
    if child is not None:
        code = child.poll()
        if code is not None:
            _EXIT_CODES[pid] = code
            del _CHILDREN[pid]
            return False
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _proc_state(pid) not in ("Z", "X")


def exit_code(pid: int) -> int | None:
    """Exit status of a child we started and that has exited, if known."""
    child = _CHILDREN.get(pid)
    return _EXIT_CODES.get(pid) if child is None else child.poll()


def is_ours(record: ProcessRecord) -> bool:
    """True only when ``record.pid`` is alive AND is the exact process we started."""
    if not is_alive(record.pid):
        return False
    cmdline = _cmdline(record.pid)
    if cmdline is None or tuple(cmdline) != record.argv:
        return False
    if record.proc_start is not None:
        start = _proc_start(record.pid)
        if start is not None and start != record.proc_start:
            return False
    return True


def terminate(record: ProcessRecord, *, grace_s: float = STOP_GRACE_S) -> bool:
    """SIGTERM the recorded process if it is ours, SIGKILL after ``grace_s``; wait for exit.

    Returns True when it was ours and is now gone; False when the record was stale (nothing is
    signalled then). Raises ServiceError if the process survives SIGKILL.
    """
    if not is_ours(record):
        return False
    logger.info("stopping %s (pid %d)", record.service, record.pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(record.pid, signal.SIGTERM)
    if _wait_exit(record.pid, grace_s):
        return True
    logger.info(
        "%s (pid %d) still running %gs after SIGTERM: SIGKILL", record.service, record.pid, grace_s
    )
    with contextlib.suppress(ProcessLookupError):
        os.kill(record.pid, signal.SIGKILL)
    if _wait_exit(record.pid, KILL_WAIT_S):
        return True
    raise ServiceError(
        f"{record.service} (pid {record.pid}) is still running after SIGKILL",
        hint=f"check the process with: ps -o pid,stat,cmd -p {record.pid}",
    )


def tail(path: Path, lines: int, *, offset: int = 0) -> list[str]:
    """The last ``lines`` lines of ``path`` after byte ``offset`` (reads only the end)."""
    if lines <= 0 or not path.exists():
        return []
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        block = 64 * 1024
        start = max(offset, size - block)
        while True:
            handle.seek(start)
            data = handle.read(size - start)
            if data.count(b"\n") > lines or start <= offset:
                break
            start = max(offset, start - block)
            block *= 2
    text = data.decode("utf-8", errors="replace").splitlines()
    return text[-lines:]


def _wait_exit(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not is_alive(pid):
            return True
        time.sleep(_EXIT_POLL_S)
    return not is_alive(pid)


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return _cmdline_from_ps(pid) if not Path("/proc/self").exists() else None
    except OSError:
        return None
    if not raw:
        return None
    return raw.rstrip(b"\0").decode("utf-8", errors="surrogateescape").split("\0")


def _cmdline_from_ps(pid: int) -> list[str] | None:
    """Fallback for systems without /proc (macOS): ``ps`` gives the command as one string."""
    try:
        out = subprocess.run(
            ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        return None
    return shlex.split(out) if out else None


def _proc_stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces: split after it.
    return raw[raw.rfind(")") + 2 :].split()


def _proc_state(pid: int) -> str | None:
    fields = _proc_stat_fields(pid)
    return fields[0] if fields else None


def _proc_start(pid: int) -> int | None:
    """Kernel start time of ``pid`` in clock ticks since boot (stat field 22)."""
    fields = _proc_stat_fields(pid)
    return int(fields[19]) if fields and len(fields) > 19 else None


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
