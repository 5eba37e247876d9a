"""Heatmap bins of event positions (deaths by default) on the map.

Owns :func:`has_positions` and :func:`death_heatmap`. The generator puts optional ``x``/``y``
on every event (a 1000 x 1000 map, :data:`MAP_EXTENT`; the victim's position for a death).

Binning: ``bins`` columns by ``bins`` rows (or ``(nx, ny)``) of equal size over ``extent``.
A bin holds ``[start, end)`` on each axis, except that the last bin also holds the upper edge
(``x == x_max``). Events outside the extent, or without a position, are not counted.
"""

from __future__ import annotations

import logging

import polars as pl

from telemetry_lib.analytics.schema import AnalyticsError, require_columns

__all__ = ["MAP_EXTENT", "death_heatmap", "has_positions"]

logger = logging.getLogger(__name__)

#: (x_min, x_max, y_min, y_max) of the generator's map (data/README.md: 1000 x 1000).
MAP_EXTENT = (0.0, 1000.0, 0.0, 1000.0)
#: 20 x 20 bins of 50 x 50 map units: coarse enough to show hot spots with ~1000 deaths.
DEFAULT_BINS = 20
#: A grid above this many cells is a mistake (a heatmap of it would not render usefully).
MAX_CELLS = 1_000_000


def has_positions(events: pl.DataFrame) -> bool:
    """Whether ``events`` has ``x`` and ``y`` with at least one non-null pair."""
    if "x" not in events.columns or "y" not in events.columns:
        return False
    return bool(events.select((pl.col("x").is_not_null() & pl.col("y").is_not_null()).any()).item())


def death_heatmap(
    events: pl.DataFrame,
    *,
    bins: int | tuple[int, int] = DEFAULT_BINS,
    extent: tuple[float, float, float, float] = MAP_EXTENT,
    event_type: str | None = "death",
) -> pl.DataFrame:
    """Counts of ``event_type`` events (None: every event) per map cell (module docstring).

    One row per cell, empty cells included, sorted by ``y_bin`` then ``x_bin``: ``x_bin``,
    ``y_bin`` (0-based), ``x_start``, ``x_end``, ``y_start``, ``y_end``, ``count``.
    """
    require_columns(events, ("x", "y"), what="death_heatmap (event positions)")
    nx, ny = (bins, bins) if isinstance(bins, int) else bins
    x0, x1, y0, y1 = (float(v) for v in extent)
    if nx < 1 or ny < 1 or nx * ny > MAX_CELLS:
        raise AnalyticsError(f"bins must be 1..{MAX_CELLS} cells in all, got {nx} x {ny}")
    if not (x1 > x0 and y1 > y0):
        raise AnalyticsError(
            f"extent must be (x_min, x_max, y_min, y_max) with min < max, got {extent}"
        )
    rows = events
    if event_type is not None:
        require_columns(events, ("event_type",), what="death_heatmap")
        rows = rows.filter(pl.col("event_type") == event_type)
    x, y = pl.col("x").cast(pl.Float64), pl.col("y").cast(pl.Float64)
    inside = x.is_between(x0, x1) & y.is_between(y0, y1)
    counts = (
        rows.filter(inside.fill_null(False))
        .select(
            _bin(x, x0, x1, nx).alias("x_bin"),
            _bin(y, y0, y1, ny).alias("y_bin"),
        )
        .group_by("x_bin", "y_bin")
        .agg(pl.len().cast(pl.Int64).alias("count"))
    )
    grid = pl.DataFrame({"x_bin": pl.int_range(0, nx, eager=True).cast(pl.Int64)}).join(
        pl.DataFrame({"y_bin": pl.int_range(0, ny, eager=True).cast(pl.Int64)}), how="cross"
    )
    wx, wy = (x1 - x0) / nx, (y1 - y0) / ny
    return (
        grid.join(counts, on=["x_bin", "y_bin"], how="left")
        .select(
            "x_bin",
            "y_bin",
            (x0 + pl.col("x_bin") * wx).alias("x_start"),
            (x0 + (pl.col("x_bin") + 1) * wx).alias("x_end"),
            (y0 + pl.col("y_bin") * wy).alias("y_start"),
            (y0 + (pl.col("y_bin") + 1) * wy).alias("y_end"),
            pl.col("count").fill_null(0).cast(pl.Int64),
        )
        .sort("y_bin", "x_bin")
    )


def _bin(value: pl.Expr, low: float, high: float, n: int) -> pl.Expr:
    """0-based bin of ``value`` in [low, high] cut into n; ``high`` goes to the last bin."""
    index = ((value - low) * n / (high - low)).floor().cast(pl.Int64)
    return pl.min_horizontal(index, pl.lit(n - 1, dtype=pl.Int64))
