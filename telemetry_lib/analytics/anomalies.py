"""Anomaly flags: a player's K/D in a window far from that player's own baseline.

Owns :func:`anomaly_flags`. For each (player, window) the baseline is the player's *other*
windows (leave-one-out, so a spike does not inflate its own baseline): their mean and sample
standard deviation (ddof 1) of ``kd``. The score is ``z = (kd - mean) / std`` and the row is
flagged when ``|z| >= k``. A baseline needs at least ``min_windows`` other windows with a K/D
(at least 2, for a standard deviation); rows without one get null ``z`` and are not flagged.

A flat baseline (std 0: every other window had the same K/D) flags any different K/D —
``z`` is +inf or -inf — and scores an equal one 0. A std below :data:`FLAT_STD` counts as 0
(float noise of equal values).
"""

from __future__ import annotations

import logging

import polars as pl

from telemetry_lib.analytics.schema import (
    KD,
    PLAYER,
    WINDOW_END,
    WINDOW_START,
    AnalyticsError,
    require_columns,
)

__all__ = ["DEFAULT_K", "DEFAULT_MIN_WINDOWS", "FLAT_STD", "anomaly_flags"]

logger = logging.getLogger(__name__)

#: Three standard deviations: the usual "clearly unusual" line (about 0.3% of a normal sample).
DEFAULT_K = 3.0
#: Fewer than three other windows make a baseline too noisy to call anything unusual.
DEFAULT_MIN_WINDOWS = 3
#: K/Ds are ratios of small counts; a spread below this is rounding, not variation.
FLAT_STD = 1e-12


def anomaly_flags(
    table: pl.DataFrame,
    *,
    k: float = DEFAULT_K,
    min_windows: int = DEFAULT_MIN_WINDOWS,
) -> pl.DataFrame:
    """Every (player, window) of ``table`` with its baseline and flag (module docstring).

    Columns: ``player_id``, ``window_start``, ``window_end``, ``kd``, ``baseline_windows``,
    ``baseline_mean``, ``baseline_std``, ``z``, ``flagged``. Rows with a null ``kd`` get no
    score. Sorted by player then window; filter ``flagged`` for the anomalies.
    """
    require_columns(table, (PLAYER, WINDOW_START, WINDOW_END, KD), what="anomaly_flags")
    if not k > 0:
        raise AnalyticsError(f"k (standard deviations) must be positive, got {k}")
    if min_windows < 2:
        raise AnalyticsError(
            f"min_windows must be at least 2 (a standard deviation needs two values), "
            f"got {min_windows}"
        )
    rows = table.select(PLAYER, WINDOW_START, WINDOW_END, pl.col(KD).cast(pl.Float64))
    # Leave-one-out baselines by a self-join on the player: small (windows per player are few).
    others = rows.filter(pl.col(KD).is_not_null()).select(
        PLAYER, pl.col(WINDOW_START).alias("_other"), pl.col(KD).alias("_other_kd")
    )
    baselines = (
        rows.select(PLAYER, WINDOW_START)
        .join(others, on=PLAYER, how="inner")
        .filter(pl.col("_other") != pl.col(WINDOW_START))
        .group_by(PLAYER, WINDOW_START)
        .agg(
            pl.len().cast(pl.Int64).alias("baseline_windows"),
            pl.col("_other_kd").mean().alias("baseline_mean"),
            pl.col("_other_kd").std(ddof=1).alias("baseline_std"),
        )
    )
    scored = rows.join(baselines, on=[PLAYER, WINDOW_START], how="left").with_columns(
        pl.col("baseline_windows").fill_null(0)
    )
    usable = (pl.col("baseline_windows") >= min_windows) & pl.col(KD).is_not_null()
    diff = pl.col(KD) - pl.col("baseline_mean")
    flat = pl.col("baseline_std") < FLAT_STD
    z = (
        pl.when(~usable)
        .then(None)
        .when(flat & (diff.abs() < FLAT_STD))
        .then(0.0)
        .when(flat)
        .then(pl.when(diff > 0).then(float("inf")).otherwise(float("-inf")))
        .otherwise(diff / pl.col("baseline_std"))
    )
    return (
        scored.with_columns(z.alias("z"))
        .with_columns((pl.col("z").abs() >= k).fill_null(False).alias("flagged"))
        .select(
            PLAYER,
            WINDOW_START,
            WINDOW_END,
            KD,
            "baseline_windows",
            "baseline_mean",
            "baseline_std",
            "z",
            "flagged",
        )
        .sort(PLAYER, WINDOW_START)
    )
