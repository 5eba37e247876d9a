"""Kafka reachability probe: one metadata request, used by the services manager's health checks.

Written by the services owner (telemetry_lib.services may not import confluent_kafka itself,
see tests/packaging/test_structure.py); it asks for cluster metadata only, never for a named
topic, because Tansu auto-creates any unknown topic a client asks metadata for.
"""

from __future__ import annotations

import logging
import re
import time
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
# Each metadata attempt waits this long, so error_cb can report a definitive failure early.
_PROBE_SLICE_S = 0.25


def probe_kafka(conf: Mapping[str, str], *, timeout_s: float) -> int:
    """Ask the cluster for its metadata; return the number of brokers that answered.

    Raises :class:`KafkaError` (with librdkafka's reasons, e.g. "Connection refused") when no
    metadata arrives within ``timeout_s``, or as soon as librdkafka reports a definitive
    failure (every bootstrap broker down, authentication refused) instead of retrying until
    the timeout.
    """
    from confluent_kafka import KafkaError as RdKafkaError
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    fatal_codes = {RdKafkaError._ALL_BROKERS_DOWN, RdKafkaError._AUTHENTICATION}
    reasons: list[str] = []
    fatal: list[int] = []

    def on_error(error: RdKafkaError) -> None:
        if error.code() in fatal_codes:
            fatal.append(error.code())
        text = _AFTER_RE.sub("", error.str()).strip()
        if text not in reasons and "brokers are down" not in text:
            reasons.append(text)

    client = AdminClient(
        {**conf, "log_level": str(_PROBE_LOG_LEVEL), "error_cb": on_error}  # type: ignore[dict-item]
    )
    deadline = time.monotonic() + timeout_s
    last: KafkaException | None = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or fatal:
            break
        try:
            metadata = client.list_topics(timeout=min(_PROBE_SLICE_S, remaining))
        except KafkaException as exc:
            last = exc
            client.poll(0)  # delivers error_cb
            continue
        return len(metadata.brokers)
    why = "; ".join(reasons[:_MAX_REASONS]) or (last.args[0].str() if last else "no answer")
    waited = timeout_s - max(deadline - time.monotonic(), 0.0)
    raise KafkaError(
        f"Kafka at {conf.get('bootstrap.servers')} did not answer a metadata request "
        f"(waited {waited:.1f}s): {why}"
    )
