"""The source task loop in-process over the real embedded Kafka (Tansu): batches are produced
while the next poll runs, acknowledged (``commit_records``) in poll order only once Kafka has
them, and offsets are committed only up to the last fully acknowledged batch - also when Kafka
never acknowledges anything. (Crash safety of the whole worker: tests/connectors, kill -9.)"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest

import telemetry_lib.connectors.source_runner as source_runner
from telemetry_lib.config import Settings
from telemetry_lib.connectors.api import (
    ConfigDef,
    PluginInfo,
    SourceConnector,
    SourceRecord,
    SourceTask,
)
from telemetry_lib.connectors.connector_config import ErrorHandling
from telemetry_lib.connectors.converters import make_converter
from telemetry_lib.connectors.runner import OffsetBook, TaskEnv, TaskState
from telemetry_lib.connectors.source_runner import MAX_IN_FLIGHT_BATCHES, SourceTaskRunner
from telemetry_lib.connectors.storage import ConnectStorage
from telemetry_lib.kafka import create_topic, end_offsets, read_records
from telemetry_lib.services import free_port

STRING = "org.apache.kafka.connect.storage.StringConverter"
JSON = "org.apache.kafka.connect.json.JsonConverter"
# Generous for a loaded 2-core machine; the runs themselves take well under a second.
WAIT_S = 60.0


class _Log:
    """What the tasks of one test saw (shared with the task instance the runner creates)."""

    def __init__(self, conf: Mapping[str, Any], topic: str) -> None:
        self.conf, self.topic = conf, topic
        self.polled: list[list[int]] = []
        self.acknowledged: list[list[int]] = []
        self.in_topic_at_ack: list[int] = []  # the topic's end offset when a batch was acked
        self.commits = 0


_LOGS: dict[str, _Log] = {}


class _CountingTask(SourceTask):
    """Emits ``{"n": i}`` (key ``"i"``) for i = 1..count, ``batch`` per poll, offset ``{"n": i}``
    in the partition ``{"counter": <name>}``; records what the worker tells it (not registered
    as a plugin: the runner gets its PluginInfo directly)."""

    def start(self, props: Mapping[str, str]) -> None:
        self.topic, self.count, self.batch = (
            props["topic"],
            int(props["count"]),
            int(props["batch"]),
        )
        self.partition = {"counter": props["name"]}
        self.next = 1
        self.log = _LOGS[self.topic]

    def poll(self) -> list[SourceRecord]:
        last = min(self.count, self.next + self.batch - 1)
        records = [SourceRecord(self.topic, {"n": n}, key=str(n), source_partition=self.partition,
                                source_offset={"n": n}) for n in range(self.next, last + 1)]  # fmt: skip
        self.next = last + 1
        if records:
            self.log.polled.append([r.value["n"] for r in records])
        return records

    def commit_records(self, records: Sequence[SourceRecord]) -> None:
        self.log.acknowledged.append([r.value["n"] for r in records])
        self.log.in_topic_at_ack.append(sum(end_offsets(self.log.conf, self.topic).values()))

    def commit(self) -> None:
        self.log.commits += 1

    def stop(self) -> None:
        pass


class _CountingSource(SourceConnector):
    def config_def(self) -> ConfigDef:
        return ConfigDef()

    def start(self, props: Mapping[str, str]) -> None:
        self.props = dict(props)

    def task_class(self) -> type[SourceTask]:
        return _CountingTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self.props)]


_PLUGIN = PluginInfo("test.CountingSource", "source", "1.0-test", _CountingSource)


@pytest.fixture(scope="module")
def storage(embedded_stack: Settings) -> Iterator[ConnectStorage]:
    prefix = f"sr{uuid.uuid4().hex[:8]}"
    store = ConnectStorage(embedded_stack.kafka_config(), config_topic=f"{prefix}-configs",
                           offset_topic=f"{prefix}-offsets", status_topic=f"{prefix}-status",
                           offset_partitions=1, status_partitions=1)  # fmt: skip
    store.ensure_topics()
    yield store
    store.close()


def _runner(settings: Settings, storage: ConnectStorage, topic: str, *, count: int, batch: int,
            overrides: Mapping[str, str] | None = None) -> tuple[SourceTaskRunner, _Log]:  # fmt: skip
    conf = settings.kafka_config()
    log = _LOGS[topic] = _Log(conf, topic)
    name = f"src-{topic}"
    env = TaskEnv(
        connector=name, task_id=0,
        task_config={"name": name, "topic": topic, "count": str(count), "batch": str(batch)},
        connector_config={}, plugin=_PLUGIN, conf=conf,
        key_converter=make_converter(STRING, {}, is_key=True),
        value_converter=make_converter(JSON, {"schemas.enable": "false"}, is_key=False),
        key_converter_class=STRING, value_converter_class=JSON, errors=ErrorHandling(),
        storage=storage, offsets=OffsetBook(), worker_id="test", offset_flush_interval_s=0.2,
        on_status=lambda _runner: None, producer_overrides=dict(overrides or {}),
    )  # fmt: skip
    return SourceTaskRunner(env), log


def _wait(done: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _stored_offset(storage: ConnectStorage, connector: str) -> dict[str, Any] | None:
    stored = storage.load().offsets.get(connector, {})
    return next(iter(stored.values()), None)


def test_batches_are_acknowledged_in_poll_order_once_in_kafka(
    embedded_stack: Settings, storage: ConnectStorage
) -> None:
    topic = f"sr-{uuid.uuid4().hex[:8]}"
    create_topic(embedded_stack.kafka_config(), topic, 1)
    runner, log = _runner(embedded_stack, storage, topic, count=200, batch=7)
    runner.start()
    try:
        _wait(lambda: runner.records_sent >= 200, "200 acknowledged records")
    finally:
        assert runner.stop()
    assert runner.state is TaskState.RUNNING, runner.trace
    frame = read_records(embedded_stack.kafka_config(), topic, isolation_level="read_uncommitted")
    assert [json.loads(v)["n"] for v in frame["value"].to_list()] == list(range(1, 201))
    assert [k.decode() for k in frame["key"].to_list()] == [str(n) for n in range(1, 201)]
    # every polled batch acknowledged exactly once, in poll order
    assert log.acknowledged == log.polled
    assert sum(len(b) for b in log.polled) == 200
    # when a batch was acknowledged, every record up to its last one was in the topic
    # (one partition: record n sits at offset n - 1)
    for acked, in_topic in zip(log.acknowledged, log.in_topic_at_ack, strict=True):
        assert in_topic >= acked[-1]
    # offsets: the last record's, in the offset book and the offsets topic; task.commit() ran
    partition = {"counter": f"src-{topic}"}
    assert runner.env.offsets.offset(f"src-{topic}", partition) == {"n": 200}
    assert _stored_offset(storage, f"src-{topic}") == {"n": 200}
    assert log.commits >= 1


def test_unacknowledged_batches_bound_polling_and_commit_no_offset(
    embedded_stack: Settings, storage: ConnectStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the task's producer points at a closed port: Kafka acknowledges nothing
    monkeypatch.setattr(source_runner, "STOP_DRAIN_S", 0.5)
    topic = f"sr-{uuid.uuid4().hex[:8]}"
    create_topic(embedded_stack.kafka_config(), topic, 1)
    dead = {"bootstrap.servers": f"127.0.0.1:{free_port()}"}
    runner, log = _runner(embedded_stack, storage, topic, count=100, batch=5, overrides=dead)
    runner.start()
    try:
        _wait(lambda: len(log.polled) >= MAX_IN_FLIGHT_BATCHES, "the in-flight window to fill")
        time.sleep(0.5)  # several offset flush intervals; polling must stay blocked
        assert len(log.polled) == MAX_IN_FLIGHT_BATCHES
    finally:
        stopped = threading.Event()
        threading.Thread(target=lambda: runner.stop() and stopped.set(), daemon=True).start()
        assert stopped.wait(WAIT_S)
    assert log.acknowledged == []
    assert runner.records_sent == 0
    assert runner.env.offsets.offset(f"src-{topic}", {"counter": f"src-{topic}"}) is None
    assert _stored_offset(storage, f"src-{topic}") is None


def test_delivery_failure_without_retry_fails_the_task_and_commits_nothing(
    embedded_stack: Settings, storage: ConnectStorage
) -> None:
    # deliveries time out fast against a closed port; errors.retry.timeout=0 (the default)
    topic = f"sr-{uuid.uuid4().hex[:8]}"
    create_topic(embedded_stack.kafka_config(), topic, 1)
    dead = {"bootstrap.servers": f"127.0.0.1:{free_port()}", "message.timeout.ms": "300"}
    runner, log = _runner(embedded_stack, storage, topic, count=30, batch=5, overrides=dead)
    runner.start()
    try:
        _wait(lambda: runner.state is TaskState.FAILED, "the task to fail")
    finally:
        runner.stop()
    assert runner.trace is not None and "DeliveryError" in runner.trace
    assert "were not delivered" in runner.trace
    assert log.acknowledged == []
    assert _stored_offset(storage, f"src-{topic}") is None
