"""Window assignment for time windows (TUMBLING / HOPPING), scalar and vectorised.

Owns: :func:`windows_for` (Kafka Streams' ``TimeWindows.windowsFor``: every window
``[start, start + size)`` with ``start`` a multiple of the advance, ``start >= 0`` and
``start <= ts < start + size``, in ascending start order) and :func:`window_starts_expr`, the
same as a polars expression (a List of starts per row, to explode). Sessions are assigned in
the aggregate operator, since they depend on the store.
"""

from __future__ import annotations

import logging

import polars as pl

from telemetry_lib.ksql.analyzer.aggregation import WindowSpec

__all__ = ["window_starts_expr", "windows_for"]

logger = logging.getLogger(__name__)


def windows_for(ts: int, spec: WindowSpec) -> list[tuple[int, int]]:
    """``(start, end)`` of every time window containing ``ts``, ascending by start."""
    size, advance = spec.size_ms, spec.advance_ms
    first = max(0, ts - size + advance) // advance * advance
    out: list[tuple[int, int]] = []
    start = first
    while start <= ts:
        out.append((start, start + size))
        start += advance
    return out


def window_starts_expr(ts: pl.Expr, spec: WindowSpec) -> pl.Expr:
    """Per row: the starts of its windows (tumbling: one Int64; hopping: a List to explode)."""
    size, advance = spec.size_ms, spec.advance_ms
    if advance == size:
        return ts - ts % size
    first = ((ts - size + advance).clip(lower_bound=0) // advance) * advance
    last = ts - ts % advance
    return pl.int_ranges(first, last + 1, advance, dtype=pl.Int64)
