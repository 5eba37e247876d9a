"""One of our CLI servers as a real process for the tests: ``python -m <module>`` started on a
free port, ready once its health path answers 200, stopped (SIGTERM, then SIGKILL) or killed
(``kill9``) by its own pid only.

A server is a subclass naming its module, health path and arguments::

    class WorkerProcess(CliServerProcess):
        MODULE = "telemetry_lib.connectors.server"
        HEALTH_PATH = "/"

        def arguments(self) -> list[str]:
            return ["--bootstrap", self.bootstrap, ...]     # ``--port`` is added here

Its output goes to ``log`` (appended, so a restart keeps the earlier run's lines).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import ClassVar, Self

import httpx

from telemetry_lib.services import free_port

__all__ = ["ROOT", "CliServerProcess"]

#: The repository root: the processes run from it, as the CLI does in a checkout.
ROOT = Path(__file__).resolve().parents[2]
# A server imports polars and the engine (or the Connect worker reads its storage topics)
# before it answers: a few seconds, far more on a loaded 2-core machine.
START_TIMEOUT_S = 60.0
# A graceful stop commits offsets and closes the Kafka clients: seconds; past this, SIGKILL.
STOP_TIMEOUT_S = 30.0
# After SIGKILL the kernel reaps the process at once; this only bounds a stuck wait.
KILL_WAIT_S = 10.0
# How often start() asks the health path; each probe may take this long to answer.
POLL_INTERVAL_S = 0.2
PROBE_TIMEOUT_S = 1.0
# How much of the log an assertion message quotes.
TAIL_CHARS = 4000


class CliServerProcess:
    """``python -m MODULE --port <free port> <arguments()>``, healthy when ``HEALTH_PATH`` is 200."""

    MODULE: ClassVar[str]
    HEALTH_PATH: ClassVar[str]

    def __init__(self, log: Path) -> None:
        self.log = log
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def arguments(self) -> list[str]:
        """The command line after ``--port N`` (subclasses say what their server needs)."""
        raise NotImplementedError(f"{type(self).__name__} must say its server's arguments")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        """Start the process and wait until it is healthy; fail with its log's tail if it exits
        or does not answer within START_TIMEOUT_S."""
        argv = [sys.executable, "-m", self.MODULE, "--port", str(self.port), *self.arguments()]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.MODULE} exited with {self.proc.returncode} while "
                                     f"starting:\n{self.tail()}")  # fmt: skip
            try:
                answer = httpx.get(self.url + self.HEALTH_PATH, timeout=PROBE_TIMEOUT_S)
                if answer.status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(POLL_INTERVAL_S)
        self.stop()
        raise AssertionError(f"{self.MODULE} did not answer {self.HEALTH_PATH} within "
                             f"{START_TIMEOUT_S:.0f} s:\n{self.tail()}")  # fmt: skip

    def restarted(self) -> Self:
        """A new process with the same arguments (state, topics) on a new port."""
        self.stop()
        self.port = free_port()
        return self.start()

    def kill9(self) -> None:
        """A crash: SIGKILL to the process's pid, then reap it."""
        assert self.proc is not None, "kill9() before start()"
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(KILL_WAIT_S)

    def stop(self) -> None:
        """SIGTERM and wait for a graceful exit; SIGKILL if it takes over STOP_TIMEOUT_S."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(KILL_WAIT_S)

    def tail(self, n: int = TAIL_CHARS) -> str:
        """The last ``n`` characters of the process's log."""
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else "(no log)"
