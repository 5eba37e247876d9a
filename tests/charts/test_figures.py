"""Figure builders: the controls and data each chart carries (no rendering)."""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest

from telemetry_lib import analytics, charts

W = 300_000


def table(rows: list[tuple[str, int, int, int]]) -> pl.DataFrame:
    frame = pl.DataFrame(
        {
            "player_id": [r[0] for r in rows],
            "window_start": pl.Series([r[1] * W for r in rows]).cast(pl.Datetime("ms", "UTC")),
            "window_end": pl.Series([(r[1] + 1) * W for r in rows]).cast(pl.Datetime("ms", "UTC")),
            "kill_count": [r[2] for r in rows],
            "death_count": [r[3] for r in rows],
        }
    )
    return analytics.with_kd(frame)


KD = table(
    [
        ("a", 0, 4, 2),
        ("a", 1, 1, 1),
        ("a", 2, 9, 1),
        ("b", 0, 1, 1),
        ("b", 1, 6, 2),
        ("c", 0, 20, 1),
        ("c", 2, 1, 4),
    ]
)


def test_trend_figure_has_a_trace_per_player_and_a_dropdown() -> None:
    fig = charts.kd_trend_figure(analytics.kd_trends(KD), max_players=2)
    # the two players with most kills overall: c (21), a (14)
    assert [t.name for t in fig.data] == ["c", "a"]
    assert list(fig.data[1].y) == [2.0, 1.0, 9.0]
    buttons = fig.layout.updatemenus[0].buttons
    assert [b.label for b in buttons] == ["All (2)", "c", "a"]
    assert buttons[0].args[0]["visible"] == [True, True]
    assert buttons[2].args[0]["visible"] == [False, True]
    assert fig.layout.template.layout.colorway == tuple(charts.theme.COLORWAY)
    chosen = charts.kd_trend_figure(KD, players=["b"])
    assert [t.name for t in chosen.data] == ["b"]


def test_leaderboard_figure_has_one_trace_per_window_and_a_slider() -> None:
    board = analytics.leaderboard(KD, top=2)
    fig = charts.leaderboard_figure(board)
    assert len(fig.data) == 3  # windows 0, 1, 2
    assert [t.visible for t in fig.data] == [True, False, False]
    assert list(fig.data[0].text) == ["#1 c", "#2 a"]
    assert list(fig.data[0].x) == [20.0, 2.0]
    steps = fig.layout.sliders[0].steps
    assert [s.label for s in steps] == ["01-01 00:00", "01-01 00:05", "01-01 00:10"]
    assert steps[1].args[0]["visible"] == [False, True, False]


def test_histogram_anomaly_heatmap_streak_and_team_figures_carry_the_data() -> None:
    hist = charts.kd_histogram_figure(KD, bin_width=1.0)
    dist = analytics.kd_distribution(KD, bin_width=1.0)
    assert list(hist.data[0].y) == dist["count"].to_list()
    assert list(hist.data[0].x)[:2] == [0.5, 1.5]  # bin centres

    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    flags = pl.DataFrame(
        {
            "player_id": ["a", "b", "c", "d", "e"],
            "window_start": [t0] * 5,
            "kd": [1.0, 2.0, 3.0, 9.0, 0.5],
            "baseline_mean": [1.0, 2.0, 3.0, 1.0, 0.5],
            "z": [0.0, 1.0, 2.0, math.inf, None],
            "flagged": [False, False, False, True, False],
        }
    )
    fig = charts.anomaly_figure(flags, k=3.0)
    low, high, median, flagged = fig.data
    # the band and median over the finite z-scores 0, 1, 2 (linear quantiles)
    assert list(low.y) == [pytest.approx(0.1)] and list(high.y) == [pytest.approx(1.9)]
    assert list(median.y) == [1.0]
    assert flagged.name == "flagged (1)"
    assert list(flagged.y) == [pytest.approx(3.0 * 1.15)]  # inf drawn just past max(|z|, k)
    assert "inf (flat baseline)" in flagged.text[0] and "d" in flagged.text[0]

    ev = pl.DataFrame(
        {
            "player_id": ["a"] * 3,
            "event_type": ["death"] * 3,
            "timestamp": [1, 2, 3],
            "x": [10.0, 990.0, 995.0],
            "y": [10.0, 10.0, 600.0],
        }
    )
    heat = charts.death_heatmap_figure(analytics.death_heatmap(ev, bins=2))
    assert [list(r) for r in heat.data[0].z] == [[1, 1], [0, 1]]  # rows are y bins
    assert list(heat.data[0].x) == [250.0, 750.0]

    streaks = charts.streaks_figure(
        pl.DataFrame({"player_id": ["a", "b"], "longest_streak": [2, 5], "current_streak": [1, 0]})
    )
    assert list(streaks.data[0].x) == ["b", "a"] and list(streaks.data[0].y) == [5, 2]

    players = pl.DataFrame(
        {"player_id": ["a", "b", "c"], "team": ["T1", "T1", "T2"], "region": ["EU", "EU", "NA"]}
    )
    teams = charts.team_kd_figure(analytics.team_kd(KD, players))
    assert sorted(t.name for t in teams.data) == ["T1 (EU)", "T2 (NA)"]
    overall = charts.team_kd_figure(analytics.team_kd(KD, players, per_window=False))
    assert list(overall.data[0].x) == ["T2", "T1"]  # 21/5 = 4.2 before 20/7
    best = charts.team_kd_figure(analytics.team_kd(KD, players), max_teams=1)
    assert [t.name for t in best.data] == ["T2 (NA)"]


def test_builders_accept_empty_frames() -> None:
    empty = analytics.empty_kd_table()
    no_events = pl.DataFrame(
        schema={
            "player_id": pl.String,
            "event_type": pl.String,
            "timestamp": pl.Int64,
            "x": pl.Float64,
            "y": pl.Float64,
        }
    )
    players = pl.DataFrame(schema={"player_id": pl.String, "team": pl.String, "region": pl.String})
    figs = [
        charts.kd_trend_figure(analytics.kd_trends(empty)),
        charts.leaderboard_figure(analytics.leaderboard(empty)),
        charts.kd_histogram_figure(empty),
        charts.streaks_figure(analytics.streak_summary(no_events)),
        charts.anomaly_figure(analytics.anomaly_flags(empty)),
        charts.death_heatmap_figure(analytics.death_heatmap(no_events, bins=2)),
        charts.team_kd_figure(analytics.team_kd(empty, players)),
    ]
    assert all(f.layout.template.layout.colorway for f in figs)
    heat = figs[5].data[0]
    assert [list(r) for r in heat.z] == [[0, 0], [0, 0]]
