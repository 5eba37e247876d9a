"""K/D rule, trends, leaderboards, distribution and per-window stats, hand-computed."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from telemetry_lib import analytics as a

W = 300_000


def utc(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def table(
    rows: list[tuple[str, int, int, int]], zero_deaths: a.ZeroDeaths = "kills"
) -> pl.DataFrame:
    """(player, window index, kills, deaths) -> a K/D table."""
    frame = pl.DataFrame(
        {
            "player_id": [r[0] for r in rows],
            "window_start": pl.Series([r[1] * W for r in rows]).cast(pl.Datetime("ms", "UTC")),
            "window_end": pl.Series([(r[1] + 1) * W for r in rows]).cast(pl.Datetime("ms", "UTC")),
            "kill_count": [r[2] for r in rows],
            "death_count": [r[3] for r in rows],
        }
    )
    return a.with_kd(frame, zero_deaths=zero_deaths)


def test_kd_rule_for_zero_deaths() -> None:
    t = table([("a", 0, 3, 0), ("b", 0, 0, 0), ("c", 0, 2, 4)])
    assert t["kd"].to_list() == [3.0, 0.0, 0.5]
    n = table([("a", 0, 3, 0), ("b", 0, 0, 0), ("c", 0, 2, 4)], zero_deaths="null")
    assert n["kd"].to_list() == [None, None, 0.5]
    assert t.schema["kd"] == pl.Float64


def test_kd_trends_change_cumulative_and_index() -> None:
    t = table([("a", 0, 2, 1), ("a", 2, 1, 1), ("a", 1, 0, 3), ("b", 1, 4, 0)])
    tr = a.kd_trends(t)
    assert tr.select("player_id", "window_index", "kd", "kd_change", "cumulative_kd").rows() == [
        ("a", 0, 2.0, None, 2.0),
        ("a", 1, 0.0, -2.0, 0.5),  # cumulative 2 kills / 4 deaths
        ("a", 2, 1.0, 1.0, 0.6),  # 3 / 5
        ("b", 1, 4.0, None, 4.0),  # 4 kills, 0 deaths -> kills
    ]
    assert a.kd_trends(t, players=["b"]).height == 1


def test_leaderboard_competition_and_dense_ranks_with_ties_at_the_cut() -> None:
    t = table(
        [
            ("a", 0, 4, 2),
            ("b", 0, 2, 1),
            ("c", 0, 3, 3),
            ("d", 0, 1, 2),
            ("e", 0, 9, 1),
            ("a", 1, 1, 1),
        ]
    )
    board = a.leaderboard(t, top=2)
    # window 0: e 9.0 (#1), a 2.0 and b 2.0 tie (#2) -> both kept although top=2; more kills first
    assert board.select("window_start", "rank", "player_id").rows() == [
        (utc(0), 1, "e"),
        (utc(0), 2, "a"),
        (utc(0), 2, "b"),
        (utc(W), 1, "a"),
    ]
    full = a.leaderboard(t, top=None)
    w0 = full.filter(pl.col("window_start") == utc(0))
    assert w0.select("player_id", "rank").rows() == [
        ("e", 1),
        ("a", 2),
        ("b", 2),
        ("c", 4),
        ("d", 5),
    ]
    dense = a.leaderboard(t, top=None, ties="dense").filter(pl.col("window_start") == utc(0))
    assert dense["rank"].to_list() == [1, 2, 2, 3, 4]


def test_leaderboard_min_events_by_column_and_validation() -> None:
    t = table([("a", 0, 1, 0), ("b", 0, 6, 3), ("c", 0, 5, 1)])
    assert a.leaderboard(t, min_events=2)["player_id"].to_list() == ["c", "b"]  # a: 1 event
    by_kills = a.leaderboard(t, by="kill_count", top=1)
    assert by_kills.select("player_id", "rank").rows() == [("b", 1)]
    with pytest.raises(a.AnalyticsError):
        a.leaderboard(t, top=0)
    with pytest.raises(a.AnalyticsError):
        a.leaderboard(t, ties="average")  # type: ignore[arg-type]


def test_kd_distribution_bins_from_zero_with_empty_bins() -> None:
    t = table([("a", 0, 1, 4), ("b", 0, 1, 2), ("c", 0, 1, 1), ("d", 0, 3, 2), ("e", 1, 1, 2)])
    # kd: 0.25, 0.5, 1.0, 1.5, 0.5 with bin width 0.5 -> [0,.5): 1, [.5,1): 2, [1,1.5): 1, [1.5,2): 1
    dist = a.kd_distribution(t, bin_width=0.5)
    assert dist.select("bin_start", "bin_end", "count").rows() == [
        (0.0, 0.5, 1),
        (0.5, 1.0, 2),
        (1.0, 1.5, 1),
        (1.5, 2.0, 1),
    ]
    assert dist["share"].to_list() == pytest.approx([0.2, 0.4, 0.2, 0.2])
    one = a.kd_distribution(t, bin_width=1.0, window_start=W)
    assert one.select("bin_start", "count").rows() == [(0.0, 1)]
    with pytest.raises(a.AnalyticsError):
        a.kd_distribution(t, bin_width=0)


def test_kd_stats_per_window() -> None:
    t = table([("a", 0, 1, 1), ("b", 0, 2, 1), ("c", 0, 3, 1), ("d", 1, 0, 1)])
    stats = a.kd_stats(t)
    assert stats.select("players", "mean_kd", "median_kd", "max_kd").rows() == [
        (3, 2.0, 2.0, 3.0),
        (1, 0.0, 0.0, 0.0),
    ]
    assert stats["std_kd"][0] == pytest.approx(1.0)  # sample std of 1, 2, 3
    assert stats["p90_kd"][0] == pytest.approx(2.8)  # linear: 1 + 0.9 * (3 - 1)
