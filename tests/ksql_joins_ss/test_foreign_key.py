"""Foreign-key table-table join operator (J2): update and retraction semantics of INNER and
LEFT, right-side fan-out, timestamps, restart equivalence, and a random cross-check against a
record-at-a-time model of Kafka Streams' subscription/response processors.

Expected rows are derived by hand from the documented semantics (module doc of
``exec.join_fk``), on scenarios of our own. A tombstone row is compared as (key, time) only.
"""

from __future__ import annotations

import random

import pytest

from telemetry_lib.ksql.exec.join_fk import ForeignKeyJoinOperator
from tests.ksql_joins_ss.frames import FK_LEFT, FK_RIGHT, Row, fk_left, fk_right, node, run
from tests.ksql_joins_ss.reference import ForeignKeyReference

NONE2 = (None, None)


def op(join_type: str) -> ForeignKeyJoinOperator:
    return ForeignKeyJoinOperator(
        node(
            join_type,  # type: ignore[arg-type]
            kind="table-table-fk",
            left_fields=FK_LEFT,
            right_fields=FK_RIGHT,
            left_primary_key=("L_ID",),
        )
    )


def norm(rows: list[Row]) -> list[Row]:
    return [(k, (), (), t, True) if dead else (k, lv, rv, t, dead) for k, lv, rv, t, dead in rows]


def Lc(*rows: tuple[int, str | None, int | None, int]) -> tuple[str, object]:
    return ("left", fk_left(list(rows)))


def Rc(*rows: tuple[int, str | None, int]) -> tuple[str, object]:
    return ("right", fk_right(list(rows)))


def tomb(key: int, ts: int) -> Row:
    return (key, (), (), ts, True)


def test_inner_join_updates_and_retractions() -> None:
    join = op("INNER")
    out = norm(
        run(
            join,
            [
                Lc((1, "p1", 10, 100)),  # no team 10 yet: nothing
                Rc((10, "red", 150)),  # team 10 appears: p1 joins, at the right's time
                Lc((2, "p2", 10, 120)),  # joins at max(120, 150)
                Lc((1, "p1", 20, 200)),  # foreign key moves to a missing team: retraction
                Rc((20, "blue", 210)),  # p1 joins blue
                Lc((1, "p1b", 20, 220)),  # plain update: re-joined
                Lc((2, None, None, 230)),  # delete: tombstone
                Lc((3, None, None, 240)),  # delete of an absent key: nothing
            ],
        )
    )
    assert out == [
        (1, (1, "p1", 10), (10, "red"), 150, False),
        (2, (2, "p2", 10), (10, "red"), 150, False),
        tomb(1, 200),
        (1, (1, "p1", 20), (20, "blue"), 210, False),
        (1, (1, "p1b", 20), (20, "blue"), 220, False),
        tomb(2, 230),
    ]


def test_left_join_keeps_unmatched_rows() -> None:
    join = op("LEFT")
    out = norm(
        run(
            join,
            [
                Lc((1, "p1", 10, 100)),
                Rc((10, "red", 150)),
                Lc((1, "p1", 30, 160)),  # moved to a missing team: left row with nulls
                Lc((4, "p4", None, 170)),  # null foreign key matches nothing
                Lc((1, None, None, 180)),
            ],
        )
    )
    assert out == [
        (1, (1, "p1", 10), NONE2, 100, False),
        (1, (1, "p1", 10), (10, "red"), 150, False),
        (1, (1, "p1", 30), NONE2, 160, False),
        (4, (4, "p4", None), NONE2, 170, False),
        tomb(1, 180),
    ]


@pytest.mark.parametrize("join_type", ["INNER", "LEFT"])
def test_right_changes_fan_out_to_every_subscriber_in_key_order(join_type: str) -> None:
    join = op(join_type)
    run(join, [Rc((10, "red", 5)), Lc((9, "p9", 10, 10), (3, "p3", 10, 11), (5, "p5", 11, 12))])
    update = norm(run(join, [Rc((10, "crimson", 20))]))
    assert update == [
        (3, (3, "p3", 10), (10, "crimson"), 20, False),
        (9, (9, "p9", 10), (10, "crimson"), 20, False),
    ]
    delete = norm(run(join, [Rc((10, None, 30))]))
    if join_type == "INNER":
        assert delete == [tomb(3, 30), tomb(9, 30)]
    else:
        assert delete == [
            (3, (3, "p3", 10), NONE2, 30, False),
            (9, (9, "p9", 10), NONE2, 30, False),
        ]


