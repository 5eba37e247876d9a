"""The sink task loop: consume (group ``connect-<name>``) -> convert -> put -> flush -> commit.

One iteration, in order (consumer offsets are committed only after the task flushed)::

    1. topics: ``topics`` or every topic matching ``topics.regex`` (re-checked every
       TOPIC_REFRESH_S); the task waits (RUNNING) until at least one exists
    2. messages = consumer.poll(max.poll.records)
    3. key/value converters -> SinkRecord       DataError: errors.tolerance=all sends the raw
                                               record to the dead letter queue (with
                                               __connect.errors.* headers when enabled) and
                                               skips it; none fails the task
    4. task.put(records)                        RetriableError: back off and put the same batch
                                               again, forever (nothing is lost while the
                                               database is down); other errors fail the task
    5. every offset.flush.interval.ms, on request_commit(), pause and stop:
       offsets = task.pre_commit(consumed)  -> flush the DLQ producer -> commit ``offsets``

Records the task reports via ``context.report(record, error)`` go to the DLQ the same way
(tolerance=all) or fail the task (none, Connect's "Tolerance exceeded in error handler").
While a batch is retried the consumer keeps polling with its partitions paused, so the group
does not evict the task (``max.poll.interval.ms``). Each task joins with a static
``group.instance.id`` (``connect-<name>-<task>``): on Tansu a member that leaves while its join
is in flight wedges the group for every later member (measured: no assignment in 150 s); a
member with the same instance id takes its place (about 6 s on Tansu).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

from telemetry_lib.connectors.api import Header, SinkRecord, SinkTask, TopicPartition
from telemetry_lib.connectors.connector_config import Stage, dlq_headers
from telemetry_lib.connectors.errors import ConnectError, DataError, RetriableError
from telemetry_lib.connectors.runner import TaskEnv, TaskRunner, TaskState
from telemetry_lib.kafka import GroupConsumer, JsonProducer, KafkaAdmin, KafkaError

__all__ = ["SinkTaskRunner", "sink_group_id"]

logger = logging.getLogger(__name__)

# Connect's consumer default max.poll.records (records per put(); a connector overrides it with
# consumer.override.max.poll.records, as on Kafka Connect).
MAX_POLL_RECORDS = 500
# One consume() wait when no records are there (keeps stop/pause responsive).
POLL_TIMEOUT_S = 0.5
# How often to look for new topics matching topics.regex, and for missing ``topics``.
TOPIC_REFRESH_S = 5.0
# Kafka's default (5 min). It is also the group's rebalance timeout, so it must not be huge; a
# batch retried for longer keeps the membership alive by polling with its partitions paused.
MAX_POLL_INTERVAL_MS = 300_000


def sink_group_id(connector: str) -> str:
    """Connect's sink consumer group: ``connect-<connector name>``."""
    return f"connect-{connector}"


class _Context:
    def __init__(self, runner: SinkTaskRunner) -> None:
        self._runner = runner

    @property
    def connector_name(self) -> str:
        return self._runner.env.connector

    @property
    def task_id(self) -> int:
        return self._runner.env.task_id

    def assignment(self) -> list[TopicPartition]:
        return sorted(self._runner.assigned)

    def report(self, record: SinkRecord, error: BaseException) -> None:
        self._runner.report(record, error, "TASK_PUT", self._runner.env.plugin.class_name)

    def request_commit(self) -> None:
        self._runner.commit_requested = True


