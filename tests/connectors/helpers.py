"""The Connect worker as a real process for the tests: started on a free port against the
session's embedded Kafka, with the test plugins loaded, stopped (or killed) by pid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

import httpx

from telemetry_lib.services import free_port

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = Path(__file__).with_name("counter_plugins.py")
# The worker answers once its storage topics are read; a loaded 2-core machine is slow.
START_TIMEOUT_S = 60.0


class WorkerProcess:
    """``python -m telemetry_lib.connectors.server`` with its own storage topics."""

    def __init__(self, bootstrap: str, state_dir: Path, log: Path, *,
                 prefix: str | None = None, properties: Mapping[str, str] | None = None) -> None:  # fmt: skip
        self.bootstrap = bootstrap
        self.state_dir = state_dir
        self.log = log
        self.prefix = prefix or f"w{uuid.uuid4().hex[:8]}"
        self.properties = {
            "config.storage.topic": f"{self.prefix}-configs",
            "offset.storage.topic": f"{self.prefix}-offsets",
            "status.storage.topic": f"{self.prefix}-status",
            "offset.storage.partitions": "3",
            "status.storage.partitions": "1",
            **(properties or {}),
        }
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WorkerProcess:
        argv = [sys.executable, "-m", "telemetry_lib.connectors.server", "--port", str(self.port),
                "--bootstrap", self.bootstrap, "--state-dir", str(self.state_dir),
                "--plugin-path", str(PLUGINS)]  # fmt: skip
        for key, value in self.properties.items():
            argv += ["--worker-property", f"{key}={value}"]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.tail()
            try:
                if httpx.get(self.url + "/", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"worker did not start: {self.tail()}")

    def restarted(self) -> WorkerProcess:
        """A new process with the same storage (topics and state dir) on a new port."""
        self.stop()
        self.port = free_port()
        return self.start()

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)

    def tail(self, n: int = 4000) -> str:
        return self.log.read_text()[-n:] if self.log.exists() else "(no log)"


def wait_for(predicate, *, timeout: float = 60.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it returns a truthy value (returned) or fail after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")
