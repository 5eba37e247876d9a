# ruff: noqa: E501 - the demo statements are kept verbatim
"""The demo's kill-ratio table (issue 4 item 7) against an independent polars computation.

Generator output goes through the in-memory driver running the demo's statements verbatim; the
final table (last row per player and window) must equal a plain polars group_by over the same
events, with record time and with event time (``TIMESTAMP='timestamp'``), for EMIT CHANGES with
caching off and on, and for EMIT FINAL. A restart test runs the query straight through and as
run -> snapshot -> restore into a fresh engine -> finish, and expects the same table.
"""

from __future__ import annotations

import json
from decimal import Decimal

import polars as pl
import pytest

from telemetry_lib.generator import TelemetryGenerator
from telemetry_lib.ksql.driver import InMemoryDriver
from telemetry_lib.ksql.exec.aggregate import AggregateOperator
from telemetry_lib.ksql.runtime.io import RECORD_SCHEMA

WINDOW_MS = 5 * 60_000
# Arrival spacing for the record-time runs: record timestamps differ from the event times.
ARRIVAL_STEP_MS = 1_500
ARRIVAL_START_MS = 1_800_000_000_000
CHUNK = 400
# `(SUM(..) * 1.0) / SUM(..)` is DECIMAL(24, 12) in ksqlDB, computed with RoundingMode.UNNECESSARY:
# a ratio that does not terminate within 12 decimals (e.g. 6/7) is NULL plus a processing-log
# entry (ksqlDB issue #9874), exactly like no deaths (NULLIF -> NULL). The truth models both.
RATIO_UNIT = 10**12

STREAM = """CREATE STREAM telemetry_stream (player_id VARCHAR, event_type VARCHAR, timestamp BIGINT)
  WITH (KAFKA_TOPIC='telemetry_events', VALUE_FORMAT='JSON'{ts});"""
TABLE = """CREATE TABLE player_kill_ratio AS
SELECT player_id,
       SUM(CASE WHEN event_type = 'kill' THEN 1 ELSE 0 END) as kill_count,
       SUM(CASE WHEN event_type = 'death' THEN 1 ELSE 0 END) as death_count,
       (SUM(CASE WHEN event_type = 'kill' THEN 1 ELSE 0 END) * 1.0) / NULLIF(SUM(CASE WHEN event_type = 'death' THEN 1 ELSE 0 END), 0) as kill_ratio
FROM telemetry_stream
WINDOW TUMBLING (SIZE 5 MINUTES)  -- Adjust the window size as needed
GROUP BY player_id
EMIT {emit};"""


