"""The :class:`Stack`: starts, checks, repairs and stops the embedded services.

``up``, in one locked step per workdir:

1. order the selected services (and their dependencies) into waves: a wave starts only when
   every service of the waves before it answers its protocol;
2. for each service, look at its record in ``<workdir>/run/``: ours, alive and healthy -> leave
   it; ours but not answering -> stop it and start it again; stale (dead, or the pid now belongs
   to another process) -> forget the record, never signal that pid;
3. before starting anything, check every port to be used is free and every binary is there and
   has its pinned checksum (so a bad setting starts nothing);
4. start the wave's services, then wait until each answers its protocol within
   ``settings.up_timeout_s``; a service that exits or stays silent fails ``up``;
5. on any failure, stop exactly what this call started and raise with the service's last log
   lines.

``down`` stops exactly the recorded processes that are still ours (SIGTERM, bounded wait,
SIGKILL), dependents first, and removes their records. Under a remote profile nothing is
started: ``up`` and ``status`` check that the profile's endpoints answer.
"""

from __future__ import annotations

import dataclasses
import fcntl
import logging
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

from telemetry_lib.config import ENV_PREFIX, Settings, env_var
from telemetry_lib.errors import ConnectionFailed, PortInUseError, ServiceError
from telemetry_lib.services import process
from telemetry_lib.services.health import HealthResult, probe
from telemetry_lib.services.ports import LOOPBACK, accepting, port_in_use, port_owner
from telemetry_lib.services.process import ProcessRecord
from telemetry_lib.services.registry import SERVICES
from telemetry_lib.services.remote import check_remote
from telemetry_lib.services.spec import ServiceSpec, ServiceStatus

__all__ = ["Stack", "StartedService", "UpReport"]

logger = logging.getLogger(__name__)

# One health probe of a running service: local answers come in milliseconds; 2 s tolerates a
# loaded machine without making `status` slow when something hangs.
PROBE_TIMEOUT_S = 2.0
# Pause between readiness polls while a service starts (Tansu is ready in ~10 ms, NX-27017 in
# about half a second): short enough not to add visible latency to `up`.
_POLL_S = 0.05
# TCP connect attempt while waiting for a starting service to listen.
_CONNECT_TIMEOUT_S = 0.25
# How many log lines a start failure quotes.
LOG_LINES_ON_FAILURE = 20
# After a process exits the kernel frees its listening socket at once; this bounds the check.
_PORT_RELEASE_S = 5.0

Action = Literal["started", "restarted", "already running", "remote"]


@dataclass(frozen=True)
class StartedService:
    """What ``up`` did for one service."""

    service: str
    action: Action
    address: str
    pid: int | None
    note: str = ""


@dataclass(frozen=True)
class UpReport:
    """The result of ``up``: one entry per service, and how long it took."""

    services: tuple[StartedService, ...]
    seconds: float

    @property
    def started(self) -> list[str]:
        return [s.service for s in self.services if s.action in ("started", "restarted")]


