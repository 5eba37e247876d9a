"""Stream-stream join operator (J2): WITHIN bounds, RIGHT's mirrored window, old eager outer
results, GRACE PERIOD's held outer results, store retention, restart equivalence, and a random
cross-check against a record-at-a-time model of Kafka Streams' processor.

Expected rows are derived by hand from the documented semantics (module doc of
``exec.join_stream_stream``), on scenarios of our own.
"""

from __future__ import annotations

import random

import pytest

from telemetry_lib.ksql.exec.join_stream_stream import StreamStreamJoinOperator
from telemetry_lib.ksql.plan.join import JoinWindow
from tests.ksql_joins_ss.frames import SS_LEFT, SS_RIGHT, frame, node, run
from tests.ksql_joins_ss.reference import StreamStreamReference

NONE2 = (None, None)


def op(
    join_type: str, before: int, after: int, grace: int | None = None
) -> StreamStreamJoinOperator:
    return StreamStreamJoinOperator(node(join_type, within=JoinWindow(before, after, grace)))  # type: ignore[arg-type]


def L(*rows: tuple[int | None, tuple[str, int] | None, int]) -> tuple[str, object]:
    return ("left", frame(SS_LEFT, list(rows)))


def R(*rows: tuple[int | None, tuple[str, int] | None, int]) -> tuple[str, object]:
    return ("right", frame(SS_RIGHT, list(rows)))


def test_inner_join_bounds_are_inclusive_and_partners_come_in_time_order() -> None:
    join = op("INNER", 100, 100)
    out = run(
        join,
        [
            R((7, ("r300", 1), 300), (7, ("r50", 2), 50), (8, ("other", 3), 200)),
            # 200 sees 100..300 on key 7: r50 (50) is outside, r300 (300) is on the edge
            L((7, ("a", 1), 200)),
            # 150 sees 50..250: r50 on the edge only
            L((7, ("b", 2), 150)),
        ],
    )
    assert out == [
        (7, ("a", 1), ("r300", 1), 300, False),
        (7, ("b", 2), ("r50", 2), 150, False),
    ]
    # a right record finds both left records, ordered by their times (150 before 200)
    out = run(join, [R((7, ("late", 4), 210))])
    assert out == [
        (7, ("b", 2), ("late", 4), 210, False),
        (7, ("a", 1), ("late", 4), 210, False),
    ]


def test_asymmetric_window_left_and_its_mirror_for_right_join() -> None:
    # WITHIN (10 before, 50 after): a left record at t matches right records in [t-10, t+50];
    # a right record at r matches left records in [r-50, r+10].
    inner = op("INNER", 10, 50)
    out = run(
        inner,
        [
            L((1, ("l", 1), 100)),
            R((1, ("too early", 1), 89), (1, ("early", 2), 90), (1, ("late", 3), 150)),
            R((1, ("too late", 4), 151)),
        ],
    )
    assert [r[2][0] for r in out] == ["early", "late"]
    # RIGHT JOIN runs right.leftJoin(left) with the same windows: the right record is the one
    # whose partners lie in [r-10, r+50].
    right = op("RIGHT", 10, 50)
    out = run(
        right,
        [
            R((1, ("r", 1), 100)),
            L((1, ("too early", 1), 89), (1, ("early", 2), 90), (1, ("late", 3), 150)),
            L((1, ("too late", 4), 151)),
        ],
    )
    assert out[0] == (1, NONE2, ("r", 1), 100, False)  # no GRACE: unmatched right row at once
    assert [r[1][0] for r in out[1:]] == ["early", "late"]


def test_left_join_without_grace_emits_unmatched_rows_eagerly() -> None:
    join = op("LEFT", 1000, 1000)
    out = run(
        join,
        [
            L((1, ("a", 1), 5000)),
            R((1, ("x", 9), 5500)),
            R((2, ("unmatched right", 0), 5600)),  # inner side: nothing
            L((3, ("b", 2), 5700), (1, ("c", 3), 7000)),
        ],
    )
    assert out == [
        (1, ("a", 1), NONE2, 5000, False),  # at once, before its partner arrives
        (1, ("a", 1), ("x", 9), 5500, False),
        (3, ("b", 2), NONE2, 5700, False),
        (1, ("c", 3), NONE2, 7000, False),  # 7000 - 5500 > 1000
    ]


def test_left_join_with_grace_holds_unmatched_rows_until_the_window_closes() -> None:
    join = op("LEFT", 10, 10, 5)
    out = run(join, [L((1, ("a", 1), 100), (2, ("b", 2), 101))])
    assert out == []  # both wait: their windows are open
    out = run(join, [R((2, ("x", 1), 105))])
    assert out == [(2, ("b", 2), ("x", 1), 105, False)]  # b is matched, no null row ever
    out = run(join, [L((3, ("c", 3), 110), (4, ("d", 4), 116))])
    # 116 is the stream time and 100 + 10 + 5 < 116: a is emitted (with its own time) by d,
    # before anything of d's own; c (110 + 15 >= 116) and d stay pending
    assert out == [(1, ("a", 1), NONE2, 100, False)]
    out = run(join, [R((9, ("z", 1), 130))])
    assert out == [(3, ("c", 3), NONE2, 110, False)]  # 125 < 130; d: 131 >= 130
    # a record whose window closed already (t + after < stream time) is emitted at once
    out = run(join, [L((5, ("old", 5), 60))])
    assert out == [(5, ("old", 5), NONE2, 60, False)]
    assert join.state.pending["left"].height == 1  # d


