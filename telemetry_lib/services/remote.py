"""Reachability of a remote profile's endpoints (self-managed, confluent-cloud).

Under a remote profile nothing is started locally; ``up`` and ``status`` probe each endpoint by
its protocol, with the profile's credentials, all at once and each within a bounded time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from telemetry_lib.config import Settings, mask_uri
from telemetry_lib.services.health import HealthResult, probe
from telemetry_lib.services.spec import ServiceStatus

__all__ = ["check_remote"]

logger = logging.getLogger(__name__)

# ksqlDB's server-info endpoint; Kafka Connect answers its root with its version.
_KSQLDB_HEALTH_PATH = "/info"
_CONNECT_HEALTH_PATH = "/"


def check_remote(settings: Settings) -> list[ServiceStatus]:
    """One status row per endpoint of a remote profile: reachable or unreachable (and why).

    Each endpoint is probed within ``settings.remote_timeout_s``, all of them in parallel.
    """
    timeout_s = settings.remote_timeout_s
    uri = settings.mongo_uri.reveal()
    checks: list[tuple[str, str, Callable[[], HealthResult]]] = [
        (
            "kafka",
            settings.bootstrap_servers,
            lambda: probe("kafka", kafka_conf=settings.kafka_config(), timeout_s=timeout_s),
        ),
        ("mongo", mask_uri(uri), lambda: probe("mongo", mongo_uri=uri, timeout_s=timeout_s)),
        (
            "ksqldb",
            settings.ksqldb_url,
            lambda: probe(
                "http",
                url=settings.ksqldb_url + _KSQLDB_HEALTH_PATH,
                auth=settings.ksqldb_auth(),
                timeout_s=timeout_s,
            ),
        ),
    ]
    if settings.connect_url:
        checks.append(
            (
                "connect",
                settings.connect_url,
                lambda: probe(
                    "http", url=settings.connect_url + _CONNECT_HEALTH_PATH, timeout_s=timeout_s
                ),
            )
        )
    with ThreadPoolExecutor(max_workers=len(checks)) as pool:
        futures = [(name, address, pool.submit(check)) for name, address, check in checks]
        rows = []
        for name, address, future in futures:
            ok, why = future.result()
            health = "reachable" if ok else f"unreachable: {why}"
            note = f"remote ({settings.profile})"
            rows.append(ServiceStatus(name, address, None, None, health, ok, note))
    if not settings.connect_url:
        rows.append(
            ServiceStatus(
                "connect",
                "(not configured)",
                None,
                None,
                "not checked",
                True,
                f"remote ({settings.profile}): managed connectors",
            )
        )
    return rows
