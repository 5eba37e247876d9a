"""Embedded services manager: start, check, repair, stop and read the logs of the local stack.

The embedded profile runs every service as a child process on 127.0.0.1: the Tansu Kafka
broker (memory-only storage) and the NX-27017 MongoDB server, later our ksqlDB and Connect
servers. Each is declared as a :class:`ServiceSpec` in ``registry.py``; the :class:`Stack`
starts them in dependency order, waits until each answers its own protocol, keeps pid files and
meta in ``<workdir>/run/`` and logs in ``<workdir>/logs/<service>.log``, and stops exactly the
processes it started. Under a remote profile it only checks that the endpoints answer.

    with Stack(load_settings()) as stack:
        ...  # Kafka and MongoDB are up; stopped on exit if this block started them
"""

from __future__ import annotations

from telemetry_lib.services.binaries import TANSU_SHA256
from telemetry_lib.services.ports import free_port
from telemetry_lib.services.registry import SERVICES, service_names
from telemetry_lib.services.remote import check_remote
from telemetry_lib.services.spec import ServicePaths, ServiceSpec, ServiceStatus
from telemetry_lib.services.stack import Stack, StartedService, UpReport

__all__ = [
    "SERVICES",
    "TANSU_SHA256",
    "ServicePaths",
    "ServiceSpec",
    "ServiceStatus",
    "Stack",
    "StartedService",
    "UpReport",
    "check_remote",
    "free_port",
    "service_names",
]
