"""The independent truth: the K/D table computed straight from the seeded events, and the check.

Owns :func:`kd_truth` (the demo's windowed kill/death table by a plain polars group-by over the
generator's events — what the notebooks compare ksqlDB's output with) and :func:`compare_kd`
(:class:`KdComparison`: rows missing or extra, count mismatches, and why ksqlDB's
``kill_ratio`` is NULL where it is).

Windows follow ksqlDB's TUMBLING windows: ``start = timestamp - timestamp mod size`` (epoch
ms, aligned to the epoch), ``end = start + size``. Without ``grace_ms`` every event counts:
ksqlDB's default grace (EMIT CHANGES, no GRACE PERIOD) is 24 h minus the window size, far
longer than the generator's disorder (a test checks both against the engine). With it, an event
is dropped as ksqlDB drops a late record: when its window's end + grace is at or before the
stream time, the largest timestamp seen so far on its partition — which needs the events in
delivery order (and their ``partition`` column when the topic has several).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import polars as pl

from telemetry_lib.analytics.schema import (
    DEATHS,
    KILLS,
    PLAYER,
    RATIO,
    TIME_DTYPE,
    WINDOW_END,
    WINDOW_MS,
    WINDOW_START,
    AnalyticsError,
    ZeroDeaths,
    kd_expr,
    require_columns,
)

__all__ = ["KdComparison", "compare_kd", "kd_truth", "window_start_ms"]

logger = logging.getLogger(__name__)

#: Relative difference below which a non-null ksqlDB kill_ratio equals kills/deaths: DECIMAL
#: results read back as doubles differ from the exact quotient by rounding only.
RATIO_TOLERANCE = 1e-9
#: Cap on the example keys a comparison lists (enough to debug, small enough to print).
MAX_EXAMPLES = 5


def window_start_ms(timestamp: pl.Expr, window_ms: int = WINDOW_MS) -> pl.Expr:
    """The epoch-aligned tumbling window start (epoch ms) of an epoch-ms timestamp."""
    return timestamp - timestamp.mod(window_ms)


def kd_truth(
    events: pl.DataFrame,
    *,
    window_ms: int = WINDOW_MS,
    zero_deaths: ZeroDeaths = "kills",
    grace_ms: int | None = None,
) -> pl.DataFrame:
    """The K/D table (``analytics.schema``) computed directly from events.

    ``events`` needs ``player_id``, ``event_type`` (``'kill'``/``'death'``; other values are
    ignored) and ``timestamp`` (epoch ms) — the generator's ``events()`` or the topic read
    back. One row per (player, window) with at least one kill or death, sorted by window then
    player; ``grace_ms`` drops late events (module docstring).
    """
    require_columns(events, (PLAYER, "event_type", "timestamp"), what="kd_truth")
    if window_ms <= 0:
        raise AnalyticsError(f"window_ms must be positive, got {window_ms}")
    counted = events.filter(pl.col("event_type").is_in(["kill", "death"]))
    start = window_start_ms(pl.col("timestamp").cast(pl.Int64), window_ms)
    counted = counted.with_columns(start.alias("_start"))
    if grace_ms is not None:
        counted = _drop_late(counted, window_ms, grace_ms)
    return (
        counted.group_by(PLAYER, "_start")
        .agg(
            (pl.col("event_type") == "kill").sum().cast(pl.Int64).alias(KILLS),
            (pl.col("event_type") == "death").sum().cast(pl.Int64).alias(DEATHS),
        )
        .select(
            pl.col(PLAYER),
            pl.col("_start").cast(TIME_DTYPE).alias(WINDOW_START),
            (pl.col("_start") + window_ms).cast(TIME_DTYPE).alias(WINDOW_END),
            KILLS,
            DEATHS,
        )
        .with_columns(kd_expr(zero_deaths=zero_deaths))
        .sort(WINDOW_START, PLAYER)
    )


def _drop_late(events: pl.DataFrame, window_ms: int, grace_ms: int) -> pl.DataFrame:
    over = ["partition"] if "partition" in events.columns else None
    stream_time = pl.col("timestamp").cast(pl.Int64).cum_max()
    if over:
        stream_time = stream_time.over(over)
    return events.filter(pl.col("_start") + window_ms + grace_ms > stream_time)


@dataclass(frozen=True)
class KdComparison:
    """How a K/D table (e.g. ksqlDB's) matches the truth, key by key (player, window)."""

    rows: int
    truth_rows: int
    missing: int
    extra: int
    count_mismatches: int
    #: non-null ``kill_ratio`` values that differ from the truth's kills/deaths.
    ratio_mismatches: int = 0
    ratio_compared: int = 0
    #: NULL ``kill_ratio`` with 0 deaths (NULLIF) ...
    ratio_null_deaths_zero: int = 0
    #: ... with a quotient that has no exact decimal expansion at the scale (ksqlDB #9874) ...
    ratio_null_non_terminating: int = 0
    #: ... and with neither reason (a real mismatch).
    ratio_null_unexplained: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Same keys, same counts, every ratio equal or NULL for one of the two reasons."""
        return not (
            self.missing
            or self.extra
            or self.count_mismatches
            or self.ratio_mismatches
            or self.ratio_null_unexplained
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain values for a JSON summary (``ok`` included)."""
        return {"ok": self.ok, **{k: v for k, v in self.__dict__.items()}}


def compare_kd(
    table: pl.DataFrame, truth: pl.DataFrame, *, scale: int | None = None
) -> KdComparison:
    """Compare ``table`` with ``truth`` (both K/D tables) on (player, window).

    Counts must be equal. When ``table`` has ``kill_ratio``, a non-null value must equal the
    truth's kills/deaths (relative tolerance :data:`RATIO_TOLERANCE`) and a NULL must have a reason:
    0 deaths, or a quotient without an exact decimal expansion in ``scale`` digits (``None``:
    in any number of digits) — ksqlDB issue #9874.
    """
    keys = [PLAYER, WINDOW_START]
    require_columns(table, (*keys, KILLS, DEATHS), what="compare_kd (table)")
    require_columns(truth, (*keys, KILLS, DEATHS), what="compare_kd (truth)")
    got = table.select(
        *keys,
        pl.col(KILLS).alias("_k"),
        pl.col(DEATHS).alias("_d"),
        (pl.col(RATIO) if RATIO in table.columns else pl.lit(None, pl.Float64)).alias("_r"),
        pl.lit(True).alias("_got"),
    )
    want = truth.select(*keys, KILLS, DEATHS, pl.lit(True).alias("_want"))
    joined = want.join(got, on=keys, how="full", coalesce=True)
    missing = joined.filter(pl.col("_got").is_null())
    extra = joined.filter(pl.col("_want").is_null())
    both = joined.filter(pl.col("_got") & pl.col("_want"))
    wrong = both.filter((pl.col("_k") != pl.col(KILLS)) | (pl.col("_d") != pl.col(DEATHS)))
    counts = {"zero": 0, "nonterm": 0, "unexplained": 0, "bad": 0, "compared": 0}
    if RATIO in table.columns:
        for kills, deaths, ratio in both.select(KILLS, DEATHS, "_r").iter_rows():
            counts[_ratio_verdict(kills, deaths, ratio, scale)] += 1
    examples = [
        {"problem": problem, **{k: _plain(v) for k, v in row.items()}}
        for problem, frame in (("missing", missing), ("extra", extra), ("counts", wrong))
        for row in frame.select(*keys, KILLS, DEATHS, "_k", "_d").head(MAX_EXAMPLES).to_dicts()
    ][:MAX_EXAMPLES]
    return KdComparison(
        rows=table.height,
        truth_rows=truth.height,
        missing=missing.height,
        extra=extra.height,
        count_mismatches=wrong.height,
        ratio_mismatches=counts["bad"],
        ratio_compared=counts["compared"] + counts["bad"],
        ratio_null_deaths_zero=counts["zero"],
        ratio_null_non_terminating=counts["nonterm"],
        ratio_null_unexplained=counts["unexplained"],
        examples=examples,
    )


def _ratio_verdict(kills: int, deaths: int, ratio: float | None, scale: int | None) -> str:
    if ratio is None:
        if deaths == 0:
            return "zero"
        return "unexplained" if _terminates(kills, deaths, scale) else "nonterm"
    if deaths == 0:
        return "bad"
    exact = kills / deaths
    return "compared" if abs(ratio - exact) <= RATIO_TOLERANCE * max(1.0, abs(exact)) else "bad"


def _terminates(kills: int, deaths: int, scale: int | None) -> bool:
    """Whether kills/deaths is exact in ``scale`` decimal digits (None: in any number)."""
    q = Fraction(kills, deaths)
    if scale is not None:
        return (q * Fraction(10) ** scale).denominator == 1
    den = q.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    return den == 1


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value
