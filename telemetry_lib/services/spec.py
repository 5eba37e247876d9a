"""What an embedded service is: the declarative :class:`ServiceSpec` and where its files live.

A service is described, not coded: its name, the services it needs first, the setting that
holds its port, how to build its command line, and which protocol proves it is healthy. The
:class:`~telemetry_lib.services.stack.Stack` does the rest (pid files, logs, start order,
health waits, repair, stop). Adding a service is one ``ServiceSpec`` in
``telemetry_lib/services/registry.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from telemetry_lib.config import Settings

__all__ = ["HealthProtocol", "ServicePaths", "ServiceSpec", "ServiceStatus"]

logger = logging.getLogger(__name__)

# kafka: a metadata request; mongo: the ping command; http: GET health_path answers 2xx.
HealthProtocol = Literal["kafka", "mongo", "http"]


@dataclass(frozen=True)
class ServicePaths:
    """Files of one service under the workdir: ``run/<name>.pid|.json``, ``logs/<name>.log``."""

    workdir: Path
    name: str

    @property
    def run_dir(self) -> Path:
        return self.workdir / "run"

    @property
    def logs_dir(self) -> Path:
        return self.workdir / "logs"

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def meta_file(self) -> Path:
        return self.run_dir / f"{self.name}.json"

    @property
    def log_file(self) -> Path:
        return self.logs_dir / f"{self.name}.log"

    @property
    def data_dir(self) -> Path:
        """The service's own data directory (``<workdir>/<name>``), for services that persist."""
        return self.workdir / self.name


# Builds the argv that starts the service listening on 127.0.0.1:port.
CommandBuilder = Callable[[Settings, ServicePaths, int], list[str]]
# Runs before every start: checks binaries (raising BinaryError), creates data dirs.
Preparer = Callable[[Settings, ServicePaths], None]


@dataclass(frozen=True)
class ServiceSpec:
    """One embedded service, declared (see the module docstring)."""

    name: str
    description: str
    port_setting: str
    command: CommandBuilder
    health: HealthProtocol
    depends_on: tuple[str, ...] = ()
    health_path: str = "/"
    prepare: Preparer | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    # Shown in `telemetry status`, e.g. that the broker keeps everything in memory only.
    note: str = ""
    # SIGTERM grace before SIGKILL when stopping it (None = process.STOP_GRACE_S).
    stop_grace_s: float | None = None

    def port(self, settings: Settings) -> int:
        value = getattr(settings, self.port_setting)
        assert isinstance(value, int), f"{self.port_setting} is not a port setting"
        return value

    def paths(self, settings: Settings) -> ServicePaths:
        return ServicePaths(settings.workdir, self.name)


@dataclass(frozen=True)
class ServiceStatus:
    """One row of ``telemetry status``: an embedded service or a remote profile endpoint."""

    service: str
    address: str
    pid: int | None
    uptime_s: float | None
    # "healthy" | "unhealthy: <why>" | "stopped[: <why>]" | "reachable" | "unreachable: <why>"
    health: str
    healthy: bool
    note: str = ""
