"""K/D across windows: per-player trends, leaderboards per window, the K/D distribution.

Owns :func:`kd_trends`, :func:`leaderboard`, :func:`kd_distribution` and :func:`kd_stats`. All
take a K/D table (``analytics.schema``: one row per player and window with the counts and
``kd``) and return new frames; none reads or writes anything.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Literal

import polars as pl

from telemetry_lib.analytics.schema import (
    DEATHS,
    KD,
    KILLS,
    PLAYER,
    WINDOW_END,
    WINDOW_START,
    AnalyticsError,
    ZeroDeaths,
    kd_expr,
    require_columns,
)

__all__ = ["Ties", "kd_distribution", "kd_stats", "kd_trends", "leaderboard"]

logger = logging.getLogger(__name__)

Ties = Literal["min", "dense"]
#: Default K/D histogram bin width: quarter steps read naturally (1.0, 1.25, 1.5 ...).
DEFAULT_BIN_WIDTH = 0.25
#: Upper bound on histogram bins, so a single outlier cannot make millions of empty bins.
MAX_BINS = 10_000
_TABLE = (PLAYER, WINDOW_START, WINDOW_END, KILLS, DEATHS, KD)


def kd_trends(
    table: pl.DataFrame,
    *,
    players: Sequence[str] | None = None,
    zero_deaths: ZeroDeaths = "kills",
) -> pl.DataFrame:
    """Each player's K/D window by window, sorted by player then window.

    Columns: the table's ``player_id``, ``window_start``, ``window_end``, ``kill_count``,
    ``death_count``, ``kd``, then ``window_index`` (0 for the table's earliest window, +1 per
    distinct window start present in the table), ``kd_change`` (``kd`` minus the same
    player's previous window present; null on their first) and ``cumulative_kd`` (running
    kills over running deaths, with the 0-deaths rule ``zero_deaths``). ``players`` keeps only
    those players.
    """
    require_columns(table, _TABLE, what="kd_trends")
    rows = table.select(_TABLE)
    if players is not None:
        rows = rows.filter(pl.col(PLAYER).is_in(list(players)))
    index = pl.col(WINDOW_START).rank("dense").cast(pl.Int64) - 1
    cumulative = kd_expr("_cum_k", "_cum_d", zero_deaths=zero_deaths).alias("cumulative_kd")
    return (
        rows.with_columns(index.alias("window_index"))
        .sort(PLAYER, WINDOW_START)
        .with_columns(
            pl.col(KD).diff().over(PLAYER).alias("kd_change"),
            pl.col(KILLS).cum_sum().over(PLAYER).alias("_cum_k"),
            pl.col(DEATHS).cum_sum().over(PLAYER).alias("_cum_d"),
        )
        .with_columns(cumulative)
        .drop("_cum_k", "_cum_d")
    )


def leaderboard(
    table: pl.DataFrame,
    *,
    by: str = KD,
    top: int | None = 10,
    ties: Ties = "min",
    min_events: int = 0,
) -> pl.DataFrame:
    """The ranking of players in each window by ``by`` (highest first).

    Tied players share a rank: ``ties="min"`` gives competition ranking (1, 2, 2, 4),
    ``"dense"`` gives 1, 2, 2, 3. ``top`` keeps ranks up to ``top`` — so a tie at the cut
    keeps every tied player and a window can list more than ``top`` rows. Players with fewer
    than ``min_events`` kills + deaths in a window are left out of it (a 1-0 is not a
    leader). Rows with a null ``by`` are left out. Columns: ``window_start``, ``window_end``,
    ``rank``, ``player_id``, ``kill_count``, ``death_count``, ``kd`` (and ``by``); sorted by
    window, rank, then more kills first, then player id.
    """
    require_columns(table, (*_TABLE, by), what="leaderboard")
    if ties not in ("min", "dense"):
        raise AnalyticsError(f"unknown ties rule {ties!r}", hint="use 'min' or 'dense'")
    if top is not None and top < 1:
        raise AnalyticsError(f"top must be at least 1, got {top}")
    columns = [WINDOW_START, WINDOW_END, PLAYER, KILLS, DEATHS, KD]
    if by not in columns:
        columns.append(by)
    rows = table.select(columns).filter(
        pl.col(by).is_not_null() & (pl.col(KILLS) + pl.col(DEATHS) >= min_events)
    )
    ranked = rows.with_columns(
        pl.col(by).rank(ties, descending=True).over(WINDOW_START).cast(pl.Int64).alias("rank")
    )
    if top is not None:
        ranked = ranked.filter(pl.col("rank") <= top)
    return ranked.sort(
        [WINDOW_START, "rank", KILLS, PLAYER], descending=[False, False, True, False]
    ).select(
        [
            WINDOW_START,
            WINDOW_END,
            "rank",
            *[c for c in columns if c not in (WINDOW_START, WINDOW_END)],
        ]
    )


def kd_distribution(
    table: pl.DataFrame,
    *,
    bin_width: float = DEFAULT_BIN_WIDTH,
    window_start: object | None = None,
) -> pl.DataFrame:
    """How many (player, window) rows fall in each K/D bin ``[start, start + bin_width)``.

    Bins start at 0 and run to the bin holding the largest K/D; empty bins are listed with 0.
    ``window_start`` (a datetime, or an epoch-ms int) keeps one window. Null K/Ds are not
    counted. Columns: ``bin_start``, ``bin_end``, ``count``, ``share`` (of the counted rows).
    """
    require_columns(table, (WINDOW_START, KD), what="kd_distribution")
    if not bin_width > 0:
        raise AnalyticsError(f"bin_width must be positive, got {bin_width}")
    rows = table
    if window_start is not None:
        rows = rows.filter(pl.col(WINDOW_START) == _as_time(window_start, table))
    kd = rows.get_column(KD).drop_nulls()
    if kd.is_empty():
        return pl.DataFrame(
            schema={
                "bin_start": pl.Float64,
                "bin_end": pl.Float64,
                "count": pl.Int64,
                "share": pl.Float64,
            }
        )
    low, high = float(kd.cast(pl.Float64).min()), float(kd.cast(pl.Float64).max())  # type: ignore[arg-type]
    if low < 0 or not math.isfinite(high):
        raise AnalyticsError(f"K/D values must be finite and not negative, found {low}..{high}")
    bins = int(math.floor(high / bin_width)) + 1
    if bins > MAX_BINS:
        raise AnalyticsError(
            f"bin_width {bin_width} makes {bins} bins for K/D up to {high}",
            hint=f"use a bin_width of at least {high / MAX_BINS:.3g}",
        )
    index = (kd / bin_width).floor().cast(pl.Int64).alias("bin")
    counts = index.value_counts(name="count")
    grid = pl.DataFrame({"bin": pl.int_range(0, bins, eager=True).cast(pl.Int64)})
    joined = grid.join(counts, on="bin", how="left").with_columns(
        pl.col("count").fill_null(0).cast(pl.Int64)
    )
    return joined.select(
        (pl.col("bin") * bin_width).alias("bin_start"),
        ((pl.col("bin") + 1) * bin_width).alias("bin_end"),
        "count",
        (pl.col("count") / kd.len()).alias("share"),
    ).sort("bin_start")


def kd_stats(table: pl.DataFrame) -> pl.DataFrame:
    """Per window: ``players``, ``mean_kd``, ``median_kd``, ``std_kd`` (sample), ``p90_kd``
    (linear interpolation) and ``max_kd``; null K/Ds are ignored. Sorted by window."""
    require_columns(table, (WINDOW_START, WINDOW_END, PLAYER, KD), what="kd_stats")
    return (
        table.group_by(WINDOW_START, WINDOW_END)
        .agg(
            pl.col(PLAYER).n_unique().cast(pl.Int64).alias("players"),
            pl.col(KD).mean().alias("mean_kd"),
            pl.col(KD).median().alias("median_kd"),
            pl.col(KD).std().alias("std_kd"),
            pl.col(KD).quantile(0.9, interpolation="linear").alias("p90_kd"),
            pl.col(KD).max().alias("max_kd"),
        )
        .sort(WINDOW_START)
    )


def _as_time(value: object, table: pl.DataFrame) -> pl.Expr:
    dtype = table.schema[WINDOW_START]
    if isinstance(value, int) and isinstance(dtype, pl.Datetime):
        return pl.lit(value).cast(pl.Int64).cast(dtype)
    return pl.lit(value).cast(dtype)
