"""Aggregate operator: GROUP BY, windows, EMIT CHANGES / EMIT FINAL (reference §2.4, §5).

Owns: :class:`AggregateOperator`. Per batch it evaluates the GROUP BY and aggregate-argument
expressions vectorised, drops rows whose grouping key is null, assigns windows, drops (counts and
logs) records whose window has closed, folds the rows into :class:`~telemetry_lib.ksql.state.
AggregateState` and emits one row per updated (key, window): the group values
(:func:`group_field`), the aggregate results (:func:`agg_field`), WINDOWSTART / WINDOWEND,
ROWTIME (the max timestamp folded into that aggregate) and the null-value flag (true for the
tombstone of a merged session window).

Two execution paths with the same results:

- **caching off** (``cache.max.bytes.buffering=0``, what the QTT runner and driver use): one
  output per input and affected window, in input order — records are folded one at a time
  (after the vectorised expression evaluation).
- **caching on**: each batch is pre-aggregated with a polars ``group_by`` (COUNT and numeric SUM
  partials computed by polars, other functions' inputs gathered per group) and merged into the
  store touching only the batch's keys; updates are coalesced to one row per key and window per
  batch (the batch is the commit unit).

Table sources retract the previous row of each source key before adding the new one (a
delete only retracts). Session windows merge as Kafka Streams does: merged sessions are
deleted with a tombstone, then the merged session is emitted (timestamp = session end).
EMIT FINAL buffers nothing extra: when stream time passes ``end + grace`` the closed windows
still in the store's retention are emitted once (Kafka Streams' emit-on-window-close range
fetch, which is why windows skipped by a big jump in stream time can be lost, as in ksqlDB).
Stream time is one per query by default (a single task, as ksqlDB's TopologyTestDriver runs it);
with :data:`PER_PARTITION_CONFIG` set, each source partition is its own task with its own stores
and stream time, as Kafka Streams runs a partitioned topology (the source keyed by the group key).
"""

from __future__ import annotations

import logging
import pickle
import time
from collections.abc import Iterable
from typing import Any

import polars as pl

from telemetry_lib.ksql.analyzer.aggregation import (
    AggregateAnalysis,
    agg_field,
    group_field,
)
from telemetry_lib.ksql.exec import batch as B
from telemetry_lib.ksql.exec.aggregate_columnar import (
    columnar_eligible,
    emit_final_columnar,
    evict_columnar,
    fold_columnar,
)
from telemetry_lib.ksql.exec.expr_bridge import compile_typed
from telemetry_lib.ksql.exec.operator import Emit, ExecContext, Operator
from telemetry_lib.ksql.exec.window_assign import window_starts_expr, windows_for
from telemetry_lib.ksql.runtime.io import RECORD_SCHEMA
from telemetry_lib.ksql.state import AggregateState
from telemetry_lib.ksql.types import to_polars
from telemetry_lib.ksql.windows import WindowType

__all__ = ["PER_PARTITION_CONFIG", "WALL_CLOCK_CLOSE_CONFIG", "AggregateOperator"]

logger = logging.getLogger(__name__)

_STEP = "Aggregate"
# Kafka Streams' window-store segment interval is max(retention / 2, 60 s); EMIT FINAL's range
# fetch returns windows segment by segment.
_MIN_SEGMENT_MS = 60_000
_TS = "__agg_ts"
_WS = "__agg_ws"
_ST = "__agg_st"
_PART = "__agg_part"
#: Engine config: keep stream time (and stores) per source partition, like Kafka Streams' one
#: task per partition. Off by default: ksqlDB's TopologyTestDriver (the conformance oracle) runs
#: a single task. The Kafka runtime turns it on when the source is keyed by the group key.
PER_PARTITION_CONFIG = "telemetry.aggregate.stream.time.per.partition"
#: Engine config: let :meth:`AggregateOperator.punctuate` close EMIT FINAL windows of idle
#: streams on wall-clock time. Off by default (ksqlDB closes windows on stream time only).
WALL_CLOCK_CLOSE_CONFIG = "telemetry.aggregate.emit.final.wall.clock.close"

_NO_HEADERS = pl.Series(B.HEADERS, [[]], dtype=RECORD_SCHEMA["headers"])

