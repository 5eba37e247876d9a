"""The source task loop: poll -> convert -> produce (idempotent) -> acknowledge -> offsets.

One iteration, in order (offsets are written only for records Kafka acknowledged)::

    1. records = task.poll()                   RetriableError: back off, poll again
    2. key/value converters -> bytes           DataError: errors.tolerance=all skips the record
                                               (its offset still counts: it was handled),
                                               none fails the task
    3. create missing topics (topic.creation.default.partitions; never the broker's auto-create)
    4. produce the batch and flush              delivery failure: retried until
                                               errors.retry.timeout, then the task fails
    5. task.commit_records(records)            they are in Kafka now
    6. every offset.flush.interval.ms (and when pausing / stopping):
       write the latest offset per source partition to the offsets topic, then task.commit()

A crash between 4 and 6 re-sends the records after the last written offsets when the task
starts again (at-least-once, as Kafka Connect without exactly-once source support).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from telemetry_lib.connectors.api import Header, OffsetReader, SourceRecord, SourceTask
from telemetry_lib.connectors.connector_config import Stage
from telemetry_lib.connectors.errors import DataError
from telemetry_lib.connectors.runner import TaskEnv, TaskRunner, TaskState
from telemetry_lib.connectors.storage import canonical_partition
from telemetry_lib.kafka import DeliveryError, JsonProducer, KafkaAdmin, KafkaError

__all__ = ["SourceTaskRunner"]

logger = logging.getLogger(__name__)

# A poll that returns nothing at once would spin: wait this long before polling again.
IDLE_POLL_S = 0.05
# The source producer: idempotent (no duplicates from librdkafka's own retries), acks=all.
_PRODUCER_EXTRA: dict[str, object] = {"enable.idempotence": True, "acks": "all"}


class _Reader:
    """OffsetReader over the worker's OffsetBook for one connector."""

    def __init__(self, env: TaskEnv) -> None:
        self._env = env

    def offset(self, partition: Mapping[str, Any]) -> dict[str, Any] | None:
        return self._env.offsets.offset(self._env.connector, partition)

    def offsets(self, partitions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any] | None]:
        return [self.offset(p) for p in partitions]


class _Context:
    def __init__(self, env: TaskEnv) -> None:
        self._env = env
        self._reader = _Reader(env)

    @property
    def connector_name(self) -> str:
        return self._env.connector

    @property
    def task_id(self) -> int:
        return self._env.task_id

    @property
    def offset_reader(self) -> OffsetReader:
        return self._reader


class SourceTaskRunner(TaskRunner):
    """Runs one SourceTask (see the module docstring)."""

    def __init__(self, env: TaskEnv, *, paused: bool = False) -> None:
        super().__init__(env, paused=paused)
        self._pending: dict[str, tuple[Mapping[str, Any], Mapping[str, Any]]] = {}
        self._known_topics: set[str] = set()
        self._last_flush = time.monotonic()
        self._task: SourceTask | None = None
        self._producer: JsonProducer | None = None
        self._admin: KafkaAdmin | None = None
        partitions = int(env.connector_config.get("topic.creation.default.partitions", 1))
        self._partitions = partitions if partitions > 0 else 1
        self.records_sent = 0

    @property
    def known_topics(self) -> set[str]:
        """Topics this task has written to (``GET /connectors/{name}/topics``)."""
        return set(self._known_topics)

    def _run(self) -> None:
        task = self.env.plugin.factory().task_class()()
        self._task = task
        task.initialize(_Context(self.env))
        task.start(dict(self.env.task_config))
        self._producer = JsonProducer(self.env.conf,
                                      extra={**_PRODUCER_EXTRA, **self.env.producer_overrides})  # fmt: skip
        self.mark_running()
        try:
            while not self.stopping:
                if self.wait_if_paused(self._commit_offsets):
                    continue
                records = self.retry_forever("poll", task.poll)
                if records:
                    self._send(records)
                    task.commit_records(records)
                    for record in records:
                        self._track(record)
                elif not self.stopping:
                    self.sleep(IDLE_POLL_S)
                if time.monotonic() - self._last_flush >= self.env.offset_flush_interval_s:
                    self._commit_offsets()
            if self.state is not TaskState.FAILED:
                self._commit_offsets()
        finally:
            try:
                task.stop()
            finally:
                if self._producer is not None:
                    try:
                        self._producer.flush()
                    except KafkaError as exc:
                        logger.warning("task %s: final flush failed: %s", self.label, exc)

    # ------------------------------------------------------------------ steps
    def _send(self, records: Sequence[SourceRecord]) -> None:
        by_topic: dict[str, list[tuple[SourceRecord, bytes | None, bytes | None]]] = {}
        for record in records:
            converted = self._convert(record)
            if converted is not None:
                by_topic.setdefault(record.topic, []).append((record, *converted))
        self._ensure_topics(list(by_topic))

        def produce() -> None:
            assert self._producer is not None
            for topic, rows in by_topic.items():
                self._producer.produce_values(
                    topic,
                    [v for _, _, v in rows],
                    keys=[k for _, k, _ in rows],
                    timestamps=[r.timestamp for r, _, _ in rows],
                    partitions=[r.partition for r, _, _ in rows],
                    headers=_headers([r.headers for r, _, _ in rows]),
                    flush=False,
                )
            self._producer.flush()

        self.retry_with_timeout("produce", produce, (DeliveryError,))
        self.records_sent += sum(len(rows) for rows in by_topic.values())

    def _convert(self, record: SourceRecord) -> tuple[bytes | None, bytes | None] | None:
        env = self.env
        stage: Stage = "KEY_CONVERTER"
        try:
            key = env.key_converter.to_bytes(record.topic, record.key, record.key_schema)
            stage = "VALUE_CONVERTER"
            value = env.value_converter.to_bytes(record.topic, record.value, record.value_schema)
        except DataError as exc:
            if env.errors.tolerance != "all":
                raise
            if env.errors.log_enable:
                detail = (
                    f" (record for topic {record.topic})" if env.errors.log_include_messages else ""
                )
                logger.warning("task %s: skipping a record at stage %s%s: %s",
                               self.label, stage, detail, exc)  # fmt: skip
            return None
        return key, value

    def _ensure_topics(self, topics: Sequence[str]) -> None:
        missing = [t for t in topics if t not in self._known_topics]
        if not missing:
            return
        if self._admin is None:
            self._admin = KafkaAdmin(self.env.conf)
        admin = self._admin
        existing = set(admin.list_topics(include_internal=True))
        for topic in missing:
            if topic not in existing:
                admin.create_topic(topic, self._partitions)
            self._known_topics.add(topic)

    def _track(self, record: SourceRecord) -> None:
        if record.source_partition is not None and record.source_offset is not None:
            key = canonical_partition(record.source_partition)
            self._pending[key] = (record.source_partition, record.source_offset)

    def _commit_offsets(self) -> None:
        self._last_flush = time.monotonic()
        if not self._pending:
            return
        pairs = list(self._pending.values())
        self.env.storage.put_offsets(self.env.connector, pairs)
        self.env.offsets.update(self.env.connector, pairs)
        self._pending.clear()
        if self._task is not None:
            self._task.commit()


def _headers(
    rows: Sequence[Sequence[Header]],
) -> list[list[tuple[str, bytes | None]] | None] | None:
    if not any(rows):
        return None
    return [[(k, v.encode() if isinstance(v, str) else v) for k, v in h] if h else None
            for h in rows]  # fmt: skip
