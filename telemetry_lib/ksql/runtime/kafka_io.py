"""TopicIO over a real Kafka cluster (the embedded Tansu broker or any Kafka).

Owns: :class:`KafkaTopicIO`. Topic administration goes through
:class:`~telemetry_lib.kafka.KafkaAdmin`; ``produce`` has two modes:

- **captured** (inside :meth:`KafkaTopicIO.capture`): the records a persistent query's batch
  produces (sink outputs, processing-log entries) are collected instead of sent, so the runtime
  can stamp them with exactly-once headers and write them in its transaction; when the block
  ends, ``on_captured`` (if set) sees them — the server keeps pull queries' materializations
  current from there;
- **direct** (everything else: INSERT ... VALUES, a processing-log entry outside a query): the
  records are produced and flushed before ``produce`` returns.

Partitions left null are assigned by librdkafka's ``murmur2_random`` partitioner, which for
non-null keys is Kafka's Java default partitioner (``toPositive(murmur2(key)) % n``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import polars as pl

from telemetry_lib.kafka import JsonProducer, KafkaAdmin, TopicNotFoundError
from telemetry_lib.kafka.config import ConfLike
from telemetry_lib.ksql.runtime.io import TopicSpec

__all__ = ["CapturedRecords", "KafkaTopicIO"]

logger = logging.getLogger(__name__)

#: Records a batch produced, in production order: (topic, records) pairs.
CapturedRecords = list[tuple[str, pl.DataFrame]]


class KafkaTopicIO:
    """The engine's :class:`~telemetry_lib.ksql.runtime.io.TopicIO` on a Kafka cluster."""

    def __init__(self, conf: ConfLike) -> None:
        self.conf = conf
        self._admin = KafkaAdmin(conf)
        self._producer: JsonProducer | None = None
        self._local = threading.local()
        self._lock = threading.Lock()
        #: Called with a topic's name before it is deleted (the Kafka runtime stops the runners
        #: of terminated queries there, so no client of theirs is using the topic).
        self.before_delete: Callable[[str], None] | None = None
        #: Called with what a :meth:`capture` block collected when it ends without an error
        #: (the server feeds the materializations pull queries read).
        self.on_captured: Callable[[CapturedRecords], None] | None = None

    # ------------------------------------------------------------------ administration
    def create_topic(self, spec: TopicSpec) -> None:
        self.ensure_topic(spec)

    def ensure_topic(self, spec: TopicSpec) -> bool:
        """Create the topic unless it exists; True when this call created it (so it is empty:
        a runner then knows its checkpoint topic holds nothing without reading it)."""
        created = self._admin.create_topic(
            spec.name, spec.partitions, config=dict(spec.config), replication=spec.replicas
        )
        self._admin.wait_for_topic(spec.name)
        return created

    def describe_topic(self, name: str) -> TopicSpec | None:
        try:
            found = self._admin.describe_topic(name)
        except TopicNotFoundError:
            return None
        return TopicSpec(found.name, found.partitions, max(found.replication, 1), found.config)

    def delete_topic(self, name: str) -> None:
        if self.before_delete is not None:
            self.before_delete(name)
        self._admin.delete_topic(name, missing_ok=True)

    def list_topics(self) -> list[TopicSpec]:
        specs = []
        for name in self._admin.list_topics(include_internal=False):
            spec = self.describe_topic(name)
            if spec is not None:
                specs.append(spec)
        return specs

    # ------------------------------------------------------------------ records
    def produce(self, topic: str, records: pl.DataFrame) -> None:
        captured: CapturedRecords | None = getattr(self._local, "captured", None)
        if captured is not None:
            captured.append((topic, records))
            return
        if records.height == 0:
            return
        with self._lock:
            if self._producer is None:
                self._producer = JsonProducer(self.conf)
            self._producer.produce_frame(topic, records)

    @contextmanager
    def capture(self) -> Iterator[CapturedRecords]:
        """Collect (instead of send) what this thread produces inside the block."""
        previous = getattr(self._local, "captured", None)
        captured: CapturedRecords = []
        self._local.captured = captured
        try:
            yield captured
        finally:
            self._local.captured = previous
        if captured and self.on_captured is not None:
            self.on_captured(captured)

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.flush()
                self._producer = None

    def __repr__(self) -> str:  # never show the config (it may hold credentials)
        return "KafkaTopicIO(...)"
