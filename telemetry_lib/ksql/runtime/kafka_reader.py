"""Reading a topic from given offsets on Kafka, for push and pull queries.

Owns: :class:`KafkaRecordReader`, the Kafka implementation of the REST backend's
``RecordReader`` protocol (``end_offsets(topic)``, ``read(topic, start)``). A read is
``read_committed`` and ends at each partition's end-of-partition as the broker reports it (so
it always terminates); one consumer is reused (under a lock) instead of a new client per poll
of a push query.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

import polars as pl

from telemetry_lib.kafka import end_offsets
from telemetry_lib.kafka.assigned import AssignedConsumer
from telemetry_lib.kafka.config import ConfLike
from telemetry_lib.ksql.runtime.io import RECORD_SCHEMA, empty_records

__all__ = ["KafkaRecordReader"]

logger = logging.getLogger(__name__)

# Group id of the reader's consumer (nothing is ever committed under it).
_READER_GROUP = "_confluent-ksql-transient-reader"


class KafkaRecordReader:
    """``RecordReader`` over Kafka (see the module docstring)."""

    def __init__(self, conf: ConfLike) -> None:
        self.conf = conf
        self._lock = threading.Lock()
        self._consumer: AssignedConsumer | None = None

    def end_offsets(self, topic: str) -> dict[int, int]:
        return end_offsets(self.conf, topic)

    def read(self, topic: str, start: Mapping[int, int]) -> pl.DataFrame:
        """Records from ``start`` (missing partitions: from the beginning) to the end as the
        broker reports it, with the one reused consumer (push queries call this every 50 ms)."""
        with self._lock:
            if self._consumer is None:
                self._consumer = AssignedConsumer(self.conf, _READER_GROUP)
            count = self._consumer.partitions(topic)
            if not count:
                return empty_records()
            starts = {(topic, p): int(start.get(p, 0)) for p in range(count)}
            frame = self._consumer.read_available(starts)
        return frame.select(list(RECORD_SCHEMA))

    def close(self) -> None:
        with self._lock:
            if self._consumer is not None:
                self._consumer.close()
                self._consumer = None