class Stack:
    """The embedded services of one workdir; a context manager for notebooks and tests.

    ``with Stack(settings) as stack:`` brings the stack up and, on exit, stops only the
    services this Stack started (services that were already running stay up).
    ``services`` limits the stack to those services and their dependencies.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        services: Sequence[str] | None = None,
        specs: Sequence[ServiceSpec] | None = None,
    ) -> None:
        if not settings.workdir.is_absolute():
            # Commands run with the workdir as cwd: every path handed to them must be absolute.
            settings = dataclasses.replace(settings, workdir=settings.workdir.absolute())
        self.settings = settings
        self._all = _topological(list(SERVICES if specs is None else specs))
        self._specs = _select(self._all, services)
        self._started: list[ServiceSpec] = []

    # --- public API ------------------------------------------------------------------------

    @property
    def service_names(self) -> list[str]:
        return [spec.name for spec in self._specs]

    def up(self) -> UpReport:
        """Start what is not running and healthy; return only when all answer (see module doc)."""
        began = time.monotonic()
        if not self.settings.is_embedded:
            return self._up_remote(began)
        with self._locked():
            started_now: list[ServiceSpec] = []
            try:
                results = self._up_locked(started_now)
            except BaseException:
                self._stop_specs(reversed(started_now))
                raise
            self._started.extend(started_now)
        return UpReport(tuple(results), time.monotonic() - began)

    def down(self) -> list[ProcessRecord]:
        """Stop every recorded service process that is ours; return the records stopped.

        Services that depend on a stopped one are stopped too (first), so nothing is left
        running against a broker that is gone.
        """
        if not self.settings.is_embedded:
            return []
        with self._locked():
            stopped = self._stop_specs(reversed(_with_dependents(self._all, self._specs)))
        self._started.clear()
        return stopped

    def stop_started(self) -> list[ProcessRecord]:
        """Stop only the services this Stack object started (what ``__exit__`` does)."""
        with self._locked():
            stopped = self._stop_specs(reversed(self._started))
        self._started.clear()
        return stopped

    def status(self) -> list[ServiceStatus]:
        """One row per service: address, pid, uptime, health (probed by protocol)."""
        if not self.settings.is_embedded:
            return check_remote(self.settings)
        return [self._status_of(spec) for spec in self._specs]

    def spec(self, name: str) -> ServiceSpec:
        for spec in self._all:
            if spec.name == name:
                return spec
        raise ServiceError(
            f"unknown service {name!r}",
            hint=f"services are: {', '.join(s.name for s in self._all)}",
        )

    def log_file(self, name: str) -> Path:
        return self.spec(name).paths(self.settings).log_file

    def tail_log(self, name: str, lines: int) -> list[str]:
        return process.tail(self.log_file(name), lines)

    def __enter__(self) -> Stack:
        self.up()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_started()

    # --- up --------------------------------------------------------------------------------

    def _up_locked(self, started_now: list[ServiceSpec]) -> list[StartedService]:
        plan: dict[str, Action] = {}
        running: dict[str, ProcessRecord] = {}
        notes: dict[str, str] = {spec.name: self._note(spec) for spec in self._specs}
        for spec in self._specs:
            previous = process.read_record(spec.paths(self.settings))
            record = self._live_record(spec)
            if record is None:
                plan[spec.name] = "started"
                if previous is not None:  # it had been started and died since (or was killed)
                    notes[spec.name] = (
                        f"previous pid {previous.pid} was no longer running; {notes[spec.name]}"
                    )
                continue
            ok, why = self._healthy(spec, record.port)
            if ok or accepting(record.port, timeout_s=_CONNECT_TIMEOUT_S):
                # A slow answer from a server that still accepts connections means busy (NX-27017
                # serves one command at a time), not broken: restarting would cut off its work.
                if not ok:
                    logger.warning("%s (pid %d) is slow to answer: %s", spec.name, record.pid, why)
                    notes[spec.name] = f"busy? {why}"
                plan[spec.name] = "already running"
                running[spec.name] = record
            else:
                logger.warning("%s (pid %d) is not answering: restarting it", spec.name, record.pid)
                process.terminate(record, grace_s=_grace(spec))
                process.clear_record(spec.paths(self.settings))
                plan[spec.name] = "restarted"
        to_start = [spec for spec in self._specs if plan[spec.name] != "already running"]
        self._preflight(to_start)
        results: dict[str, StartedService] = {}
        for name, record in running.items():
            results[name] = StartedService(
                name, "already running", f"{LOOPBACK}:{record.port}", record.pid, notes[name]
            )
        deadline = time.monotonic() + self.settings.up_timeout_s
        for wave in _waves(to_start, set(running)):
            records = []
            for spec in wave:
                records.append((spec, self._start(spec)))
                started_now.append(spec)
            for spec, record in records:
                self._wait_healthy(spec, record, deadline)
                results[spec.name] = StartedService(
                    spec.name,
                    plan[spec.name],
                    f"{LOOPBACK}:{record.port}",
                    record.pid,
                    notes[spec.name],
                )
        return [results[spec.name] for spec in self._specs]

    def _live_record(self, spec: ServiceSpec) -> ProcessRecord | None:
        """The service's record if its process is ours and alive; stale records are dropped."""
        paths = spec.paths(self.settings)
        record = process.read_record(paths)
        if record is None:
            if paths.pid_file.exists():
                process.clear_record(paths)
            return None
        if not process.is_ours(record):
            logger.info(
                "%s: pid %d is gone or not ours: stale record removed", spec.name, record.pid
            )
            process.clear_record(paths)
            return None
        wanted = spec.port(self.settings)
        if record.port != wanted:
            raise ServiceError(
                f"{spec.name} is already running on port {record.port} (pid {record.pid}), but the "
                f"settings ask for port {wanted}",
                hint=f"run `telemetry down` first to change ports, or keep {record.port} "
                f"(--{spec.port_setting.replace('_', '-')} {record.port} or "
                f"{env_var(spec.port_setting)}={record.port})",
            )
        return record

    def _preflight(self, to_start: Sequence[ServiceSpec]) -> None:
        """Check ports and binaries of everything about to start, before starting any of it."""
        for spec in to_start:
            port = spec.port(self.settings)
            if port_in_use(port):
                owner = port_owner(port)
                flag = "--" + spec.port_setting.replace("_", "-")
                raise PortInUseError(
                    f"port {port} for {spec.name} is already in use"
                    + (f" by {owner}" if owner else " by another process")
                    + "; nothing was started",
                    hint=f"stop that process, or choose another port: telemetry up {flag} N, "
                    f"{env_var(spec.port_setting)}=N, or {spec.port_setting} = N in workbench.toml",
                )
        for spec in to_start:
            if spec.prepare is None:
                continue
            try:
                spec.prepare(self.settings, spec.paths(self.settings))
            except OSError as exc:
                raise ServiceError(
                    f"could not prepare {spec.name}: {exc}; nothing was started",
                    hint=f"check that the workdir {self.settings.workdir} is writable",
                ) from None

    def _start(self, spec: ServiceSpec) -> ProcessRecord:
        paths = spec.paths(self.settings)
        port = spec.port(self.settings)
        argv = spec.command(self.settings, paths, port)
        self.settings.workdir.mkdir(parents=True, exist_ok=True)
        return process.spawn(
            paths, argv, port=port, env=_child_env(spec), cwd=self.settings.workdir
        )

    def _wait_healthy(self, spec: ServiceSpec, record: ProcessRecord, deadline: float) -> None:
        why = "it never accepted a connection"
        while True:
            if not process.is_alive(record.pid):
                code = process.exit_code(record.pid)
                raise self._start_failure(
                    spec, record, f"exited during start (exit code {code})", why=None
                )
            if accepting(record.port, timeout_s=_CONNECT_TIMEOUT_S):
                remaining = max(deadline - time.monotonic(), _POLL_S)
                ok, why = self._healthy(
                    spec, record.port, timeout_s=min(PROBE_TIMEOUT_S, remaining)
                )
                if ok:
                    logger.info("%s is healthy (pid %d)", spec.name, record.pid)
                    return
            if time.monotonic() >= deadline:
                raise self._start_failure(
                    spec,
                    record,
                    f"did not answer its protocol within {self.settings.up_timeout_s:g}s",
                    why=why,
                )
            time.sleep(_POLL_S)

    def _start_failure(
        self, spec: ServiceSpec, record: ProcessRecord, what: str, *, why: str | None
    ) -> ServiceError:
        lines = process.tail(Path(record.log_file), LOG_LINES_ON_FAILURE, offset=record.log_offset)
        shown = "\n".join(f"    | {line}" for line in lines) or "    | (no output)"
        reason = f" ({why})" if why else ""
        if any("in use" in line for line in lines):  # "Address in use" / "address already in use"
            reason += f"; port {record.port} was taken by another process just as it started"
        return ServiceError(
            f"{spec.name} (pid {record.pid}) {what}{reason}; everything this `up` started was "
            f"stopped. Last lines of {record.log_file}:\n{shown}",
            hint=f"read the whole log with `telemetry logs {spec.name}`; raise up_timeout_s "
            f"({env_var('up_timeout_s')}) if the machine is just slow",
        )

    def _healthy(
        self, spec: ServiceSpec, port: int, *, timeout_s: float = PROBE_TIMEOUT_S
    ) -> HealthResult:
        return probe(
            spec.health,
            kafka_conf={"bootstrap.servers": f"{LOOPBACK}:{port}"},
            mongo_uri=f"mongodb://{LOOPBACK}:{port}",
            url=f"http://{LOOPBACK}:{port}{spec.health_path}",
            timeout_s=timeout_s,
        )

    def _up_remote(self, began: float) -> UpReport:
        rows = check_remote(self.settings)
        down = [row for row in rows if not row.healthy]
        if down:
            listed = "\n".join(f"  {row.service} at {row.address}: {row.health}" for row in down)
            raise ConnectionFailed(
                f"profile {self.settings.profile}: nothing is started locally, and these "
                f"endpoints are unreachable:\n{listed}",
                hint="check the endpoints and credentials (telemetry status shows them all), "
                "or use profile embedded for the local stack",
            )
        services = tuple(
            StartedService(row.service, "remote", row.address, None, row.health) for row in rows
        )
        return UpReport(services, time.monotonic() - began)

    # --- down / status ---------------------------------------------------------------------

    def _stop_specs(
        self, specs: Iterator[ServiceSpec] | Sequence[ServiceSpec]
    ) -> list[ProcessRecord]:
        stopped = []
        for spec in specs:
            paths = spec.paths(self.settings)
            record = process.read_record(paths)
            if record is not None and process.terminate(record, grace_s=_grace(spec)):
                stopped.append(record)
                self._wait_port_released(spec, record.port)
            elif record is not None:
                logger.info("%s: pid %d was not running (stale record)", spec.name, record.pid)
            process.clear_record(paths)
        return stopped

    def _wait_port_released(self, spec: ServiceSpec, port: int) -> None:
        deadline = time.monotonic() + _PORT_RELEASE_S
        while port_in_use(port):
            if time.monotonic() >= deadline:
                logger.warning(
                    "%s stopped but port %d is still in use (%s)",
                    spec.name,
                    port,
                    port_owner(port) or "unknown process",
                )
                return
            time.sleep(_POLL_S)

    def _status_of(self, spec: ServiceSpec) -> ServiceStatus:
        paths = spec.paths(self.settings)
        record = process.read_record(paths)
        if record is not None and process.is_ours(record):
            ok, why = self._healthy(spec, record.port)
            return ServiceStatus(
                spec.name,
                f"{LOOPBACK}:{record.port}",
                record.pid,
                record.uptime_s(),
                "healthy" if ok else f"unhealthy: {why}",
                ok,
                self._note(spec),
            )
        port = spec.port(self.settings)
        reasons = []
        if record is not None:
            reasons.append(f"stale pid file: pid {record.pid} is gone or not ours")
        if port_in_use(port):
            reasons.append(f"port {port} is in use by {port_owner(port) or 'another process'}")
        health = "stopped" + (": " + "; ".join(reasons) if reasons else "")
        return ServiceStatus(
            spec.name, f"{LOOPBACK}:{port}", None, None, health, False, self._note(spec)
        )

    def _note(self, spec: ServiceSpec) -> str:
        return spec.note.replace("<workdir>", str(self.settings.workdir))

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise up/down of one workdir across processes (an exclusive flock)."""
        run_dir = self.settings.workdir / "run"
        run_dir.mkdir(parents=True, exist_ok=True)
        with (run_dir / "stack.lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


# --- ordering ----------------------------------------------------------------------------------


def _topological(specs: list[ServiceSpec]) -> list[ServiceSpec]:
    by_name = {spec.name: spec for spec in specs}
    ordered: list[ServiceSpec] = []
    visiting: set[str] = set()

    def visit(spec: ServiceSpec) -> None:
        if spec in ordered:
            return
        if spec.name in visiting:
            raise ServiceError(f"services depend on each other in a cycle through {spec.name!r}")
        visiting.add(spec.name)
        for dep in spec.depends_on:
            if dep not in by_name:
                raise ServiceError(f"service {spec.name!r} depends on unknown service {dep!r}")
            visit(by_name[dep])
        visiting.discard(spec.name)
        ordered.append(spec)

    for spec in specs:
        visit(spec)
    return ordered


def _select(ordered: list[ServiceSpec], names: Sequence[str] | None) -> list[ServiceSpec]:
    if names is None:
        return ordered
    by_name = {spec.name: spec for spec in ordered}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise ServiceError(
            f"unknown service(s): {', '.join(unknown)}",
            hint=f"services are: {', '.join(by_name)}",
        )
    wanted: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name not in wanted:
            wanted.add(name)
            pending.extend(by_name[name].depends_on)
    return [spec for spec in ordered if spec.name in wanted]


def _with_dependents(ordered: list[ServiceSpec], chosen: list[ServiceSpec]) -> list[ServiceSpec]:
    """``chosen`` plus every service that (transitively) depends on one of them, in order."""
    names = {spec.name for spec in chosen}
    for spec in ordered:  # dependencies come first in ``ordered``
        if any(dep in names for dep in spec.depends_on):
            names.add(spec.name)
    return [spec for spec in ordered if spec.name in names]


def _waves(to_start: list[ServiceSpec], ready: set[str]) -> list[list[ServiceSpec]]:
    """Group services so each group depends only on services ready before it."""
    waves: list[list[ServiceSpec]] = []
    done = set(ready)
    pending = list(to_start)
    while pending:
        wave = [spec for spec in pending if all(dep in done for dep in spec.depends_on)]
        assert wave, "dependency order was checked by _topological"
        waves.append(wave)
        done.update(spec.name for spec in wave)
        pending = [spec for spec in pending if spec not in wave]
    return waves


def _grace(spec: ServiceSpec) -> float:
    return process.STOP_GRACE_S if spec.stop_grace_s is None else spec.stop_grace_s


def _child_env(spec: ServiceSpec) -> dict[str, str]:
    """This process's environment minus our own settings (they may hold secrets), plus spec.env."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(ENV_PREFIX)}
    env.update(spec.env)
    return env
