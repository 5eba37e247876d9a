"""The real Connect worker process for the MongoDB end-to-end tests: started on a free port with
a state directory and storage topics of its own, stopped (or killed) by its pid only.

A :class:`~tests.support.processes.CliServerProcess` (free port, health probe on ``GET /``,
SIGTERM/SIGKILL by pid); this subclass only says the worker's arguments, and keeps the
``stop(kill=True)`` spelling its callers use for a crash. Unlike the generic worker of
``tests/connectors/helpers.py`` it loads no test plugins and flushes source offsets every
:data:`OFFSET_FLUSH_INTERVAL_MS`, so a restart or crash mid-stream replays little.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.support.processes import CliServerProcess

__all__ = ["OFFSET_FLUSH_INTERVAL_MS", "WorkerProcess"]

#: Source offsets are committed this often: short, so the restart tests resume close to where
#: the worker stopped (Kafka Connect's default is 60 s).
OFFSET_FLUSH_INTERVAL_MS = 200


class WorkerProcess(CliServerProcess):
    """``python -m telemetry_lib.connectors.server`` with ``state_dir`` and its own topics.

    ``tag`` names its storage topics and group: workers of different tests share the session's
    broker and must not load each other's connectors (a restart keeps the same ones). Its log
    is ``log``, by default ``worker.log`` next to ``state_dir``.
    """

    MODULE = "telemetry_lib.connectors.server"
    HEALTH_PATH = "/"

    def __init__(
        self, bootstrap: str, state_dir: Path, *, log: Path | None = None, tag: str | None = None
    ) -> None:
        super().__init__(log or state_dir.parent / "worker.log")
        self.bootstrap = bootstrap
        self.state_dir = state_dir
        self.tag = tag or uuid.uuid4().hex[:8]

    def arguments(self) -> list[str]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        properties = {
            "offset.flush.interval.ms": str(OFFSET_FLUSH_INTERVAL_MS),
            "config.storage.topic": f"connect-configs-{self.tag}",
            "offset.storage.topic": f"connect-offsets-{self.tag}",
            "status.storage.topic": f"connect-status-{self.tag}",
            "group.id": f"connect-{self.tag}",
        }
        argv = ["--bootstrap", self.bootstrap, "--state-dir", str(self.state_dir)]
        for key, value in properties.items():
            argv += ["--worker-property", f"{key}={value}"]
        return argv

    def stop(self, *, kill: bool = False) -> None:
        """Graceful stop (SIGTERM, then SIGKILL past the timeout), or with ``kill`` a crash
        (SIGKILL at once). ``start()`` afterwards restarts it on the same port."""
        if kill and self.proc is not None and self.proc.poll() is None:
            self.kill9()
        else:
            super().stop()
