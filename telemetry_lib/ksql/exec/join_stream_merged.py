"""Stream-stream join over a merged batch: both sides at once, in processing order.

Owns: :func:`join_merged` (and :func:`join_positioned`: the same, given each side's rows in
one frame with their places in the processing order), the two-sided batch call of
:class:`~telemetry_lib.ksql.exec.join_stream_stream.StreamStreamJoinOperator`. The Kafka runtime
merges a join's inputs by time the way Kafka Streams picks records, so two streams that
interleave in time (clicks and impressions arriving together) come as runs of ONE record; the
one-sided ``join_batch`` costs ~15-30 polars operations per call whatever its size. Here the
whole merged batch — the parts ``[(side, batch), ...]`` in processing order — is one call that
gives exactly what calling ``join_batch`` part by part (equivalently: record by record) gives,
the same output rows in the same order and the same state afterwards:

- record ``i`` (global position in the merged batch) joins the other side's records stored
  BEFORE it — the store from earlier batches plus that side's joinable records ``j < i`` of this
  batch — with the same key, a time in its window, and visible by that store's time *at i*
  (the running maximum of the other side's stored times before ``i``, with the store's time
  from earlier batches); partners in (time, arrival) order;
- stream time is the running maximum of all times in processing order; late records, null keys
  (KIP-962), null values, eager outer rows (no GRACE) and held outer rows (GRACE: added, removed
  by the first later match of their key and time on the other side, emitted by the first later
  record at stream time that closes their window) follow the operator's module doc.

How: matches are a range join — the other side's candidates sorted by (key id, time, arrival);
each record's window (narrowed to the visible times) becomes two ``numpy.searchsorted`` bounds,
the candidate pairs are expanded with ``repeat``/``arange`` and filtered on arrival ``j < i``
(only in-window pairs are ever built, and in chunks of :data:`PAIR_CHUNK`, so memory stays near
the output's size); the outer-join store's bookkeeping is the operator's searchsorted scheme
with each entry's own start position. No Python loop over records.

Where this is not used (``join_batch`` part by part instead, exact by construction): parts of
one side only (one concatenated ``join_batch``); a record with a null ROWTIME; sides whose
match keys differ (one windowed, one not); key ids times the time span beyond int64.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from telemetry_lib.ksql.exec import batch as B
from telemetry_lib.ksql.exec import join_stream_columns as ssj
from telemetry_lib.ksql.exec.join_base import output_columns
from telemetry_lib.ksql.plan.join import Side
from telemetry_lib.ksql.state.join_windows import RECORD_SEQ, RECORD_TIME

if TYPE_CHECKING:
    from telemetry_lib.ksql.exec.join_stream_stream import StreamStreamJoinOperator

__all__ = ["PAIR_CHUNK", "join_merged", "join_positioned"]

logger = logging.getLogger(__name__)

#: Candidate (record, partner) pairs expanded at once: ~2M pairs of int64 indexes are ~50 MB of
#: working arrays, small next to a 100k-record batch's frames, large enough to stay vectorised.
PAIR_CHUNK = 2_000_000

# Working columns: those shared with the run-by-run path, then this path's own.
_AT = ssj.AT
_DEL = ssj.DEL
_I = ssj.I
_OSEQ = ssj.OSEQ
_OTS = ssj.OTS
_PHASE = ssj.PHASE
_ST = ssj.ST
_SUB = ssj.SUB
_PJ = "__ssj_pj"  # partner: its position in this batch (-1: stored by an earlier batch)
_GID = "__ssj_gid"
#: "No store time yet": far below any time, but with room to subtract a retention.
_NEVER = np.iinfo(np.int64).min // 4
#: Composite (key id, time) search keys must stay inside int64.
_COMPOSITE_LIMIT = 2**62


def join_merged(
    op: StreamStreamJoinOperator, parts: list[tuple[Side, pl.DataFrame]]
) -> pl.DataFrame:
    """Output rows of ``parts`` (batches of either side, in processing order), exactly as
    ``op.join_batch`` called on each part in turn (see module doc)."""
    parts = [(side, frame) for side, frame in parts if frame.height]
    if not parts:
        return pl.DataFrame()
    sides = {side for side, _ in parts}
    if len(sides) == 1:
        whole = pl.concat([f for _, f in parts], how="diagonal_relaxed")
        return op.join_batch(parts[0][0], whole)
    keys = op._match_keys(parts[0][1])
    first = {side: frame for side, frame in reversed(parts)}
    if any(op._match_keys(f) != keys for f in first.values()):
        return _part_by_part(op, parts)
    merged = _Merged.build(op, parts, keys)
    if merged is None:
        return _part_by_part(op, parts)
    return merged.run()


def join_positioned(
    op: StreamStreamJoinOperator,
    frames: dict[Side, pl.DataFrame],
    positions: dict[Side, np.ndarray],
) -> pl.DataFrame:
    """:func:`join_merged` for each side's rows in one frame: ``positions[side]`` gives every
    row's place in the processing order (increasing within a side, distinct across sides)."""
    frames = {side: f for side, f in frames.items() if f.height}
    if not frames:
        return pl.DataFrame()
    everything = np.sort(np.concatenate([positions[side] for side in frames]))
    ranks = {side: np.searchsorted(everything, positions[side]) for side in frames}
    if len(frames) == 2:
        keys = op._match_keys(frames["left"])
        if op._match_keys(frames["right"]) == keys:
            merged = _Merged.laid_out(op, keys, frames, ranks, len(everything))
            if merged is not None:
                return merged.run()
    # part by part (exact): the sides' runs in processing order
    lefts = np.zeros(len(everything), dtype=np.bool_)
    if "left" in frames:
        lefts[ranks["left"]] = True
    cuts = np.flatnonzero(np.diff(lefts.astype(np.int8))) + 1
    parts: list[tuple[Side, pl.DataFrame]] = []
    taken = {"left": 0, "right": 0}
    for start, stop in zip(np.r_[0, cuts], np.r_[cuts, len(everything)], strict=True):
        side: Side = "left" if lefts[start] else "right"
        parts.append((side, frames[side].slice(taken[side], int(stop - start))))
        taken[side] += int(stop - start)
    return _part_by_part(op, parts)


