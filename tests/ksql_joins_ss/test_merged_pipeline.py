"""A join query's pipeline fed one merged batch (``JoinPipeline.merged()``, as the Kafka runtime
feeds a batch merged by time) gives the same output records, in the same order, as the same
records piped one at a time through the in-memory driver — for a stream-stream join with GRACE,
a three-way stream-stream join (the inner join's output must enter the outer join before the
outer join's next record) and a stream-stream join under a stream-table join.
"""

from __future__ import annotations

import json
import random
import struct
from typing import Any

import polars as pl
import pytest

from telemetry_lib.ksql.driver import InMemoryDriver
from telemetry_lib.ksql.exec.join_pipeline import JoinPipeline, merged_batch
from telemetry_lib.ksql.exec.join_stream_stream import StreamStreamJoinOperator
from telemetry_lib.ksql.runtime.io import RECORD_SCHEMA

STREAMS = """
CREATE STREAM a (id BIGINT KEY, x BIGINT, ts BIGINT)
  WITH (KAFKA_TOPIC='a', VALUE_FORMAT='JSON', PARTITIONS=1, TIMESTAMP='TS');
CREATE STREAM b (id BIGINT KEY, y BIGINT, ts BIGINT)
  WITH (KAFKA_TOPIC='b', VALUE_FORMAT='JSON', PARTITIONS=1, TIMESTAMP='TS');
CREATE STREAM c (id BIGINT KEY, z BIGINT, ts BIGINT)
  WITH (KAFKA_TOPIC='c', VALUE_FORMAT='JSON', PARTITIONS=1, TIMESTAMP='TS');
CREATE TABLE t (id BIGINT PRIMARY KEY, w BIGINT)
  WITH (KAFKA_TOPIC='t', VALUE_FORMAT='JSON', PARTITIONS=1);
"""

QUERIES = {
    "full_grace": "CREATE STREAM out AS SELECT * FROM a FULL OUTER JOIN b "
    "WITHIN (20 MILLISECONDS, 35 MILLISECONDS) GRACE PERIOD 10 MILLISECONDS ON a.id = b.id;",
    "three_way": "CREATE STREAM out AS SELECT a.id AS id, x, y, z FROM a "
    "LEFT JOIN b WITHIN 30 MILLISECONDS GRACE PERIOD 5 MILLISECONDS ON a.id = b.id "
    "LEFT JOIN c WITHIN 25 MILLISECONDS ON a.id = c.id;",
    "under_table": "CREATE STREAM out AS SELECT a.id AS id, x, y, w FROM a "
    "JOIN b WITHIN 40 MILLISECONDS ON a.id = b.id LEFT JOIN t ON a.id = t.id;",
}


def _long(v: int) -> bytes:
    return struct.pack(">q", v)


def _records(
    rng: random.Random, topics: tuple[str, ...], n: int
) -> list[tuple[str, int, dict[str, Any] | None]]:
    """(topic, key, value) in arrival order: interleaved, times mostly rising, some late."""
    out: list[tuple[str, int, dict[str, Any] | None]] = []
    t = 1_000
    for i in range(n):
        topic = rng.choice(topics)
        t += rng.choice([0, 1, 2, 5, 9])
        ts = t - (rng.randint(0, 80) if rng.random() < 0.2 else 0)
        field = {"a": "X", "b": "Y", "c": "Z", "t": "W"}[topic]
        value = None if topic == "t" and rng.random() < 0.1 else {field: i, "TS": ts}
        out.append((topic, rng.randint(0, 3), value))
    return out


def _output(driver: InMemoryDriver) -> list[tuple[Any, ...]]:
    return [
        (r.key, None if r.value is None else json.loads(r.value), r.timestamp)
        for r in driver.read("OUT")
    ]


@pytest.mark.parametrize("push_whole", [False, True])
@pytest.mark.parametrize("offsets", ["kept", "missing"])
@pytest.mark.parametrize("query", sorted(QUERIES))
def test_a_merged_batch_gives_the_record_at_a_time_output(
    query: str, offsets: str, push_whole: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # kept: each topic's raw records wait and go through their side chain at once, told apart
    # by (partition, offset); missing offsets: the runs go through their chains one by one
    whole_sides: list[int] = []
    positioned = StreamStreamJoinOperator.process_positioned

    def spy(self: Any, frames: Any, *args: Any) -> None:
        whole_sides.append(len(frames))
        positioned(self, frames, *args)

    monkeypatch.setattr(StreamStreamJoinOperator, "process_positioned", spy)
    rng = random.Random(query)
    topics = ("a", "b", "c", "t") if query != "full_grace" else ("a", "b")
    records = _records(rng, topics, 300)

    one_by_one = InMemoryDriver(partitioner="single")
    one_by_one.execute(STREAMS + QUERIES[query])
    for topic, key, value in records:
        one_by_one.pipe(
            topic,
            key=_long(key),
            value=None if value is None else json.dumps(value).encode(),
            timestamp=0,
        )
    expected = _output(one_by_one)
    assert len(expected) > 50

    merged = InMemoryDriver(partitioner="single")
    merged.execute(STREAMS + QUERIES[query])
    (query_id,) = merged.engine.running_queries()
    pipeline = merged.engine.running_query(query_id).pipeline  # type: ignore[union-attr]
    assert isinstance(pipeline, JoinPipeline)
    merged.deliver_automatically = False
    # the batch as runs of one topic, in arrival order, pushed inside one merged block
    runs: list[tuple[str, list[tuple[int, dict[str, Any] | None]]]] = []
    for topic, key, value in records:
        if runs and runs[-1][0] == topic:
            runs[-1][1].append((key, value))
        else:
            runs.append((topic, [(key, value)]))
    stored = []
    for topic, rows in runs:
        batch = merged.topics.append(topic, _frame(rows))
        if offsets == "missing":
            batch = batch.with_columns(pl.lit(None, dtype=pl.Int64).alias("offset"))
        stored.append((topic, batch))
    # the whole batch at once (the Kafka runner's first try): only when every topic feeds one
    # stream-stream join straight
    whole = pl.concat([b.select(pl.lit(t).alias("topic"), *RECORD_SCHEMA) for t, b in stored])
    if push_whole:
        assert pipeline.push_merged(whole) == (query == "full_grace")
        if query == "full_grace":
            assert _output(merged) == expected
            assert (sum(whole_sides) > 0) == (offsets == "kept")
            return
    with merged_batch(pipeline):
        for topic, batch in stored:
            pipeline.push(batch, topic=topic)
        if query != "under_table":  # (a table record flushes the join below its join)
            assert _output(merged) == []  # nothing reached the sink before the block ends
    assert _output(merged) == expected
    assert (sum(whole_sides) > 0) == (offsets == "kept")


def _frame(rows: list[tuple[int, dict[str, Any] | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "key": pl.Series([_long(k) for k, _ in rows], dtype=pl.Binary),
            "value": pl.Series(
                [None if v is None else json.dumps(v).encode() for _, v in rows], dtype=pl.Binary
            ),
            "timestamp": pl.Series([0] * len(rows), dtype=pl.Int64),
            "partition": pl.Series([None] * len(rows), dtype=pl.Int32),
            "offset": pl.Series([None] * len(rows), dtype=pl.Int64),
            "headers": pl.Series([[] for _ in rows], dtype=RECORD_SCHEMA["headers"]),
        }
    )
