"""The worker over the real embedded Kafka: source -> topic -> sink end to end, kill -9 and
graceful restarts (nothing lost; a graceful restart duplicates nothing), dead letter queue with
Connect's error headers, retries of a failing sink, and connectors restored from the local copy
after a fresh (empty) broker."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from telemetry_lib.config import Settings
from telemetry_lib.connectors.client import ConnectClient
from telemetry_lib.kafka import create_topic, produce_json, read_records
from telemetry_lib.kafka.producer import JsonProducer
from telemetry_lib.services import Stack
from tests.conftest import isolated_settings
from tests.connectors.helpers import WorkerProcess, wait_for

STRING = "org.apache.kafka.connect.storage.StringConverter"
JSON = "org.apache.kafka.connect.json.JsonConverter"
PLAIN_JSON = {"key.converter": STRING, "value.converter": JSON,
              "value.converter.schemas.enable": "false"}  # fmt: skip
# A pipeline over Tansu needs a group join (~3 s) plus the records; generous for a loaded box.
PIPELINE_TIMEOUT_S = 120.0


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _topic_numbers(settings: Settings, topic: str) -> list[int]:
    frame = read_records(settings.kafka_config(), topic, isolation_level="read_uncommitted")
    return [json.loads(v)["n"] for v in frame["value"].to_list()]


def _file_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _file_numbers(path: Path) -> list[int]:
    return [row["value"]["n"] for row in _file_rows(path)]


def _pipeline(
    settings: Settings, worker: WorkerProcess, name: str, work: Path, count: int
) -> tuple[str, Path]:
    """A sink already consuming the topic, then a source writing ``count`` numbers into it
    at about 500 per second."""
    topic, sink_file = f"{name}-out", work / f"{name}.jsonl"
    create_topic(settings.kafka_config(), topic, 1)
    client = ConnectClient(worker.url)
    client.create(f"{name}-sink", {"connector.class": "test.FileSink", "topics": topic,
                                   "file": str(sink_file), **PLAIN_JSON})  # fmt: skip
    assigned = f"{name}-sink-0: partitions assigned [('{topic}', 0)]"
    wait_for(lambda: assigned in worker.tail(100_000), timeout=PIPELINE_TIMEOUT_S,
             what="the sink's partition assignment")  # fmt: skip
    client.create(f"{name}-src", {"connector.class": "test.CounterSource", "topic": topic,
                                  "count": str(count), "batch": "10", "delay.ms": "20",
                                  **PLAIN_JSON})  # fmt: skip
    return topic, sink_file


def test_kill9_mid_stream_loses_nothing(embedded_stack: Settings, tmp_path: Path) -> None:
    worker = WorkerProcess(embedded_stack.bootstrap_servers, tmp_path / "state", tmp_path / "w.log")
    worker.start()
    try:
        name, count = _name("k9"), 3000
        topic, sink_file = _pipeline(embedded_stack, worker, name, tmp_path, count)
        wait_for(lambda: len(_file_numbers(sink_file)) >= 100, timeout=PIPELINE_TIMEOUT_S,
                 what="the sink writing")  # fmt: skip
        worker.kill9()
        assert len(set(_topic_numbers(embedded_stack, topic))) < count  # killed mid-stream
        client = ConnectClient(worker.restarted().url)
        assert sorted(client.list()) == [f"{name}-sink", f"{name}-src"]
        wait_for(lambda: set(_topic_numbers(embedded_stack, topic)) == set(range(1, count + 1)),
                 timeout=PIPELINE_TIMEOUT_S, what="every number in the topic")  # fmt: skip
        wait_for(lambda: set(_file_numbers(sink_file)) == set(range(1, count + 1)),
                 timeout=PIPELINE_TIMEOUT_S, what="every number in the sink file")  # fmt: skip
        assert client.offsets(f"{name}-src") == [
            {"partition": {"counter": f"{name}-src"}, "offset": {"n": count}}
        ]
    finally:
        worker.stop()


def test_graceful_restart_duplicates_nothing(embedded_stack: Settings, tmp_path: Path) -> None:
    worker = WorkerProcess(embedded_stack.bootstrap_servers, tmp_path / "state", tmp_path / "w.log")
    worker.start()
    try:
        name, count = _name("graceful"), 3000
        topic, sink_file = _pipeline(embedded_stack, worker, name, tmp_path, count)
        wait_for(lambda: len(_file_numbers(sink_file)) >= 100, timeout=PIPELINE_TIMEOUT_S,
                 what="the sink writing")  # fmt: skip
        client = ConnectClient(worker.restarted().url)  # SIGTERM: tasks commit, then stop
        wait_for(lambda: len(_file_numbers(sink_file)) >= count, timeout=PIPELINE_TIMEOUT_S,
                 what="the sink catching up")  # fmt: skip
        topic_counts = Counter(_topic_numbers(embedded_stack, topic))
        assert sorted(topic_counts) == list(range(1, count + 1))
        assert max(topic_counts.values()) == 1, "a graceful restart re-sent records"
        file_numbers = _file_numbers(sink_file)
        assert sorted(file_numbers) == list(range(1, count + 1))
        assert client.status(f"{name}-sink")["tasks"][0]["state"] == "RUNNING"
    finally:
        worker.stop()


def test_dead_letter_queue_gets_bad_records_with_connect_headers(
    embedded_stack: Settings, tmp_path: Path
) -> None:
    conf = embedded_stack.kafka_config()
    worker = WorkerProcess(embedded_stack.bootstrap_servers, tmp_path / "state", tmp_path / "w.log")
    worker.start()
    try:
        name = _name("dlq")
        topic, dlq, sink_file = f"{name}-in", f"{name}-dlq", tmp_path / "sink.jsonl"
        create_topic(conf, topic, 1)
        with JsonProducer(conf) as producer:
            producer.produce_values(topic, [b'{"n": 1}', b"{oops", b'{"poison": true}', b'{"n": 4}'],
                                    keys=[b"a", b"b", b"c", b"d"])  # fmt: skip
        client = ConnectClient(worker.url)
        client.create(name, {"connector.class": "test.FileSink", "topics": topic,
                             "file": str(sink_file), **PLAIN_JSON, "errors.tolerance": "all",
                             "errors.deadletterqueue.topic.name": dlq,
                             "errors.deadletterqueue.topic.replication.factor": "1",
                             "errors.deadletterqueue.context.headers.enable": "true"})  # fmt: skip
        wait_for(lambda: len(_file_rows(sink_file)) == 2, timeout=PIPELINE_TIMEOUT_S,
                 what="the good records")  # fmt: skip
        assert [row["value"] for row in _file_rows(sink_file)] == [{"n": 1}, {"n": 4}]
        [frame] = wait_for(lambda: (f := read_records(conf, dlq)).height == 2 and [f],
                           timeout=PIPELINE_TIMEOUT_S, what="two DLQ records")  # fmt: skip
        assert frame["value"].to_list() == [b"{oops", b'{"poison": true}']  # the raw bytes
        assert frame["key"].to_list() == [b"b", b"c"]
        headers = [{h["key"]: h["value"] for h in row} for row in frame["headers"].to_list()]
        prefix = "__connect.errors."
        assert headers[0][prefix + "stage"] == b"VALUE_CONVERTER"
        assert headers[0][prefix + "class.name"] == JSON.encode()
        assert headers[0][prefix + "topic"] == topic.encode()
        assert headers[0][prefix + "offset"] == b"1"
        assert b"serialization error" in headers[0][prefix + "exception.message"]
        assert headers[1][prefix + "stage"] == b"TASK_PUT"
        assert headers[1][prefix + "connector.name"] == name.encode()
        assert b"poison record at offset 2" in headers[1][prefix + "exception.message"]
        assert client.status(name)["tasks"][0]["state"] == "RUNNING"
    finally:
        worker.stop()


def test_error_without_tolerance_fails_the_task_with_its_trace(
    embedded_stack: Settings, tmp_path: Path, worker: WorkerProcess
) -> None:
    conf = embedded_stack.kafka_config()
    name = _name("strict")
    topic = f"{name}-in"
    create_topic(conf, topic, 1)
    produce_json(conf, topic, [{"n": 1}])  # plain JSON, but the converter expects an envelope
    client = ConnectClient(worker.url)
    client.create(name, {"connector.class": "test.FileSink", "topics": topic,
                         "file": str(tmp_path / "never.jsonl"), "value.converter": JSON})  # fmt: skip
    status = wait_for(lambda: (s := client.status(name))["tasks"] and
                      s["tasks"][0]["state"] == "FAILED" and s, timeout=PIPELINE_TIMEOUT_S,
                      what="FAILED task")  # fmt: skip
    assert 'requires "schema" and "payload" fields' in status["tasks"][0]["trace"]
    assert not (tmp_path / "never.jsonl").exists()
    assert client.offsets(name) == []  # nothing committed past the record it could not convert
    client.delete(name)


def test_retriable_put_is_retried_until_it_succeeds(
    embedded_stack: Settings, tmp_path: Path, worker: WorkerProcess
) -> None:
    conf = embedded_stack.kafka_config()
    name = _name("retry")
    topic, sink_file = f"{name}-in", tmp_path / "sink.jsonl"
    create_topic(conf, topic, 2)
    produce_json(conf, topic, [{"n": n} for n in range(1, 51)], key=lambda d: str(d["n"]))
    client = ConnectClient(worker.url)
    client.create(name, {"connector.class": "test.FileSink", "topics": topic,
                         "file": str(sink_file), "retriable.puts": "3",
                         "errors.retry.delay.max.ms": "400",
                         "consumer.override.max.poll.records": "7", **PLAIN_JSON})  # fmt: skip
    wait_for(lambda: len(_file_rows(sink_file)) >= 50, timeout=PIPELINE_TIMEOUT_S,
             what="all records after the retries")  # fmt: skip
    assert sorted(_file_numbers(sink_file)) == list(range(1, 51))
    assert max(row["batch"] for row in _file_rows(sink_file)) <= 7  # max.poll.records
    assert client.status(name)["tasks"][0]["state"] == "RUNNING"
    committed = {(e["partition"]["kafka_partition"], e["offset"]["kafka_offset"])
                 for e in client.offsets(name)}  # fmt: skip
    wait_for(lambda: sum(e["offset"]["kafka_offset"] for e in client.offsets(name)) == 50,
             what=f"committed offsets covering 50 records (had {committed})")  # fmt: skip
    client.stop(name)  # the offsets come from the consumer group: still there when stopped
    assert sorted((e["partition"]["kafka_partition"], e["offset"]["kafka_offset"])
                  for e in client.offsets(name)) == sorted(  # fmt: skip
        (p, n) for p, n in Counter(row["partition"] for row in _file_rows(sink_file)).items()
    )
    client.delete(name)


def test_fresh_broker_restores_connectors_and_recopies(tmp_path: Path) -> None:
    """``telemetry down`` + ``up``: the new broker is empty; connectors come back from
    <state>/connectors.json and the source starts again from no offset."""
    settings = isolated_settings(tmp_path / "wb")
    state = tmp_path / "connect-state"
    name = _name("fresh")
    topic = f"{name}-out"
    with Stack(settings, services=("kafka",)):
        worker = WorkerProcess(settings.bootstrap_servers, state, tmp_path / "w1.log").start()
        try:
            client = ConnectClient(worker.url)
            client.create(name, {"connector.class": "test.CounterSource", "topic": topic,
                                 "count": "30", **PLAIN_JSON})  # fmt: skip
            client.create(f"{name}-paused", {"connector.class": "test.CounterSource",
                                             "topic": f"{topic}-2", **PLAIN_JSON},
                          initial_state="PAUSED")  # fmt: skip
            wait_for(lambda: client.offsets(name), what="source offsets")
            assert sorted(_topic_numbers(settings, topic)) == list(range(1, 31))
        finally:
            worker.stop()
    saved = json.loads((state / "connectors.json").read_text())
    assert set(saved["connectors"]) == {name, f"{name}-paused"}
    assert saved["connectors"][f"{name}-paused"]["target_state"] == "PAUSED"

    with Stack(settings, services=("kafka",)):  # a new, empty broker on the same port
        worker = WorkerProcess(settings.bootstrap_servers, state, tmp_path / "w2.log",
                               prefix=worker.prefix).start()  # fmt: skip
        try:
            client = ConnectClient(worker.url)
            assert sorted(client.list()) == [name, f"{name}-paused"]
            assert client.status(f"{name}-paused")["connector"]["state"] == "PAUSED"
            wait_for(lambda: sorted(_topic_numbers(settings, topic)) == list(range(1, 31)),
                     timeout=PIPELINE_TIMEOUT_S, what="the source re-copying into the new topic")  # fmt: skip
            assert "fresh broker" in worker.tail(20000)
            assert client.config(name)["count"] == "30"
        finally:
            worker.stop()


def test_topics_regex_picks_up_new_topics_with_two_tasks(
    embedded_stack: Settings, tmp_path: Path, worker: WorkerProcess
) -> None:
    conf = embedded_stack.kafka_config()
    name = _name("regex")
    sink_file = tmp_path / "sink.jsonl"
    create_topic(conf, f"{name}-a", 2)
    produce_json(conf, f"{name}-a", [{"n": n} for n in range(1, 21)], key=lambda d: str(d["n"]))
    client = ConnectClient(worker.url)
    client.create(name, {"connector.class": "test.FileSink", "topics.regex": f"{name}-.*",
                         "tasks.max": "2", "file": str(sink_file), **PLAIN_JSON})  # fmt: skip
    client.wait_until_running(name, tasks=2)
    wait_for(lambda: len(_file_rows(sink_file)) >= 20, timeout=PIPELINE_TIMEOUT_S,
             what="the first topic's records")  # fmt: skip
    create_topic(conf, f"{name}-b", 1)  # created after the connector: found by the regex
    produce_json(conf, f"{name}-b", [{"n": n} for n in range(21, 31)])
    wait_for(lambda: sorted(set(_file_numbers(sink_file))) == list(range(1, 31)),
             timeout=PIPELINE_TIMEOUT_S, what="both topics' records")  # fmt: skip
    assert {row["topic"] for row in _file_rows(sink_file)} == {f"{name}-a", f"{name}-b"}
    url = f"{worker.url}/connectors/{name}/topics"
    wait_for(lambda: httpx.get(url).json()[name]["topics"] == [f"{name}-a", f"{name}-b"],
             what="both topics active")  # fmt: skip
    client.delete(name)


def test_sink_stopped_during_its_group_join_resumes_after_restart(
    embedded_stack: Settings, tmp_path: Path
) -> None:
    """Tansu gap: a member leaving while its join is in flight wedges the group for every
    later plain member; the sink's static group.instance.id lets the restarted task take over."""
    conf = embedded_stack.kafka_config()
    worker = WorkerProcess(embedded_stack.bootstrap_servers, tmp_path / "state", tmp_path / "w.log")
    worker.start()
    try:
        name = _name("midjoin")
        topic, sink_file = f"{name}-in", tmp_path / "sink.jsonl"
        create_topic(conf, topic, 1)
        produce_json(conf, topic, [{"n": n} for n in range(1, 41)])
        ConnectClient(worker.url).create(name, {"connector.class": "test.FileSink", "topics": topic,
                                                "file": str(sink_file), **PLAIN_JSON})  # fmt: skip
        wait_for(lambda: "consuming" in worker.tail(100_000), what="the sink subscribing")
        assert "partitions assigned" not in worker.tail(100_000)  # stopped mid-join
        worker.restarted()
        wait_for(lambda: sorted(_file_numbers(sink_file)) == list(range(1, 41)),
                 timeout=PIPELINE_TIMEOUT_S, what="the restarted sink writing every record")  # fmt: skip
    finally:
        worker.stop()
