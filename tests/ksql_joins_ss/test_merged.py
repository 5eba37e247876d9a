"""Two-sided batch call of the stream-stream join (``join_parts``, J8): a merged batch holding
both sides in processing order must give exactly what the record-at-a-time model of Kafka
Streams' processor gives (reference.py), row for row and in order, and leave the same state
behind — checked on random interleavings with duplicate keys and times, out-of-order and late
records, null keys and values, all join types, symmetric and asymmetric windows, with and
without GRACE, and mixed with one-sided batches and snapshot/restore.
"""

from __future__ import annotations

import random
from typing import Any

import polars as pl
import pytest

from telemetry_lib.ksql.exec import join_stream_merged
from telemetry_lib.ksql.exec.join_stream_stream import StreamStreamJoinOperator
from telemetry_lib.ksql.plan.join import JoinWindow
from tests.ksql_joins_ss.frames import JK, SS_LEFT, SS_RIGHT, frame, node, rows_of
from tests.ksql_joins_ss.reference import StreamStreamReference

FIELDS = {"left": SS_LEFT, "right": SS_RIGHT}
NONE2 = (None, None)

Step = tuple[str, list[tuple[int | None, tuple[str, int] | None, int]]]


def op(join_type: str, before: int, after: int, grace: int | None) -> StreamStreamJoinOperator:
    return StreamStreamJoinOperator(node(join_type, within=JoinWindow(before, after, grace)))  # type: ignore[arg-type]


def feed(join: StreamStreamJoinOperator, batches: list[list[Step]]) -> list[Any]:
    """Each batch (a list of one-side steps) in one two-sided call; all output rows."""
    collected: list[Any] = []
    for steps in batches:
        parts = [(side, frame(FIELDS[side], rows)) for side, rows in steps]
        for side, part in parts:
            join.remember_schema(side, part)  # type: ignore[arg-type]
        out = join.join_parts(parts)  # type: ignore[arg-type]
        if out.height:
            collected += rows_of(out, SS_LEFT, SS_RIGHT)
    return collected


def expected(
    join_type: str, before: int, after: int, grace: int | None, steps: list[Step]
) -> list[Any]:
    model = StreamStreamReference(join_type, before, after, grace, width={"left": 2, "right": 2})
    out: list[Any] = []
    for side, rows in steps:
        for key, values, ts in rows:
            out += model.process(side, key, values, ts)
    return out


def random_steps(rng: random.Random, n: int, *, keys: int = 3, late: float = 0.3) -> list[Step]:
    """Runs of 1-3 records of a random side; times mostly rising, some out of order or late,
    a few null keys and null values, duplicate (key, time) pairs likely."""
    steps: list[Step] = []
    t = 1000
    for i in range(n):
        side = rng.choice(["left", "right"])
        rows = []
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            t += rng.choice([0, 0, 1, 3, 7, 12])
            ts = t - (rng.randint(0, 150) if rng.random() < late else 0)
            key = None if rng.random() < 0.04 else rng.randint(0, keys - 1)
            values = None if rng.random() < 0.04 else (f"{side[0]}{i}", i)
            rows.append((key, values, max(ts, 0)))
        steps.append((side, rows))
    return steps


def cut(rng: random.Random, steps: list[Step]) -> list[list[Step]]:
    """The steps as consecutive merged batches of random length (1-25 steps)."""
    batches, i = [], 0
    while i < len(steps):
        n = rng.randint(1, 25)
        batches.append(steps[i : i + n])
        i += n
    return batches


WINDOWS = [(30, 30, None), (30, 30, 20), (10, 40, 15), (50, 0, 0), (0, 25, 5), (40, 10, None)]


@pytest.mark.parametrize("join_type", ["INNER", "LEFT", "RIGHT", "FULL"])
@pytest.mark.parametrize(("before", "after", "grace"), WINDOWS)
def test_merged_batches_match_the_record_at_a_time_model(
    join_type: str, before: int, after: int, grace: int | None
) -> None:
    rng = random.Random(f"merged{join_type}{before}{after}{grace}")
    for _ in range(4):
        steps = random_steps(rng, 80)
        want = expected(join_type, before, after, grace, steps)
        join = op(join_type, before, after, grace)
        assert feed(join, cut(rng, steps)) == want
    # the state left behind is the one-sided path's: continuing one part at a time after a
    # merged batch and after the same records fed part by part gives the same rows
    steps, more = random_steps(rng, 30), random_steps(rng, 10)
    merged, straight = op(join_type, before, after, grace), op(join_type, before, after, grace)
    feed(merged, [steps])
    feed(straight, [[s] for s in steps])
    assert feed(merged, [[s] for s in more]) == feed(straight, [[s] for s in more])


@pytest.mark.parametrize("join_type", ["LEFT", "FULL"])
def test_one_batch_with_many_keys_and_long_history(join_type: str) -> None:
    rng = random.Random(join_type)
    steps = random_steps(rng, 400, keys=25, late=0.15)
    want = expected(join_type, 60, 20, 10, steps)
    assert feed(op(join_type, 60, 20, 10), [steps]) == want
    want = expected(join_type, 60, 20, None, steps)
    assert feed(op(join_type, 60, 20, None), [steps[:150], steps[150:]]) == want


