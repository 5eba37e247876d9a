"""confluent-kafka client configuration: the profile's connection settings plus our defaults.

Every client the workbench creates gets its configuration here, so the defaults that suit the
embedded Tansu broker (and are harmless on real Kafka) live in one place, each with its reason.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Literal

from telemetry_lib.config import Settings

__all__ = [
    "ClientRole",
    "ConfLike",
    "IsolationLevel",
    "admin_config",
    "base_config",
    "consumer_config",
    "producer_config",
]

logger = logging.getLogger(__name__)

ClientRole = Literal["admin", "producer", "consumer"]
IsolationLevel = Literal["read_committed", "read_uncommitted"]
#: What every helper accepts: the profile's Settings, or a ready confluent-kafka config dict.
ConfLike = Settings | Mapping[str, Any]

# Tansu completes a consumer-group join only after about half the session timeout (23 s at
# librdkafka's 45 s default, ~3.3 s at 6 s). 6 s is also the smallest value real Kafka brokers
# accept by default (group.min.session.timeout.ms), so it is safe everywhere.
SESSION_TIMEOUT_MS = 6000
# Must stay below a third of the session timeout (Kafka's rule of thumb for heartbeats).
HEARTBEAT_INTERVAL_MS = 1500
# Throughput-tuned fetching, measured on Tansu (2 cores): consume(10000) reaches ~600k msg/s
# with these against ~150k msg/s with librdkafka's defaults.
FETCH_MAX_BYTES = 100 * 1024 * 1024  # 100 MB per fetch response
MAX_PARTITION_FETCH_BYTES = 10 * 1024 * 1024  # 10 MB per partition per fetch
FETCH_WAIT_MAX_MS = 10  # the broker answers quickly instead of waiting to fill a fetch
QUEUED_MIN_MESSAGES = 500_000  # keep the local prefetch queue deep
# When that queue is over its thresholds, librdkafka (>= 2.1) postpones a partition's next fetch
# by fetch.queue.backoff.ms, 1000 ms by default: a consumer draining a backlog then found its
# queue empty and no fetch in flight for up to a second (seen as ~0.9 s without any fetch
# request in the middle of the 1M-event CTAS, 360k -> 480k events/s with 10 ms). Re-checking
# every 10 ms costs nothing measurable.
FETCH_QUEUE_BACKOFF_MS = 10
# librdkafka's receive buffer must hold a full fetch response (fetch.max.bytes + protocol slack).
RECEIVE_MESSAGE_MAX_BYTES = FETCH_MAX_BYTES + 1024 * 1024
# The Java client's partitioner (murmur2 of the key bytes; random for null keys), so records
# land where ksqlDB, Kafka Streams and Connect would put them. librdkafka's default
# (consistent_random, CRC32) would place keys differently.
PARTITIONER = "murmur2_random"
# Batch a little to turn many small produce() calls into few requests without adding latency
# a human would notice.
LINGER_MS = 5
# Local producer queue: large enough that bulk produce rarely waits on BufferError.
QUEUE_BUFFERING_MAX_MESSAGES = 1_000_000
QUEUE_BUFFERING_MAX_KBYTES = 1024 * 1024  # 1 GB
# Consistency by default: readers see only committed transactional data (on brokers that
# filter aborted records; Tansu does not, see the broker compatibility suite).
DEFAULT_ISOLATION: IsolationLevel = "read_committed"


def base_config(conf: ConfLike) -> dict[str, Any]:
    """The connection settings alone (bootstrap servers, SASL for confluent-cloud)."""
    if isinstance(conf, Settings):
        return dict(conf.kafka_config())
    return dict(conf)


def admin_config(conf: ConfLike, *, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Configuration for an AdminClient."""
    return _merge(base_config(conf), {}, extra)


def producer_config(
    conf: ConfLike,
    *,
    transactional_id: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Configuration for a Producer (idempotent + transactional when ``transactional_id``)."""
    defaults: dict[str, Any] = {
        "partitioner": PARTITIONER,
        "linger.ms": LINGER_MS,
        "queue.buffering.max.messages": QUEUE_BUFFERING_MAX_MESSAGES,
        "queue.buffering.max.kbytes": QUEUE_BUFFERING_MAX_KBYTES,
    }
    if transactional_id is not None:
        defaults["transactional.id"] = transactional_id
        defaults["enable.idempotence"] = True
    return _merge(base_config(conf), defaults, extra)


def consumer_config(
    conf: ConfLike,
    *,
    group_id: str,
    isolation_level: IsolationLevel = DEFAULT_ISOLATION,
    from_beginning: bool = True,
    auto_commit: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Configuration for a Consumer; offsets are committed explicitly unless ``auto_commit``."""
    defaults: dict[str, Any] = {
        "group.id": group_id,
        "isolation.level": isolation_level,
        "auto.offset.reset": "earliest" if from_beginning else "latest",
        "enable.auto.commit": auto_commit,
        "session.timeout.ms": SESSION_TIMEOUT_MS,
        "heartbeat.interval.ms": HEARTBEAT_INTERVAL_MS,
        "fetch.max.bytes": FETCH_MAX_BYTES,
        "max.partition.fetch.bytes": MAX_PARTITION_FETCH_BYTES,
        "fetch.wait.max.ms": FETCH_WAIT_MAX_MS,
        "queued.min.messages": QUEUED_MIN_MESSAGES,
        "fetch.queue.backoff.ms": FETCH_QUEUE_BACKOFF_MS,
        "receive.message.max.bytes": RECEIVE_MESSAGE_MAX_BYTES,
    }
    return _merge(base_config(conf), defaults, extra)


def _merge(
    base: dict[str, Any],
    defaults: Mapping[str, Any],
    extra: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """defaults < base (a caller's own config dict) < extra (per-call librdkafka settings)."""
    merged = dict(defaults)
    merged.update(base)
    merged.update(extra or {})
    return merged
