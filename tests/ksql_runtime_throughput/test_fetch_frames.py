"""The runtime's fetch path: AssignedConsumer.poll frames (every record once, exact metadata,
positions) and the garbage-collector pause around the conversion."""

from __future__ import annotations

import gc
import threading
import uuid

import polars as pl

from telemetry_lib.config import Settings
from telemetry_lib.kafka import JsonProducer, create_topic
from telemetry_lib.kafka.assigned import AssignedConsumer
from telemetry_lib.kafka.gc_pause import gc_paused
from telemetry_lib.ksql.runtime.io import RECORD_SCHEMA, TopicSpec
from telemetry_lib.ksql.runtime.kafka_io import KafkaTopicIO


def test_gc_pauses_nest_across_threads_and_restore_the_collector() -> None:
    assert gc.isenabled()
    inside = threading.Event()
    release = threading.Event()

    def other() -> None:
        with gc_paused():
            inside.set()
            release.wait(5)

    worker = threading.Thread(target=other)
    with gc_paused():
        worker.start()
        assert inside.wait(5)
        assert not gc.isenabled()
    assert not gc.isenabled()  # the other thread's pause is still going
    release.set()
    worker.join(5)
    assert gc.isenabled()
    gc.disable()  # a collector the application turned off stays off
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_poll_frames_hold_every_record_once_with_its_metadata(embedded_stack: Settings) -> None:
    conf = embedded_stack.kafka_config()
    tag = uuid.uuid4().hex[:8]
    topics = (f"ff_a_{tag}", f"ff_b_{tag}")
    for topic in topics:
        create_topic(conf, topic, 3)
    sent = []
    with JsonProducer(conf) as producer:
        for t, topic in enumerate(topics):
            n = 2_500 + t * 700
            values = [f'{{"i":{i}}}'.encode() for i in range(n)]
            keys = [None if i % 11 == 0 else f"k{i % 13}".encode() for i in range(n)]
            headers = [[("h", f"{i}".encode()), ("n", None)] if i % 7 == 0 else None
                       for i in range(n)]  # fmt: skip
            stamps = [1_700_000_000_000 + i for i in range(n)]
            parts = [i % 3 for i in range(n)]
            producer.produce_values(topic, values, keys=keys, timestamps=stamps,
                                    partitions=parts, headers=headers)  # fmt: skip
            for i in range(n):
                hs = [{"key": k, "value": v} for k, v in headers[i] or []]
                sent.append((topic, keys[i], values[i], stamps[i], parts[i], hs))
    consumer = AssignedConsumer(conf, f"ff-{tag}")
    try:
        consumer.assign({(t, p): 0 for t in topics for p in range(3)})
        frames = []
        got = 0
        for _ in range(500):
            frame = consumer.poll(max_records=1_000, timeout=0.2)
            assert frame.height <= 1_000
            assert gc.isenabled()
            frames.append(frame)
            got += frame.height
            if got >= len(sent):
                break
        records = pl.concat(frames)
        assert records.schema == pl.Schema({**RECORD_SCHEMA, "topic": pl.String()})
        assert records.height == len(sent)
        # Offsets: each partition's records in order, numbered from 0 (no transactions here).
        for (topic, part), sub in records.group_by("topic", "partition"):
            assert sub["offset"].to_list() == list(range(sub.height)), (topic, part)
        by_value = lambda row: (row[0], row[2])  # noqa: E731 - values are unique per topic
        rows = records.select("topic", "key", "value", "timestamp", "partition", "headers").rows()
        assert sorted(rows, key=by_value) == sorted(sent, key=by_value)
        ends = records.group_by("topic", "partition").agg(pl.col("offset").max() + 1)
        assert consumer.positions() == {(t, p): int(e) for t, p, e in ends.rows()}
        assert consumer.poll(timeout=0.1).height == 0  # nothing more: empty after the timeout
    finally:
        consumer.close()


def test_partition_counts_come_from_one_metadata_answer(embedded_stack: Settings) -> None:
    conf = embedded_stack.kafka_config()
    tag = uuid.uuid4().hex[:8]
    create_topic(conf, f"pc_a_{tag}", 3)
    create_topic(conf, f"pc_b_{tag}", 1)
    consumer = AssignedConsumer(conf, f"pc-{tag}")
    try:
        counts = consumer.partition_counts([f"pc_a_{tag}", f"pc_b_{tag}", f"pc_missing_{tag}"])
        assert counts == {f"pc_a_{tag}": 3, f"pc_b_{tag}": 1, f"pc_missing_{tag}": None}
        assert consumer.partitions(f"pc_a_{tag}") == 3
    finally:
        consumer.close()


def test_ensure_topic_says_whether_it_created_the_topic(embedded_stack: Settings) -> None:
    # A runner skips reading a checkpoint topic its own start created (it is empty).
    io = KafkaTopicIO(embedded_stack.kafka_config())
    spec = TopicSpec(f"et_{uuid.uuid4().hex[:8]}", 1)
    assert io.ensure_topic(spec) is True
    assert io.ensure_topic(spec) is False
    assert io.describe_topic(spec.name) is not None