def test_pair_chunks_give_the_same_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(11)
    steps = random_steps(rng, 200, keys=2, late=0.1)
    want = expected("FULL", 100, 100, 30, steps)
    monkeypatch.setattr(join_stream_merged, "PAIR_CHUNK", 3)
    assert feed(op("FULL", 100, 100, 30), cut(rng, steps)) == want


def test_a_record_joins_only_partners_that_arrived_before_it() -> None:
    join = op("INNER", 100, 100, None)
    steps: list[Step] = [
        ("left", [(1, ("a", 1), 500)]),
        ("right", [(1, ("x", 1), 450)]),  # joins a
        ("left", [(1, ("b", 2), 520), (2, ("c", 3), 530)]),  # b joins x; c nothing
        ("right", [(1, ("y", 2), 420)]),  # late: [320, 520] holds a (500) and b (520)
    ]
    assert feed(join, [steps]) == [
        (1, ("a", 1), ("x", 1), 500, False),
        (1, ("b", 2), ("x", 1), 520, False),
        (1, ("a", 1), ("y", 2), 500, False),
        (1, ("b", 2), ("y", 2), 520, False),
    ]
    assert join.state.seq == 5 and join.state.stream_time == 530


def test_held_outer_rows_in_one_merged_batch() -> None:
    # LEFT ... WITHIN 10 GRACE 5: a waits, b is matched by x, a is emitted by d (116 at stream
    # time, 100 + 10 + 5 < 116) before d's own rows; a late record of a closed window at once
    join = op("LEFT", 10, 10, 5)
    steps: list[Step] = [
        ("left", [(1, ("a", 1), 100), (2, ("b", 2), 101)]),
        ("right", [(2, ("x", 1), 105)]),
        ("left", [(3, ("c", 3), 110), (4, ("d", 4), 116)]),
        ("right", [(9, ("z", 1), 130)]),
        ("left", [(5, ("old", 5), 60)]),
    ]
    assert feed(join, [steps]) == [
        (2, ("b", 2), ("x", 1), 105, False),
        (1, ("a", 1), NONE2, 100, False),
        (3, ("c", 3), NONE2, 110, False),
        (5, ("old", 5), NONE2, 60, False),
    ]
    assert join.state.pending["left"].height == 1  # d


def test_snapshot_restore_between_merged_batches() -> None:
    rng = random.Random(5)
    steps = random_steps(rng, 120)
    batches = cut(rng, steps)
    want = expected("FULL", 30, 20, 10, steps)
    first = op("FULL", 30, 20, 10)
    half = len(batches) // 2
    head = feed(first, batches[:half])
    fresh = op("FULL", 30, 20, 10)
    fresh.restore(first.snapshot())
    assert head + feed(fresh, batches[half:]) == want


def test_process_parts_emits_one_frame_with_the_rows_of_the_parts() -> None:
    join = op("INNER", 10, 10, None)
    emitted: list[pl.DataFrame] = []
    parts = [
        ("left", frame(SS_LEFT, [(1, ("a", 1), 10)])),
        ("right", frame(SS_RIGHT, [(1, ("x", 2), 12)])),
        ("left", frame(SS_LEFT, [(1, ("b", 3), 15)])),
    ]
    join.process_parts(parts, None, emitted.append)  # type: ignore[arg-type]
    assert len(emitted) == 1
    assert rows_of(emitted[0], SS_LEFT, SS_RIGHT) == [
        (1, ("a", 1), ("x", 2), 12, False),
        (1, ("b", 3), ("x", 2), 15, False),
    ]


@pytest.mark.parametrize("join_type", ["INNER", "FULL"])
def test_windowed_sides_match_on_the_window_start_too(join_type: str) -> None:
    # windowed sources: WINDOWSTART is part of the match key (WINDOWEND rides along); the
    # merged call must give what the one-sided calls give part by part
    from telemetry_lib.ksql.exec import batch as B

    rng = random.Random(join_type)
    steps = random_steps(rng, 120, keys=2)

    def windowed(side: str, rows: Any) -> pl.DataFrame:
        starts = [rng.choice([0, 1000]) for _ in rows]
        return frame(FIELDS[side], rows).with_columns(
            pl.Series(B.WINDOWSTART, starts, dtype=pl.Int64),
            pl.Series(B.WINDOWEND, [s + 1000 for s in starts], dtype=pl.Int64),
        )

    parts = [(side, windowed(side, rows)) for side, rows in steps]
    merged, straight = op(join_type, 40, 20, 10), op(join_type, 40, 20, 10)
    got, want = [], []
    for side, part in parts:
        merged.remember_schema(side, part)  # type: ignore[arg-type]
        straight.remember_schema(side, part)  # type: ignore[arg-type]
        out = straight.join_batch(side, part)  # type: ignore[arg-type]
        if out.height:
            want.append(out)
    for batch in (parts[:50], parts[50:]):
        out = merged.join_parts(batch)  # type: ignore[arg-type]
        if out.height:
            got.append(out)
    columns = [*SS_LEFT, *SS_RIGHT, JK, B.ROWTIME, B.WINDOWSTART, B.WINDOWEND]
    expect = pl.concat(want, how="diagonal_relaxed").select(columns)
    assert expect.height > 20
    assert pl.concat(got, how="diagonal_relaxed").select(columns).rows() == expect.rows()
