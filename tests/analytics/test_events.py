"""Streaks, anomaly z-scores, heatmap bins and team K/D, hand-computed."""

from __future__ import annotations

import math

import polars as pl
import pytest

from telemetry_lib import analytics as a

W = 300_000


def events(rows: list[tuple[str, str, int]], **extra: list[object]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "player_id": [r[0] for r in rows],
            "event_type": [r[1] for r in rows],
            "timestamp": [r[2] for r in rows],
            **extra,
        }
    )


def test_streaks_are_runs_of_kills_ended_by_deaths_in_time_order() -> None:
    ev = events(
        [
            # given out of time order: the functions sort by timestamp
            ("a", "kill", 30),
            ("a", "kill", 10),
            ("a", "kill", 20),
            ("a", "death", 40),
            ("a", "death", 50),  # a death right after a death: no empty streak
            ("a", "kill", 60),
            ("b", "death", 5),
            ("b", "kill", 6),
            ("b", "kill", 7),
            ("c", "death", 1),
        ]
    )
    streaks = a.kill_streaks(ev)
    assert streaks.select("player_id", "streak", "kills", "ended_by_death").rows() == [
        ("a", 1, 3, True),
        ("a", 2, 1, False),
        ("b", 1, 2, False),
    ]
    assert streaks["started"][0].timestamp() * 1000 == pytest.approx(10)
    assert streaks["ended"][0].timestamp() * 1000 == pytest.approx(30)
    assert a.kill_streaks(ev, min_kills=2)["kills"].to_list() == [3, 2]
    summary = a.streak_summary(ev, min_kills=2)
    assert summary.rows() == [
        # player, longest, streaks >= 2, current, kills, deaths
        ("a", 3, 1, 1, 4, 2),
        ("b", 2, 1, 2, 2, 1),
        ("c", 0, 0, 0, 0, 1),
    ]


def test_streak_ties_in_time_follow_event_id() -> None:
    # same timestamp: event_id orders (kill 2k before the 2k+1 death of the generator's pairs)
    ev = events([("a", "death", 100), ("a", "kill", 100), ("a", "kill", 200)], event_id=[3, 2, 4])
    assert a.kill_streaks(ev)["kills"].to_list() == [1, 1]