class SinkTaskRunner(TaskRunner):
    """Runs one SinkTask (see the module docstring)."""

    def __init__(self, env: TaskEnv, *, paused: bool = False) -> None:
        super().__init__(env, paused=paused)
        self.assigned: set[TopicPartition] = set()
        self.commit_requested = False
        self.records_put = 0
        self._task: SinkTask | None = None
        self._consumer: GroupConsumer | None = None
        self._dlq: JsonProducer | None = None
        self._dlq_ready = False
        self._last_commit = time.monotonic()
        self._committed: dict[TopicPartition, int] = {}
        self._admin: KafkaAdmin | None = None
        self._paused = False  # partitions paused while a batch is retried
        batch = env.connector_config.get("consumer.override.max.poll.records", MAX_POLL_RECORDS)
        self._max_poll_records = int(batch)  # validated (>= 1) with the connector config
        self._unput = False  # a batch was polled but not (surely) put: never commit past it
        topics = env.connector_config.get("topics") or []
        self._topics: list[str] = [t for t in topics if t]
        regex = str(env.connector_config.get("topics.regex") or "")
        self._regex = re.compile(regex) if regex else None

    def _run(self) -> None:
        task = self.env.plugin.factory().task_class()()
        self._task = task
        task.initialize(_Context(self))
        task.start(dict(self.env.task_config))
        self.mark_running()
        try:
            self._loop(task)
        finally:
            try:
                if self._consumer is not None:
                    if self.state is not TaskState.FAILED:
                        self._commit(task)
                    task.close(sorted(self.assigned))
            finally:
                try:
                    task.stop()
                finally:
                    self._close_clients()

    def _loop(self, task: SinkTask) -> None:
        subscribed: list[str] = []
        next_refresh = 0.0
        while not self.stopping:
            if self.wait_if_paused(lambda: self._commit(task)):
                continue
            complete = self._regex is None and subscribed == self._topics
            if not complete and time.monotonic() >= next_refresh:
                next_refresh = time.monotonic() + TOPIC_REFRESH_S
                wanted = self._resolve_topics()
                if wanted != subscribed:
                    self._resubscribe(task, wanted)
                    subscribed = wanted
            if self._consumer is None:
                self.sleep(POLL_TIMEOUT_S)
                continue
            messages = self._consumer.poll_messages(max_records=self._max_poll_records,
                                                    timeout=POLL_TIMEOUT_S)  # fmt: skip
            self._track_assignment(task)
            if messages:
                # From here until put returned, an error or a stop must not commit these offsets
                # (the consumer already counts them as delivered).
                self._unput = True
                records = [r for r in (self._convert(m) for m in messages) if r is not None]
                if records:
                    self.retry_forever("put", _bind_put(task, records), wait=self._keepalive)
                    self._resume_all()
                    if self.stopping:
                        return  # maybe not put: leave these offsets uncommitted
                    self.records_put += len(records)
                self._unput = False
            due = time.monotonic() - self._last_commit >= self.env.offset_flush_interval_s
            if due or self.commit_requested:
                self._commit(task)

    # ------------------------------------------------------------------ topics and group
    def _resolve_topics(self) -> list[str]:
        if self._admin is None:
            self._admin = KafkaAdmin(self.env.conf)
        existing = set(self._admin.list_topics(include_internal=True))
        if self._regex is not None:
            dlq = self.env.errors.dlq_topic
            return sorted(t for t in existing if self._regex.fullmatch(t) and t != dlq)
        return [t for t in self._topics if t in existing]

    def _resubscribe(self, task: SinkTask, topics: list[str]) -> None:
        if self._consumer is not None:
            self._commit(task)
            task.close(sorted(self.assigned))
            self.assigned.clear()
            self._consumer.close()
            self._consumer = None
        if not topics:
            logger.info("task %s: waiting for topics %s", self.label,
                        self._regex.pattern if self._regex else self._topics)  # fmt: skip
            return
        extra: dict[str, object] = {
            "max.poll.interval.ms": MAX_POLL_INTERVAL_MS,
            # Static membership, one id per task: Tansu never completes a rebalance after a
            # member left while its join was in flight (a worker stopped or killed within
            # seconds of starting a sink) - a new member with the same instance id takes over.
            "group.instance.id": f"{sink_group_id(self.env.connector)}-{self.env.task_id}",
        }
        extra.update(self.env.consumer_overrides)
        extra.pop("max.poll.records", None)  # a Java consumer setting: the batch size of put()
        reset = str(extra.pop("auto.offset.reset", "earliest"))
        isolation = str(extra.pop("isolation.level", "read_uncommitted"))
        self._consumer = GroupConsumer(
            self.env.conf, sink_group_id(self.env.connector), topics,
            from_beginning=reset != "latest",
            isolation_level="read_committed" if isolation == "read_committed" else "read_uncommitted",
            extra=extra,
        )  # fmt: skip
        self._committed.clear()
        logger.info("task %s: consuming %s in group %s", self.label, topics,
                    sink_group_id(self.env.connector))  # fmt: skip

    def _track_assignment(self, task: SinkTask) -> None:
        assert self._consumer is not None
        now = set(self._consumer.assignment())
        if now == self.assigned:
            return
        gone = sorted(self.assigned - now)
        new = sorted(now - self.assigned)
        if gone:
            logger.info("task %s: partitions revoked %s", self.label, gone)
            task.close(gone)
        self.assigned = now
        if new:
            logger.info("task %s: partitions assigned %s", self.label, new)
            task.open(new)

    def _keepalive(self, seconds: float) -> None:
        """Wait ``seconds`` while polling with every partition paused: the member stays in the
        group (max.poll.interval.ms) and nothing new is delivered. A record that arrives anyway
        is given back (seek to it), so it is delivered again after the retried batch."""
        consumer = self._consumer
        if consumer is None:
            self.sleep(seconds)
            return
        consumer.pause(sorted(self.assigned))
        self._paused = True
        deadline = time.monotonic() + seconds
        while not self.stopping and (left := deadline - time.monotonic()) > 0:
            extra = consumer.poll_messages(
                max_records=MAX_POLL_RECORDS, timeout=min(left, POLL_TIMEOUT_S)
            )
            first: dict[TopicPartition, int] = {}
            for m in extra:
                first.setdefault((str(m.topic()), int(m.partition() or 0)), int(m.offset() or 0))
            for (topic, partition), offset in first.items():
                consumer.seek(topic, partition, offset)

    def _resume_all(self) -> None:
        if self._paused and self._consumer is not None:
            self._consumer.resume(sorted(self.assigned))
        self._paused = False

    # ------------------------------------------------------------------ records
    def _convert(self, message: Any) -> SinkRecord | None:
        env = self.env
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        raw_key, raw_value = message.key(), message.value()
        ts_type, ts = message.timestamp()
        headers: list[Header] = list(message.headers() or [])
        stage: Stage = "KEY_CONVERTER"
        klass = env.key_converter_class
        try:
            key, key_schema = env.key_converter.from_bytes(topic, raw_key)
            stage, klass = "VALUE_CONVERTER", env.value_converter_class
            value, value_schema = env.value_converter.from_bytes(topic, raw_value)
        except DataError as exc:
            record = SinkRecord(topic, partition, offset, None, None, ts if ts_type else None,
                                headers, raw_key=raw_key, raw_value=raw_value)  # fmt: skip
            self.report(record, exc, stage, klass)
            return None
        return SinkRecord(topic, partition, offset, key, value, ts if ts_type else None, headers,
                          key_schema, value_schema, raw_key, raw_value)  # fmt: skip

    def report(self, record: SinkRecord, error: BaseException, stage: Stage, klass: str) -> None:
        """Errant record: DLQ under tolerance=all, else fail the task."""
        errors = self.env.errors
        if errors.tolerance != "all":
            raise ConnectError(f"Tolerance exceeded in error handler: {error}") from error
        if errors.log_enable:
            where = (f" ({record.topic}[{record.partition}]@{record.offset})"
                     if errors.log_include_messages else "")  # fmt: skip
            logger.warning("task %s: error at stage %s%s: %s", self.label, stage, where, error)
        if not errors.dlq_topic:
            return
        producer = self._dlq_producer()
        headers: list[tuple[str, bytes | None]] = [
            (k, v.encode() if isinstance(v, str) else v) for k, v in record.headers
        ]
        if errors.dlq_context_headers:
            headers += dlq_headers(
                topic=record.topic, partition=record.partition, offset=record.offset,
                connector=self.env.connector, task_id=self.env.task_id, stage=stage,
                executing_class=klass, error=error,
            )  # fmt: skip
        raw_value = record.raw_value
        raw_key = record.raw_key
        producer.produce_values(errors.dlq_topic, [raw_value], keys=[raw_key],
                                headers=[headers or None], flush=False)  # fmt: skip

    def _dlq_producer(self) -> JsonProducer:
        if self._dlq is None:
            self._dlq = JsonProducer(
                self.env.conf, extra={"enable.idempotence": True, "acks": "all"}
            )
        if not self._dlq_ready:
            topic = self.env.errors.dlq_topic
            admin = KafkaAdmin(self.env.conf)
            if topic not in admin.list_topics(include_internal=True):
                try:
                    admin.create_topic(topic, 1, replication=self.env.errors.dlq_replication_factor)
                except KafkaError as exc:
                    logger.warning("DLQ topic %s with replication %d failed (%s); using 1",
                                   topic, self.env.errors.dlq_replication_factor, exc)  # fmt: skip
                    admin.create_topic(topic, 1)
            self._dlq_ready = True
        return self._dlq

    # ------------------------------------------------------------------ commit
    def _commit(self, task: SinkTask) -> None:
        self._last_commit = time.monotonic()
        self.commit_requested = False
        if self._consumer is None or self._unput:
            return
        consumed = {
            tp: o for tp, o in self._consumer.pending_offsets().items() if tp in self.assigned
        }
        if not consumed or consumed == self._committed:
            return
        try:
            offsets = task.pre_commit(consumed)
        except RetriableError as exc:
            logger.warning("task %s: pre_commit asks to retry later: %s", self.label, exc)
            return
        if self._dlq is not None:
            self._dlq.flush()
        chosen = {tp: o for tp, o in offsets.items() if tp in self.assigned}
        if chosen:
            self._consumer.commit(chosen)
            self._committed.update(chosen)

    def _close_clients(self) -> None:
        if self._dlq is not None:
            try:
                self._dlq.flush()
            except KafkaError as exc:
                logger.warning("task %s: DLQ flush at stop failed: %s", self.label, exc)
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None


def _bind_put(task: SinkTask, records: list[SinkRecord]) -> Callable[[], None]:
    return lambda: task.put(records)
