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
from telemetry_lib.kafka import KafkaError, TransactionalProducer, create_topic, read_records
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


def test_records_the_client_refuses_go_to_on_rejected_and_the_rest_commit(
    kafka: Settings, new_topic: NewTopic
) -> None:
    # message.max.bytes 2000: values 1, 4 and 5 (of 7) are refused before sending; the handler
    # skips them, the transaction stays usable and the others commit in order (with the queue
    # filling up too, so BufferError and refusals interleave in one call).
    topic = new_topic("refused")
    create_topic(kafka, topic, 1)
    sizes = [10, 5000, 20, 30, 6000, 7000, 40]
    values = [bytes([65 + i]) * n for i, n in enumerate(sizes)]
    frame = pl.DataFrame(
        {"key": [None] * 7, "value": values, "timestamp": [None] * 7, "partition": [0] * 7,
         "offset": [None] * 7, "headers": [[]] * 7},
        schema=RECORD_SCHEMA,
    )  # fmt: skip
    refused: list[int] = []
    extra = {"message.max.bytes": 2000, "queue.buffering.max.messages": 2}
    with TransactionalProducer(kafka, new_topic("tx"), extra=extra) as producer:
        producer.init()
        producer.begin()
        producer.produce_frame(
            topic, frame, extra_header=("i", [b"%d" % i for i in range(7)]),
            on_rejected=lambda i, error: refused.append(i),
        )  # fmt: skip
        producer.commit()
        # Without a handler the refusal raises (and leaves the transaction to abort).
        producer.begin()
        with pytest.raises(KafkaError, match="MSG_SIZE_TOO_LARGE"):
            producer.produce_frame(topic, frame.slice(1, 1))
        producer.abort()
    assert refused == [1, 4, 5]
    got = read_records(kafka, topic).sort("offset")
    assert got["value"].to_list() == [values[i] for i in (0, 2, 3, 6)]
    assert [row[0]["value"] for row in got["headers"].to_list()] == [b"0", b"2", b"3", b"6"]
