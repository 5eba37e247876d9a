"""Columnar fast path of the aggregate operator (caching on, COUNT / numeric SUM only).

Owns: :func:`columnar_eligible` and :func:`fold_columnar` / :func:`emit_final_columnar` /
:func:`evict_columnar`. When every aggregate call has a polars partial (COUNT(*), COUNT(x),
SUM over INT / BIGINT / DOUBLE) and the source is a stream with no session window, the keyed /
windowed store is a polars DataFrame (``AggregateState.frame``: group-key fields, ``_WS`` for
windows, one accumulator per call, the max timestamp). A batch is folded with one ``group_by``
for its partials, a left join of the touched keys against the store and an anti-join + concat to
write them back — no Python per key. Results match the row path: SUM starts at 0, INT sums wrap
to 32 bits and BIGINT sums wrap like Java longs; the output timestamp is the max folded in.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import polars as pl

from telemetry_lib.ksql.analyzer.aggregation import agg_field, group_field
from telemetry_lib.ksql.exec import batch as B
from telemetry_lib.ksql.runtime.io import RECORD_SCHEMA
from telemetry_lib.ksql.types import BaseType, to_polars
from telemetry_lib.ksql.windows import WindowType

if TYPE_CHECKING:
    from telemetry_lib.ksql.exec.aggregate import AggregateOperator
    from telemetry_lib.ksql.exec.operator import ExecContext

__all__ = ["columnar_eligible", "emit_final_columnar", "evict_columnar", "fold_columnar"]

logger = logging.getLogger(__name__)

#: Java int range, for wrapping INT sums.
_INT_HALF = 2**31
_INT_SPAN = 2**32
_MAXTS = "__agg_maxts"
_WS = "__agg_ws"
_TS = "__agg_ts"


def _acc(i: int) -> str:
    return f"__agg_acc{i}"


def columnar_eligible(op: AggregateOperator) -> bool:
    a = op.aggregation
    if a.source_is_table or (a.window is not None and a.window.type is WindowType.SESSION):
        return False
    return all(c.aggregate.vector_kind is not None for c in op.calls)


def _key_fields(op: AggregateOperator) -> list[str]:
    keys = [f"__agg_g{j}" for j in range(len(op.aggregation.group_by))]
    return keys + ([_WS] if op.window is not None else [])


def _partials(op: AggregateOperator) -> list[pl.Expr]:
    aggs: list[pl.Expr] = []
    for i, call in enumerate(op.calls):
        kind = call.aggregate.vector_kind
        arg = pl.col(f"__agg_a{i}_0")
        if kind == "count_star":
            aggs.append(pl.len().cast(pl.Int64).alias(_acc(i)))
        elif kind == "count":
            aggs.append(arg.count().cast(pl.Int64).alias(_acc(i)))
        elif call.aggregate.result_type.base is BaseType.DOUBLE:
            aggs.append(arg.sum().cast(pl.Float64).alias(_acc(i)))
        else:
            aggs.append(arg.cast(pl.Int64).sum().alias(_acc(i)))
    aggs.append(pl.col(_TS).max().alias(_MAXTS))
    return aggs


def _combine(op: AggregateOperator, i: int) -> pl.Expr:
    old = pl.col(f"{_acc(i)}_old").fill_null(0)
    total = old + pl.col(_acc(i))
    if op.calls[i].aggregate.result_type.base is BaseType.INTEGER:
        total = ((total + _INT_HALF) % _INT_SPAN) - _INT_HALF
    return total.alias(_acc(i))


def fold_columnar(op: AggregateOperator, frame: pl.DataFrame, ctx: ExecContext) -> pl.DataFrame:
    """Fold one batch into the columnar store; returns the updated rows in output form."""
    frame = op._valid_stream_rows(frame)
    if op.window is not None and frame.height:
        frame = op._assign_windows(frame, ctx)
    keys = _key_fields(op)
    if frame.height == 0:
        return _output(op, pl.DataFrame())
    partial = frame.group_by(keys, maintain_order=True).agg(_partials(op))
    store = op.state.frame
    if store is None:
        merged = partial
        store = partial
    else:
        # A batch touches few windows: only the store rows of those windows are joined (the
        # rest of the store is carried over untouched instead of being hashed every batch).
        untouched: list[pl.DataFrame] = []
        candidates = store
        if op.window is not None:
            in_batch = pl.col(_WS).is_in(partial.get_column(_WS).unique().implode())
            flags = store.select(in_batch.alias("in_batch")).to_series()
            if not bool(flags.all()):
                untouched.append(store.filter(~flags))
                candidates = store.filter(flags)
        joined = partial.join(candidates, on=keys, how="left", suffix="_old")
        merged = joined.select(
            *keys,
            *(_combine(op, i) for i in range(len(op.calls))),
            pl.max_horizontal(pl.col(_MAXTS), pl.col(f"{_MAXTS}_old")).alias(_MAXTS),
        )
        kept = candidates.join(partial.select(keys), on=keys, how="anti")
        store = pl.concat([*untouched, kept, merged])
    op.state.frame = store
    return _output(op, merged)


def _output(op: AggregateOperator, merged: pl.DataFrame) -> pl.DataFrame:
    if merged.height == 0:
        return pl.DataFrame()
    exprs: list[pl.Expr] = []
    for j, typed in enumerate(op.aggregation.group_by):
        assert typed.type is not None
        exprs.append(pl.col(f"__agg_g{j}").cast(to_polars(typed.type)).alias(group_field(j)))
    for i, call in enumerate(op.calls):
        exprs.append(
            pl.col(_acc(i)).cast(to_polars(call.aggregate.result_type)).alias(agg_field(i))
        )
    if op.window is not None:
        exprs.append(pl.col(_WS).alias(B.WINDOWSTART))
        exprs.append((pl.col(_WS) + op.window.size_ms).alias(B.WINDOWEND))
    exprs.append(pl.col(_MAXTS).cast(pl.Int64).alias(B.ROWTIME))
    exprs.append(pl.lit(False).alias(B.NULL_VALUE))
    out = merged.select(exprs)
    headers = pl.Series(B.HEADERS, [[]], dtype=RECORD_SCHEMA["headers"])
    # hstack adds the Series without a polars query (with_columns runs one).
    return out.hstack([headers.new_from_index(0, out.height)])


def emit_final_columnar(op: AggregateOperator) -> pl.DataFrame:
    """Windows closed since the last emission (caching on: every closed window once)."""
    window = op.window
    state = op.state
    if window is None or state.frame is None or state.stream_time is None:
        return pl.DataFrame()
    close = state.stream_time - window.grace_ms
    last = state.last_emit_close
    if last is not None and close <= last:
        return pl.DataFrame()
    upper = close - window.size_ms
    if upper < 0:
        return pl.DataFrame()
    lower = 0 if last is None else last - window.size_ms + 1
    state.last_emit_close = close
    keys = _key_fields(op)
    chosen = state.frame.filter(pl.col(_WS).is_between(lower, upper)).sort([_WS, *keys[:-1]])
    return _output(op, chosen)


def evict_columnar(op: AggregateOperator) -> None:
    """Drop windows that left retention (memory: open windows x keys)."""
    state = op.state
    if op.window is None or state.frame is None or state.stream_time is None:
        return
    low = state.stream_time - op.window.retention_ms
    # Usually nothing left retention since the last batch: a min over the column (no query)
    # instead of filtering the whole store every batch.
    starts = state.frame.get_column(_WS)
    oldest = starts.min()
    if starts.null_count() == 0 and oldest is not None and oldest >= low:  # type: ignore[operator]
        return
    state.frame = state.frame.filter(pl.col(_WS) >= low)