def _generated(*, disorder: float) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(records to feed in delivery order, valid events with their record timestamps)."""
    gen = TelemetryGenerator(
        players=25, events=3000, seed=11, out_of_order_fraction=disorder, malformed_fraction=0.01
    )
    recs = gen.kafka_records()
    n = len(recs)
    arrival = [ARRIVAL_START_MS + i * ARRIVAL_STEP_MS for i in range(n)]
    records = pl.DataFrame(
        {
            "key": pl.Series(recs.keys, dtype=pl.Binary),
            "value": pl.Series(recs.values, dtype=pl.Binary),
            "timestamp": pl.Series(arrival, dtype=pl.Int64),
            "partition": pl.Series([None] * n, dtype=pl.Int32),
            "offset": pl.Series([None] * n, dtype=pl.Int64),
            "headers": pl.Series([[]], dtype=RECORD_SCHEMA["headers"]).new_from_index(0, n),
        }
    )
    events = gen.events().sort("seq")
    # The record time of each valid event is its arrival slot (seq = position in delivery).
    events = events.with_columns(
        (pl.lit(ARRIVAL_START_MS) + pl.col("seq") * ARRIVAL_STEP_MS).alias("record_time")
    )
    return records, events


def _truth(events: pl.DataFrame, time_col: str) -> pl.DataFrame:
    out = (
        events.with_columns((pl.col(time_col) - pl.col(time_col) % WINDOW_MS).alias("window_start"))
        .group_by("player_id", "window_start")
        .agg(
            (pl.col("event_type") == "kill").sum().cast(pl.Int64).alias("kill_count"),
            (pl.col("event_type") == "death").sum().cast(pl.Int64).alias("death_count"),
        )
        .with_columns(
            pl.when(
                (pl.col("death_count") > 0)
                & ((pl.col("kill_count") * RATIO_UNIT) % pl.col("death_count").clip(1) == 0)
            )
            .then(pl.col("kill_count") / pl.col("death_count"))
            .otherwise(None)
            .alias("kill_ratio")
        )
    )
    return out.sort("player_id", "window_start")


def _run(
    records: pl.DataFrame,
    *,
    event_time: bool,
    emit: str,
    caching: bool,
    split: int | None = None,
) -> pl.DataFrame:
    config = {"cache.max.bytes.buffering": 10_000_000 if caching else 0}
    ts = ", TIMESTAMP='timestamp'" if event_time else ""
    statements = STREAM.format(ts=ts) + "\n" + TABLE.format(emit=emit)
    driver = InMemoryDriver(config=config)
    driver.create_topic("telemetry_events", partitions=1)
    driver.execute(statements)
    cut = records.height if split is None else split
    for start in range(0, cut, CHUNK):
        driver.pipe_batch("telemetry_events", records.slice(start, min(CHUNK, cut - start)))
    rows = _table_rows(driver)
    if split is not None:
        blob = _aggregate_operator(driver).snapshot()
        resumed = InMemoryDriver(config=config)
        resumed.create_topic("telemetry_events", partitions=1)
        resumed.execute(statements)
        _aggregate_operator(resumed).restore(blob)
        for start in range(cut, records.height, CHUNK):
            resumed.pipe_batch(
                "telemetry_events", records.slice(start, min(CHUNK, records.height - start))
            )
        rows += _table_rows(resumed)
    return _final_table(rows)


def _aggregate_operator(driver: InMemoryDriver) -> AggregateOperator:
    (query_id,) = driver.engine.running_queries()
    running = driver.engine.running_query(query_id)
    assert running is not None
    ops = [op for op in running.pipeline.operators if isinstance(op, AggregateOperator)]
    assert len(ops) == 1
    return ops[0]


def _table_rows(driver: InMemoryDriver) -> list[dict[str, object]]:
    source = driver.engine.catalog.get_source("PLAYER_KILL_RATIO")
    assert source is not None and source.window is not None
    rows = []
    for rec in driver.read(source.topic):
        assert rec.key is not None and rec.window is not None
        assert rec.window.end - rec.window.start == WINDOW_MS
        value = json.loads(rec.value, parse_float=Decimal) if rec.value is not None else None
        rows.append(
            {"player_id": rec.key[:-8].decode(), "window_start": rec.window.start, "value": value}
        )
    return rows


def _final_table(rows: list[dict[str, object]]) -> pl.DataFrame:
    last: dict[tuple[object, object], object] = {}
    for row in rows:
        last[(row["player_id"], row["window_start"])] = row["value"]
    data = [
        {
            "player_id": k[0],
            "window_start": k[1],
            "kill_count": v["KILL_COUNT"],  # type: ignore[index]
            "death_count": v["DEATH_COUNT"],  # type: ignore[index]
            "kill_ratio": None if v["KILL_RATIO"] is None else float(v["KILL_RATIO"]),  # type: ignore[index]
        }
        for k, v in last.items()
        if v is not None
    ]
    schema = {
        "player_id": pl.String,
        "window_start": pl.Int64,
        "kill_count": pl.Int64,
        "death_count": pl.Int64,
        "kill_ratio": pl.Float64,
    }
    return pl.DataFrame(data, schema=schema).sort("player_id", "window_start")


def _assert_same(actual: pl.DataFrame, expected: pl.DataFrame) -> None:
    assert actual.height == expected.height
    assert actual.select("player_id", "window_start", "kill_count", "death_count").equals(
        expected.select("player_id", "window_start", "kill_count", "death_count")
    )
    got = actual.get_column("kill_ratio")
    want = expected.get_column("kill_ratio")
    assert got.is_null().equals(want.is_null())
    # ksqlDB's DECIMAL division keeps a fixed scale: compare to that precision.
    diff = (got - want).abs().drop_nulls()
    assert diff.len() == 0 or float(diff.max()) < 1e-6  # type: ignore[arg-type]


@pytest.mark.parametrize("event_time", [False, True], ids=["record_time", "event_time"])
@pytest.mark.parametrize("caching", [False, True], ids=["caching_off", "caching_on"])
def test_emit_changes_final_table_matches_polars(event_time: bool, caching: bool) -> None:
    records, events = _generated(disorder=0.1)
    actual = _run(records, event_time=event_time, emit="CHANGES", caching=caching)
    expected = _truth(events, "timestamp" if event_time else "record_time")
    assert expected.get_column("kill_ratio").is_null().any()  # some windows have no deaths
    _assert_same(actual, expected)


@pytest.mark.parametrize("event_time", [False, True], ids=["record_time", "event_time"])
def test_emit_final_sends_each_closed_window_once(event_time: bool) -> None:
    records, events = _generated(disorder=0.0)
    time_col = "timestamp" if event_time else "record_time"
    driver_rows = _run(records, event_time=event_time, emit="FINAL", caching=True)
    # EMIT FINAL (grace 0 by default) sends the windows that closed: end <= stream time.
    stream_time = int(events.get_column(time_col).max())  # type: ignore[arg-type]
    expected = _truth(events, time_col).filter(pl.col("window_start") + WINDOW_MS <= stream_time)
    assert expected.height > 0
    _assert_same(driver_rows, expected)


@pytest.mark.parametrize("emit,caching", [("CHANGES", False), ("CHANGES", True), ("FINAL", True)])
def test_restart_from_snapshot_gives_the_same_table(emit: str, caching: bool) -> None:
    records, _ = _generated(disorder=0.0 if emit == "FINAL" else 0.1)
    straight = _run(records, event_time=True, emit=emit, caching=caching)
    restarted = _run(records, event_time=True, emit=emit, caching=caching, split=1_234)
    assert straight.height > 0
    assert restarted.equals(straight)