def _concat(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """One side's batches as one frame (their schemas normally agree: one side chain)."""
    if len(frames) == 1:
        return frames[0]
    try:
        return pl.concat(frames, how="vertical", rechunk=True)
    except (pl.exceptions.SchemaError, pl.exceptions.ShapeError):
        return pl.concat(frames, how="diagonal_relaxed")


def _part_by_part(
    op: StreamStreamJoinOperator, parts: list[tuple[Side, pl.DataFrame]]
) -> pl.DataFrame:
    outs = [out for side, frame in parts if (out := op.join_batch(side, frame)).height]
    return pl.concat(outs, how="diagonal_relaxed") if outs else pl.DataFrame()


class _Merged:
    """One merged batch being joined (global arrays over positions 0..n-1)."""

    def __init__(
        self,
        op: StreamStreamJoinOperator,
        keys: list[str],
        frames: dict[Side, pl.DataFrame],
        is_left: np.ndarray,
        ts: np.ndarray,
        st: np.ndarray,
        valid: np.ndarray,
    ) -> None:
        self.op = op
        self.keys = keys
        self.frames = frames
        self.is_left = is_left
        self.ts = ts
        self.st = st
        self.valid = valid
        state = op.state
        # arrival sequence of every stored (valid) record, in processing order
        self.seq = state.seq + np.cumsum(valid) - 1
        self.rows: dict[Side, pl.DataFrame] = {}
        for side, frame in frames.items():
            mask = valid[frame.get_column(_I).to_numpy()]
            self.rows[side] = frame.filter(pl.Series(mask)) if not mask.all() else frame

    @classmethod
    def build(
        cls,
        op: StreamStreamJoinOperator,
        parts: list[tuple[Side, pl.DataFrame]],
        keys: list[str],
    ) -> _Merged | None:
        count = len(parts)
        heights = np.fromiter((f.height for _, f in parts), dtype=np.int64, count=count)
        lefts = np.fromiter((s == "left" for s, _ in parts), dtype=np.bool_, count=count)
        starts = np.cumsum(heights) - heights
        wholes: dict[Side, pl.DataFrame] = {}
        positions: dict[Side, np.ndarray] = {}
        for side, chosen in (("left", lefts), ("right", ~lefts)):
            wholes[side] = _concat([f for s, f in parts if s == side])  # type: ignore[index]
            # global position of each of the side's records: its part's start + its offset
            h = heights[chosen]
            positions[side] = (  # type: ignore[index]
                np.repeat(starts[chosen] - (np.cumsum(h) - h), h) + np.arange(int(h.sum()))
            ).astype(np.int64)
        return cls.laid_out(op, keys, wholes, positions, int(heights.sum()))

    @classmethod
    def laid_out(
        cls,
        op: StreamStreamJoinOperator,
        keys: list[str],
        wholes: dict[Side, pl.DataFrame],
        positions: dict[Side, np.ndarray],
        n: int,
    ) -> _Merged | None:
        """From each side's rows with their positions 0..n-1 in processing order."""
        state = op.state
        ts = np.empty(n, dtype=np.int64)
        valid = np.empty(n, dtype=np.bool_)
        is_left = np.zeros(n, dtype=np.bool_)
        frames: dict[Side, pl.DataFrame] = {}
        for side, whole in wholes.items():
            if whole.get_column(B.ROWTIME).null_count():
                return None
            idx = positions[side]
            flags = whole.select(
                (~pl.col(B.NULL_VALUE).fill_null(False)).alias("v"),
                pl.all_horizontal([pl.col(k).is_not_null() for k in keys]).alias("k"),
                pl.col(B.ROWTIME).cast(pl.Int64).alias("t"),
            )
            valid[idx] = (flags.get_column("v") & flags.get_column("k")).to_numpy()
            ts[idx] = flags.get_column("t").to_numpy()
            is_left[idx] = side == "left"
            frames[side] = whole.with_columns(
                pl.Series(_I, idx), flags.get_column("t").alias(RECORD_TIME)
            )
        st = np.maximum.accumulate(ts)
        if state.stream_time is not None:
            st = np.maximum(st, state.stream_time)
        for side, frame in frames.items():
            frames[side] = frame.with_columns(pl.Series(_ST, st[positions[side]]))
        merged = cls(op, keys, frames, is_left, ts, st, valid)
        return merged if merged._fits() else None

    def _fits(self) -> bool:
        """Whether (key id, time) composites fit int64 (else the caller goes part by part)."""
        state = self.op.state
        times = [int(self.ts.min()), int(self.ts.max())]
        for frame in state.records.values():
            if frame.height:
                stored = frame.get_column(RECORD_TIME)
                times += [int(stored.min()), int(stored.max())]  # type: ignore[arg-type]
        reach = max(s.before + s.after for s in self.op.specs.values()) + self.op.retention_ms
        span = max(times) - min(times) + 2 * reach + 4
        groups = len(self.ts) + sum(f.height for f in state.records.values()) + 1
        return groups * span < _COMPOSITE_LIMIT

    # ---------------------------------------------------------------------------- the call
    def run(self) -> pl.DataFrame:
        op, state = self.op, self.op.state
        pieces: list[pl.DataFrame] = []
        matches: dict[Side, pl.DataFrame] = {}
        for side in ("left", "right"):
            spec = op.specs[side]  # type: ignore[index]
            frame = self.frames.get(side)  # type: ignore[call-overload]
            if frame is None:
                continue
            if spec.outer:  # KIP-962: a keyed-less record of an outer side is emitted at once
                no_key = ~self.valid[frame.get_column(_I).to_numpy()]
                if no_key.any():
                    keyless = frame.filter(
                        pl.Series(no_key) & ~pl.col(B.NULL_VALUE).fill_null(False)
                    )
                    if keyless.height:
                        pieces.append(op._unmatched_output(spec, keyless))
            found = self._matches(side)  # type: ignore[arg-type]
            if found.height:
                matches[side] = found  # type: ignore[index]
                pieces.append(op._match_output(spec, found))
        added: dict[Side, pl.DataFrame] = {}
        for side, rows in self.rows.items():
            spec = op.specs[side]
            if not spec.outer or rows.height == 0:
                continue
            paired = matches.get(side)
            unmatched = (
                rows.filter(~pl.col(_I).is_in(paired.get_column(_I).unique().implode()))
                if paired is not None
                else rows
            )
            eager = unmatched
            if op.holds_outer:
                closed = (pl.col(RECORD_TIME) + spec.after).clip(lower_bound=0) < pl.col(_ST)
                eager = unmatched.filter(closed)
                added[side] = unmatched.filter(~closed)
            if eager.height:
                pieces.append(op._unmatched_output(spec, eager))
        if op.holds_outer:
            emitted = self._settle_pending(matches, added)
            if emitted.height:
                pieces.append(emitted)
        self._store()
        state.stream_time = int(self.st[-1])
        if not pieces:
            return pl.DataFrame()
        result = pl.concat(pieces, how="diagonal_relaxed").sort([_AT, _PHASE, _SUB])
        return result.select(output_columns(op.node, result))

    # ---------------------------------------------------------------------------- matches
    def _partners(self, other: Side) -> pl.DataFrame:
        """The other side's candidates: the store, then this batch's joinable records."""
        op, state = self.op, self.op.state
        spec = op.specs[other]
        frames = []
        stored = state.records.get(other)
        if stored is not None and stored.height:
            frames.append(stored.with_columns(pl.lit(-1, dtype=pl.Int64).alias(_PJ)))
        rows = self.rows.get(other)
        if rows is not None and rows.height:
            idx = rows.get_column(_I).to_numpy()
            frames.append(
                rows.select(
                    *op._store_columns(spec, self.keys, rows),
                    RECORD_TIME,
                    pl.Series(RECORD_SEQ, self.seq[idx]),
                    pl.col(_I).alias(_PJ),
                )
            )
        if not frames:
            return pl.DataFrame()
        partners = pl.concat(frames, how="diagonal_relaxed")
        if B.WINDOWEND in partners.columns and B.WINDOWEND not in self.keys:
            partners = partners.drop(B.WINDOWEND)
        return partners.rename({RECORD_TIME: _OTS, RECORD_SEQ: _OSEQ})

    def _store_time_before(self, other: Side) -> np.ndarray:
        """Per position i of the batch: the other side's store time before record i."""
        prior = self.op.state.store_time.get(other)
        mine = self.valid & (self.is_left == (other == "left"))
        times = np.where(mine, self.ts, _NEVER)
        running = np.maximum.accumulate(times)
        before = np.empty_like(running)
        before[0] = _NEVER
        before[1:] = running[:-1]
        return np.maximum(before, _NEVER if prior is None else prior)

    def _matches(self, side: Side) -> pl.DataFrame:
        """Every (record of ``side``, earlier partner) pair, ordered (record, time, arrival)."""
        op = self.op
        spec = op.specs[side]
        rows = self.rows.get(side)
        if rows is None or rows.height == 0:
            return pl.DataFrame()
        partners = self._partners(spec.other)
        if partners.height == 0:
            return pl.DataFrame()
        keys = self.keys
        ids = (
            pl.concat([rows.select(keys), partners.select(keys)], how="vertical_relaxed")
            .with_row_index(_GID)
            .select(pl.col(_GID).first().over(keys))
            .get_column(_GID)
            .to_numpy()
        )
        gid_r, gid_p = ids[: rows.height], ids[rows.height :]
        ots = partners.get_column(_OTS).to_numpy()
        oseq = partners.get_column(_OSEQ).to_numpy()
        order = np.lexsort((oseq, ots, gid_p))
        t = rows.get_column(RECORD_TIME).to_numpy()
        pos = rows.get_column(_I).to_numpy()
        visible_after = self._store_time_before(spec.other)[pos] - op.retention_ms
        low = np.maximum(np.maximum(t - spec.before, 0), visible_after + 1)
        high = np.maximum(t + spec.after, 0)
        base = int(ots.min()) - 1
        span = int(ots.max()) - base + 2  # relative partner times lie in [1, span - 1)
        comp = gid_p[order] * span + (ots[order] - base)
        lo = np.searchsorted(comp, gid_r * span + np.clip(low - base, 0, span - 1), side="left")
        hi = np.searchsorted(comp, gid_r * span + np.clip(high - base, 0, span - 1), side="right")
        counts = np.maximum(hi - lo, 0)
        pj = partners.get_column(_PJ).to_numpy()[order]
        trig_parts, partner_parts = [], []
        ends = np.cumsum(counts)
        start = 0
        while start < len(counts):
            # triggers [start, stop) expand to at most PAIR_CHUNK pairs (one trigger at least)
            done = ends[start - 1] if start else 0
            stop = max(int(np.searchsorted(ends, done + PAIR_CHUNK, side="right")), start + 1)
            c = counts[start:stop]
            total = int(c.sum())
            if total:
                trig = np.repeat(np.arange(start, stop), c)
                first = np.repeat(np.cumsum(c) - c, c)
                cand = np.repeat(lo[start:stop], c) + (np.arange(total) - first)
                keep = pj[cand] < pos[trig]
                trig_parts.append(trig[keep])
                partner_parts.append(order[cand[keep]])
            start = stop
        if not trig_parts:
            return pl.DataFrame()
        trig = np.concatenate(trig_parts)
        if len(trig) == 0:
            return pl.DataFrame()
        mate = np.concatenate(partner_parts)
        fields = [*op.specs[spec.other].fields, _OTS, _OSEQ]
        return pl.concat([rows[trig], partners.select(fields)[mate]], how="horizontal")

    # ---------------------------------------------------------------------------- outer store
    def _settle_pending(
        self, matches: dict[Side, pl.DataFrame], added: dict[Side, pl.DataFrame]
    ) -> pl.DataFrame:
        """The outer-join store after this batch, and the rows it emits (see module doc)."""
        op, state, keys = self.op, self.op.state, self.keys
        entries = []
        for side in ("left", "right"):
            spec = op.specs[side]  # type: ignore[index]
            frames = []
            prior = state.pending.get(side)
            if prior is not None and prior.height:
                frames.append(prior.with_columns(pl.lit(-1, dtype=pl.Int64).alias(_I)))
            new = added.get(side)  # type: ignore[call-overload]
            if new is not None and new.height:
                frames.append(new.select(op._store_columns(spec, keys, new) + [RECORD_TIME, _I]))
            if not frames:
                continue
            entry = pl.concat(frames, how="diagonal_relaxed")
            if len(frames) > 1 or entry.height > 1:  # equal key and time: the last put wins
                entry = entry.unique(subset=keys + [RECORD_TIME], keep="last", maintain_order=True)
            # removed by the first later record of the other side matching its key and time
            found = matches.get(spec.other)
            if found is not None:
                removers = found.select(
                    *keys, pl.col(_OTS).alias(RECORD_TIME), pl.col(_I).alias(_DEL)
                )
                first = (
                    entry.select(*keys, RECORD_TIME, _I)
                    .join(removers, on=keys + [RECORD_TIME], how="inner")
                    .filter(pl.col(_DEL) > pl.col(_I))
                    .group_by(keys + [RECORD_TIME])
                    .agg(pl.col(_DEL).min())
                )
                entry = entry.join(
                    first, on=keys + [RECORD_TIME], how="left", maintain_order="left"
                )
            entries.append(op._tag(entry, side))  # type: ignore[arg-type]
        state.pending = {}
        if not entries:
            return pl.DataFrame()
        frame = pl.concat(entries, how="diagonal_relaxed")
        if _DEL not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.Int64).alias(_DEL))
        triggers = np.flatnonzero(self.valid & (self.ts == self.st))
        headers = pl.concat(
            [f.select(pl.col(_I).alias(_AT), pl.col(B.HEADERS)) for f in self.frames.values()],
            how="vertical_relaxed",
        )
        return op._close_entries(frame, triggers, self.st[triggers], headers, keys)

    # ---------------------------------------------------------------------------- stores
    def _store(self) -> None:
        """Put every joinable record into its side's window store (arrival order kept)."""
        op = self.op
        for side, rows in self.rows.items():
            if rows.height == 0:
                continue
            spec = op.specs[side]
            idx = rows.get_column(_I).to_numpy()
            stored = rows.select(
                *op._store_columns(spec, self.keys, rows),
                RECORD_TIME,
                pl.Series(RECORD_SEQ, self.seq[idx]),
            )
            op.put_records(side, stored)
        op.state.seq += int(self.valid.sum())