def _kd(rows: list[tuple[str, int, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "player_id": [r[0] for r in rows],
            "window_start": pl.Series([r[1] * W for r in rows]).cast(pl.Datetime("ms", "UTC")),
            "window_end": pl.Series([(r[1] + 1) * W for r in rows]).cast(pl.Datetime("ms", "UTC")),
            "kd": [r[2] for r in rows],
        }
    )


def test_anomaly_z_scores_use_the_players_other_windows() -> None:
    t = _kd([("a", 0, 1.0), ("a", 1, 2.0), ("a", 2, 3.0), ("a", 3, 10.0), ("b", 0, 1.0)])
    flags = a.anomaly_flags(t, k=3.0, min_windows=3)
    row = flags.filter(pl.col("window_start").dt.epoch("ms") == 3 * W).row(0, named=True)
    # baseline of window 3 = windows 0..2: mean 2, sample std 1 -> z = (10 - 2) / 1 = 8
    assert row["baseline_windows"] == 3
    assert row["baseline_mean"] == pytest.approx(2.0)
    assert row["baseline_std"] == pytest.approx(1.0)
    assert row["z"] == pytest.approx(8.0)
    assert row["flagged"] is True
    first = (
        flags.filter(pl.col("window_start").dt.epoch("ms") == 0)
        .filter(pl.col("player_id") == "a")
        .row(0, named=True)
    )
    # baseline of window 0 = 2, 3, 10: mean 5, std sqrt(19) -> z = -4 / 4.3589 = -0.918
    assert first["z"] == pytest.approx((1 - 5) / math.sqrt(19))
    assert first["flagged"] is False
    b = flags.filter(pl.col("player_id") == "b").row(0, named=True)
    assert b["baseline_windows"] == 0 and b["z"] is None and b["flagged"] is False
    # with min_windows=4 nobody has enough other windows
    assert a.anomaly_flags(t, min_windows=4)["z"].null_count() == 5


def test_anomaly_flat_baseline_and_parameters() -> None:
    t = _kd([("a", 0, 0.1), ("a", 1, 0.1), ("a", 2, 0.1), ("a", 3, 0.5)])
    flags = a.anomaly_flags(t, min_windows=2)
    z = flags["z"].to_list()
    assert z[3] == math.inf  # flat baseline 0.1 and a different K/D
    assert flags["flagged"].to_list() == [False, False, False, True]
    # windows 0..2 each see a baseline of 0.1, 0.1, 0.5 (not flat): finite z
    assert all(math.isfinite(v) for v in z[:3])
    flat = a.anomaly_flags(_kd([("a", 0, 1.0), ("a", 1, 1.0), ("a", 2, 1.0)]), min_windows=2)
    assert flat["z"].to_list() == [0.0, 0.0, 0.0]
    with pytest.raises(a.AnalyticsError):
        a.anomaly_flags(t, min_windows=1)
    with pytest.raises(a.AnalyticsError):
        a.anomaly_flags(t, k=0)


def test_death_heatmap_bins_edges_and_empty_cells() -> None:
    ev = events(
        [("a", "death", 0)] * 6 + [("a", "kill", 0)],
        x=[0.0, 499.9, 500.0, 1000.0, 1000.1, None, 10.0],
        y=[0.0, 0.0, 999.0, 1000.0, 5.0, 5.0, 10.0],
    )
    grid = a.death_heatmap(ev, bins=2)
    assert grid.select("x_bin", "y_bin", "count").rows() == [
        (0, 0, 2),  # (0, 0) and (499.9, 0)
        (1, 0, 0),
        (0, 1, 0),
        (1, 1, 2),  # (500, 999) and the corner (1000, 1000) in the last bin
    ]  # 1000.1 is off the map, None has no position, the kill is not a death
    assert grid.row(1, named=True)["x_start"] == 500.0
    assert grid.row(1, named=True)["x_end"] == 1000.0
    rect = a.death_heatmap(ev, bins=(4, 1), extent=(0, 1000, 0, 2000), event_type=None)
    # x in 250-wide bins, every event type: (0, 10) | 499.9 | 500 | 1000
    assert rect["count"].to_list() == [2, 1, 1, 1]
    assert a.has_positions(ev)
    assert not a.has_positions(ev.drop("x"))
    with pytest.raises(a.AnalyticsError, match="x, y"):
        a.death_heatmap(ev.drop("x", "y"))


def test_team_kd_sums_counts_and_keeps_unknown_players() -> None:
    t = pl.DataFrame(
        {
            "player_id": ["p1", "p2", "p3", "p1", "zz"],
            "window_start": [0, 0, 0, 1, 0],
            "window_end": [1, 1, 1, 2, 1],
            "kill_count": [1, 20, 2, 3, 1],
            "death_count": [0, 10, 4, 1, 1],
        }
    )
    players = pl.DataFrame(
        {
            "player_id": ["p1", "p2", "p3"],
            "team": ["Red", "Red", "Blue"],
            "region": ["EU", "EU", "NA"],
        }
    )
    per_window = a.team_kd(t, players)
    assert per_window.rows() == [
        # Red window 0: (1 + 20) / (0 + 10), not the mean of 1.0 and 2.0
        ("Red", "EU", 0, 1, 2, 21, 10, 2.1),
        ("(unknown)", "(unknown)", 0, 1, 1, 1, 1, 1.0),
        ("Blue", "NA", 0, 1, 1, 2, 4, 0.5),
        ("Red", "EU", 1, 2, 1, 3, 1, 3.0),
    ]
    overall = a.team_kd(t, players, by=["team"], per_window=False)
    assert overall.rows() == [
        ("Red", 2, 24, 11, 24 / 11),
        ("(unknown)", 1, 1, 1, 1.0),
        ("Blue", 1, 2, 4, 0.5),
    ]
    dropped = a.team_kd(t, players, by=["team"], per_window=False, unknown="drop")
    assert dropped["team"].to_list() == ["Red", "Blue"]
