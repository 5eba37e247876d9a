"""Aggregate functions, window assignment, late records and state snapshots, in isolation."""

from __future__ import annotations

import math

import polars as pl
import pytest

from telemetry_lib.ksql.analyzer.aggregation import WindowSpec
from telemetry_lib.ksql.driver import InMemoryDriver
from telemetry_lib.ksql.errors import AnalysisError
from telemetry_lib.ksql.exec.aggregate import AggregateOperator
from telemetry_lib.ksql.exec.window_assign import window_starts_expr, windows_for
from telemetry_lib.ksql.functions.aggregates import LiteralArg, resolve_aggregate
from telemetry_lib.ksql.state import AggregateState
from telemetry_lib.ksql.types import BIGINT, DOUBLE, INTEGER, STRING, SqlArray, SqlStruct
from telemetry_lib.ksql.windows import WindowType


def _fold(name: str, types: list, values: list, literals: list | None = None) -> object:
    agg, _ = resolve_aggregate(name, types, literals or [None] * len(types))
    acc = agg.init()
    for v in values:
        acc = agg.add(acc, v if isinstance(v, tuple) else (v,))
    return agg.result(acc)


def test_sum_wraps_like_java_int_and_skips_nulls() -> None:
    assert _fold("SUM", [INTEGER], [2**31 - 1, 1, None]) == -(2**31)
    assert _fold("SUM", [BIGINT], [None]) == 0


def test_avg_is_zero_without_input_and_stddev_samp_is_the_variance() -> None:
    assert _fold("AVG", [INTEGER], [None]) == 0.0
    assert _fold("STDDEV_SAMP", [DOUBLE], [1.0, 2.0, 3.0, 4.0]) == pytest.approx(5 / 3)
    assert _fold("STDDEV_SAMPLE", [DOUBLE], [1.0, 2.0, 3.0, 4.0]) == pytest.approx(math.sqrt(5 / 3))


def test_stddev_undo_retracts_a_value() -> None:
    agg, _ = resolve_aggregate("STDDEV_SAMPLE", [DOUBLE], [None])
    acc = agg.init()
    for v in (1.0, 2.0, 10.0, 3.0):
        acc = agg.add(acc, (v,))
    assert agg.undo is not None
    acc = agg.undo(acc, (10.0,))
    assert agg.result(acc) == pytest.approx(1.0)


def test_topk_with_other_columns_returns_structs_in_descending_order() -> None:
    agg, inputs = resolve_aggregate("TOPK", [INTEGER, STRING, INTEGER], [None, None, LiteralArg(2)])
    assert inputs == 2
    assert agg.result_type == SqlArray(SqlStruct((("sort_col", INTEGER), ("col0", STRING))))
    acc = agg.init()
    for row in ((3, "c"), (9, "n"), (None, "x"), (5, "f")):
        acc = agg.add(acc, row)
    assert agg.result(acc) == [{"sort_col": 9, "col0": "n"}, {"sort_col": 5, "col0": "f"}]


def test_latest_by_offset_n_keeps_the_last_n_non_null_values() -> None:
    agg, inputs = resolve_aggregate("LATEST_BY_OFFSET", [STRING, INTEGER], [None, LiteralArg(2)])
    assert inputs == 1
    acc = agg.init()
    for v in ("a", None, "b", "c"):
        acc = agg.add(acc, (v,))
    assert agg.result(acc) == ["b", "c"]


def test_histogram_rejects_non_string_input() -> None:
    with pytest.raises(AnalysisError, match="HISTOGRAM"):
        resolve_aggregate("HISTOGRAM", [INTEGER], [None])


@pytest.mark.parametrize("size,advance", [(300, 300), (500, 200), (1000, 100)])
def test_vectorised_window_starts_match_kafka_streams_windows_for(size: int, advance: int) -> None:
    kind = WindowType.TUMBLING if size == advance else WindowType.HOPPING
    spec = WindowSpec(kind, size, advance, grace_ms=0, retention_ms=size)
    stamps = [0, 1, 199, 200, 299, 300, 499, 500, 1234, 99_999]
    frame = pl.DataFrame({"ts": stamps}, schema={"ts": pl.Int64})
    starts = frame.select(window_starts_expr(pl.col("ts"), spec).alias("s")).get_column("s")
    for ts, got in zip(stamps, starts.to_list(), strict=True):
        expected = [s for s, _ in windows_for(ts, spec)]
        assert (got if isinstance(got, list) else [got]) == expected
        assert all(s <= ts < s + size and s % advance == 0 for s in expected)


