"""The real Connect worker process for the end-to-end tests (and the connector benchmarks):
started on a free port with a state directory of its own, stopped by its pid only."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from telemetry_lib.services import free_port

# The worker answers GET / within a couple of seconds; 60 s covers a loaded 2-core machine.
START_TIMEOUT_S = 60.0
# A graceful stop commits offsets and closes the Kafka clients: a few seconds.
STOP_TIMEOUT_S = 20.0


@dataclass
class WorkerProcess:
    """``python -m telemetry_lib.connectors.server`` on ``port`` with ``state_dir``."""

    bootstrap: str
    state_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    #: Names this worker's storage topics: workers of different tests share the session's
    #: broker, and must not load each other's connectors (a restart keeps the same ones).
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.state_dir.parent / f"worker-{self.port}.log"

    def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "telemetry_lib.connectors.server",
                 "--port", str(self.port), "--bootstrap", self.bootstrap,
                 "--state-dir", str(self.state_dir),
                 "--worker-property", "offset.flush.interval.ms=200",
                 "--worker-property", f"config.storage.topic=connect-configs-{self.tag}",
                 "--worker-property", f"offset.storage.topic=connect-offsets-{self.tag}",
                 "--worker-property", f"status.storage.topic=connect-status-{self.tag}",
                 "--worker-property", f"group.id=connect-{self.tag}"],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                if httpx.get(self.url + "/", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the Connect worker did not start:\n{self.tail()}")
            time.sleep(0.1)

    def stop(self, *, kill: bool = False) -> None:
        """SIGTERM (graceful) or SIGKILL (a crash) to the worker's own pid."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