def test_only_a_record_at_stream_time_emits_pending_rows() -> None:
    join = op("LEFT", 10, 10, 0)
    run(join, [L((1, ("a", 1), 100))])
    # 50 < stream time 100: an out-of-order record does not scan the store even when it
    # could (100 + 10 + 0 < 200 is false anyway); 111 at stream time does
    assert run(join, [R((5, ("x", 0), 50))]) == []
    assert run(join, [R((5, ("y", 0), 111))]) == [(1, ("a", 1), NONE2, 100, False)]


def test_full_outer_with_grace_emits_pending_rows_by_time_then_right_first() -> None:
    join = op("FULL", 5, 5, 0)
    out = run(
        join,
        [
            L((2, ("l2", 1), 10)),
            R((1, ("r1", 1), 10), (3, ("r3", 1), 12)),
            L((1, ("l1", 2), 30)),  # l1 has no partner in [25, 35]; r1 (10) not in range
        ],
    )
    # at 30: 10 + 5 < 30 -> r1 (right first) then l2 at time 10, then r3 (12); l1 waits
    assert out == [
        (1, NONE2, ("r1", 1), 10, False),
        (2, ("l2", 1), NONE2, 10, False),
        (3, NONE2, ("r3", 1), 12, False),
    ]


def test_store_retention_hides_expired_partners_from_late_records() -> None:
    # retention = before + after + grace = 30: the right store's time reaches 1000, so a right
    # record at 100 is never visible again, though a late left record at 100 is in range
    join = op("LEFT", 10, 10, 10)
    out = run(join, [R((1, ("r", 1), 100)), R((9, ("far", 2), 1000)), L((1, ("late", 1), 100))])
    assert out == [(1, ("late", 1), NONE2, 100, False)]
    assert join.state.evict("right", join.retention_ms) == 1  # the record at 100 can go


def test_null_values_are_skipped_and_null_keys_are_emitted_unmatched_on_outer_sides() -> None:
    join = op("LEFT", 10, 10)
    out = run(
        join,
        [
            L((None, ("no key", 1), 5), (1, None, 30)),  # both advance stream time to 30
            R((None, ("no key", 2), 6)),  # inner side: dropped
            R((1, ("r", 1), 7)),
            L((1, ("l", 2), 8)),
        ],
    )
    assert out == [(None, ("no key", 1), NONE2, 5, False), (1, ("l", 2), ("r", 1), 8, False)]
    assert join.state.stream_time == 30
    # with GRACE: the null-value record at 30 closed nothing (it does not scan the store); the
    # next record at stream time does
    join = op("LEFT", 10, 10, 0)
    out = run(join, [L((1, ("a", 1), 10)), L((2, None, 30)), R((3, ("x", 0), 30))])
    assert out == [(1, ("a", 1), NONE2, 10, False)]


def _random_steps(
    rng: random.Random, n: int
) -> list[tuple[str, list[tuple[int | None, tuple[str, int] | None, int]]]]:
    steps = []
    t = 1000
    for i in range(n):
        side = rng.choice(["left", "right"])
        run_len = rng.randint(1, 4)
        rows = []
        for _ in range(run_len):
            t += rng.randint(0, 12)
            ts = t - (rng.randint(0, 120) if rng.random() < 0.3 else 0)
            key = None if rng.random() < 0.04 else rng.randint(0, 2)
            values = None if rng.random() < 0.04 else (f"{side[0]}{i}", i)
            rows.append((key, values, max(ts, 0)))
        steps.append((side, rows))
    return steps


@pytest.mark.parametrize("join_type", ["INNER", "LEFT", "RIGHT", "FULL"])
@pytest.mark.parametrize(
    ("before", "after", "grace"), [(30, 30, None), (30, 30, 20), (10, 40, 15), (50, 0, 0)]
)
def test_batches_match_the_record_at_a_time_model(
    join_type: str, before: int, after: int, grace: int | None
) -> None:
    rng = random.Random(f"{join_type}{before}{after}{grace}")
    for _ in range(3):
        steps = _random_steps(rng, 40)
        model = StreamStreamReference(
            join_type, before, after, grace, width={"left": 2, "right": 2}
        )
        expected = []
        for side, rows in steps:
            for key, values, ts in rows:
                expected += model.process(side, key, values, ts)
        join = op(join_type, before, after, grace)
        fields = {"left": SS_LEFT, "right": SS_RIGHT}
        got = run(join, [(side, frame(fields[side], rows)) for side, rows in steps])
        assert got == expected


def test_snapshot_restore_gives_the_straight_run() -> None:
    rng = random.Random(7)
    steps = _random_steps(rng, 60)
    fields = {"left": SS_LEFT, "right": SS_RIGHT}
    batches = [(side, frame(fields[side], rows)) for side, rows in steps]
    straight = run(op("FULL", 30, 20, 10), batches)
    first = op("FULL", 30, 20, 10)
    head = run(first, batches[:25])
    fresh = op("FULL", 30, 20, 10)
    fresh.restore(first.snapshot())
    assert head + run(fresh, batches[25:]) == straight
    assert fresh.state.entries() > 0
