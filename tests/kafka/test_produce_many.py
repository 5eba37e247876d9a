"""produce_many / produce_frame_records on the embedded broker: every column reaches Kafka as
given (keys, values, timestamps, partitions, own headers then the extra header), also when the
local queue fills up mid-batch and the C-level produce loop has to resume after the record that
did not fit."""

from __future__ import annotations

import time
from collections.abc import Callable

import polars as pl
import pytest

from telemetry_lib.config import Settings
from telemetry_lib.kafka import TransactionalProducer, create_topic, read_records
from telemetry_lib.ksql.runtime.io import RECORD_SCHEMA

pytestmark = pytest.mark.integration

NewTopic = Callable[..., str]

# Far below the batch size, so produce() raises BufferError many times within one call.
TINY_QUEUE = {"queue.buffering.max.messages": 7}
COUNT = 300


def _headers(frame: pl.DataFrame) -> list[list[tuple[str, bytes | None]]]:
    return [[(h["key"], h["value"]) for h in row] for row in frame["headers"].to_list()]


def test_produce_values_resumes_after_a_full_queue_in_order(
    kafka: Settings, new_topic: NewTopic
) -> None:
    topic = new_topic("many")
    create_topic(kafka, topic, 2)
    values = [b"v%d" % i for i in range(COUNT)]
    keys = [None if i % 5 == 0 else b"k%d" % i for i in range(COUNT)]
    stamps = [None if i % 3 == 0 else 1_700_000_000_000 + i for i in range(COUNT)]
    parts = [i % 2 for i in range(COUNT)]
    own = [[("a", b"x"), ("b", None)] if i % 4 == 0 else None for i in range(COUNT)]
    extra = [b"q:0:1:%d" % i for i in range(COUNT)]
    before = int(time.time() * 1000)
    with TransactionalProducer(kafka, new_topic("tx"), extra=TINY_QUEUE) as producer:
        producer.init()
        producer.begin()
        producer.produce_values(topic, values, keys=keys, timestamps=stamps, partitions=parts,
                                headers=own, extra_header=("ksql-eos", extra))  # fmt: skip
        producer.commit()
    got = read_records(kafka, topic).sort("partition", "offset")
    assert got.height == COUNT
    for p in (0, 1):
        rows = got.filter(pl.col("partition") == p)
        sent = range(p, COUNT, 2)
        assert rows["value"].to_list() == [values[i] for i in sent]
        assert rows["key"].to_list() == [keys[i] for i in sent]
        assert _headers(rows) == [[*(own[i] or []), ("ksql-eos", extra[i])] for i in sent]
        for i, ts in zip(sent, rows["timestamp"].to_list(), strict=True):
            if stamps[i] is None:  # no timestamp: the produce time
                assert ts >= before
            else:
                assert ts == stamps[i]


def test_produce_frame_fills_nulls_and_appends_the_extra_header(
    kafka: Settings, new_topic: NewTopic
) -> None:
    topic = new_topic("frame")
    create_topic(kafka, topic, 3)
    frame = pl.DataFrame(
        {
            "key": [b"k%d" % i for i in range(COUNT)],
            "value": [None if i == 7 else b"v%d" % i for i in range(COUNT)],
            "timestamp": [1_700_000_000_000 + i for i in range(COUNT)],
            "partition": [None if i % 2 else 2 for i in range(COUNT)],
            "offset": [None] * COUNT,
            "headers": [
                [{"key": "own", "value": b"%d" % i}] if i % 10 == 0 else [] for i in range(COUNT)
            ],  # fmt: skip
        },
        schema=RECORD_SCHEMA,
    )
    extra = [b"e%d" % i for i in range(COUNT)]
    with TransactionalProducer(kafka, new_topic("tx"), extra=TINY_QUEUE) as producer:
        producer.init()
        producer.begin()
        producer.produce_frame(topic, frame, extra_header=("ksql-eos", extra))
        producer.commit()
    got = read_records(kafka, topic)
    by_value = {v: row for v, row in zip(got["value"].to_list(), got.iter_rows(named=True),
                                          strict=True)}  # fmt: skip
    assert got.height == COUNT
    for i, sent in enumerate(frame.iter_rows(named=True)):
        row = by_value[sent["value"]]
        assert row["key"] == sent["key"] and row["timestamp"] == sent["timestamp"]
        if sent["partition"] is not None:
            assert row["partition"] == 2
        own = [(h["key"], h["value"]) for h in sent["headers"]]
        assert [(h["key"], h["value"]) for h in row["headers"]] == [*own, ("ksql-eos", extra[i])]
