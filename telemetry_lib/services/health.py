"""Health by protocol: a service is healthy when it answers its own API, not when a port opens.

Kafka: a metadata request (confluent-kafka AdminClient ``list_topics``); MongoDB: ``ping``;
HTTP services (ksqlDB, Connect): ``GET`` answering 2xx. Used for embedded services (on
127.0.0.1:port) and for remote profile endpoints (with their credentials).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from telemetry_lib.errors import TelemetryError
from telemetry_lib.services.spec import HealthProtocol

__all__ = ["HealthResult", "probe"]

logger = logging.getLogger(__name__)

# (ok, reason): reason says why it is unhealthy ("" when ok).
HealthResult = tuple[bool, str]


def probe(
    protocol: HealthProtocol,
    *,
    kafka_conf: Mapping[str, str] | None = None,
    mongo_uri: str | None = None,
    url: str | None = None,
    auth: tuple[str, str] | None = None,
    timeout_s: float,
) -> HealthResult:
    """One health probe; never raises for an unhealthy service, returns (False, reason).

    The Kafka and MongoDB client packages are imported here, on first use, so commands that
    probe nothing (``down``, ``logs``) start fast.
    """
    try:
        if protocol == "kafka":
            from telemetry_lib.kafka.health import probe_kafka

            assert kafka_conf is not None
            probe_kafka(kafka_conf, timeout_s=timeout_s)
        elif protocol == "mongo":
            from telemetry_lib.mongo.health import probe_mongo

            assert mongo_uri is not None
            probe_mongo(mongo_uri, timeout_s=timeout_s)
        else:
            assert url is not None
            return _probe_http(url, auth=auth, timeout_s=timeout_s)
    except TelemetryError as exc:
        return False, exc.message
    return True, ""


def _probe_http(url: str, *, auth: tuple[str, str] | None, timeout_s: float) -> HealthResult:
    import httpx

    try:
        response = httpx.get(url, auth=auth, timeout=timeout_s, follow_redirects=True)
    except httpx.HTTPError as exc:
        return False, f"GET {url} failed: {type(exc).__name__}: {exc}"
    if response.is_success:
        return True, ""
    if response.status_code in (401, 403):
        return False, f"GET {url} answered {response.status_code}: check the API key and secret"
    return False, f"GET {url} answered HTTP {response.status_code}"
