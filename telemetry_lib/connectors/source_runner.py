"""The source task loop: poll -> convert -> produce (idempotent, asynchronous) -> acknowledge
in poll order -> offsets.

One iteration, in order (offsets are written only for records Kafka acknowledged)::

    1. records = task.poll()                   RetriableError: back off, poll again
    2. key/value converters -> bytes, the      DataError: errors.tolerance=all skips the record
       whole batch per converter call site     (its offset still counts: it was handled),
                                               none fails the task
    3. create missing topics (topic.creation.default.partitions; never the broker's auto-create)
    4. hand the batch to the producer without waiting; it joins the in-flight batches (at most
       MAX_IN_FLIGHT_BATCHES: the loop waits for the oldest before polling again). Each
       record's delivery report counts down its batch, so Kafka acknowledges batch N while the
       task polls and converts batch N+1.
    5. oldest batch first, while it is fully reported:
       a. a delivery failed: the batch is produced again (all of it: reports carry no headers)
          and waited for, retried until errors.retry.timeout, then the task fails
       b. task.commit_records(batch)           they are in Kafka now
       c. its latest offset per source partition becomes pending
       A batch is acknowledged only after every batch polled before it, so a pending offset
       never passes a record that is not in Kafka, whatever order the reports arrive in.
    6. every offset.flush.interval.ms, when a poll finds nothing and nothing is in flight (the
       source is idle: its offsets are made current at once, one write per burst), and when
       pausing / stopping (after waiting for the batches in flight): write the pending offsets
       to the offsets topic, then task.commit()

Producers are recycled: librdkafka's idempotent producer asks for its producer id on a fixed
500 ms timer when no broker connection is up yet, so a new one delivers nothing for 0.5-0.8 s
(measured on Tansu: half the time of a 30k-document copy). A task that stops cleanly leaves its
producer (nothing outstanding) as the spare for the next task with the same producer config,
for SPARE_PRODUCER_TTL_S; a task without a spare creates its producer before starting the task,
so the wait overlaps the task's start and first poll.

A crash between 4 and 6 re-sends the records after the last written offsets when the task
starts again (at-least-once, as Kafka Connect without exactly-once source support).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from telemetry_lib.connectors.api import Header, OffsetReader, SourceRecord, SourceTask
from telemetry_lib.connectors.connector_config import Stage
from telemetry_lib.connectors.errors import DataError
from telemetry_lib.connectors.runner import TASK_SHUTDOWN_TIMEOUT_S, TaskEnv, TaskRunner, TaskState
from telemetry_lib.connectors.storage import canonical_partition
from telemetry_lib.kafka import DeliveryError, JsonProducer, KafkaAdmin, KafkaError
from telemetry_lib.kafka.config import producer_config
from telemetry_lib.kafka.gc_pause import gc_paused

__all__ = ["MAX_IN_FLIGHT_BATCHES", "SourceTaskRunner"]

logger = logging.getLogger(__name__)

# A poll that returns nothing at once would spin: wait this long before polling again.
IDLE_POLL_S = 0.05
# The source producer: idempotent (no duplicates from librdkafka's own retries), acks=all.
_PRODUCER_EXTRA: dict[str, object] = {"enable.idempotence": True, "acks": "all"}
#: Polled batches produced but not yet fully acknowledged, at most: enough that Kafka's
#: acknowledgement of one batch overlaps the next poll + convert (with the Mongo source's
#: read-ahead thread, three stages run at once); few enough that a stop or a pause waits for
#: little and memory stays bounded (3 x poll.max.batch.size records).
MAX_IN_FLIGHT_BATCHES = 3
# How long one wait for delivery reports blocks before the loop re-checks stop / pause: short
# against an acknowledgement round trip on a loaded box (tens of ms), so a stop is seen at once.
DELIVERY_WAIT_S = 0.1
# Stopping waits this long for the batches in flight before committing what was acknowledged:
# inside the herder's graceful shutdown timeout, leaving a second for stopping the task.
STOP_DRAIN_S = TASK_SHUTDOWN_TIMEOUT_S - 1.0
#: How long a stopped task's producer waits for the next task (a restart, a reconfiguration, a
#: new connector): long enough for a herder's stop + start, short enough not to keep an idle
#: broker connection around.
SPARE_PRODUCER_TTL_S = 60.0
# The final flush after a stop: what _drain could not deliver is given up after this (its
# offsets were not committed: a restarted task sends it again), so a dead broker cannot hold
# the task's thread long past the herder's shutdown timeout.
FINAL_FLUSH_S = 1.0
# How many delivery failures a batch quotes in its error.
_ERRORS_QUOTED = 3



@dataclass(eq=False)
class _Rows:
    """One topic's converted records, column by column (no tuple per record: fewer objects for
    the cyclic collector to trace while the batch is in flight)."""

    records: list[SourceRecord] = field(default_factory=list)
    keys: list[bytes | None] = field(default_factory=list)
    values: list[bytes | None] = field(default_factory=list)

    def add(self, record: SourceRecord, key: bytes | None, value: bytes | None) -> None:
        self.records.append(record)
        self.keys.append(key)
        self.values.append(value)


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


@dataclass(eq=False)
class _Batch:
    """One poll's records on their way to Kafka; it is the delivery callback of every record
    it produced, counting their reports (served on the task's thread by producer.poll())."""

    records: Sequence[SourceRecord]  # everything the poll returned (skipped records too)
    by_topic: dict[str, _Rows]  # what was produced
    expected: int = 0  # records handed to the producer
    reported: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def __call__(self, err: Any, msg: Any) -> None:
        self.reported += 1
        if err is not None:
            self.failed += 1
            if len(self.errors) < _ERRORS_QUOTED:
                self.errors.append(f"{msg.topic()}[{msg.partition()}]: {err}")

    @property
    def done(self) -> bool:
        return self.reported >= self.expected

    def error(self) -> DeliveryError:
        return DeliveryError(f"{self.failed} of {self.expected} records were not delivered: "
                             + "; ".join(self.errors),
                             hint="check that the broker is up and the topic exists")  # fmt: skip

    def reset(self) -> None:
        self.expected = self.reported = self.failed = 0
        self.errors = []


class _SpareProducers:
    """Producers of cleanly stopped source tasks, one per producer config (see the module
    docstring); a spare not taken within SPARE_PRODUCER_TTL_S is dropped (freed)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spares: dict[str, JsonProducer] = {}

    def take(self, key: str) -> JsonProducer | None:
        with self._lock:
            return self._spares.pop(key, None)

    def put(self, key: str, producer: JsonProducer) -> None:
        with self._lock:
            self._spares[key] = producer  # an older spare of the same config is freed
        timer = threading.Timer(SPARE_PRODUCER_TTL_S, self._expire, (key, producer))
        timer.daemon = True
        timer.start()

    def _expire(self, key: str, producer: JsonProducer) -> None:
        with self._lock:
            if self._spares.get(key) is producer:
                del self._spares[key]


_SPARES = _SpareProducers()


class SourceTaskRunner(TaskRunner):
    """Runs one SourceTask (see the module docstring)."""

    def __init__(self, env: TaskEnv, *, paused: bool = False) -> None:
        super().__init__(env, paused=paused)
        self._pending: dict[str, tuple[Mapping[str, Any], Mapping[str, Any]]] = {}
        self._in_flight: deque[_Batch] = deque()
        self._known_topics: set[str] = set()
        self._last_flush = time.monotonic()
        self._task: SourceTask | None = None
        self._producer: JsonProducer | None = None
        self._admin: KafkaAdmin | None = None
        partitions = int(env.connector_config.get("topic.creation.default.partitions", 1))
        self._partitions = partitions if partitions > 0 else 1
        self.records_sent = 0  # records Kafka acknowledged

    @property
    def known_topics(self) -> set[str]:
        """Topics this task has written to (``GET /connectors/{name}/topics``)."""
        return set(self._known_topics)

    def _run(self) -> None:
        extra = {**_PRODUCER_EXTRA, **self.env.producer_overrides}
        spare_key = repr(sorted(producer_config(self.env.conf, extra=extra).items()))
        # first: a fresh producer's start-up overlaps task.start() and the first poll
        self._producer = _SPARES.take(spare_key) or JsonProducer(
            self.env.conf, report_successes=True, extra=extra
        )
        # likewise the admin client connects while the task starts (step 3 asks it at once)
        self._admin = KafkaAdmin(self.env.conf)
        task = self.env.plugin.factory().task_class()()
        self._task = task
        task.initialize(_Context(self.env))
        try:
            task.start(dict(self.env.task_config))
        except BaseException:
            self._producer = self._admin = None  # the task fails: free their connections now
            raise
        self.mark_running()
        try:
            while not self.stopping:
                if self.wait_if_paused(self._drain_and_commit):
                    continue
                # 1. poll
                records = self.retry_forever("poll", task.poll)
                if records:
                    # 2.-4. convert, create topics, produce without waiting
                    self._send(records)
                elif not self.stopping:
                    if self._in_flight:
                        self._wait_for_reports()
                    else:
                        if self._pending:  # 6. idle with everything acknowledged: commit now
                            self._commit_offsets()
                        self.sleep(IDLE_POLL_S)
                # 5. acknowledge the batches Kafka has fully reported, oldest first
                self._acknowledge(block=len(self._in_flight) >= MAX_IN_FLIGHT_BATCHES)
                # 6. periodic offset flush
                if time.monotonic() - self._last_flush >= self.env.offset_flush_interval_s:
                    self._commit_offsets()
            if self.state is not TaskState.FAILED:
                self._drain(STOP_DRAIN_S)
                self._commit_offsets()
        finally:
            try:
                task.stop()
            finally:
                self._close_producer(spare_key)

    def _close_producer(self, spare_key: str) -> None:
        """Flush; a producer with nothing outstanding after a clean stop becomes the spare."""
        producer, self._producer = self._producer, None
        if producer is None:
            return
        try:
            producer.flush(FINAL_FLUSH_S)
        except KafkaError as exc:
            logger.warning("task %s: final flush failed: %s", self.label, exc)
            return
        if self.state is not TaskState.FAILED and producer.outstanding == 0:
            _SPARES.put(spare_key, producer)

    # ------------------------------------------------------------------ steps
    def _send(self, records: Sequence[SourceRecord]) -> None:
        with gc_paused():  # one allocation burst, nothing waited for (see kafka.gc_pause)
            by_topic = self._convert_batch(records)
        self._ensure_topics(list(by_topic))
        batch = _Batch(records, by_topic)
        with gc_paused():
            self._produce(batch)
        self._in_flight.append(batch)

    def _produce(self, batch: _Batch) -> None:
        """4. Hand the batch's converted rows to the producer (reports go to ``batch``)."""
        assert self._producer is not None
        batch.reset()
        for topic, rows in batch.by_topic.items():
            records = rows.records
            timestamps = partitions = headers = None
            # most sources set none of these: one pass finds out
            if any(r.timestamp is not None or r.partition is not None or r.headers
                   for r in records):  # fmt: skip
                timestamps = [r.timestamp for r in records]
                partitions = [r.partition for r in records]
                if all(t is None for t in timestamps):
                    timestamps = None
                if all(p is None for p in partitions):
                    partitions = None
                headers = _headers([r.headers for r in records])
            self._producer.produce_values(
                topic,
                rows.values,
                keys=rows.keys,
                timestamps=timestamps,
                partitions=partitions,
                headers=headers,
                flush=False,
                on_delivery=batch,
            )
            batch.expected += len(records)

    def _wait_for_reports(self) -> None:
        assert self._producer is not None
        self._producer.poll(DELIVERY_WAIT_S)

    def _acknowledge(self, *, block: bool) -> None:
        """5. Serve delivery reports; acknowledge complete batches, oldest first. ``block``:
        wait until the oldest batch is complete (the in-flight window is full)."""
        assert self._producer is not None
        self._producer.poll(0)
        while self._in_flight:
            batch = self._in_flight[0]
            if not batch.done:
                if not block or self.stopping:
                    return
                self._wait_for_reports()
                continue
            if batch.failed:
                self._redeliver(batch)  # 5a.
            self._in_flight.popleft()
            block = False
            self.records_sent += batch.expected
            # 5b. acknowledged
            if self._task is not None:
                self._task.commit_records(batch.records)
            # 5c. its offsets become pending
            self._track(batch.records)

    def _redeliver(self, batch: _Batch) -> None:
        """5a. Produce a batch with failed deliveries again (all of it) and wait for it,
        retrying until errors.retry.timeout; then the last DeliveryError fails the task."""
        if self.env.errors.retry_timeout_ms == 0:
            raise batch.error()
        logger.warning("task %s: producing a batch of %d records again: %s",
                       self.label, batch.expected, batch.error())  # fmt: skip

        def attempt() -> None:
            self._produce(batch)
            while not batch.done:
                if self.stopping:
                    raise DeliveryError(f"task {self.label} stopped while a batch was re-sent")
                self._wait_for_reports()
            if batch.failed:
                raise batch.error()

        self.retry_with_timeout("produce", attempt, (DeliveryError,))

    def _drain(self, timeout: float) -> None:
        """Wait up to ``timeout`` for the batches in flight; acknowledge what completed."""
        deadline = time.monotonic() + timeout
        while self._in_flight and time.monotonic() < deadline:
            self._acknowledge(block=False)
            if self._in_flight:
                self._wait_for_reports()
        self._acknowledge(block=False)
        if self._in_flight:
            logger.warning("task %s: %d batches were not acknowledged within %.0f s; their "
                           "offsets are not committed (they are sent again after a restart)",
                           self.label, len(self._in_flight), timeout)  # fmt: skip

    def _drain_and_commit(self) -> None:
        self._drain(STOP_DRAIN_S)
        self._commit_offsets()

    def _convert_batch(self, records: Sequence[SourceRecord]) -> dict[str, _Rows]:
        """2. Converted rows per topic, in poll order. One comprehension per converter; a
        DataError sends the batch through the per-record path, which applies errors.tolerance."""
        env = self.env
        to_key, to_value = env.key_converter.to_bytes, env.value_converter.to_bytes
        try:
            keys = [to_key(r.topic, r.key, r.key_schema) for r in records]
            values = [to_value(r.topic, r.value, r.value_schema) for r in records]
        except DataError:
            by_topic: dict[str, _Rows] = {}
            for record in records:
                converted = self._convert(record)
                if converted is not None:
                    by_topic.setdefault(record.topic, _Rows()).add(record, *converted)
            return by_topic
        topic = records[0].topic
        if all(r.topic == topic for r in records):
            return {topic: _Rows(list(records), keys, values)}
        by_topic = {}
        for record, key, value in zip(records, keys, values, strict=True):
            by_topic.setdefault(record.topic, _Rows()).add(record, key, value)
        return by_topic

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

    def _track(self, records: Sequence[SourceRecord]) -> None:
        """The latest offset of each source partition among ``records`` becomes pending."""
        seen: set[str] = set()  # partitions whose latest offset is taken
        last: Mapping[str, Any] | None = None  # runs of one partition skip the JSON key
        for record in reversed(records):
            partition = record.source_partition
            if partition is None or record.source_offset is None:
                continue
            if last is not None and (partition is last or partition == last):
                continue
            last = partition
            key = canonical_partition(partition)
            if key not in seen:
                seen.add(key)
                self._pending[key] = (partition, record.source_offset)

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