def test_inner_join_rows_without_a_foreign_key_have_no_result() -> None:
    join = op("INNER")
    out = norm(
        run(
            join,
            [
                Rc((10, "red", 100)),
                Lc((5, "n", None, 10)),  # no foreign key: subscribed to nothing, no output
                Lc((5, "n", 10, 20)),  # now an insert into team 10: joined at max(20, 100)
                Lc((5, "n", None, 30)),  # loses its key: retracted, at the old right row's time
                Lc((5, None, None, 40)),  # delete of a row without a result: nothing
            ],
        )
    )
    assert out == [(5, (5, "n", 10), (10, "red"), 100, False), tomb(5, 100)]


def test_left_delete_takes_the_old_right_rows_time() -> None:
    join = op("INNER")
    out = norm(run(join, [Rc((10, "red", 500)), Lc((1, "p1", 10, 100)), Lc((1, None, None, 200))]))
    assert out == [(1, (1, "p1", 10), (10, "red"), 500, False), tomb(1, 500)]


def test_changes_of_one_key_within_a_batch_follow_each_other() -> None:
    join = op("INNER")
    out = norm(
        run(
            join,
            [
                Rc((10, "red", 1), (20, "blue", 1)),
                Lc((1, "a", 10, 5), (1, "b", 99, 6), (1, None, None, 7), (1, "c", 20, 8)),
            ],
        )
    )
    assert out == [
        (1, (1, "a", 10), (10, "red"), 5, False),
        tomb(1, 6),  # update to a missing team
        tomb(1, 7),  # delete of a present key (its foreign key 99 has no row: own time)
        (1, (1, "c", 20), (20, "blue"), 8, False),  # an insert again
    ]


def _random_steps(rng: random.Random, n: int) -> list[tuple[str, list[tuple]]]:
    steps: list[tuple[str, list[tuple]]] = []
    t = 0
    for i in range(n):
        side = rng.choice(["left", "left", "right"])
        rows: list[tuple] = []
        for _ in range(rng.randint(1, 4)):
            t += rng.randint(0, 10)
            ts = max(0, t - rng.randint(0, 30)) if rng.random() < 0.2 else t
            if side == "left":
                deleted = rng.random() < 0.2
                fk = None if rng.random() < 0.1 else rng.randint(0, 3)
                rows.append(
                    (rng.randint(0, 5), None if deleted else f"n{i}", None if deleted else fk, ts)
                )
            else:
                rows.append((rng.randint(0, 3), None if rng.random() < 0.25 else f"t{i}", ts))
        steps.append((side, rows))
    return steps


@pytest.mark.parametrize("join_type", ["INNER", "LEFT"])
def test_batches_match_the_record_at_a_time_model(join_type: str) -> None:
    rng = random.Random(join_type)
    for _ in range(4):
        steps = _random_steps(rng, 40)
        model = ForeignKeyReference(join_type)
        expected: list[Row] = []
        for side, rows in steps:
            for r in rows:
                expected += model.left_change(*r) if side == "left" else model.right_change(*r)
        join = op(join_type)
        batches = [(s, fk_left(rows) if s == "left" else fk_right(rows)) for s, rows in steps]
        assert norm(run(join, batches)) == norm(expected)


def test_snapshot_restore_gives_the_straight_run() -> None:
    steps = _random_steps(random.Random(3), 50)
    batches = [(s, fk_left(rows) if s == "left" else fk_right(rows)) for s, rows in steps]
    straight = run(op("LEFT"), batches)
    first = op("LEFT")
    head = run(first, batches[:20])
    fresh = op("LEFT")
    fresh.restore(first.snapshot())
    assert head + run(fresh, batches[20:]) == straight
    assert fresh.state.entries() > 0
