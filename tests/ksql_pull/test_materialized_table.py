"""MaterializedTable: latest row per key, tombstones, seed-then-feed order, partitions, tailing."""

from __future__ import annotations

import asyncio

import polars as pl

from telemetry_lib.ksql.driver import InMemoryDriver, kafka_partition
from telemetry_lib.ksql.parser import parse_script
from telemetry_lib.ksql.parser.ast import Expression, Query
from telemetry_lib.ksql.rest import QueryStream, in_memory_backend
from telemetry_lib.ksql.rest.materialized import (
    Materializations,
    MaterializedTable,
    key_prefilter,
    required_keys,
)
from telemetry_lib.ksql.runtime.io import RECORD_SCHEMA


def _records(rows: list[tuple[bytes, bytes | None]], *, partition: int | None = None,
             first_offset: int | None = None) -> pl.DataFrame:  # fmt: skip
    return pl.DataFrame(
        {
            "key": [k for k, _ in rows],
            "value": [v for _, v in rows],
            "timestamp": list(range(len(rows))),
            "partition": [partition] * len(rows),
            "offset": [
                None if first_offset is None else first_offset + i for i in range(len(rows))
            ],  # fmt: skip
            "headers": [None] * len(rows),
        },
        schema=RECORD_SCHEMA,
    )


def _current(table: MaterializedTable) -> dict[bytes, bytes]:
    return dict(table.rows().select("key", "value").sort("key").rows())


def test_outputs_fed_during_the_seed_win_over_the_seed() -> None:
    mats = Materializations(fed=True)
    table, needs_seed = mats.table("T", owner="q1")
    assert needs_seed
    # Fed while the seed is being read: newer than (or equal to) anything the seed holds.
    mats.feed([("T", _records([(b"a", b"2"), (b"b", None)])), ("OTHER", _records([(b"x", b"1")]))])
    table.seed(_records([(b"a", b"1"), (b"b", b"1"), (b"c", b"1")], partition=0, first_offset=0),
               partitions=1)  # fmt: skip
    assert _current(table) == {b"a": b"2", b"c": b"1"}
    assert mats.topics() == ["T"]
    # A second (concurrent) seed is ignored: the first one already holds every fed output.
    table.seed(_records([(b"a", b"0")], partition=0, first_offset=0), partitions=1)
    assert _current(table) == {b"a": b"2", b"c": b"1"}
    mats.feed([("T", _records([(b"b", b"3"), (b"c", None)]))])
    assert _current(table) == {b"a": b"2", b"b": b"3"}


def test_unknown_partitions_are_kafkas_default_partition() -> None:
    table = MaterializedTable("T", owner=None)
    table.seed(_records([]), partitions=4)
    keys = [f"player-{i}".encode() for i in range(20)]
    table.append(_records([(k, b"v") for k in keys]))
    rows = table.rows().sort("key")
    expected = kafka_partition(pl.Series(sorted(keys), dtype=pl.Binary), 4)
    assert rows.get_column("partition").to_list() == [int(p) for p in expected]
    assert len(set(rows.get_column("partition").to_list())) > 1


def test_a_new_writer_starts_a_fresh_table() -> None:
    mats = Materializations(fed=True)
    table, _ = mats.table("T", owner="q1")
    table.seed(_records([(b"a", b"1")], partition=0, first_offset=0), partitions=1)
    same, needs_seed = mats.table("T", owner="q1")
    assert same is table and not needs_seed
    fresh, needs_seed = mats.table("T", owner="q2")
    assert fresh is not table and needs_seed


def test_tailing_reads_on_from_the_last_offsets() -> None:
    table = MaterializedTable("T", owner=None)
    table.seed(_records([(b"a", b"1"), (b"b", b"1")], partition=1, first_offset=0), partitions=2)
    assert table.positions == {1: 2}
    table.tail(_records([(b"a", b"2")], partition=1, first_offset=2))
    table.tail(_records([(b"c", b"1")], partition=0, first_offset=0))
    assert table.positions == {0: 1, 1: 3}
    assert _current(table) == {b"a": b"2", b"b": b"1", b"c": b"1"}


def _where(sql: str) -> Expression | None:
    [stmt], _ = parse_script(f"SELECT * FROM T WHERE {sql};")
    assert isinstance(stmt, Query)
    return stmt.where


def test_required_keys_only_when_every_matching_row_has_one_of_them() -> None:
    assert required_keys(_where("ID = 'a'"), "ID") == ["a"]
    assert required_keys(_where("'a' = ID AND V > 3"), "ID") == ["a"]
    assert required_keys(_where("ID IN ('a', 'b') OR ID = 'c'"), "ID") == ["a", "b", "c"]
    assert required_keys(_where("ID IN ('a', 'b') AND ID = 'b'"), "ID") == ["b"]
    assert required_keys(_where("ID = 'a' OR V > 3"), "ID") is None
    assert required_keys(_where("ID > 'a'"), "ID") is None
    assert required_keys(_where("V = 1"), "ID") is None
    assert required_keys(None, "ID") is None


