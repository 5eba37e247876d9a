"""TableStore: the latest row per key, folded in per batch with polars (no per-record Python)."""

from __future__ import annotations

import polars as pl

from telemetry_lib.ksql.state.join_tables import PRESENT, TableStore


def _changes(rows: list[tuple[str | None, int | None, int]]) -> pl.DataFrame:
    """(key, value or None for a delete, timestamp) rows."""
    return pl.DataFrame(
        {
            "k": [r[0] for r in rows],
            "v": [r[1] for r in rows],
            "ts": [r[2] for r in rows],
            "dead": [r[1] is None for r in rows],
        },
        schema={"k": pl.String, "v": pl.Int64, "ts": pl.Int64, "dead": pl.Boolean},
    )


def _apply(store: TableStore, rows: list[tuple[str | None, int | None, int]]) -> None:
    store.apply(_changes(rows), tombstone=pl.col("dead"), timestamp=pl.col("ts"))


def _look(store: TableStore, keys: list[str | None]) -> list[tuple[object, object, bool]]:
    found = store.lookup(pl.DataFrame({"k": keys}, schema={"k": pl.String}))
    return list(zip(found["k"], found["v"], found[PRESENT], strict=True))


def test_last_change_per_key_wins_and_deletes_remove() -> None:
    store = TableStore(("k",), ("v",))
    _apply(store, [("a", 1, 1), ("b", 2, 2), ("a", 3, 3), (None, 9, 4)])
    _apply(store, [("b", None, 5), ("c", 4, 6), ("c", None, 7), ("c", 5, 8)])
    assert _look(store, ["c", "a", "b", None, "zz"]) == [
        ("c", 5, True),
        ("a", 3, True),
        ("b", None, False),
        (None, None, False),
        ("zz", None, False),
    ]
    assert len(store) == 2


def test_snapshot_restores_an_equal_independent_store() -> None:
    store = TableStore(("k",), ("v",))
    _apply(store, [("a", 1, 1), ("b", 2, 2)])
    again = TableStore.restore(store.snapshot(), key_fields=("k",), value_fields=("v",))
    _apply(store, [("a", None, 3)])
    assert _look(again, ["a", "b"]) == [("a", 1, True), ("b", 2, True)]
    assert _look(store, ["a", "b"]) == [("a", None, False), ("b", 2, True)]


def test_empty_store_finds_nothing() -> None:
    store = TableStore(("k",), ("v",))
    assert _look(store, ["a"]) == [("a", None, False)]
    again = TableStore.restore(store.snapshot(), key_fields=("k",), value_fields=("v",))
    assert len(again) == 0
