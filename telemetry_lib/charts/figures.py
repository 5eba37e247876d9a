"""Plotly figure builders for the analytics frames: one function per chart of the notebooks.

Each builder takes the frame an ``telemetry_lib.analytics`` function returns (named in its
docstring), never reads data itself, and returns a themed ``go.Figure``
(``charts.theme``) that renders in JupyterLab and exports to HTML/PNG/SVG
(``charts.export``). Interactive controls are plain plotly ``updatemenus``/``sliders``, so
they also work in the offline HTML (no Python kernel behind them).

* :func:`kd_trend_figure` — per-player K/D across windows, a dropdown selects the player;
* :func:`leaderboard_figure` — the top players per window, a slider selects the window;
* :func:`kd_histogram_figure` — the K/D distribution;
* :func:`streaks_figure` — longest and current kill streaks;
* :func:`anomaly_figure` — z-scores against each player's own baseline, flags highlighted;
* :func:`death_heatmap_figure` — deaths per map cell;
* :func:`team_kd_figure` — K/D per team across windows (or overall).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
import polars as pl

from telemetry_lib.analytics import (
    DEATHS,
    KD,
    KILLS,
    PLAYER,
    WINDOW_START,
    AnalyticsError,
    kd_distribution,
    kd_expr,
)
from telemetry_lib.analytics.schema import require_columns
from telemetry_lib.charts.theme import ANOMALY_COLOR, HEAT_SCALE, NORMAL_COLOR, apply_theme

__all__ = [
    "anomaly_figure",
    "death_heatmap_figure",
    "kd_histogram_figure",
    "kd_trend_figure",
    "leaderboard_figure",
    "streaks_figure",
    "team_kd_figure",
]

logger = logging.getLogger(__name__)

#: Players drawn by default in the trend chart: more lines than this are unreadable.
DEFAULT_TREND_PLAYERS = 10
#: Players per window in the leaderboard chart.
DEFAULT_LEADERBOARD_TOP = 10
#: Players in the streaks chart.
DEFAULT_STREAK_PLAYERS = 20
#: Teams in the team chart (1000 players make 200 teams: too many lines to read).
DEFAULT_TEAMS = 10
#: Infinite z-scores (flat baselines) are drawn this far beyond the largest finite |z| or k.
_INF_MARGIN = 1.15
#: The band of ordinary z-scores in the anomaly chart: the middle 90% of the players.
_BAND = (0.05, 0.95)
#: Window labels: month-day and time (runs span hours to days; the year adds nothing).
_WINDOW_LABEL = "%m-%d %H:%M"


def kd_trend_figure(
    trends: pl.DataFrame,
    *,
    players: Sequence[str] | None = None,
    max_players: int = DEFAULT_TREND_PLAYERS,
    title: str = "K/D per player across windows",
) -> go.Figure:
    """Lines of K/D by window, one per player, with a player dropdown.

    ``trends``: ``analytics.kd_trends`` (or any K/D table). ``players`` picks them; by
    default the ``max_players`` players with the most kills overall. The dropdown's first
    entry shows all of them, each further entry one player. A dashed line marks K/D 1.
    """
    require_columns(trends, (PLAYER, WINDOW_START, KILLS, DEATHS, KD), what="kd_trend_figure")
    chosen = list(players) if players is not None else _most_kills(trends, max_players)
    fig = go.Figure()
    for player in chosen:
        rows = trends.filter(pl.col(PLAYER) == player).sort(WINDOW_START)
        fig.add_trace(
            go.Scatter(
                x=rows.get_column(WINDOW_START).to_list(),
                y=rows.get_column(KD).to_list(),
                customdata=rows.select(KILLS, DEATHS).rows(),
                mode="lines+markers",
                name=str(player),
                hovertemplate=f"{player}<br>%{{x}}<br>K/D %{{y:.2f}}"
                "<br>kills %{customdata[0]}, deaths %{customdata[1]}<extra></extra>",
            )
        )
    fig.add_hline(y=1.0, line_dash="dash", line_color="#888888", opacity=0.7)
    buttons = [
        {
            "label": f"All ({len(chosen)})",
            "method": "update",
            "args": [{"visible": [True] * len(chosen)}, {"title.text": title}],
        }
    ]
    for i, player in enumerate(chosen):
        visible = [j == i for j in range(len(chosen))]
        buttons.append(
            {
                "label": str(player),
                "method": "update",
                "args": [{"visible": visible}, {"title.text": f"{title}: {player}"}],
            }
        )
    fig.update_layout(
        updatemenus=[_menu(buttons)],
        xaxis_title="window start (UTC)",
        yaxis_title="K/D (kills / deaths)",
    )
    return apply_theme(fig, title=title)


def leaderboard_figure(
    board: pl.DataFrame,
    *,
    top: int = DEFAULT_LEADERBOARD_TOP,
    title: str = "Leaderboard per window",
) -> go.Figure:
    """Horizontal bars of the best players' K/D, one window at a time, a slider per window.

    ``board``: ``analytics.leaderboard`` (``rank``, ``player_id``, ``kd``, counts, window).
    Bars read top-down by rank; each label carries the rank (ties share it). Up to ``top``
    rows per window are drawn.
    """
    require_columns(board, (WINDOW_START, "rank", PLAYER, KD, KILLS, DEATHS), what="leaderboard")
    windows = board.get_column(WINDOW_START).unique().sort().to_list()
    fig = go.Figure()
    for i, window in enumerate(windows):
        rows = board.filter(pl.col(WINDOW_START) == window).head(top)
        labels = [f"#{r} {p}" for r, p in rows.select("rank", PLAYER).rows()]
        fig.add_trace(
            go.Bar(
                x=rows.get_column(KD).to_list(),
                y=list(range(1, rows.height + 1)),
                orientation="h",
                text=labels,
                textposition="auto",
                customdata=rows.select(KILLS, DEATHS).rows(),
                name=_label(window),
                visible=i == 0,
                hovertemplate="%{text}<br>K/D %{x:.2f}"
                "<br>kills %{customdata[0]}, deaths %{customdata[1]}<extra></extra>",
            )
        )
    steps = [
        {
            "label": _label(window),
            "method": "update",
            "args": [
                {"visible": [j == i for j in range(len(windows))]},
                {"title.text": f"{title}: window {_label(window)}"},
            ],
        }
        for i, window in enumerate(windows)
    ]
    fig.update_layout(
        sliders=[
            {
                "active": 0,
                "currentvalue": {"prefix": "window start "},
                "pad": {"t": 60},
                "steps": steps,
            }
        ],
        xaxis_title="K/D",
        yaxis={"autorange": "reversed", "showticklabels": False, "title": "rank"},
        showlegend=False,
    )
    first = f"{title}: window {_label(windows[0])}" if windows else title
    apply_theme(fig, title=first)
    fig.update_layout(margin={"b": 150})  # room for the slider under the axis title
    return fig


def kd_histogram_figure(
    table: pl.DataFrame,
    *,
    bin_width: float = 0.25,
    title: str = "K/D distribution (player x window)",
) -> go.Figure:
    """Bars of ``analytics.kd_distribution(table, bin_width=...)`` with the median marked.

    ``table``: a K/D table (``kd`` per player and window)."""
    dist = kd_distribution(table, bin_width=bin_width)
    fig = go.Figure(
        go.Bar(
            x=(dist.get_column("bin_start") + bin_width / 2).to_list(),
            y=dist.get_column("count").to_list(),
            width=bin_width * 0.95,
            customdata=dist.select("bin_start", "bin_end", "share").rows(),
            name="rows",
            hovertemplate="K/D %{customdata[0]:.2f}-%{customdata[1]:.2f}: %{y} rows"
            " (%{customdata[2]:.1%})<extra></extra>",
        )
    )
    median = table.get_column(KD).median()
    if median is not None:
        fig.add_vline(
            x=float(median),  # type: ignore[arg-type]
            line_dash="dash",
            line_color="#444444",
            annotation_text=f"median {float(median):.2f}",  # type: ignore[arg-type]
        )
    fig.update_layout(xaxis_title="K/D", yaxis_title="(player, window) rows", bargap=0)
    return apply_theme(fig, title=title)


def streaks_figure(
    summary: pl.DataFrame,
    *,
    top: int = DEFAULT_STREAK_PLAYERS,
    title: str = "Longest kill streaks",
) -> go.Figure:
    """Grouped bars of the longest and the current streak of the ``top`` players.

    ``summary``: ``analytics.streak_summary`` (sorted by longest streak)."""
    require_columns(summary, (PLAYER, "longest_streak", "current_streak"), what="streaks")
    rows = summary.sort(["longest_streak", PLAYER], descending=[True, False]).head(top)
    players = rows.get_column(PLAYER).to_list()
    fig = go.Figure(
        [
            go.Bar(x=players, y=rows.get_column("longest_streak").to_list(), name="longest"),
            go.Bar(x=players, y=rows.get_column("current_streak").to_list(), name="current"),
        ]
    )
    fig.update_layout(barmode="group", xaxis_title="player", yaxis_title="kills without dying")
    return apply_theme(fig, title=title)


def anomaly_figure(
    flags: pl.DataFrame,
    *,
    k: float = 3.0,
    title: str = "K/D against each player's own baseline (z-score)",
) -> go.Figure:
    """Flagged (player, window) z-scores as points over the spread of everyone else's.

    ``flags``: ``analytics.anomaly_flags`` (pass the same ``k``). Per window, a grey band
    spans the 5th-95th percentile of the finite z-scores and a line marks their median — a
    summary instead of one marker per row, so 10k rows still render in a fraction of a second.
    Flagged rows are vermillion points with player, K/D and baseline in the hover; an infinite
    z (flat baseline) is drawn just beyond the largest finite |z| (or ``k``) and says so.
    Dotted lines mark +-``k``. Rows without a score are left out."""
    require_columns(flags, (PLAYER, WINDOW_START, KD, "z", "flagged"), what="anomaly_figure")
    scored = flags.filter(pl.col("z").is_not_null())
    finite = scored.filter(pl.col("z").is_finite())
    largest = finite.get_column("z").abs().max()
    cap = max(float(largest or 0.0), k) * _INF_MARGIN  # type: ignore[arg-type]
    spread = (
        finite.group_by(WINDOW_START)
        .agg(
            pl.col("z").quantile(_BAND[0], interpolation="linear").alias("low"),
            pl.col("z").median().alias("median"),
            pl.col("z").quantile(_BAND[1], interpolation="linear").alias("high"),
        )
        .sort(WINDOW_START)
    )
    x = spread.get_column(WINDOW_START).to_list()
    band = f"{_BAND[0]:.0%}-{_BAND[1]:.0%} of players"
    fig = go.Figure(
        [
            go.Scatter(
                x=x,
                y=spread.get_column("low").to_list(),
                mode="lines",
                line={"width": 0},
                showlegend=False,
                hoverinfo="skip",
                name="low",
            ),
            go.Scatter(
                x=x,
                y=spread.get_column("high").to_list(),
                mode="lines",
                line={"width": 0},
                fill="tonexty",
                fillcolor="rgba(158,158,158,0.35)",
                name=band,
                hoverinfo="skip",
            ),
            go.Scatter(
                x=x,
                y=spread.get_column("median").to_list(),
                mode="lines",
                line={"color": NORMAL_COLOR, "width": 2},
                name="median z",
                hovertemplate="%{x}<br>median z %{y:.2f}<extra></extra>",
            ),
        ]
    )
    rows = scored.filter(pl.col("flagged"))
    z = rows.get_column("z").to_list()
    fig.add_trace(
        go.Scatter(
            x=rows.get_column(WINDOW_START).to_list(),
            y=[max(-cap, min(cap, v)) for v in z],
            mode="markers",
            name=f"flagged ({rows.height})",
            marker={"color": ANOMALY_COLOR, "size": 9, "opacity": 0.85},
            text=[
                f"{p}<br>K/D {kd:.2f}, baseline {m if m is None else round(m, 2)}"
                f"<br>z {'inf (flat baseline)' if math.isinf(v) else f'{v:.2f}'}"
                for p, kd, m, v in zip(
                    rows.get_column(PLAYER).to_list(),
                    rows.get_column(KD).to_list(),
                    _column(rows, "baseline_mean"),
                    z,
                    strict=True,
                )
            ],
            hovertemplate="%{text}<extra></extra>",
        )
    )
    for y in (k, -k):
        fig.add_hline(y=y, line_dash="dot", line_color=ANOMALY_COLOR, opacity=0.6)
    fig.update_layout(xaxis_title="window start (UTC)", yaxis_title="z (std from own baseline)")
    return apply_theme(fig, title=title)


def death_heatmap_figure(
    bins: pl.DataFrame,
    *,
    title: str = "Deaths on the map",
) -> go.Figure:
    """A heatmap of the counts per cell; equal scale on both axes (the map is square).

    ``bins``: ``analytics.death_heatmap`` (every cell, ``x_bin``/``y_bin``, bounds, count)."""
    require_columns(
        bins,
        ("x_bin", "y_bin", "x_start", "x_end", "y_start", "y_end", "count"),
        what="death_heatmap_figure",
    )
    nx = bins.height and int(bins.get_column("x_bin").cast(pl.Int64).to_numpy().max()) + 1
    ny = bins.height and int(bins.get_column("y_bin").cast(pl.Int64).to_numpy().max()) + 1
    grid = [[0] * nx for _ in range(ny)]
    for xb, yb, count in bins.select("x_bin", "y_bin", "count").iter_rows():
        grid[yb][xb] = count
    xs = bins.filter(pl.col("y_bin") == 0).sort("x_bin")
    ys = bins.filter(pl.col("x_bin") == 0).sort("y_bin")
    fig = go.Figure(
        go.Heatmap(
            z=grid,
            x=((xs.get_column("x_start") + xs.get_column("x_end")) / 2).to_list(),
            y=((ys.get_column("y_start") + ys.get_column("y_end")) / 2).to_list(),
            colorscale=HEAT_SCALE,
            colorbar={"title": "deaths"},
            hovertemplate="x %{x}, y %{y}: %{z} deaths<extra></extra>",
        )
    )
    fig.update_layout(xaxis_title="x", yaxis_title="y")
    # one map unit is as long on both axes; the plot area shrinks instead of padding the range
    x_range = [float(bins.get_column("x_start").min()), float(bins.get_column("x_end").max())]  # type: ignore[arg-type]
    y_range = [float(bins.get_column("y_start").min()), float(bins.get_column("y_end").max())]  # type: ignore[arg-type]
    fig.update_xaxes(range=x_range, constrain="domain")
    fig.update_yaxes(range=y_range, scaleanchor="x", scaleratio=1, constrain="domain")
    return apply_theme(fig, title=title)


def team_kd_figure(
    teams: pl.DataFrame,
    *,
    max_teams: int | None = DEFAULT_TEAMS,
    title: str = "K/D per team",
) -> go.Figure:
    """Per team: lines across windows when ``teams`` is per window, else bars by K/D.

    ``teams``: ``analytics.team_kd`` (``team``; ``region`` labels the team when present).
    ``max_teams`` keeps the teams with the best overall K/D (summed kills over summed deaths,
    ties by name); None draws every team."""
    require_columns(teams, ("team", KD, KILLS, DEATHS), what="team_kd_figure")
    if max_teams is not None:
        if max_teams < 1:
            raise AnalyticsError(f"max_teams must be at least 1, got {max_teams}")
        best = (
            teams.group_by("team")
            .agg(pl.col(KILLS).sum(), pl.col(DEATHS).sum())
            .with_columns(kd_expr())
            .sort([KD, "team"], descending=[True, False], nulls_last=True)
            .head(max_teams)
        )
        teams = teams.filter(pl.col("team").is_in(best.get_column("team").implode()))
    has_region = "region" in teams.columns
    fig = go.Figure()
    if WINDOW_START in teams.columns:
        for (team,), rows in teams.sort(WINDOW_START).group_by(["team"], maintain_order=True):
            region = rows.get_column("region")[0] if has_region else None
            fig.add_trace(
                go.Scatter(
                    x=rows.get_column(WINDOW_START).to_list(),
                    y=rows.get_column(KD).to_list(),
                    mode="lines+markers",
                    name=f"{team} ({region})" if region else str(team),
                    customdata=rows.select(KILLS, DEATHS).rows(),
                    hovertemplate=f"{team}<br>%{{x}}<br>K/D %{{y:.2f}}"
                    "<br>kills %{customdata[0]}, deaths %{customdata[1]}<extra></extra>",
                )
            )
        fig.update_layout(xaxis_title="window start (UTC)", yaxis_title="team K/D")
    else:
        rows = teams.sort(KD, descending=True, nulls_last=True)
        fig.add_trace(
            go.Bar(
                x=rows.get_column("team").to_list(),
                y=rows.get_column(KD).to_list(),
                text=rows.get_column("region").to_list() if has_region else None,
                customdata=rows.select(KILLS, DEATHS).rows(),
                hovertemplate="%{x} %{text}<br>K/D %{y:.2f}"
                "<br>kills %{customdata[0]}, deaths %{customdata[1]}<extra></extra>",
                name="team K/D",
            )
        )
        fig.update_layout(xaxis_title="team", yaxis_title="K/D")
    fig.add_hline(y=1.0, line_dash="dash", line_color="#888888", opacity=0.7)
    return apply_theme(fig, title=title)


def _most_kills(table: pl.DataFrame, n: int) -> list[str]:
    if n < 1:
        raise AnalyticsError(f"max_players must be at least 1, got {n}")
    totals = table.group_by(PLAYER).agg(pl.col(KILLS).sum())
    return totals.sort([KILLS, PLAYER], descending=[True, False]).head(n)[PLAYER].to_list()


def _menu(buttons: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "buttons": buttons,
        "direction": "down",
        "showactive": True,
        "x": 1.0,
        "xanchor": "right",
        "y": 1.15,
        "yanchor": "top",
    }


def _label(window: Any) -> str:
    return window.strftime(_WINDOW_LABEL) if hasattr(window, "strftime") else str(window)


def _column(rows: pl.DataFrame, name: str) -> list[Any]:
    return rows.get_column(name).to_list() if name in rows.columns else [None] * rows.height
