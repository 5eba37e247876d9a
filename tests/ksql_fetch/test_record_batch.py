"""Raw record frames from confluent-kafka messages: record_batch / messages_to_frame against a
record-by-record oracle, skipped columns, positions (ends) and the EOF filter of the fetch."""

from __future__ import annotations

import random

import polars as pl
import pytest
from confluent_kafka import KafkaError as RdKafkaError
from confluent_kafka import Message

from telemetry_lib.kafka.consumer import raise_for_message_errors
from telemetry_lib.kafka.errors import KafkaError, RecordDecodeError
from telemetry_lib.kafka.records import (
    RECORD_COLUMNS,
    messages_to_frame,
    record_batch,
)

_NOT_AVAILABLE = 0  # librdkafka's TIMESTAMP_NOT_AVAILABLE
_CREATE_TIME = 1


def _messages(seed: int, *, topics: tuple[str, ...] = ("t",), n: int = 500) -> list[Message]:
    """Runs of partitions (each in offset order, with gaps like transaction markers), some
    null keys/values, some headers, timestamps of every kind (missing, zero, large)."""
    rng = random.Random(seed)
    nxt: dict[tuple[str, int], int] = {}
    out: list[Message] = []
    while len(out) < n:
        topic = rng.choice(topics)
        part = rng.randrange(5)
        for _ in range(rng.randrange(1, 60)):
            offset = nxt.get((topic, part), rng.randrange(3))
            nxt[(topic, part)] = offset + rng.choice([1, 1, 1, 2])
            roll = rng.random()
            stamp = (
                (_NOT_AVAILABLE, -1)
                if roll < 0.05
                else (_CREATE_TIME, 0)
                if roll < 0.08
                else (_CREATE_TIME, 1_700_000_000_000 + rng.randrange(10**6))
            )
            headers = [("h", f"{offset}".encode()), ("n", None)] if rng.random() < 0.1 else None
            out.append(
                Message(
                    topic=topic,
                    partition=part,
                    offset=offset,
                    key=None if rng.random() < 0.1 else f"k{rng.randrange(50)}".encode(),
                    value=None if rng.random() < 0.05 else f'{{"i":{offset}}}'.encode(),
                    timestamp=stamp,
                    headers=headers,
                )
            )
    return out


def _oracle(messages: list[Message]) -> pl.DataFrame:
    """The frame built record by record, the obvious way."""
    rows = [
        {
            "key": m.key(),
            "value": m.value(),
            "timestamp": None if m.timestamp()[0] == _NOT_AVAILABLE else m.timestamp()[1],
            "partition": m.partition(),
            "offset": m.offset(),
            "headers": [{"key": k, "value": v} for k, v in m.headers() or []],
            "topic": m.topic(),
        }
        for m in messages
    ]
    return pl.DataFrame(rows, schema={**RECORD_COLUMNS, "topic": pl.String()})


def _ends(messages: list[Message]) -> dict[tuple[str, int], int]:
    ends: dict[tuple[str, int], int] = {}
    for m in messages:
        tp = (str(m.topic()), int(m.partition() or 0))
        ends[tp] = max(ends.get(tp, 0), int(m.offset() or 0) + 1)
    return ends


@pytest.mark.parametrize("seed", range(6))
def test_record_batch_equals_the_record_by_record_frame(seed: int) -> None:
    one = _messages(seed)
    batch = record_batch(one, topic="t")
    assert batch.frame.equals(_oracle(one))
    assert batch.ends == _ends(one)
    several = _messages(seed, topics=("a", "b", "c"))
    batch = record_batch(several)  # topic read from each message
    assert batch.frame.equals(_oracle(several))
    assert batch.ends == _ends(several)
    assert messages_to_frame(several).equals(_oracle(several).drop("topic"))


def test_timestamps_missing_zero_and_positive_are_told_apart() -> None:
    msgs = [
        Message(topic="t", partition=0, offset=0, value=b"a", timestamp=(_CREATE_TIME, 5)),
        Message(topic="t", partition=0, offset=1, value=b"b", timestamp=(_NOT_AVAILABLE, -1)),
        Message(topic="t", partition=0, offset=2, value=b"c", timestamp=(_CREATE_TIME, 0)),
    ]
    assert record_batch(msgs, topic="t").frame["timestamp"].to_list() == [5, None, 0]
    assert record_batch(msgs[:1], topic="t").frame["timestamp"].to_list() == [5]


def test_ends_with_many_partitions_and_one_partition() -> None:
    many = [
        Message(topic="t", partition=p, offset=o, value=b"v") for o in range(3) for p in range(40)
    ]
    assert record_batch(many, topic="t").ends == {("t", p): 3 for p in range(40)}
    one = [Message(topic="t", partition=7, offset=o, value=b"v") for o in (4, 9, 12)]
    assert record_batch(one, topic="t").ends == {("t", 7): 13}


@pytest.mark.parametrize("seed", range(3))
def test_skipped_columns_are_typed_nothing_and_the_rest_is_unchanged(seed: int) -> None:
    msgs = _messages(seed)
    full = record_batch(msgs, topic="t").frame
    lean = record_batch(msgs, topic="t", skip=("key", "headers"))
    assert lean.frame.schema == full.schema
    assert lean.frame.drop("key", "headers").equals(full.drop("key", "headers"))
    assert lean.frame["key"].null_count() == len(msgs)
    assert lean.frame["headers"].list.len().to_list() == [0] * len(msgs)
    assert lean.ends == _ends(msgs)
    only_key = messages_to_frame(msgs, skip=("key",))
    assert only_key.drop("key").equals(full.drop("key", "topic"))
    with pytest.raises(RecordDecodeError, match="cannot skip"):
        record_batch(msgs, skip=("value",))  # type: ignore[arg-type]


def test_per_topic_skips_apply_to_what_every_topic_of_the_batch_skips() -> None:
    msgs = _messages(4, topics=("a", "b"))
    full = record_batch(msgs).frame
    skip = {"a": ("key", "headers", "timestamp"), "b": ("headers",)}
    mixed = record_batch(msgs, skip=skip).frame
    assert mixed.drop("headers").equals(full.drop("headers"))  # only what both skip
    assert mixed["headers"].list.len().sum() == 0
    only_a = [m for m in msgs if m.topic() == "a"]
    lean = record_batch(only_a, skip=skip).frame
    assert lean.select("value", "partition", "offset", "topic").equals(
        _oracle(only_a).select("value", "partition", "offset", "topic")
    )
    assert lean["key"].null_count() == lean["timestamp"].null_count() == len(only_a)
    only_b = [m for m in msgs if m.topic() == "b"]
    assert record_batch(only_b, topic="b", skip={"a": ("key",)}).frame.equals(_oracle(only_b))


def test_empty_batch_has_the_schema() -> None:
    batch = record_batch([], topic="t")
    assert batch.frame.schema == pl.Schema({**RECORD_COLUMNS, "topic": pl.String()})
    assert batch.frame.height == 0 and batch.ends == {}


def test_eof_events_are_dropped_and_other_errors_raise() -> None:
    data = _messages(1, n=50)
    eof = Message(topic="t", partition=2, offset=9, error=RdKafkaError(RdKafkaError._PARTITION_EOF))
    mixed = data[:10] + [eof] + data[10:] + [eof]
    assert raise_for_message_errors(mixed) == data
    broken = Message(topic="t", partition=3, error=RdKafkaError(RdKafkaError._TRANSPORT))
    with pytest.raises(KafkaError, match=r"consume from t\[3\] failed"):
        raise_for_message_errors(data[:5] + [eof, broken])
