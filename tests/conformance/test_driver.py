"""The in-memory driver with the real engine: partitions and offsets, delivery between
queries, earliest catch-up of new queries, INSERT VALUES delivery, reading back."""

from __future__ import annotations

import json

import polars as pl

from telemetry_lib.ksql.driver import InMemoryDriver, kafka_partition

_SOURCE = (
    "CREATE STREAM A (ID STRING KEY, V INT) "
    "WITH (kafka_topic='a', value_format='JSON', partitions=4);"
)


def _values(driver: InMemoryDriver, topic: str) -> list[dict]:
    return [json.loads(r.value) for r in driver.read(topic) if r.value is not None]


def test_partitions_follow_murmur2_and_offsets_count_per_partition() -> None:
    driver = InMemoryDriver()
    driver.create_topic("t", partitions=4)
    keys = [b"k%d" % i for i in range(20)]
    for i, key in enumerate(keys):
        driver.pipe("t", key=key, value=b"v", timestamp=i)
    records = driver.read("t")
    assert [r.key for r in records] == keys  # production order
    expected_parts = list(kafka_partition(keys, 4))
    assert [r.partition for r in records] == expected_parts
    for p in range(4):
        offsets = [r.offset for r in records if r.partition == p]
        assert offsets == list(range(len(offsets)))
    assert [r.offset for r in driver.read("t", partition=1)] == list(range(expected_parts.count(1)))


def test_single_partitioner_puts_everything_in_partition_zero() -> None:
    driver = InMemoryDriver(partitioner="single")
    driver.create_topic("t", partitions=4)
    driver.pipe_batch(
        "t",
        pl.DataFrame(
            {"key": [b"a", b"b", None], "value": [b"1", b"2", b"3"], "timestamp": [1, 2, 3]}
        ),
    )
    assert [(r.partition, r.offset) for r in driver.read("t")] == [(0, 0), (0, 1), (0, 2)]


def test_outputs_cascade_between_queries_and_new_queries_read_from_earliest() -> None:
    driver = InMemoryDriver()
    driver.execute(_SOURCE)
    driver.pipe("a", key=b"x", value=b'{"V": 1}', timestamp=5)
    driver.execute("CREATE STREAM B AS SELECT ID, V + 1 AS V FROM A;")
    driver.execute("CREATE STREAM C AS SELECT ID, V * 10 AS V FROM B WHERE V > 2;")
    driver.pipe("a", key=b"y", value=b'{"V": 2}', timestamp=6)
    # B saw the record piped before it existed (earliest) and the later one.
    assert _values(driver, "B") == [{"V": 2}, {"V": 3}]
    assert _values(driver, "C") == [{"V": 30}]
    c = driver.read("C")
    assert c[0].key == b"y" and c[0].timestamp == 6


def test_insert_values_reach_running_queries() -> None:
    driver = InMemoryDriver()
    driver.execute(_SOURCE)
    driver.execute("CREATE STREAM B AS SELECT ID, V FROM A WHERE V > 0;")
    driver.execute("INSERT INTO A (ID, V) VALUES ('k', 7);")
    driver.execute("INSERT INTO A (ID, V) VALUES ('k', -1);")
    assert _values(driver, "B") == [{"V": 7}]
    frame = driver.read_frame("B")
    assert frame.columns[:6] == ["key", "value", "timestamp", "partition", "offset", "headers"]
    assert frame.get_column("window_start").null_count() == 1


def _frame(keys: list[bytes], values: list[bytes]) -> pl.DataFrame:
    return pl.DataFrame(
        {"key": keys, "value": values, "timestamp": list(range(len(keys)))},
        schema={"key": pl.Binary, "value": pl.Binary, "timestamp": pl.Int64},
    )


def test_per_query_piping_runs_queries_one_after_another_like_ksqldbs_runner() -> None:
    statements = (
        "CREATE STREAM A (ID STRING KEY, V INT) "
        "WITH (kafka_topic='a', value_format='JSON', partitions=1);"
        "CREATE STREAM B (ID STRING KEY, V INT) "
        "WITH (kafka_topic='b', value_format='JSON', partitions=1);"
        "CREATE STREAM OUT AS SELECT * FROM A;"
        "INSERT INTO OUT SELECT * FROM B;"
    )
    inputs = [
        ("a", _frame([b"a1"], [b'{"V": 1}'])),
        ("b", _frame([b"b2"], [b'{"V": 2}'])),
        ("a", _frame([b"a3"], [b'{"V": 3}'])),
    ]
    per_query = InMemoryDriver(partitioner="single")
    per_query.execute(statements)
    per_query.pipe_per_query(inputs)
    # The CSAS query consumes all of its inputs before the INSERT query runs.
    assert [r.key for r in per_query.read("OUT")] == [b"a1", b"a3", b"b2"]

    cascading = InMemoryDriver(partitioner="single")
    cascading.execute(statements)
    for topic, batch in inputs:
        cascading.pipe_batch(topic, batch)
    assert [r.key for r in cascading.read("OUT")] == [b"a1", b"b2", b"a3"]


def test_read_rows_decodes_with_the_sources_formats() -> None:
    driver = InMemoryDriver()
    driver.execute(_SOURCE)
    driver.execute("CREATE STREAM B AS SELECT ID, V * 2 AS W FROM A;")
    driver.pipe("a", key=b"k", value=b'{"V": 4}', timestamp=9)
    rows = driver.read_rows("B")
    assert rows.select("ID", "W", "ROWTIME").rows() == [("k", 8, 9)]
    assert rows.get_column("ROWOFFSET").to_list() == [0]


def test_read_decodes_window_bounds_of_windowed_sources() -> None:
    from telemetry_lib.ksql.catalog import Column, ColumnRole, DataSource, FormatSpec, SourceType
    from telemetry_lib.ksql.driver import WindowBounds
    from telemetry_lib.ksql.types import STRING
    from telemetry_lib.ksql.windows import WindowInfo, WindowType

    driver = InMemoryDriver()
    for name, window in (
        ("T", WindowInfo(WindowType.TUMBLING, 300_000)),
        ("S", WindowInfo(WindowType.SESSION)),
    ):
        driver.engine.catalog.put_source(
            DataSource(
                name=name,
                source_type=SourceType.TABLE,
                columns=(Column("K", STRING, ColumnRole.KEY),),
                topic=name.lower(),
                key_format=FormatSpec("KAFKA"),
                value_format=FormatSpec("JSON"),
                window=window,
            )
        )
    start = (60_000).to_bytes(8, "big")
    driver.pipe("t", key=b"p1" + start, value=b"{}")
    driver.pipe("s", key=b"p1" + (90_000).to_bytes(8, "big") + start, value=b"{}")
    driver.pipe("plain", key=b"p1" + start, value=b"{}")
    assert driver.read("t")[0].window == WindowBounds(60_000, 360_000)
    assert driver.read("s")[0].window == WindowBounds(60_000, 90_000)
    assert driver.read("plain")[0].window is None
    assert driver.read_frame("t").select("window_start", "window_end").row(0) == (60_000, 360_000)