def test_key_prefilter_keeps_the_looked_up_keys_of_a_windowed_table() -> None:
    driver = InMemoryDriver()
    driver.execute(
        "CREATE STREAM E (ID STRING KEY, V INT) WITH (KAFKA_TOPIC='e', VALUE_FORMAT='JSON', "
        "PARTITIONS=1);"
        "CREATE TABLE T AS SELECT ID, COUNT(*) AS C FROM E WINDOW TUMBLING (SIZE 1 SECOND) "
        "GROUP BY ID;"
    )
    for i in range(30):
        driver.pipe("e", key=f"k{i % 5}".encode(), value=b'{"V":1}', timestamp=i * 400)
    source = driver.engine.catalog.get_source("T")
    assert source is not None
    table = driver.read_frame("T")
    narrowed = key_prefilter(table, source, _where("ID IN ('k1', 'k3') AND WINDOWSTART > 0"))
    assert set(narrowed.get_column("key").bin.slice(0, 2).to_list()) == {b"k1", b"k3"}
    assert (
        narrowed.height
        == table.filter(
            pl.col("key").bin.starts_with(b"k1") | pl.col("key").bin.starts_with(b"k3")
        ).height
    )
    # Literals of another type than the key's, or no key look-up: every row is kept.
    assert key_prefilter(table, source, _where("ID = 1")).height == table.height
    assert key_prefilter(table, source, _where("C > 1")).height == table.height


def test_tables_of_stopped_writers_are_dropped() -> None:
    mats = Materializations(fed=True)
    first, second = object(), object()
    mats.table("A", owner=first)
    mats.table("B", owner=second)
    mats.retain([second])
    assert mats.topics() == ["B"]


def test_a_recreated_table_is_not_answered_from_the_old_rows() -> None:
    backend = in_memory_backend(config={"auto.offset.reset": "earliest"})

    def run(sql: str) -> None:
        backend.execute(sql, properties={}, variables={})

    async def pull(sql: str) -> list[list[object]]:
        query = backend.start_query(sql, properties={}, variables={})
        assert isinstance(query, QueryStream)
        return [row.columns async for row in query.rows]

    run("CREATE STREAM E (ID STRING KEY, V INT) WITH (KAFKA_TOPIC='e', VALUE_FORMAT='JSON', "
        "PARTITIONS=1);")  # fmt: skip
    run("CREATE TABLE T AS SELECT ID, SUM(V) AS S FROM E GROUP BY ID;")
    run("INSERT INTO E (ID, V) VALUES ('a', 1); INSERT INTO E (ID, V) VALUES ('a', 2);")
    assert asyncio.run(pull("SELECT * FROM T WHERE ID = 'a';")) == [["a", 3]]
    assert backend.materializations is not None
    assert backend.materializations.topics() == ["T"]
    run("INSERT INTO E (ID, V) VALUES ('a', 4);")
    assert asyncio.run(pull("SELECT * FROM T;")) == [["a", 7]]
    [query_id] = backend.engine.running_queries()
    run(f"TERMINATE {query_id}; DROP TABLE T DELETE TOPIC;")
    run("CREATE TABLE T AS SELECT ID, COUNT(*) AS S FROM E GROUP BY ID;")
    assert asyncio.run(pull("SELECT * FROM T WHERE ID = 'a';")) == [["a", 3]]


def test_a_pull_scans_limit_counts_matching_rows_only() -> None:
    backend = in_memory_backend(config={"auto.offset.reset": "earliest"})
    backend.execute(
        "CREATE STREAM E (ID STRING KEY, V INT) WITH (KAFKA_TOPIC='e', VALUE_FORMAT='JSON', "
        "PARTITIONS=1); CREATE TABLE T AS SELECT ID, SUM(V) AS S FROM E GROUP BY ID;",
        properties={},
        variables={},
    )
    for i in range(10):
        backend.execute(f"INSERT INTO E (ID, V) VALUES ('k{i}', {i});", properties={},
                        variables={})  # fmt: skip

    async def pull(sql: str) -> list[list[object]]:
        query = backend.start_query(sql, properties={}, variables={})
        assert isinstance(query, QueryStream)
        return [row.columns async for row in query.rows]

    rows = asyncio.run(pull("SELECT * FROM T WHERE S >= 7 LIMIT 2;"))
    assert len(rows) == 2
    assert all(isinstance(r[1], int) and r[1] >= 7 for r in rows)
    assert len(asyncio.run(pull("SELECT * FROM T WHERE S >= 7;"))) == 3
