"""Kafka reachability probe: one metadata request, used by the services manager's health checks.

Written by the services owner (telemetry_lib.services may not import confluent_kafka itself,
see tests/packaging/test_structure.py); it asks for cluster metadata only, never for a named
topic, because Tansu auto-creates any unknown topic a client asks metadata for.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from telemetry_lib.errors import KafkaError

__all__ = ["probe_kafka"]

logger = logging.getLogger(__name__)

# librdkafka's own log threshold for probe clients: 0 (emergencies only) keeps its
# "FAIL|rdkafka" lines off stderr; the reasons are collected through error_cb instead.
_PROBE_LOG_LEVEL = 0
# How many distinct librdkafka error reasons the failure message quotes.
_MAX_REASONS = 2
# librdkafka appends timing to each reason; dropped so repeats of one reason collapse.
_AFTER_RE = re.compile(r"\(after \d+ms in state \w+\)")


def probe_kafka(conf: Mapping[str, str], *, timeout_s: float) -> int:
    """Ask the cluster for its metadata; return the number of brokers that answered.

    Raises :class:`KafkaError` (with librdkafka's reasons, e.g. "Connection refused") when no
    metadata arrives within ``timeout_s``.
    """
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    reasons: list[str] = []

    def on_error(error: object) -> None:
        text = _AFTER_RE.sub("", getattr(error, "str", lambda: str(error))()).strip()
        if text not in reasons and "brokers are down" not in text:
            reasons.append(text)

    client = AdminClient(
        {**conf, "log_level": str(_PROBE_LOG_LEVEL), "error_cb": on_error}  # type: ignore[dict-item]
    )
    try:
        metadata = client.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        client.poll(0)
        why = "; ".join(reasons[:_MAX_REASONS]) or exc.args[0].str()
        raise KafkaError(
            f"Kafka at {conf.get('bootstrap.servers')} did not answer a metadata request "
            f"within {timeout_s:g}s: {why}"
        ) from None
    return len(metadata.brokers)
