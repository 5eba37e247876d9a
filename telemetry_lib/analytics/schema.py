"""The K/D table every analytics function reads and writes, and the K/D rule.

Owns the canonical column names (:data:`PLAYER` ... :data:`KD`), the window length of the demo
(:data:`WINDOW_MS`), :class:`AnalyticsError`, and :func:`kd_expr` / :func:`with_kd`: the
kill/death ratio computed from the counts as a DOUBLE.

The K/D table (one row per player and window)::

    player_id     String
    window_start  Datetime("ms", "UTC")   inclusive
    window_end    Datetime("ms", "UTC")   exclusive (start + window size)
    kill_count    Int64
    death_count   Int64
    kill_ratio    Float64, optional       ksqlDB's own column, NULL where ksqlDB gave NULL
    kd            Float64                 computed here, never from kill_ratio

Why ``kd`` is recomputed: the demo's ``KILL_RATIO`` is a DECIMAL division, and ksqlDB answers
NULL for a quotient without an exact expansion at the result's scale (ksqlDB issue #9874: 2/9 is
NULL) as well as for 0 deaths (``NULLIF``). Analytics never reads it; it keeps it for display.

The rule for 0 deaths (:data:`ZeroDeaths`):

* ``"kills"`` (default) — a player who did not die has K/D = kills, i.e. the deaths count as 1
  (the convention of game scoreboards; it keeps a flawless 3-0 ahead of 2-1 and finite, so
  charts, means and z-scores stay defined). 0 kills and 0 deaths gives 0.
* ``"null"`` — K/D is NULL with 0 deaths (the SQL reading of ``kills / NULLIF(deaths, 0)``);
  every aggregate then ignores those rows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Literal

import polars as pl

from telemetry_lib.errors import TelemetryError

__all__ = [
    "DEATHS",
    "KD",
    "KILLS",
    "PLAYER",
    "RATIO",
    "TIME_DTYPE",
    "WINDOW_END",
    "WINDOW_MS",
    "WINDOW_START",
    "AnalyticsError",
    "ZeroDeaths",
    "kd_expr",
    "require_columns",
    "with_kd",
]

logger = logging.getLogger(__name__)

PLAYER = "player_id"
WINDOW_START = "window_start"
WINDOW_END = "window_end"
KILLS = "kill_count"
DEATHS = "death_count"
RATIO = "kill_ratio"
KD = "kd"
#: Window bounds as ksqlDB's clients show them: UTC instants with millisecond precision
#: (the same dtype ``KsqlClient`` gives WINDOWSTART / WINDOWEND).
TIME_DTYPE = pl.Datetime("ms", time_zone="UTC")
#: The demo's ``WINDOW TUMBLING (SIZE 5 MINUTES)``.
WINDOW_MS = 5 * 60 * 1000

ZeroDeaths = Literal["kills", "null"]
_ZERO_DEATHS: tuple[ZeroDeaths, ...] = ("kills", "null")


class AnalyticsError(TelemetryError):
    """An analytics input lacks what the function needs (columns, parameters)."""

    origin = "user"


def kd_expr(
    kills: str = KILLS, deaths: str = DEATHS, *, zero_deaths: ZeroDeaths = "kills"
) -> pl.Expr:
    """K/D as Float64 from the two count columns, with the 0-deaths rule (module docstring)."""
    check_zero_deaths(zero_deaths)
    k = pl.col(kills).cast(pl.Float64)
    d = pl.col(deaths).cast(pl.Float64)
    if zero_deaths == "kills":
        return (k / pl.max_horizontal(d, pl.lit(1.0))).alias(KD)
    return pl.when(d > 0).then(k / d).otherwise(None).alias(KD)


def with_kd(frame: pl.DataFrame, *, zero_deaths: ZeroDeaths = "kills") -> pl.DataFrame:
    """``frame`` with the ``kd`` column (re)computed from ``kill_count`` / ``death_count``."""
    require_columns(frame, (KILLS, DEATHS), what="K/D")
    return frame.with_columns(kd_expr(zero_deaths=zero_deaths))


def check_zero_deaths(zero_deaths: str) -> None:
    """Raise :class:`AnalyticsError` for an unknown 0-deaths rule."""
    if zero_deaths not in _ZERO_DEATHS:
        raise AnalyticsError(
            f"unknown zero_deaths rule {zero_deaths!r}",
            hint=f"use one of {', '.join(_ZERO_DEATHS)}",
        )


def require_columns(frame: pl.DataFrame, columns: Iterable[str], *, what: str) -> None:
    """Raise :class:`AnalyticsError` naming the columns ``what`` needs and ``frame`` lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise AnalyticsError(
            f"{what} needs the column(s) {', '.join(missing)}; the frame has "
            f"{', '.join(frame.columns) or 'no columns'}",
            hint="pass a K/D table (analytics.kd_table / kd_truth) or the generator's events",
        )
