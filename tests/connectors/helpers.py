"""The Connect worker as a real process for the tests: started on a free port against the
session's embedded Kafka, with the test plugins loaded, stopped (or killed) by pid."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from pathlib import Path

from tests.support.processes import ROOT, CliServerProcess

__all__ = ["PLUGINS", "ROOT", "WorkerProcess", "wait_for"]

PLUGINS = Path(__file__).with_name("counter_plugins.py")


class WorkerProcess(CliServerProcess):
    """``python -m telemetry_lib.connectors.server`` with its own storage topics."""

    MODULE = "telemetry_lib.connectors.server"
    HEALTH_PATH = "/"

    def __init__(self, bootstrap: str, state_dir: Path, log: Path, *,
                 prefix: str | None = None, properties: Mapping[str, str] | None = None) -> None:  # fmt: skip
        super().__init__(log)
        self.bootstrap = bootstrap
        self.state_dir = state_dir
        self.prefix = prefix or f"w{uuid.uuid4().hex[:8]}"
        self.properties = {
            "config.storage.topic": f"{self.prefix}-configs",
            "offset.storage.topic": f"{self.prefix}-offsets",
            "status.storage.topic": f"{self.prefix}-status",
            "offset.storage.partitions": "3",
            "status.storage.partitions": "1",
            **(properties or {}),
        }

    def arguments(self) -> list[str]:
        argv = ["--bootstrap", self.bootstrap, "--state-dir", str(self.state_dir),
                "--plugin-path", str(PLUGINS)]  # fmt: skip
        for key, value in self.properties.items():
            argv += ["--worker-property", f"{key}={value}"]
        return argv


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
