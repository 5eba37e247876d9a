"""kd_truth and compare_kd on hand-computed cases."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from telemetry_lib import analytics as a

W = 300_000


def utc(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def events(rows: list[tuple[str, str, int]], **extra: list[object]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "player_id": [r[0] for r in rows],
            "event_type": [r[1] for r in rows],
            "timestamp": [r[2] for r in rows],
            **extra,
        }
    )


def test_truth_counts_per_player_and_epoch_aligned_window() -> None:
    ev = events(
        [
            ("a", "kill", 0),
            ("a", "kill", W - 1),  # last ms of window 0
            ("a", "death", W),  # first ms of window 1
            ("b", "death", 10),
            ("b", "spawn", 20),  # not a kill or death: ignored
            ("a", "kill", 2 * W + 5),
            ("a", "death", 2 * W + 6),
            ("a", "death", 2 * W + 7),
        ]
    )
    truth = a.kd_truth(ev)
    assert truth.select(
        "player_id", "window_start", "window_end", "kill_count", "death_count", "kd"
    ).rows() == [
        ("a", utc(0), utc(W), 2, 0, 2.0),
        ("b", utc(0), utc(W), 0, 1, 0.0),
        ("a", utc(W), utc(2 * W), 0, 1, 0.0),
        ("a", utc(2 * W), utc(3 * W), 1, 2, 0.5),
    ]


def test_truth_zero_deaths_null_rule_and_window_size() -> None:
    ev = events([("a", "kill", 0), ("a", "kill", 59_999), ("a", "death", 60_000)])
    truth = a.kd_truth(ev, window_ms=60_000, zero_deaths="null")
    assert truth.select("kill_count", "death_count", "kd").rows() == [(2, 0, None), (0, 1, 0.0)]
    with pytest.raises(a.AnalyticsError, match="zero_deaths"):
        a.kd_truth(ev, zero_deaths="inf")  # type: ignore[arg-type]


def test_truth_grace_drops_records_behind_stream_time_per_partition() -> None:
    # delivery order; grace 1000 ms. On partition 0 stream time reaches W + 2000, so a record
    # of window 0 (end W) arriving then is late (W + 1000 <= W + 2000). On partition 1 the
    # same timestamp is on time (its stream time is only 5).
    ev = events(
        [
            ("a", "kill", 5),
            ("a", "kill", W + 2_000),
            ("a", "kill", 7),
            ("b", "kill", 5),
            ("b", "kill", 7),
        ],
        partition=[0, 0, 0, 1, 1],
    )
    truth = a.kd_truth(ev, grace_ms=1_000)
    assert truth.select("player_id", "window_start", "kill_count").rows() == [
        ("a", utc(0), 1),
        ("b", utc(0), 2),
        ("a", utc(W), 1),
    ]
    # a late record still inside the grace period counts
    on_time = a.kd_truth(ev, grace_ms=3_000)
    assert on_time.filter(pl.col("player_id") == "a")["kill_count"].to_list() == [2, 1]


def _table(rows: list[tuple[str, int, int, int, float | None]]) -> pl.DataFrame:
    frame = pl.DataFrame(
        {
            "player_id": [r[0] for r in rows],
            "window_start": pl.Series([r[1] for r in rows]).cast(pl.Datetime("ms", "UTC")),
            "kill_count": [r[2] for r in rows],
            "death_count": [r[3] for r in rows],
            "kill_ratio": pl.Series([r[4] for r in rows], dtype=pl.Float64),
        }
    )
    return frame


def test_compare_kd_explains_null_ratios_and_counts_problems() -> None:
    truth = _table(
        [
            ("a", 0, 2, 9, None),
            ("b", 0, 3, 0, None),
            ("c", 0, 1, 4, None),
            ("d", 0, 1, 1, None),
            ("e", 0, 5, 5, None),
        ]
    )
    got = _table(
        [
            ("a", 0, 2, 9, None),  # 2/9 never terminates: NULL explained (#9874)
            ("b", 0, 3, 0, None),  # 0 deaths: NULL explained
            ("c", 0, 1, 4, None),  # 1/4 = 0.25 terminates: NULL unexplained
            ("d", 0, 1, 1, 1.0),  # compared, equal
            ("f", 0, 1, 1, 1.0),  # extra; "e" is missing
        ]
    )
    check = a.compare_kd(got, truth)
    assert (check.missing, check.extra, check.count_mismatches) == (1, 1, 0)
    assert check.ratio_null_non_terminating == 1
    assert check.ratio_null_deaths_zero == 1
    assert check.ratio_null_unexplained == 1
    assert (check.ratio_compared, check.ratio_mismatches) == (1, 0)
    assert not check.ok
    assert check.as_dict()["ok"] is False
    assert {e["problem"] for e in check.examples} == {"missing", "extra"}


def test_compare_kd_scale_and_mismatches() -> None:
    truth = _table([("a", 0, 1, 8, None), ("b", 0, 3, 2, None), ("c", 0, 4, 2, None)])
    got = _table([("a", 0, 1, 8, None), ("b", 0, 3, 2, 1.4), ("c", 0, 4, 3, 4 / 3)])
    # 1/8 = 0.125 needs 3 digits: NULL is explained at scale 2, not at scale 3
    at2 = a.compare_kd(got, truth, scale=2)
    at3 = a.compare_kd(got, truth, scale=3)
    assert (at2.ratio_null_non_terminating, at2.ratio_null_unexplained) == (1, 0)
    assert (at3.ratio_null_non_terminating, at3.ratio_null_unexplained) == (0, 1)
    # b: 1.4 != 3/2; c: 4/3 != the truth's 4/2 (ratios are checked against the truth's counts)
    assert at2.ratio_mismatches == 2
    assert at2.count_mismatches == 1  # c: 3 deaths, truth 2
    assert not at2.ok


def test_compare_kd_identical_tables_are_ok() -> None:
    ev = events([("a", "kill", 1), ("b", "death", 1), ("a", "death", W)])
    truth = a.kd_truth(ev)
    assert a.compare_kd(truth, truth).ok