def test_late_records_are_dropped_counted_and_logged() -> None:
    driver = InMemoryDriver()
    driver.create_topic("t", partitions=1)
    driver.execute(
        "CREATE STREAM s (k STRING KEY, v INT) WITH (KAFKA_TOPIC='t', VALUE_FORMAT='JSON');"
        "CREATE TABLE c AS SELECT k, COUNT(*) AS n FROM s "
        "WINDOW TUMBLING (SIZE 10 MILLISECONDS, GRACE PERIOD 5 MILLISECONDS) GROUP BY k;"
    )
    for ts in (0, 30, 3, 12):  # 3 is late: its window [0, 10) closed at stream time 15
        driver.pipe("t", key=b"a", value=b'{"v":1}', timestamp=ts)
    out = driver.read("C")
    assert [(r.window.start if r.window else None, r.value) for r in out] == [
        (0, b'{"N":1}'),
        (30, b'{"N":1}'),
    ]
    (query_id,) = driver.engine.running_queries()
    running = driver.engine.running_query(query_id)
    assert running is not None
    op = next(o for o in running.pipeline.operators if isinstance(o, AggregateOperator))
    assert op.state.late_records == 2  # ts 3 and ts 12 (window [10, 20) closed at 25 < 30)
    log = driver.read(driver.engine.processing_log.topic)
    assert sum(b"Record dropped: it is late" in (r.value or b"") for r in log) == 2


def test_snapshot_round_trips_and_refuses_foreign_blobs() -> None:
    state = AggregateState(groups={(("a",), 0, 10): [[3], 7, ("a",)]}, stream_time=9)
    clone = AggregateState.restore(state.snapshot())
    assert clone == state and clone.groups is not state.groups
    import pickle

    with pytest.raises(ValueError, match="unknown layout"):
        AggregateState.restore(pickle.dumps({"version": -1}))


@pytest.mark.parametrize("per_partition", [False, True], ids=["one_task", "task_per_partition"])
def test_stream_time_per_partition_keeps_a_lagging_partition_on_time(per_partition: bool) -> None:
    from telemetry_lib.ksql.exec.aggregate import PER_PARTITION_CONFIG

    # Caching on: EMIT FINAL sends every window that closed (the caching-off path reproduces
    # ksqlDB's range-fetch quirk, which would lose a window skipped by a jump in stream time).
    config = {PER_PARTITION_CONFIG: per_partition, "cache.max.bytes.buffering": 1_000_000}
    driver = InMemoryDriver(config=config)
    driver.create_topic("t", partitions=2)
    driver.execute(
        "CREATE STREAM s (k STRING KEY, v INT) WITH (KAFKA_TOPIC='t', VALUE_FORMAT='JSON');"
        "CREATE TABLE c AS SELECT k, COUNT(*) AS n FROM s "
        "WINDOW TUMBLING (SIZE 10 MILLISECONDS, GRACE PERIOD 0 MILLISECONDS) GROUP BY k "
        "EMIT FINAL;"
    )
    # Partition 0 runs ahead to ts 100; partition 1 (key b) is still at ts 1..12.
    feed = [("a", 0, 0), ("a", 0, 100), ("b", 1, 1), ("b", 1, 2), ("b", 1, 12)]
    for key, partition, ts in feed:
        driver.pipe("t", key=key.encode(), value=b'{"v":1}', timestamp=ts, partition=partition)
    rows = [
        (r.key[:-8] if r.key else None, r.window.start if r.window else None, r.value)
        for r in driver.read("C")
    ]
    if per_partition:
        # a's window [0, 10) closed at a's partition time 100; b's [0, 10) at b's time 12.
        assert rows == [(b"a", 0, b'{"N":1}'), (b"b", 0, b'{"N":2}')]
    else:
        # One stream time: b's records at 1 and 2 are late after ts 100 (dropped and counted).
        assert (b"b", 0, b'{"N":2}') not in rows
        assert (b"a", 0, b'{"N":1}') in rows


@pytest.mark.parametrize("enabled", [False, True], ids=["default", "wall_clock_close"])
@pytest.mark.parametrize("caching", [False, True], ids=["caching_off", "caching_on"])
def test_idle_stream_windows_close_on_wall_clock_only_when_enabled(
    enabled: bool, caching: bool
) -> None:
    from telemetry_lib.ksql.exec.aggregate import WALL_CLOCK_CLOSE_CONFIG

    config = {WALL_CLOCK_CLOSE_CONFIG: enabled, "cache.max.bytes.buffering": 1 if caching else 0}
    driver = InMemoryDriver(config=config)
    driver.create_topic("t", partitions=1)
    driver.execute(
        "CREATE STREAM s (k STRING KEY, v INT) WITH (KAFKA_TOPIC='t', VALUE_FORMAT='JSON');"
        "CREATE TABLE c AS SELECT k, COUNT(*) AS n FROM s "
        "WINDOW TUMBLING (SIZE 10 MILLISECONDS) GROUP BY k EMIT FINAL;"
    )
    for ts in (0, 4):
        driver.pipe("t", key=b"a", value=b'{"v":1}', timestamp=ts)
    (query_id,) = driver.engine.running_queries()
    running = driver.engine.running_query(query_id)
    assert running is not None
    op = next(o for o in running.pipeline.operators if isinstance(o, AggregateOperator))
    assert driver.read("C") == []  # stream time 4: window [0, 10) still open
    emitted = op.punctuate(running.pipeline.ctx, now_ms=op._last_input_wall_ms + 60_000)
    rows = [(r.window.start if r.window else None, r.value) for r in driver.read("C")]
    if enabled:
        assert emitted == 1 and rows == [(0, b'{"N":2}')]
    else:
        assert emitted == 0 and rows == []
