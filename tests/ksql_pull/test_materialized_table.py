"""MaterializedTable: latest row per key, tombstones, seed-then-feed order, partitions, tailing."""

from __future__ import annotations

import polars as pl

from telemetry_lib.ksql.driver import kafka_partition
from telemetry_lib.ksql.rest.materialized import Materializations, MaterializedTable
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
