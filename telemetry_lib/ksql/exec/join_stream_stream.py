"""Stream-stream join operator: ``JOIN ... WITHIN n | (before, after) [GRACE PERIOD g]``.

Owns: :class:`StreamStreamJoinOperator` (the ``stream-stream`` kind of the join contract in
:mod:`telemetry_lib.ksql.plan.join`; INNER, LEFT, RIGHT and FULL OUTER). Its state is a
:class:`~telemetry_lib.ksql.state.join_windows.StreamJoinState`.

Semantics (Kafka Streams' ``KStreamKStreamJoin`` as ksqlDB drives it, one task, cache off):

- ksqlDB builds ``WITHIN (before, after)`` as ``JoinWindows.of(before).after(after)``, or with a
  grace period ``ofTimeDifferenceAndGrace(before, grace).after(after)``. A RIGHT JOIN is run as
  ``right.leftJoin(left)`` with the same windows, so the right stream plays Kafka Streams' left
  side (its records match left records in ``[t - before, t + after]``).
- A record of Kafka Streams' left side at time ``t`` matches the other side's records with the
  same key (and the same window start — and end, for session windows — for windowed sources)
  and a time in ``[max(0, t - before), max(0, t + after)]``; a record of the right side uses
  ``[t - after, t + before]``. Every match is emitted at once, in the order of the partner's time
  (then arrival), with ``ROWTIME = max`` of the two times.
- Each side keeps its records in a window store with retention ``before + after + grace``
  measured from that store's own largest time: a late record on one side no longer sees
  partners the other store has expired (as in the conformance cases' out-of-order tests).
- Without GRACE PERIOD (old semantics, grace ``max(24 h - 2 * before, 0)``): a record of an
  outer side that finds no partner is emitted at once with nulls for the other side ("spurious"
  left/outer results; a later partner then also emits the joined row).
- With GRACE PERIOD (the KAFKA-10847 fix): such a record is held in the outer-join store unless
  its window already closed (``t + after < stream time``: emitted at once). A partner arriving
  later removes it; otherwise it is emitted, with nulls and its own time, by the first later
  record whose time is the stream time and for which ``t + look-back + grace < stream time``
  (look-back: the window's ``after`` for Kafka Streams' left side, ``before`` for its right).
  Such emissions come before that record's own join results, ordered by (time, right side
  first, key), and carry that record's headers, as Kafka Streams forwards them.
- Every record advances stream time. A record with a null value is then skipped; a record with
  a null key joins nothing: on an outer side it is emitted at once with nulls for the other
  side, else skipped (Kafka Streams 3.7, KIP-962 — the version ksqlDB 7.7 runs). Neither is
  stored nor scans the outer-join store.

Vectorised: a batch (one side, in input order) is joined to the other side's store with one
polars equi-join on the key, filtered on the time bounds; the outer-join store's bookkeeping
(which record removes or emits which pending entry) is computed with numpy searches over the
batch's running stream time — no Python loop over records or state. Output rows are ordered by
the triggering input record, then emissions / matches as Kafka Streams forwards them.

The pending-record close rule follows Kafka Streams 3.7 (KAFKA-15417: each entry's own side's
look-back; before it, the processing side's ``after`` applied to all). Known differences:
pending outer records with equal time and side are emitted in key-value order (Kafka Streams
orders them by serialized key bytes); Kafka Streams' "minTime" shortcut (it skips the scan when
the oldest pending time cannot have closed) is not modelled; with asymmetric windows it can
delay an emission.

Cost: each ``join_batch`` call costs ~15-30 polars operations whatever its size, so its
throughput depends on batch length: two topics that interleave in time (the normal case for a
stream-stream join on Kafka) come as runs of one record. So the operator also has a two-sided
call, :meth:`StreamStreamJoinOperator.process_parts` / :meth:`~StreamStreamJoinOperator.join_parts`
(:mod:`telemetry_lib.ksql.exec.join_stream_merged`): a whole merged batch, both sides in
processing order, in one vectorised call with the same rows, order and state as the part by part
path; the join pipeline uses it inside ``JoinPipeline.merged()`` (the Kafka runtime's batches).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import polars as pl

from telemetry_lib.ksql.catalog import DataSource
from telemetry_lib.ksql.errors import InternalError
from telemetry_lib.ksql.exec import batch as B
from telemetry_lib.ksql.exec import join_stream_columns as ssj
from telemetry_lib.ksql.exec.join_base import StatefulJoinOperator, null_fields, output_columns
from telemetry_lib.ksql.exec.join_stream_merged import join_merged, join_positioned
from telemetry_lib.ksql.exec.operator import Emit, ExecContext
from telemetry_lib.ksql.plan.join import JoinNode, JoinSideNode, Side, join_key_field
from telemetry_lib.ksql.plan.logical import LogicalNode
from telemetry_lib.ksql.state.join_windows import RECORD_SEQ, RECORD_TIME, StreamJoinState
from telemetry_lib.ksql.windows import WindowType

__all__ = ["DEFAULT_GRACE_BASE_MS", "StreamStreamJoinOperator"]

logger = logging.getLogger(__name__)

#: Kafka Streams' ``JoinWindows.of()`` (no GRACE PERIOD) keeps the deprecated 24 h default:
#: grace = max(24 h - 2 * before, 0), so the store retention is about a day.
DEFAULT_GRACE_BASE_MS = 24 * 60 * 60 * 1000

# Working columns of a batch (shared with the merged path: join_stream_columns).
_AT = ssj.AT
_DEL = ssj.DEL
_I = ssj.I
_NO_INDEX = ssj.NO_INDEX
_OSEQ = ssj.OSEQ
_OTS = ssj.OTS
_PHASE = ssj.PHASE
_SIDE_BIT = ssj.SIDE_BIT
_ST = ssj.ST
_SUB = ssj.SUB
# Below this many stored records a window store is not scanned for eviction more than once per
# doubling: small stores cost nothing to keep, and tiny batches then skip the scan.
_MIN_EVICT_ROWS = 1024


@dataclass(frozen=True)
class _SideSpec:
    """How records of one SQL side are processed (Kafka Streams' orientation)."""

    side: Side
    other: Side
    fields: tuple[str, ...]
    #: Partner window relative to this side's record time: [t - before, t + after].
    before: int
    after: int
    #: Unmatched records of this side are emitted (LEFT/RIGHT/FULL outer side).
    outer: bool
    #: This side is Kafka Streams' left side (ordering of outer-store emissions).
    ks_left: bool


class StreamStreamJoinOperator(StatefulJoinOperator):
    """INNER / LEFT / RIGHT / FULL OUTER stream-stream join (see module doc)."""

    step = "Join"

    def __init__(self, node: JoinNode) -> None:
        super().__init__(node)
        if node.kind != "stream-stream" or node.within is None:
            raise InternalError(f"StreamStreamJoinOperator cannot run {node.label()}")
        window = node.within
        before, after = window.before_ms, window.after_ms
        self.spurious_fix = window.grace_ms is not None
        self.grace_ms = (
            window.grace_ms
            if window.grace_ms is not None
            else max(DEFAULT_GRACE_BASE_MS - 2 * before, 0)
        )
        self.retention_ms = before + after + self.grace_ms
        jt = node.join_type
        ks_left: Side = "right" if jt == "RIGHT" else "left"
        outer = {
            "INNER": set(),
            "LEFT": {"left"},
            "RIGHT": {"right"},
            "FULL": {"left", "right"},
        }[jt]
        self.specs: dict[Side, _SideSpec] = {}
        for side, other in (("left", "right"), ("right", "left")):
            b, a = (before, after) if side == ks_left else (after, before)
            self.specs[side] = _SideSpec(  # type: ignore[index]
                side=side,  # type: ignore[arg-type]
                other=other,  # type: ignore[arg-type]
                fields=node.left_fields if side == "left" else node.right_fields,
                before=b,
                after=a,
                outer=side in outer,
                ks_left=side == ks_left,
            )
        #: Look-back of pending records of Kafka Streams' left / right side (the window's
        #: after / before) before their window closes.
        self.ks_after, self.ks_before = after, before
        #: Pending outer records are only held with GRACE PERIOD (and an outer side).
        self.holds_outer = self.spurious_fix and bool(outer)
        self.join_keys = tuple(join_key_field(i) for i in range(len(node.left_key)))
        leaf = _leaf_source(node)
        self.session_keys = (
            leaf is not None and leaf.window is not None and leaf.window.type is WindowType.SESSION
        )
        self.state = StreamJoinState()
        #: Store height at which the next eviction scan runs, per side (not state: a restored
        #: operator simply scans at its first batch).
        self._evict_at: dict[str, int] = {}

    # ------------------------------------------------------------------------- batches
    def process_parts(
        self, parts: list[tuple[Side, pl.DataFrame]], ctx: ExecContext, out: Emit
    ) -> None:
        """Two-sided batch call: ``parts`` are batches of either side in processing order
        (a merged batch); emits what :meth:`process_side` on each part in turn emits, in one
        frame (:func:`~telemetry_lib.ksql.exec.join_stream_merged.join_merged`)."""
        for side, batch in parts:
            self.remember_schema(side, batch)
        result = self.join_parts(parts)
        if result.height:
            out(result)

    def process_positioned(
        self,
        frames: dict[Side, pl.DataFrame],
        positions: dict[Side, np.ndarray],
        ctx: ExecContext,
        out: Emit,
    ) -> None:
        """:meth:`process_parts` for each side's rows in one frame, ``positions[side]`` giving
        each row's place in the processing order (increasing; distinct across sides)."""
        for side, batch in frames.items():
            self.remember_schema(side, batch)
        result = join_positioned(self, frames, positions)
        if result.height:
            out(result)

    def join_parts(self, parts: list[tuple[Side, pl.DataFrame]]) -> pl.DataFrame:
        """The output rows of ``parts`` (batches of either side, in processing order)."""
        return join_merged(self, parts)

    def join_batch(self, side: Side, batch: pl.DataFrame) -> pl.DataFrame:
        """Process one batch of ``side`` (input order) and return the output rows in order."""
        if batch.height == 0:
            return pl.DataFrame()
        spec = self.specs[side]
        keys = self._match_keys(batch)
        state = self.state
        # Every record advances stream time, even one the join then skips (Kafka Streams 3.7).
        ts = batch.get_column(B.ROWTIME).cast(pl.Int64).fill_null(0).to_numpy()
        st = np.maximum.accumulate(ts)
        if state.stream_time is not None:
            st = np.maximum(st, state.stream_time)
        state.stream_time = int(st[-1])
        has_value = ~pl.col(B.NULL_VALUE).fill_null(False)
        has_key = pl.all_horizontal([pl.col(k).is_not_null() for k in keys])
        flags = batch.select(has_value.alias("v"), has_key.alias("k"))
        valid = (flags.get_column("v") & flags.get_column("k")).to_numpy()
        framed = batch.with_columns(
            pl.Series(_I, np.arange(batch.height, dtype=np.int64)),
            pl.Series(_ST, st),
            pl.col(B.ROWTIME).cast(pl.Int64).alias(RECORD_TIME),
        )
        rows = framed.filter(pl.Series(valid)) if not valid.all() else framed
        pieces: list[pl.DataFrame] = []
        if spec.outer and not valid.all():
            # KIP-962: an outer side's record without a key joins nothing and is emitted at once
            keyless = framed.filter(pl.Series(~valid) & flags.get_column("v"))
            if keyless.height:
                pieces.append(self._unmatched_output(spec, keyless))
        if rows.height == 0:
            return self._result(pieces)

        matches = self._matches(spec, rows, keys)
        if matches.height:
            pieces.append(self._match_output(spec, matches))
        eager = pl.DataFrame()
        added = pl.DataFrame()
        if spec.outer:
            matched = (
                matches.get_column(_I).unique() if matches.height else pl.Series([], dtype=pl.Int64)
            )
            unmatched = rows.filter(~pl.col(_I).is_in(matched.implode()))
            if self.holds_outer:
                closed = (pl.col(RECORD_TIME) + spec.after).clip(lower_bound=0) < pl.col(_ST)
                eager = unmatched.filter(closed)
                added = unmatched.filter(~closed)
            else:
                eager = unmatched
        if eager.height:
            pieces.append(self._unmatched_output(spec, eager))
        if self.holds_outer:
            # only a joinable record whose time is the stream time scans the outer-join store
            triggers = np.flatnonzero(valid & (ts == st))
            emitted = self._settle_pending(spec, rows, keys, matches, added, triggers, st)
            if emitted.height:
                pieces.append(emitted)
        self._store(spec, rows, keys)
        return self._result(pieces)

    def _result(self, pieces: list[pl.DataFrame]) -> pl.DataFrame:
        if not pieces:
            return pl.DataFrame()
        result = pl.concat(pieces, how="diagonal_relaxed").sort([_AT, _PHASE, _SUB])
        return result.select(output_columns(self.node, result))

    # ------------------------------------------------------------------------- pieces
    def _match_keys(self, batch: pl.DataFrame) -> list[str]:
        """The join key, plus the window of a windowed key (its start; a session window's end
        too, as Kafka Streams' windowed key serdes write them)."""
        keys = list(self.join_keys)
        if B.WINDOWSTART in batch.columns:
            keys.append(B.WINDOWSTART)
            if self.session_keys and B.WINDOWEND in batch.columns:
                keys.append(B.WINDOWEND)
        return keys

    def _store_columns(self, spec: _SideSpec, keys: list[str], frame: pl.DataFrame) -> list[str]:
        cols = list(spec.fields) + keys
        if B.WINDOWEND in frame.columns and B.WINDOWEND not in keys:
            cols.append(B.WINDOWEND)
        return cols

    def _matches(self, spec: _SideSpec, rows: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
        """Every (record, partner) pair of the batch, ordered as Kafka Streams emits them."""
        other = self.state.records.get(spec.other)
        if other is None or other.height == 0:
            return pl.DataFrame()
        visible_after = self.state.store_time[spec.other] - self.retention_ms
        partners = other.rename({RECORD_TIME: _OTS, RECORD_SEQ: _OSEQ})
        if B.WINDOWEND in partners.columns and B.WINDOWEND not in keys:
            partners = partners.drop(B.WINDOWEND)
        t = pl.col(RECORD_TIME)
        low = (t - spec.before).clip(lower_bound=0)
        high = (t + spec.after).clip(lower_bound=0)
        joined = rows.join(partners, on=keys, how="inner")
        return joined.filter(
            (pl.col(_OTS) >= low) & (pl.col(_OTS) <= high) & (pl.col(_OTS) > visible_after)
        ).sort([_I, _OTS, _OSEQ])

    def _match_output(self, spec: _SideSpec, matches: pl.DataFrame) -> pl.DataFrame:
        return matches.with_columns(
            pl.max_horizontal(RECORD_TIME, _OTS).alias(B.ROWTIME),
            pl.lit(False).alias(B.NULL_VALUE),
            pl.lit(False).alias(B.NULL_KEY),
            pl.col(_I).alias(_AT),
            pl.lit(1, dtype=pl.Int8).alias(_PHASE),
            pl.int_range(pl.len(), dtype=pl.Int64).alias(_SUB),
        )

    def _unmatched_output(self, spec: _SideSpec, eager: pl.DataFrame) -> pl.DataFrame:
        other_fields = self.specs[spec.other].fields
        return eager.with_columns(
            *null_fields(other_fields, self.schemas.get(spec.other)),
            pl.col(RECORD_TIME).alias(B.ROWTIME),
            pl.lit(False).alias(B.NULL_VALUE),
            pl.lit(False).alias(B.NULL_KEY),
            pl.col(_I).alias(_AT),
            pl.lit(1, dtype=pl.Int8).alias(_PHASE),
            pl.lit(0, dtype=pl.Int64).alias(_SUB),
        )

    def _settle_pending(
        self,
        spec: _SideSpec,
        rows: pl.DataFrame,
        keys: list[str],
        matches: pl.DataFrame,
        added: pl.DataFrame,
        triggers: np.ndarray,
        st: np.ndarray,
    ) -> pl.DataFrame:
        """Update the outer-join store for this batch and return the rows it emits.

        An entry present since ``p`` (-1: before the batch) is emitted by the first record
        ``j > p`` that scans the store (its time is the stream time) with ``entry time + after
        + grace < stream time``, unless a match of record ``d < j`` removed it first (a record's
        scan runs before its own matches, so ``d == j`` still emits)."""
        state = self.state
        own, other = spec.side, spec.other
        trigger_times = st[triggers]  # never decreasing
        entries: list[pl.DataFrame] = []
        if not self._pending_can_change(spec, matches, added, trigger_times):
            if added.height:  # only new entries: no pending entry is emitted or removed
                self._add_pending(spec, keys, added)
            return pl.DataFrame()

        # Entries added by this batch (the last of equal (key, time) wins, as a store put does).
        new = pl.DataFrame()
        if added.height:
            new = added.select(self._store_columns(spec, keys, added) + [RECORD_TIME, _I]).unique(
                subset=keys + [RECORD_TIME], keep="last", maintain_order=True
            )
        for side in (own, other):
            pending = state.pending.get(side)
            if pending is None or pending.height == 0:
                continue
            if side == own and new.height:
                pending = pending.join(
                    new.select(keys + [RECORD_TIME]), on=keys + [RECORD_TIME], how="anti"
                )
            pending = pending.with_columns(pl.lit(-1, dtype=pl.Int64).alias(_I))
            if side == other and matches.height:
                removed = matches.group_by(keys + [_OTS]).agg(pl.col(_I).min().alias(_DEL))
                pending = pending.join(
                    removed.rename({_OTS: RECORD_TIME}), on=keys + [RECORD_TIME], how="left"
                )
            entries.append(self._tag(pending, side))
        if new.height:
            entries.append(self._tag(new, own))
        state.pending = {}
        if not entries:
            return pl.DataFrame()
        frame = pl.concat(entries, how="diagonal_relaxed")
        if _DEL not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.Int64).alias(_DEL))

        headers = rows.select(pl.col(_I).alias(_AT), pl.col(B.HEADERS))
        return self._close_entries(frame, triggers, trigger_times, headers, keys)

    def _close_entries(
        self,
        frame: pl.DataFrame,
        triggers: np.ndarray,
        trigger_times: np.ndarray,
        headers: pl.DataFrame,
        keys: list[str],
    ) -> pl.DataFrame:
        """Settle the outer-join store's ``frame`` (every entry tagged with its side bit, ``_I``
        the position it is present since and ``_DEL`` the position of the record whose match
        removes it): what stays becomes ``state.pending`` per side; the rest is dropped or
        emitted at its trigger (``headers``: ``_AT`` → the triggering record's headers), as
        outer rows with the other side's fields null, in emission order. Shared by the
        run-by-run path and the merged batch call (:mod:`.join_stream_merged`)."""
        since = frame.get_column(_I).to_numpy()
        # an entry's window closes when stream time passes its time + its side's look-back
        # (Kafka Streams' left side: after; its right side: before) + grace
        lookback = np.where(
            frame.get_column(_SIDE_BIT).to_numpy() == 1, self.ks_after, self.ks_before
        )
        closes = frame.get_column(RECORD_TIME).to_numpy() + lookback + self.grace_ms
        pos = np.maximum(
            np.searchsorted(triggers, since, side="right"),
            np.searchsorted(trigger_times, closes, side="right"),
        )
        at = np.append(triggers, _NO_INDEX)[pos]  # past the last trigger: not emitted
        removed_at = frame.get_column(_DEL).fill_null(_NO_INDEX).to_numpy()
        emit = (at != _NO_INDEX) & (at <= removed_at)
        gone = emit | (removed_at != _NO_INDEX)
        frame = frame.with_columns(pl.Series(_AT, at))

        # What stays pending, per side, in store layout.
        for side, spec in self.specs.items():
            keep = frame.filter(pl.Series(~gone) & (pl.col(_SIDE_BIT) == int(spec.ks_left)))
            if keep.height:
                self.state.pending[side] = keep.select(
                    self._store_columns(spec, keys, keep) + [RECORD_TIME]
                )
        emitted = frame.filter(pl.Series(emit))
        if emitted.height == 0:
            return pl.DataFrame()
        emitted = emitted.join(headers, on=_AT, how="left", maintain_order="left")
        pieces = []
        for spec in self.specs.values():
            part = emitted.filter(pl.col(_SIDE_BIT) == int(spec.ks_left))
            if part.height:
                other = self.specs[spec.other]
                pieces.append(
                    part.with_columns(*null_fields(other.fields, self.schemas.get(other.side)))
                )
        result = pl.concat(pieces, how="diagonal_relaxed").sort(
            [_AT, RECORD_TIME, _SIDE_BIT, *keys], nulls_last=True
        )
        return result.with_columns(
            pl.col(RECORD_TIME).alias(B.ROWTIME),
            pl.lit(False).alias(B.NULL_VALUE),
            pl.lit(False).alias(B.NULL_KEY),
            pl.lit(0, dtype=pl.Int8).alias(_PHASE),
            pl.int_range(pl.len(), dtype=pl.Int64).alias(_SUB),
        )

    def _pending_can_change(
        self,
        spec: _SideSpec,
        matches: pl.DataFrame,
        added: pl.DataFrame,
        trigger_times: np.ndarray,
    ) -> bool:
        """Whether this batch may emit or remove a pending entry (cheap checks first: most
        small batches neither close a window nor match a pending record)."""
        state = self.state
        if len(trigger_times):
            top = int(trigger_times[-1])
            frames = [(spec.side, added)] + list(state.pending.items())
            for side, frame in frames:
                if not frame.height:
                    continue
                oldest = int(frame.get_column(RECORD_TIME).min())  # type: ignore[arg-type]
                if oldest + self.specs[side].after + self.grace_ms < top:  # type: ignore[index]
                    return True
        other = state.pending.get(spec.other)
        return bool(matches.height and other is not None and other.height)

    def _add_pending(self, spec: _SideSpec, keys: list[str], added: pl.DataFrame) -> None:
        """Put ``added`` into the side's outer-join store (equal key and time: the last wins)."""
        state = self.state
        new = added.select(self._store_columns(spec, keys, added) + [RECORD_TIME])
        if new.height > 1:
            new = new.unique(subset=keys + [RECORD_TIME], keep="last", maintain_order=True)
        current = state.pending.get(spec.side)
        if current is None or current.height == 0:
            state.pending[spec.side] = new
            return
        current = current.join(
            new.select(keys + [RECORD_TIME]), on=keys + [RECORD_TIME], how="anti"
        )
        state.pending[spec.side] = pl.concat([current, new], how="diagonal_relaxed")

    def _tag(self, frame: pl.DataFrame, side: Side) -> pl.DataFrame:
        return frame.with_columns(
            pl.lit(int(self.specs[side].ks_left), dtype=pl.Int8).alias(_SIDE_BIT)
        )

    def _store(self, spec: _SideSpec, rows: pl.DataFrame, keys: list[str]) -> None:
        """Put the batch's records into their side's window store and evict expired ones."""
        state = self.state
        n = rows.height
        stored = rows.select(
            *self._store_columns(spec, keys, rows),
            RECORD_TIME,
            pl.int_range(n, dtype=pl.Int64).add(state.seq).alias(RECORD_SEQ),
        )
        state.seq += n
        self.put_records(spec.side, stored)

    def put_records(self, side: Side, stored: pl.DataFrame) -> None:
        """Append ``stored`` (store layout, sequence numbers given) to the side's window store,
        advance its store time and evict expired records."""
        state = self.state
        current = state.records.get(side)
        state.records[side] = (
            stored if current is None else pl.concat([current, stored], how="diagonal_relaxed")
        )
        top = int(stored.get_column(RECORD_TIME).max())  # type: ignore[arg-type]
        previous = state.store_time.get(side)
        state.store_time[side] = top if previous is None else max(previous, top)
        # Evicting is a full scan: do it when the store doubled since the last one (look-ups
        # filter on visibility anyway, so the timing of eviction changes no result).
        height = state.records[side].height
        if height >= self._evict_at.get(side, 0):
            state.evict(side, self.retention_ms)
            self._evict_at[side] = max(2 * state.records[side].height, _MIN_EVICT_ROWS)


def _leaf_source(node: LogicalNode) -> DataSource | None:
    """The source at the far left of ``node``'s inputs (whose key the join key follows)."""
    current: LogicalNode = node
    while not isinstance(current, JoinSideNode):
        children = current.children()
        if not children:
            return None
        current = children[0]
    return current.source
