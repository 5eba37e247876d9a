"""Caching on coalesces updates (one row per key and window per batch) yet ends in the same
table as caching off (one row per input), for every execution path of the aggregate operator."""

from __future__ import annotations

import json

import polars as pl
import pytest

from telemetry_lib.ksql.driver import InMemoryDriver
from telemetry_lib.ksql.runtime.io import RECORD_SCHEMA

_SOURCE = {
    "stream": "CREATE STREAM s (k STRING KEY, g STRING, v INT) "
    "WITH (KAFKA_TOPIC='t', VALUE_FORMAT='JSON');",
    "table": "CREATE TABLE s (k STRING PRIMARY KEY, g STRING, v INT) "
    "WITH (KAFKA_TOPIC='t', VALUE_FORMAT='JSON');",
}
QUERIES = [
    ("stream", "CREATE TABLE o AS SELECT g, COUNT(*) AS n, SUM(v) AS s FROM s GROUP BY g;"),
    (
        "stream",
        "CREATE TABLE o AS SELECT g, TOPK(v, 2) AS t, AVG(v) AS a FROM s "
        "WINDOW HOPPING (SIZE 30 MILLISECONDS, ADVANCE BY 10 MILLISECONDS) GROUP BY g;",
    ),
    (
        "stream",
        "CREATE TABLE o AS SELECT g, COLLECT_LIST(v) AS l FROM s "
        "WINDOW SESSION (15 MILLISECONDS) GROUP BY g;",
    ),
    ("table", "CREATE TABLE o AS SELECT g, SUM(v) AS s, COUNT(*) AS n FROM s GROUP BY g;"),
    (
        "stream",
        "CREATE TABLE o AS SELECT g, COUNT(*) AS n FROM s "
        "WINDOW TUMBLING (SIZE 20 MILLISECONDS) GROUP BY g HAVING COUNT(*) > 1;",
    ),
]


def _records() -> pl.DataFrame:
    keys, values, stamps = [], [], []
    for i in range(60):
        keys.append(f"k{i % 7}".encode())
        values.append(json.dumps({"G": f"g{i % 3}", "V": (i * 37) % 11}).encode())
        stamps.append(i * 4 if i % 9 else max(0, i * 4 - 25))  # a little disorder
    n = len(keys)
    return pl.DataFrame(
        {
            "key": pl.Series(keys, dtype=pl.Binary),
            "value": pl.Series(values, dtype=pl.Binary),
            "timestamp": pl.Series(stamps, dtype=pl.Int64),
            "partition": pl.Series([None] * n, dtype=pl.Int32),
            "offset": pl.Series([None] * n, dtype=pl.Int64),
            "headers": pl.Series([[]], dtype=RECORD_SCHEMA["headers"]).new_from_index(0, n),
        }
    )


def _table(kind: str, query: str, *, caching: bool, chunk: int) -> tuple[dict, int]:
    driver = InMemoryDriver(config={"cache.max.bytes.buffering": 1_000_000 if caching else 0})
    driver.create_topic("t", partitions=1)
    driver.execute(_SOURCE[kind] + query)
    records = _records()
    for start in range(0, records.height, chunk):
        driver.pipe_batch("t", records.slice(start, chunk))
    final: dict = {}
    out = driver.read("O")
    for rec in out:
        assert rec.key is not None
        window = (rec.window.start, rec.window.end) if rec.window else None
        # Windowed keys end with the window bounds: 8 bytes (time windows) or 16 (sessions).
        bound_bytes = 0 if window is None else 16 if "SESSION" in query else 8
        final[(rec.key[: len(rec.key) - bound_bytes], window)] = rec.value
    return {k: v for k, v in final.items() if v is not None}, len(out)


@pytest.mark.parametrize(("kind", "query"), QUERIES)
def test_caching_on_coalesces_to_the_same_final_table(kind: str, query: str) -> None:
    expected, outputs_off = _table(kind, query, caching=False, chunk=60)
    actual, outputs_on = _table(kind, query, caching=True, chunk=20)
    assert actual == expected
    assert expected
    assert outputs_on < outputs_off


def _restarted_table(kind: str, query: str, *, caching: bool, cut: int) -> dict:
    """Run ``cut`` records, snapshot the aggregate, restore into a fresh engine, finish."""
    from telemetry_lib.ksql.exec.aggregate import AggregateOperator

    config = {"cache.max.bytes.buffering": 1_000_000 if caching else 0}
    records = _records()
    outputs = []
    blob: bytes | None = None
    for part in (records.slice(0, cut), records.slice(cut)):
        driver = InMemoryDriver(config=config)
        driver.create_topic("t", partitions=1)
        driver.execute(_SOURCE[kind] + query)
        (query_id,) = driver.engine.running_queries()
        running = driver.engine.running_query(query_id)
        assert running is not None
        op = next(o for o in running.pipeline.operators if isinstance(o, AggregateOperator))
        if blob is not None:
            op.restore(blob)
        driver.pipe_batch("t", part)
        blob = op.snapshot()
        outputs += driver.read("O")
    final: dict = {}
    for rec in outputs:
        assert rec.key is not None
        window = (rec.window.start, rec.window.end) if rec.window else None
        bound_bytes = 0 if window is None else 16 if "SESSION" in query else 8
        final[(rec.key[: len(rec.key) - bound_bytes], window)] = rec.value
    return {k: v for k, v in final.items() if v is not None}


@pytest.mark.parametrize("caching", [False, True], ids=["caching_off", "caching_on"])
@pytest.mark.parametrize(("kind", "query"), QUERIES)
def test_snapshot_restore_mid_stream_gives_the_same_table(
    kind: str, query: str, caching: bool
) -> None:
    expected, _ = _table(kind, query, caching=caching, chunk=60)
    assert _restarted_table(kind, query, caching=caching, cut=27) == expected
