"""Kill streaks: consecutive kills of a player without a death in between.

Owns :func:`kill_streaks` (one row per streak) and :func:`streak_summary` (one row per player).
They read events (``player_id``, ``event_type``, ``timestamp``; ``event_id`` when present), not
the K/D table: a streak crosses window bounds.

A player's events are ordered by ``timestamp``, ties by ``event_id`` (the generator numbers a
kill ``2k`` and its victim's death ``2k + 1``) or else by the frame's order. Each death ends
the current streak; a streak is a maximal run of one or more kills. A streak that no death
ended by the end of the data is *open* (``ended_by_death`` false): it is the player's current
streak.
"""

from __future__ import annotations

import logging

import polars as pl

from telemetry_lib.analytics.schema import PLAYER, TIME_DTYPE, AnalyticsError, require_columns

__all__ = ["kill_streaks", "streak_summary"]

logger = logging.getLogger(__name__)


def kill_streaks(events: pl.DataFrame, *, min_kills: int = 1) -> pl.DataFrame:
    """Every streak of at least ``min_kills`` kills (module docstring for the order).

    Columns: ``player_id``, ``streak`` (1, 2, ... per player in time order, counting every
    streak, also those shorter than ``min_kills``), ``kills``, ``started``/``ended``
    (UTC datetimes of its first and last kill), ``ended_by_death``. Sorted by player, streak.
    """
    if min_kills < 1:
        raise AnalyticsError(f"min_kills must be at least 1, got {min_kills}")
    runs = _runs(events)
    return runs.filter(pl.col("kills") >= min_kills)


def streak_summary(events: pl.DataFrame, *, min_kills: int = 1) -> pl.DataFrame:
    """Per player with at least one kill or death: ``longest_streak``, ``streaks`` (how many
    reached ``min_kills``), ``current_streak`` (kills since the last death; 0 right after a
    death), ``kills``, ``deaths``. Sorted by longest streak (highest first), then player."""
    if min_kills < 1:
        raise AnalyticsError(f"min_kills must be at least 1, got {min_kills}")
    ordered = _ordered(events)
    totals = ordered.group_by(PLAYER).agg(
        (pl.col("event_type") == "kill").sum().cast(pl.Int64).alias("kills"),
        (pl.col("event_type") == "death").sum().cast(pl.Int64).alias("deaths"),
        # kills after the player's last death (all of them if the player never died)
        (pl.col("event_type") == "kill")
        .cast(pl.Int64)
        .reverse()
        .cum_sum()
        .filter(pl.col("event_type").reverse() == "death")
        .first()
        .alias("_before_last_death"),
    )
    runs = _runs(events)
    per_player = runs.group_by(PLAYER).agg(
        pl.col("kills").max().alias("longest_streak"),
        (pl.col("kills") >= min_kills).sum().cast(pl.Int64).alias("streaks"),
    )
    return (
        totals.join(per_player, on=PLAYER, how="left")
        .select(
            PLAYER,
            pl.col("longest_streak").fill_null(0).cast(pl.Int64),
            pl.col("streaks").fill_null(0).cast(pl.Int64),
            pl.col("_before_last_death")
            .fill_null(pl.col("kills"))
            .cast(pl.Int64)
            .alias("current_streak"),
            "kills",
            "deaths",
        )
        .sort(["longest_streak", PLAYER], descending=[True, False])
    )


def _ordered(events: pl.DataFrame) -> pl.DataFrame:
    require_columns(events, (PLAYER, "event_type", "timestamp"), what="kill streaks")
    keys = [PLAYER, "timestamp"] + (["event_id"] if "event_id" in events.columns else [])
    return (
        events.select(keys + ["event_type"])
        .filter(pl.col("event_type").is_in(["kill", "death"]))
        .sort(keys, maintain_order=True)
    )


def _runs(events: pl.DataFrame) -> pl.DataFrame:
    """One row per maximal run of kills (kills >= 1), numbered per player."""
    ordered = _ordered(events).with_columns(
        # run id: deaths so far (each death starts the next run)
        (pl.col("event_type") == "death").cast(pl.Int64).cum_sum().over(PLAYER).alias("_run"),
    )
    deaths = ordered.group_by(PLAYER).agg(pl.col("_run").max().alias("_deaths"))
    runs = (
        ordered.filter(pl.col("event_type") == "kill")
        .group_by(PLAYER, "_run")
        .agg(
            pl.len().cast(pl.Int64).alias("kills"),
            pl.col("timestamp").min().alias("_first"),
            pl.col("timestamp").max().alias("_last"),
        )
        .join(deaths, on=PLAYER, how="left")
        .sort(PLAYER, "_run")
    )
    return runs.select(
        pl.col(PLAYER).cast(pl.String),
        (pl.int_range(pl.len()).over(PLAYER) + 1).cast(pl.Int64).alias("streak"),
        pl.col("kills").cast(pl.Int64),
        pl.col("_first").cast(pl.Int64).cast(TIME_DTYPE).alias("started"),
        pl.col("_last").cast(pl.Int64).cast(TIME_DTYPE).alias("ended"),
        # a later death exists: the run's id is below the player's death count
        (pl.col("_run") < pl.col("_deaths")).alias("ended_by_death"),
    )
