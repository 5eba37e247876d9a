"""Per-team K/D: the K/D table joined to the player profiles (team, region).

Owns :func:`team_kd`, the polars counterpart of the enrichment step (the players table joined
to the stream, then a per-team windowed K/D) and the truth for it when given
``kd_truth(events)``.

A team's K/D is its summed kills over its summed deaths (not the mean of its players' K/Ds:
a player with one 1-0 window must not weigh as much as one with 20-10), with the usual 0-deaths
rule. Players missing from the profiles (or with a null team) are grouped under :data:`UNKNOWN`
team and region by default, so no kill disappears from the totals; ``unknown="drop"`` leaves
them out instead — what ksqlDB's ``GROUP BY team`` over a LEFT JOIN does (a NULL grouping key
is dropped).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import polars as pl

from telemetry_lib.analytics.schema import (
    DEATHS,
    KILLS,
    PLAYER,
    WINDOW_END,
    WINDOW_START,
    AnalyticsError,
    ZeroDeaths,
    kd_expr,
    require_columns,
)

__all__ = ["UNKNOWN", "team_kd"]

logger = logging.getLogger(__name__)

#: Team and region of a player without a profile.
UNKNOWN = "(unknown)"


def team_kd(
    table: pl.DataFrame,
    players: pl.DataFrame,
    *,
    by: Sequence[str] = ("team", "region"),
    per_window: bool = True,
    zero_deaths: ZeroDeaths = "kills",
    unknown: Literal["group", "drop"] = "group",
) -> pl.DataFrame:
    """K/D per team (module docstring), per window unless ``per_window=False``.

    ``table`` is a K/D table (or any frame with ``player_id``, ``kill_count``,
    ``death_count``, and the window columns when ``per_window``); ``players`` has
    ``player_id`` and the ``by`` columns (the generator's ``players()``: team, region).
    Columns: ``by``..., [``window_start``, ``window_end``], ``players`` (distinct players
    with a row), ``kill_count``, ``death_count``, ``kd``. Sorted by window, then K/D (highest
    first), then ``by``.
    """
    if not by:
        raise AnalyticsError("team_kd needs at least one profile column in `by`")
    require_columns(players, (PLAYER, *by), what="team_kd (players)")
    window = [WINDOW_START, WINDOW_END] if per_window else []
    require_columns(table, (PLAYER, KILLS, DEATHS, *window), what="team_kd (table)")
    profiles = players.select(PLAYER, *by).unique(PLAYER, keep="first")
    if unknown not in ("group", "drop"):
        raise AnalyticsError(f"unknown must be 'group' or 'drop', got {unknown!r}")
    joined = table.join(profiles, on=PLAYER, how="left")
    if unknown == "drop":
        joined = joined.filter(pl.col(by[0]).is_not_null())
    joined = joined.with_columns([pl.col(c).cast(pl.String).fill_null(UNKNOWN) for c in by])
    keys = [*by, *window]
    return (
        joined.group_by(keys)
        .agg(
            pl.col(PLAYER).n_unique().cast(pl.Int64).alias("players"),
            pl.col(KILLS).sum().cast(pl.Int64),
            pl.col(DEATHS).sum().cast(pl.Int64),
        )
        .with_columns(kd_expr(zero_deaths=zero_deaths))
        .sort(
            [*window, "kd", *by],
            descending=[*[False] * len(window), True, *[False] * len(by)],
            nulls_last=True,
        )
        .select([*by, *window, "players", KILLS, DEATHS, "kd"])
    )
