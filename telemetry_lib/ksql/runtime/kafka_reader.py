"""Reading a topic from given offsets on Kafka, for push and pull queries.

Owns: :class:`KafkaRecordReader`, the Kafka implementation of the REST backend's
``RecordReader`` protocol (``end_offsets(topic)``, ``read(topic, start)``). Reads are
``read_committed`` and bounded by the end offsets at call time, so they always terminate; one
consumer is reused (under a lock) instead of a new client per poll of a push query.
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
        ends = self.end_offsets(topic)
        ranges = {
            (topic, p): (int(start.get(p, 0)), end)
            for p, end in ends.items()
            if end > int(start.get(p, 0))
        }
        if not ranges:
            return empty_records()
        with self._lock:
            if self._consumer is None:
                self._consumer = AssignedConsumer(self.conf, _READER_GROUP)
            frame = self._consumer.read_ranges(ranges)
        return frame.select(list(RECORD_SCHEMA))

    def close(self) -> None:
        with self._lock:
            if self._consumer is not None:
                self._consumer.close()
                self._consumer = None