# One output row: (group key, window start, window end, results or None for a tombstone, ts).
_Row = tuple[tuple[Any, ...], int | None, int | None, tuple[Any, ...] | None, int]


def _arg(i: int, k: int) -> str:
    return f"__agg_a{i}_{k}"


def _gk(j: int) -> str:
    return f"__agg_g{j}"


def _sk(j: int) -> str:
    return f"__agg_sk{j}"


class AggregateOperator(Operator):
    step = _STEP

    def __init__(self, aggregation: AggregateAnalysis) -> None:
        self.aggregation = aggregation
        self.calls = aggregation.calls
        self.window = aggregation.window
        self.state = AggregateState()
        #: Task partition -> its state (just 0 unless stream time is kept per partition).
        self._states: dict[int, AggregateState] = {0: self.state}
        #: Downstream of the last batch and the wall clock of the last input (idle closing).
        self._out: Emit | None = None
        self._last_input_wall_ms = _wall_ms()
        self._group = [compile_typed(e) for e in aggregation.group_by]
        self._args = [[compile_typed(a) for a in c.args] for c in self.calls]
        self._group_dtypes = [to_polars(e.type) for e in aggregation.group_by]  # type: ignore[arg-type]
        self._result_dtypes = [to_polars(c.aggregate.result_type) for c in self.calls]
        self._having = compile_typed(aggregation.having) if aggregation.having is not None else None
        self._columnar = columnar_eligible(self)

    def describe(self) -> str:
        a = self.aggregation
        window = f", window={a.window.describe()}" if a.window is not None else ""
        final = ", emit=FINAL" if a.emit_final else ""
        return (
            f"AggregateOperator[group by {', '.join(a.group_by_text)}; "
            f"{', '.join(c.text for c in self.calls)}{window}{final}]"
        )

    # ------------------------------------------------------------------------- snapshots
    def snapshot(self) -> bytes:
        """The operator's state: one :class:`AggregateState` snapshot per task partition (a
        single entry, partition 0, unless stream time is kept per partition)."""
        blobs = {part: state.snapshot() for part, state in self._states.items()}
        return pickle.dumps(blobs, protocol=pickle.HIGHEST_PROTOCOL)

    def restore(self, blob: bytes) -> None:
        """Continue from a :meth:`snapshot` (e.g. taken by another engine's operator)."""
        blobs = pickle.loads(blob)  # noqa: S301 - our own snapshots only
        if not isinstance(blobs, dict):
            raise ValueError("not an aggregate operator snapshot (expected one per partition)")
        self._states = {part: AggregateState.restore(b) for part, b in blobs.items()}
        self.state = self._states.setdefault(0, AggregateState())

    # ------------------------------------------------------------------------- batches
    def process_batch(self, batch: pl.DataFrame, ctx: ExecContext, out: Emit) -> None:
        self._out = out
        self._last_input_wall_ms = _wall_ms()
        frame = self._evaluate(batch, ctx)
        if not ctx.config_flag(PER_PARTITION_CONFIG):
            self.state = self._states.setdefault(0, AggregateState())
            self._process(_without(frame, _PART), ctx, out)
            return
        # One task per source partition, as Kafka Streams runs them: own stores, own stream time.
        for (part,), sub in frame.partition_by(_PART, maintain_order=True, as_dict=True).items():
            self.state = self._states.setdefault(int(part), AggregateState())  # type: ignore[call-overload]
            self._process(sub.drop(_PART), ctx, out)

    # ------------------------------------------------------------------------- idle streams
    def punctuate(self, ctx: ExecContext, *, now_ms: int | None = None) -> int:
        """Close EMIT FINAL windows of an idle stream on wall-clock time (option
        :data:`WALL_CLOCK_CLOSE_CONFIG`, off by default; ksqlDB closes only on stream time).

        When no input arrived for ``d`` ms of wall clock, each task's stream time advances by
        ``d`` and the windows that closed are emitted downstream (later records for them are
        late). The runtime's poll loop calls this when a poll returns nothing; returns how many
        rows were emitted."""
        if (
            not ctx.config_flag(WALL_CLOCK_CLOSE_CONFIG)
            or not self.aggregation.emit_final
            or self.window is None
            or self._out is None
        ):
            return 0
        now = _wall_ms() if now_ms is None else now_ms
        idle = now - self._last_input_wall_ms
        if idle <= 0:
            return 0
        self._last_input_wall_ms = now
        emitted = 0
        columnar = _cache_on(ctx) and self._columnar
        for state in self._states.values():
            if state.stream_time is None:
                continue
            self.state = state
            state.stream_time += idle
            if columnar:
                result = emit_final_columnar(self)
                evict_columnar(self)
            else:
                rows = self._emit_final(ctx, exact=False)
                state.evict_windows(self.window.retention_ms)
                result = self._frame(rows) if rows else pl.DataFrame()
            if result.height and self._having is not None:
                result = self._apply_having(result)
            if result.height:
                self._out(result)
                emitted += result.height
        return emitted

    def _process(self, frame: pl.DataFrame, ctx: ExecContext, out: Emit) -> None:
        caching = _cache_on(ctx)
        if caching and self._columnar:
            self._process_columnar(frame, ctx, out)
            return
        table = self.aggregation.source_is_table
        session = self.window is not None and self.window.type is WindowType.SESSION
        if table:
            rows = self._fold_table(frame)
        elif session:
            rows = self._fold_sessions(frame, ctx)
        elif caching:
            rows = self._fold_vectorised(frame, ctx)
        else:
            rows = self._fold_rows(frame, ctx)
        if self.aggregation.emit_final and (caching or table or session):
            exact = not caching
            rows = self._emit_final(ctx, exact=exact) if self.state.stream_time is not None else []
        if self.window is not None:
            self.state.evict_windows(self.window.retention_ms)
        if not rows:
            return
        result = self._frame(rows)
        if caching and not self.aggregation.emit_final:
            keys = [group_field(j) for j in range(len(self._group))]
            if self.window is not None:
                keys += [B.WINDOWSTART, B.WINDOWEND]
            result = result.unique(subset=keys, keep="last", maintain_order=True)
        if self._having is not None:
            result = self._apply_having(result)
        if result.height:
            out(result)

    def _process_columnar(self, frame: pl.DataFrame, ctx: ExecContext, out: Emit) -> None:
        result = fold_columnar(self, frame, ctx)
        if self.aggregation.emit_final:
            result = emit_final_columnar(self)
        evict_columnar(self)
        if result.height and self._having is not None:
            result = self._apply_having(result)
        if result.height:
            out(result)

    def _apply_having(self, result: pl.DataFrame) -> pl.DataFrame:
        """HAVING on the aggregate's changelog, as Kafka Streams' KTable filter with old values:
        a failing row becomes a tombstone only when the key's previous row passed."""
        assert self._having is not None
        passed = result.select(self._having.value.fill_null(False).cast(pl.Boolean)).to_series()
        keys = [group_field(j) for j in range(len(self._group))]
        if self.window is not None:
            keys += [B.WINDOWSTART, B.WINDOWEND]
        passing = self.state.having_passing
        keep: list[bool] = []
        tombstone: list[bool] = []
        nulls = result.get_column(B.NULL_VALUE).to_list()
        for row_key, ok, is_null in zip(
            result.select(keys).iter_rows(), passed.to_list(), nulls, strict=True
        ):
            frozen = _freeze(row_key)
            if is_null:
                keep.append(frozen in passing)
                tombstone.append(True)
                passing.discard(frozen)
            elif ok:
                passing.add(frozen)
                keep.append(True)
                tombstone.append(False)
            else:
                keep.append(frozen in passing)
                tombstone.append(True)
                passing.discard(frozen)
        result = result.with_columns(pl.Series(B.NULL_VALUE, tombstone, dtype=pl.Boolean))
        return result.filter(pl.Series(keep, dtype=pl.Boolean))

    # ------------------------------------------------------------------------- evaluation
    def _evaluate(self, batch: pl.DataFrame, ctx: ExecContext) -> pl.DataFrame:
        exprs: list[pl.Expr] = [c.value.alias(_gk(j)) for j, c in enumerate(self._group)]
        errors: list[tuple[str, pl.Expr]] = []
        for i, args in enumerate(self._args):
            for k, c in enumerate(args):
                exprs.append(c.value.alias(_arg(i, k)))
                if c.error is not None:
                    errors.append((f"{self.calls[i].text}", c.error))
        for j, c in enumerate(self._group):
            if c.error is not None:
                errors.append((self.aggregation.group_by_text[j], c.error))
        exprs += [
            pl.col(B.ROWTIME).alias(_TS),
            pl.col(B.NULL_VALUE),
        ]
        part = pl.col(B.ROWPARTITION) if B.ROWPARTITION in batch.columns else pl.lit(0)
        exprs.append(part.cast(pl.Int64).fill_null(0).alias(_PART))
        if self.aggregation.source_is_table:
            exprs += [
                pl.col(f).alias(_sk(j)) for j, f in enumerate(self.aggregation.source_key_fields)
            ]
        # Values and failure checks in one select (each select is a polars query).
        error_names = [f"__e{n}" for n in range(len(errors))]
        computed = batch.select(
            exprs + [e.alias(name) for name, (_, e) in zip(error_names, errors, strict=True)]
        )
        if not errors:
            return computed
        # Split by Series (a frame built from Series runs no query).
        frame = pl.DataFrame(computed.get_columns()[: len(exprs)])
        present = ~computed.get_column(B.NULL_VALUE)
        messages: list[str] = []
        for name, (text, _) in zip(error_names, errors, strict=True):
            failed = computed.get_column(name)
            if failed.null_count() == failed.len():
                continue
            column = failed.filter(present)
            messages += [f"Error computing expression {text}: {m}" for m in column.drop_nulls()]
        if messages:
            ctx.processing_log.record_processing_errors(ctx.query_id, _STEP, messages=messages)
        return frame

    def _valid_stream_rows(self, frame: pl.DataFrame) -> pl.DataFrame:
        keep = ~pl.col(B.NULL_VALUE)
        for j in range(len(self._group)):
            keep = keep & pl.col(_gk(j)).is_not_null()
        return frame.filter(keep)

    def _row_parts(
        self, row: tuple[Any, ...]
    ) -> tuple[tuple[Any, ...], list[tuple[Any, ...]], int]:
        ng = len(self._group)
        gk = row[:ng]
        pos = ng
        args: list[tuple[Any, ...]] = []
        for call_args in self._args:
            args.append(tuple(row[pos : pos + len(call_args)]))
            pos += len(call_args)
        return gk, args, row[pos]

    # ------------------------------------------------------------------------- lateness
    def _late(self, ctx: ExecContext, key: tuple[Any, ...], start: int, end: int, ts: int) -> None:
        self.state.late_records += 1
        window = self.window
        assert window is not None
        ctx.processing_log.record_processing_errors(
            ctx.query_id,
            _STEP,
            messages=[
                f"Record dropped: it is late for window [{start}, {end}) of key {list(key)} "
                f"(timestamp {ts}, stream time {self.state.stream_time}, grace {window.grace_ms} "
                "ms). Increase the window's GRACE PERIOD to accept later records."
            ],
        )

    def _advance(self, ts: int) -> int:
        st = self.state.stream_time
        self.state.stream_time = ts if st is None else max(st, ts)
        return self.state.stream_time

    # ------------------------------------------------------------------------- caching off
    def _fold_rows(self, frame: pl.DataFrame, ctx: ExecContext) -> list[_Row]:
        frame = self._valid_stream_rows(frame)
        out: list[_Row] = []
        groups = self.state.groups
        window = self.window
        calls = [c.aggregate for c in self.calls]
        final = self.aggregation.emit_final
        for row in frame.iter_rows():
            gk, args, ts = self._row_parts(row)
            if window is None:
                spans: list[tuple[int | None, int | None]] = [(None, None)]
            else:
                if ts is None or ts < 0:
                    continue
                stream_time = self._advance(ts)
                close = stream_time - window.grace_ms
                spans = []
                for start, end in windows_for(ts, window):
                    if end <= close:
                        self._late(ctx, gk, start, end, ts)
                        continue
                    spans.append((start, end))
            frozen = _freeze(gk)
            for start, end in spans:  # type: ignore[assignment]
                key = (frozen, start, end)
                entry = groups.get(key)
                if entry is None or (start is not None and self._expired(start)):
                    entry = [[a.init() for a in calls], ts, gk]
                    groups[key] = entry
                accs = entry[0]
                for i, agg in enumerate(calls):
                    accs[i] = agg.add(accs[i], args[i])
                entry[1] = ts if entry[1] is None else max(entry[1], ts)
                if not final:
                    out.append((gk, start, end, self._results(accs), entry[1]))
            if final and self.state.stream_time is not None:
                out += self._emit_final(ctx, exact=True)
        return out

    def _expired(self, start: int) -> bool:
        assert self.window is not None
        low = self.state.expired_before(self.window.retention_ms)
        return low is not None and start < low

    def _results(self, accs: list[Any]) -> tuple[Any, ...]:
        return tuple(c.aggregate.result(a) for c, a in zip(self.calls, accs, strict=True))

    # ------------------------------------------------------------------------- caching on
    def _assign_windows(self, frame: pl.DataFrame, ctx: ExecContext) -> pl.DataFrame:
        """Vectorised: window starts (``_WS``, exploded for hopping windows), per-row stream
        time, and late rows dropped, counted and logged; advances the state's stream time."""
        window = self.window
        assert window is not None
        ng = len(self._group)
        keys = [_gk(j) for j in range(ng)]
        frame = frame.filter(pl.col(_TS).is_not_null() & (pl.col(_TS) >= 0))
        if frame.height == 0:
            return frame.with_columns(pl.lit(None, dtype=pl.Int64).alias(_WS))
        previous = self.state.stream_time
        running = pl.col(_TS).cum_max()
        if previous is not None:
            running = pl.max_horizontal(running, pl.lit(previous, dtype=pl.Int64))
        # One query for window starts, stream time and lateness (each eager step costs a
        # polars query, ~0.1 ms whatever the batch size).
        lazy = frame.lazy().with_columns(
            window_starts_expr(pl.col(_TS), window).alias(_WS), running.alias(_ST)
        )
        if window.advance_ms != window.size_ms:
            lazy = lazy.explode(_WS)
        late = (pl.col(_WS) + window.size_ms) <= (pl.col(_ST) - window.grace_ms)
        flagged = lazy.with_columns(late.alias("__late")).collect()
        self.state.stream_time = int(flagged.get_column(_ST).max())  # type: ignore[arg-type]
        late_mask = flagged.get_column("__late")
        if not late_mask.any():
            return _without(flagged, "__late", _ST)
        late_rows = flagged.filter(late_mask)
        for row in late_rows.select(keys + [_WS, _TS]).iter_rows():
            start = row[ng]
            self._late(ctx, tuple(row[:ng]), start, start + window.size_ms, row[ng + 1])
        return flagged.filter(~late_mask).drop("__late", _ST)

    def _fold_vectorised(self, frame: pl.DataFrame, ctx: ExecContext) -> list[_Row]:
        frame = self._valid_stream_rows(frame)
        if frame.height == 0:
            return []
        window = self.window
        ng = len(self._group)
        keys = [_gk(j) for j in range(ng)]
        if window is not None:
            frame = self._assign_windows(frame, ctx)
            keys = keys + [_WS]
        aggs: list[pl.Expr] = []
        for i, call in enumerate(self.calls):
            kind = call.aggregate.vector_kind
            if kind == "count_star":
                aggs.append(pl.len().alias(f"__p{i}"))
            elif kind == "count":
                aggs.append(pl.col(_arg(i, 0)).count().alias(f"__p{i}"))
            elif kind == "sum":
                aggs.append(pl.col(_arg(i, 0)).sum().alias(f"__p{i}"))
            else:
                aggs += [pl.col(_arg(i, k)).alias(f"__p{i}_{k}") for k in range(len(call.args))]
        aggs.append(pl.col(_TS).max().alias("__maxts"))
        grouped = frame.group_by(keys, maintain_order=True).agg(aggs)
        groups = self.state.groups
        calls = [c.aggregate for c in self.calls]
        out: list[_Row] = []
        names = grouped.columns
        index = {n: p for p, n in enumerate(names)}
        for row in grouped.iter_rows():
            gk = tuple(row[:ng])
            if window is not None:
                start = row[ng]
                end = start + window.size_ms
            else:
                start = end = None
            key = (_freeze(gk), start, end)
            entry = groups.get(key)
            if entry is None:
                entry = [[a.init() for a in calls], None, gk]
                groups[key] = entry
            accs = entry[0]
            for i, agg in enumerate(calls):
                if agg.vector_kind is not None:
                    assert agg.combine is not None
                    accs[i] = agg.combine(accs[i], row[index[f"__p{i}"]])
                else:
                    columns = [row[index[f"__p{i}_{k}"]] for k in range(len(self.calls[i].args))]
                    for values in zip(*columns, strict=True):
                        accs[i] = agg.add(accs[i], values)
            ts = row[index["__maxts"]]
            entry[1] = ts if entry[1] is None else max(entry[1], ts)
            out.append((gk, start, end, self._results(accs), entry[1]))
        return out

    # ------------------------------------------------------------------------- sessions
    def _fold_sessions(self, frame: pl.DataFrame, ctx: ExecContext) -> list[_Row]:
        window = self.window
        assert window is not None
        gap = window.size_ms
        frame = self._valid_stream_rows(frame)
        calls = [c.aggregate for c in self.calls]
        out: list[_Row] = []
        for row in frame.iter_rows():
            gk, args, ts = self._row_parts(row)
            if ts is None or ts < 0:
                continue
            stream_time = self._advance(ts)
            close = stream_time - window.grace_ms - gap
            frozen = _freeze(gk)
            visible = stream_time - window.retention_ms
            sessions = [s for s in self.state.sessions.get(frozen, []) if s[1] >= visible]
            overlapping = [s for s in sessions if s[1] >= ts - gap and s[0] <= ts + gap]
            overlapping.sort(key=lambda s: (s[1], s[0]))
            start, end = ts, ts
            accs = [a.init() for a in calls]
            max_ts = ts
            for s in overlapping:
                accs = [
                    a.merge(acc, other) if a.merge is not None else acc
                    for a, acc, other in zip(calls, accs, s[2], strict=True)
                ]
                start, end = min(start, s[0]), max(end, s[1])
                max_ts = max(max_ts, s[3])
            if end < close:
                self._late(ctx, gk, start, end, ts)
                continue
            if (start, end) != (ts, ts):
                for s in overlapping:
                    sessions.remove(s)
                    out.append((gk, s[0], s[1], None, s[1]))
            else:
                for s in overlapping:
                    sessions.remove(s)
            accs = [a.add(acc, arg) for a, acc, arg in zip(calls, accs, args, strict=True)]
            sessions.append([start, end, accs, max_ts, gk])
            self.state.sessions[frozen] = sessions
            out.append((gk, start, end, self._results(accs), end))
        return out

    # ------------------------------------------------------------------------- tables
    def _fold_table(self, frame: pl.DataFrame) -> list[_Row]:
        nk = len(self.aggregation.source_key_fields)
        calls = [c.aggregate for c in self.calls]
        groups = self.state.groups
        out: list[_Row] = []
        null_pos = frame.columns.index(B.NULL_VALUE)
        for row in frame.iter_rows():
            sk = tuple(row[len(row) - nk :]) if nk else ()
            gk, args, ts = self._row_parts(row)
            is_delete = bool(row[null_pos]) or any(v is None for v in gk)
            sk = _freeze(sk)
            old = self.state.table_rows.pop(sk, None)
            touched: list[tuple[Any, ...]] = []
            if old is not None:
                old_gk, old_args = old
                entry = groups.get((_freeze(old_gk), None, None))
                if entry is not None:
                    entry[0] = [
                        a.undo(acc, arg) if a.undo is not None else acc
                        for a, acc, arg in zip(calls, entry[0], old_args, strict=True)
                    ]
                    entry[1] = ts if entry[1] is None else max(entry[1], ts)
                    touched.append(old_gk)
            if not is_delete:
                key = (_freeze(gk), None, None)
                entry = groups.get(key)
                if entry is None:
                    entry = [[a.init() for a in calls], ts, gk]
                    groups[key] = entry
                entry[0] = [
                    a.add(acc, arg) for a, acc, arg in zip(calls, entry[0], args, strict=True)
                ]
                entry[1] = ts if entry[1] is None else max(entry[1], ts)
                self.state.table_rows[sk] = (gk, tuple(args))
                if gk in touched:
                    touched.remove(gk)
                touched.append(gk)
            for key_values in touched:
                entry = groups[(_freeze(key_values), None, None)]
                out.append((key_values, None, None, self._results(entry[0]), entry[1]))
        return out

    # ------------------------------------------------------------------------- EMIT FINAL
    def _emit_final(self, ctx: ExecContext, *, exact: bool) -> list[_Row]:
        """Closed windows not emitted yet. ``exact`` (caching off, per record) also applies
        the window store's retention cut of ksqlDB's range fetch; per batch (caching on) every
        window that closed during the batch is sent once."""
        window = self.window
        assert window is not None and self.state.stream_time is not None
        close = self.state.stream_time - window.grace_ms
        last = self.state.last_emit_close
        if last is not None and close <= last:
            return []
        if window.type is WindowType.SESSION:
            return self._emit_final_sessions(close - window.size_ms, last)
        upper = close - window.size_ms
        if upper < 0:
            return []
        lower = 0 if last is None else last - window.size_ms + 1
        low = self.state.expired_before(window.retention_ms)
        if low is not None and exact:
            lower = max(lower, low)
        self.state.last_emit_close = close
        segment = max(window.retention_ms // 2, _MIN_SEGMENT_MS)
        chosen = [
            (k, v)
            for k, v in self.state.groups.items()
            if k[1] is not None and lower <= k[1] <= upper
        ]
        chosen.sort(key=lambda kv: (kv[0][1] // segment, _sort_key(kv[0][0]), kv[0][1]))
        out: list[_Row] = []
        for (_, start, end), (accs, ts, gk) in chosen:
            out.append((gk, start, end, self._results(accs), ts))
        return out

    def _emit_final_sessions(self, close: int, last: int | None) -> list[_Row]:
        out: list[_Row] = []
        previous = None if last is None else last - self.window.size_ms  # type: ignore[union-attr]
        for sessions in self.state.sessions.values():
            for start, end, accs, _ts, gk in sorted(sessions, key=lambda s: s[1]):
                if end < close and (previous is None or end >= previous):
                    out.append((gk, start, end, self._results(accs), end))
        self.state.last_emit_close = close + self.window.size_ms  # type: ignore[union-attr]
        return out

    # ------------------------------------------------------------------------- output
    def _frame(self, rows: list[_Row]) -> pl.DataFrame:
        data: list[pl.Series] = []
        for j, dtype in enumerate(self._group_dtypes):
            data.append(
                pl.Series(group_field(j), [r[0][j] for r in rows], dtype=dtype, strict=False)
            )
        for i, dtype in enumerate(self._result_dtypes):
            data.append(
                pl.Series(
                    agg_field(i),
                    [None if r[3] is None else r[3][i] for r in rows],
                    dtype=dtype,
                    strict=False,
                )
            )
        if self.window is not None:
            data.append(pl.Series(B.WINDOWSTART, [r[1] for r in rows], dtype=pl.Int64))
            data.append(pl.Series(B.WINDOWEND, [r[2] for r in rows], dtype=pl.Int64))
        data.append(pl.Series(B.ROWTIME, [r[4] for r in rows], dtype=pl.Int64))
        data.append(pl.Series(B.NULL_VALUE, [r[3] is None for r in rows], dtype=pl.Boolean))
        # Aggregate results carry no input headers (as in Kafka Streams' aggregations).
        data.append(_NO_HEADERS.new_from_index(0, len(rows)))
        return pl.DataFrame(data)


def _freeze(values: Any) -> Any:
    """A hashable stand-in for group key values (structs, arrays and maps are dicts/lists)."""
    if isinstance(values, tuple):
        return tuple(_freeze(v) for v in values)
    if isinstance(values, list):
        return ("__list", tuple(_freeze(v) for v in values))
    if isinstance(values, dict):
        return ("__dict", tuple((k, _freeze(v)) for k, v in values.items()))
    return values


def _sort_key(values: Iterable[Any]) -> tuple[Any, ...]:
    return tuple((v is None, str(v) if not isinstance(v, (int, float)) else v) for v in values)


def _wall_ms() -> int:
    return int(time.time() * 1000)


def _cache_on(ctx: ExecContext) -> bool:
    raw = ctx.config.get("cache.max.bytes.buffering", 0)
    try:
        return int(str(raw)) > 0
    except ValueError:
        return False


def _without(frame: pl.DataFrame, *names: str) -> pl.DataFrame:
    """``frame.drop(*names)`` from the Series (DataFrame.drop runs a polars query, ~0.1 ms)."""
    return pl.DataFrame([c for c in frame.get_columns() if c.name not in names])
