"""Broker compatibility suite, part 1: topics, produce, bounded reads, watermarks.

Runs every Kafka call the project makes against the real embedded Tansu broker. Tests named
``test_gap_*`` pin a known difference from Apache Kafka: if a broker upgrade fixes it, the test
fails and says what to revisit.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from telemetry_lib.config import Settings
from telemetry_lib.kafka import (
    DeliveryError,
    JsonProducer,
    KafkaAdmin,
    KafkaError,
    TopicConflictError,
    TopicNotFoundError,
    create_topic,
    delete_topic,
    describe_topic,
    end_offsets,
    list_topics,
    produce_json,
    read_records,
    read_topic,
    wait_for_topic,
)
from tests.kafka.conftest import PrivateBroker

pytestmark = pytest.mark.integration

NewTopic = Callable[..., str]


def _murmur2(data: bytes) -> int:
    """Kafka's Utils.murmur2 (Java reference, written out independently for this check)."""
    m, r, mask = 0x5BD1E995, 24, 0xFFFFFFFF
    length = len(data)
    h = (0x9747B28C ^ length) & mask
    for i in range(length // 4):
        k = int.from_bytes(data[4 * i : 4 * i + 4], "little")
        k = (k * m) & mask
        k ^= k >> r
        k = (k * m) & mask
        h = (h * m) & mask
        h ^= k
    tail = length & ~3
    rest = length % 4
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h


def _java_partition(key: bytes, partitions: int) -> int:
    return (_murmur2(key) & 0x7FFFFFFF) % partitions


def test_create_topic_with_configs_then_describe(kafka: Settings, new_topic: NewTopic) -> None:
    name = new_topic("cfg")
    assert create_topic(kafka, name, 3, config={"retention.ms": "3600000"}) is True
    described = describe_topic(kafka, name)
    assert described.partitions == 3
    assert described.replication == 1
    assert described.config["retention.ms"] == "3600000"
    assert name in list_topics(kafka)
    assert wait_for_topic(kafka, name).partitions == 3


def test_gap_describe_configs_returns_only_explicit_configs(
    kafka: Settings, new_topic: NewTopic
) -> None:
    # Apache Kafka returns every effective config (cleanup.policy=delete, segment.bytes, ...).
    name = new_topic("cfg-gap")
    create_topic(kafka, name, 1, config={"retention.ms": "1000"})
    assert describe_topic(kafka, name).config == {"retention.ms": "1000"}


def test_create_topic_is_idempotent_for_the_same_count_and_rejects_another(
    kafka: Settings, new_topic: NewTopic
) -> None:
    name = new_topic("idem")
    admin = KafkaAdmin(kafka)
    assert admin.create_topic(name, 2) is True
    assert admin.create_topic(name, 2) is False
    with pytest.raises(TopicConflictError, match="already exists with 2 partitions, not the 5"):
        admin.create_topic(name, 5)
    with pytest.raises(KafkaError, match="must be >= 1"):
        admin.create_topic(new_topic("zero"), 0)


def test_gap_replication_factor_above_the_broker_count_is_accepted(
    kafka: Settings, new_topic: NewTopic
) -> None:
    # Apache Kafka refuses it on one broker (INVALID_REPLICATION_FACTOR): keep replication=1
    # for the embedded profile and set it per profile for real clusters.
    name = new_topic("rf")
    assert create_topic(kafka, name, 2, replication=3) is True
    assert describe_topic(kafka, name).replication == 3


def test_gap_metadata_for_unknown_topic_auto_creates_it_with_4_partitions(
    kafka: Settings, new_topic: NewTopic
) -> None:
    name = new_topic("auto")
    raw = AdminClient(kafka.kafka_config())
    raw.list_topics(topic=name, timeout=10)  # what a client does before producing
    assert describe_topic(kafka, name).partitions == 4


def test_helpers_never_auto_create(kafka: Settings, new_topic: NewTopic) -> None:
    name = new_topic("absent")
    with pytest.raises(TopicNotFoundError):
        describe_topic(kafka, name)
    with pytest.raises(TopicNotFoundError):
        read_topic(kafka, name)
    with pytest.raises(TopicNotFoundError):
        wait_for_topic(kafka, name, timeout=0.3)
    assert name not in list_topics(kafka, include_internal=True)


def test_delete_topic(kafka: Settings, new_topic: NewTopic) -> None:
    name = new_topic("del")
    create_topic(kafka, name, 1)
    produce_json(kafka, name, [{"a": 1}])
    assert delete_topic(kafka, name) is True
    assert name not in list_topics(kafka)
    assert delete_topic(kafka, name) is False
    with pytest.raises(TopicNotFoundError):
        delete_topic(kafka, name, missing_ok=False)


def test_produce_json_then_read_topic_round_trip(kafka: Settings, new_topic: NewTopic) -> None:
    name = new_topic("rt")
    create_topic(kafka, name, 3)
    t0 = 1_700_000_000_000
    docs = [
        {"player_id": f"P{i % 7}", "event_type": "kill" if i % 2 else "death", "timestamp": t0 + i}
        for i in range(5000)
    ]
    result = produce_json(kafka, name, docs, key="player_id", timestamp_field="timestamp")
    assert result.records == 5000
    frame = read_topic(kafka, name)
    assert frame.height == 5000
    assert frame.columns == [
        "key",
        "player_id",
        "event_type",
        "timestamp",
        "kafka_timestamp",
        "partition",
        "offset",
    ]
    assert (frame["key"] == frame["player_id"]).all()
    assert (frame["kafka_timestamp"] == frame["timestamp"]).all()
    assert sorted(frame["timestamp"].to_list()) == [d["timestamp"] for d in docs]
    # Keys land where Java clients (ksqlDB, Connect) would put them: murmur2 partitioning.
    placed = {row[0]: row[1] for row in frame.select("player_id", "partition").unique().iter_rows()}
    assert placed == {p: _java_partition(p.encode(), 3) for p in placed}
    # Per partition the order of production is kept.
    for _part, group in frame.group_by("partition"):
        assert group["timestamp"].is_sorted()
        assert group["offset"].to_list() == list(range(group.height))


def test_read_topic_is_bounded_by_the_end_at_call_time(
    kafka: Settings, new_topic: NewTopic
) -> None:
    name = new_topic("bound")
    create_topic(kafka, name, 2)
    produce_json(kafka, name, [{"i": i} for i in range(100)], key=lambda d: str(d["i"]))
    first = read_topic(kafka, name)
    produce_json(kafka, name, [{"i": i} for i in range(100, 130)], key=lambda d: str(d["i"]))
    second = read_topic(kafka, name)
    assert sorted(first["i"].to_list()) == list(range(100))
    assert sorted(second["i"].to_list()) == list(range(130))
    assert sum(end_offsets(kafka, name).values()) == 130


def test_gap_list_offsets_high_watermark_is_last_batch_base_plus_one(
    kafka: Settings, new_topic: NewTopic
) -> None:
    name = new_topic("hw")
    create_topic(kafka, name, 1)
    producer = Producer({**kafka.kafka_config(), "linger.ms": 50})
    for i in range(5):
        producer.produce(name, b"v%d" % i)
    producer.flush(10)  # one batch of 5 records: offsets 0..4
    consumer = Consumer({**kafka.kafka_config(), "group.id": "hw-probe"})
    try:
        listed = consumer.get_watermark_offsets(TopicPartition(name, 0), timeout=10, cached=False)
    finally:
        consumer.close()
    assert listed == (0, 1)  # Apache Kafka: (0, 5)
    # The helpers correct for it: the true end, and every record.
    assert end_offsets(kafka, name) == {0: 5}
    assert read_records(kafka, name)["value"].to_list() == [b"v%d" % i for i in range(5)]


def test_watermarks_are_right_after_single_record_batches(
    kafka: Settings, new_topic: NewTopic
) -> None:
    name = new_topic("wm")
    create_topic(kafka, name, 1)
    with JsonProducer(kafka) as producer:
        for i in range(3):
            producer.produce_json(name, [{"i": i}])  # flushes: one record per batch
    consumer = Consumer({**kafka.kafka_config(), "group.id": "wm-probe"})
    try:
        assert consumer.get_watermark_offsets(TopicPartition(name, 0), timeout=10) == (0, 3)
    finally:
        consumer.close()


def test_gap_offsets_for_times_answers_offset_zero_for_any_timestamp(
    kafka: Settings, new_topic: NewTopic
) -> None:
    name = new_topic("oft")
    create_topic(kafka, name, 1)
    t0 = int(time.time() * 1000)
    with JsonProducer(kafka) as producer:
        for i in range(4):
            producer.produce_values(name, [b"x"], timestamps=[t0 + 1000 * i])
    consumer = Consumer({**kafka.kafka_config(), "group.id": "oft-probe"})
    try:
        query = [TopicPartition(name, 0, t0 + 2000), TopicPartition(name, 0, t0 + 60_000)]
        answer = [tp.offset for tp in consumer.offsets_for_times(query, timeout=10)]
    finally:
        consumer.close()
    assert answer == [0, 0]  # Apache Kafka: [2, -1] (-1: no record that late)


def test_read_topic_from_committed_offsets_for_incremental_reads(
    kafka: Settings, new_topic: NewTopic
) -> None:
    name = new_topic("incr")
    create_topic(kafka, name, 2)
    group = new_topic("reader")
    produce_json(kafka, name, [{"i": i} for i in range(10)], key=lambda d: str(d["i"]))
    first = read_topic(kafka, name, from_beginning=False, group_id=group, commit=True)
    assert sorted(first["i"].to_list()) == list(range(10))  # a new group starts at the beginning
    produce_json(kafka, name, [{"i": i} for i in range(10, 15)], key=lambda d: str(d["i"]))
    second = read_topic(kafka, name, from_beginning=False, group_id=group, commit=True)
    assert sorted(second["i"].to_list()) == list(range(10, 15))
    assert read_topic(kafka, name, from_beginning=False, group_id=group).height == 0
    with pytest.raises(KafkaError, match="no group_id"):
        read_topic(kafka, name, from_beginning=False)


def test_read_topic_selected_partitions_and_headers(kafka: Settings, new_topic: NewTopic) -> None:
    name = new_topic("parts")
    create_topic(kafka, name, 2)
    producer = Producer(kafka.kafka_config())
    producer.produce(name, b'{"a":1}', b"k", partition=1, headers=[("h", b"1")])
    producer.produce(name, b'{"a":2}', b"k", partition=0)
    producer.flush(10)
    raw = read_records(kafka, name, partitions=[1])
    assert raw["partition"].to_list() == [1]
    assert raw["headers"].to_list() == [[{"key": "h", "value": b"1"}]]
    with pytest.raises(KafkaError, match="partitions 0..1"):
        read_topic(kafka, name, partitions=[2])


def test_produce_larger_than_max_message_raises_kafka_error(
    kafka: Settings, new_topic: NewTopic
) -> None:
    name = new_topic("big")
    create_topic(kafka, name, 1)
    producer = JsonProducer(kafka, extra={"message.max.bytes": 1000})
    with pytest.raises(KafkaError, match="produce to"):
        producer.produce_values(name, [b"x" * 5000])


def test_failed_delivery_raises_delivery_error(kafka: Settings, new_topic: NewTopic) -> None:
    name = new_topic("undeliverable")
    create_topic(kafka, name, 1)
    with pytest.raises(DeliveryError, match=r"1 records were not delivered: .*\[5\]"):
        JsonProducer(kafka).produce_values(name, [b"x"], partitions=[5])


def test_compacted_topic_keeps_every_version_and_tombstones(
    kafka: Settings, new_topic: NewTopic
) -> None:
    # Compaction never runs on Tansu; on Kafka the active segment is never compacted either,
    # so right after producing both keep every version. Correctness must not need compaction.
    name = new_topic("compact")
    create_topic(kafka, name, 1, config={"cleanup.policy": "compact"})
    assert describe_topic(kafka, name).config["cleanup.policy"] == "compact"
    with JsonProducer(kafka) as producer:
        producer.produce_values(name, [b'{"v":1}', b'{"v":2}', None], keys=[b"k", b"k", b"k"])
    frame = read_topic(kafka, name)
    assert frame["v"].to_list() == [1, 2, None]
    assert frame["key"].to_list() == ["k", "k", "k"]


def test_gap_compacted_topic_accepts_records_without_key(
    kafka: Settings, new_topic: NewTopic
) -> None:
    # Apache Kafka rejects them ("Compacted topic cannot accept message without key").
    name = new_topic("compact-nokey")
    create_topic(kafka, name, 1, config={"cleanup.policy": "compact"})
    produce_json(kafka, name, [{"v": 1}])
    assert read_topic(kafka, name)["v"].to_list() == [1]


def test_gap_broker_restart_loses_topics_and_records(private_kafka: PrivateBroker) -> None:
    settings = private_kafka.settings
    create_topic(settings, "survivor", 1)
    produce_json(settings, "survivor", [{"a": 1}])
    assert read_topic(settings, "survivor").height == 1
    private_kafka.stop()
    private_kafka.start()
    assert "survivor" not in list_topics(settings)


def test_produce_frame_round_trips_a_raw_record_batch(kafka: Settings, new_topic: NewTopic) -> None:
    source, copy = new_topic("frame-src"), new_topic("frame-copy")
    create_topic(kafka, source, 2)
    create_topic(kafka, copy, 2)
    producer = Producer(kafka.kafka_config())
    producer.produce(source, b"v0", b"k0", partition=0, timestamp=1000, headers=[("h", b"x")])
    producer.produce(source, None, b"k1", partition=1, timestamp=2000)
    producer.produce(
        source, b"v2", None, partition=1, timestamp=3000, headers=[("a", b"1"), ("a", None)]
    )
    producer.flush(10)
    original = read_records(kafka, source)
    with JsonProducer(kafka) as writer:
        assert writer.produce_frame(copy, original).records == 3
    copied = read_records(kafka, copy)
    assert copied.drop("offset").to_dicts() == original.drop("offset").to_dicts()
    assert copied["headers"].to_list()[2] == [
        {"key": "a", "value": b"1"},
        {"key": "a", "value": None},
    ]
