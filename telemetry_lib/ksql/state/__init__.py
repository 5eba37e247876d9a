"""State of aggregating queries: keyed, windowed and session stores, with snapshot/restore.

Owns: :class:`AggregateState`, everything an aggregate operator must remember between batches:

- ``groups``: ``{(group key tuple, window start, window end): [accumulators, max timestamp]}``
  (non-windowed aggregations use start = end = None) — the keyed / windowed store. The operator
  merges each batch's polars partials into it touching only the batch's keys.
- ``sessions``: ``{group key tuple: [[start, end, accumulators, max timestamp], ...]}``.
- ``stream_time``: the largest record timestamp seen (Kafka Streams' observed stream time; one
  task, as under ksqlDB's TopologyTestDriver); window-store retention is measured from it.
- ``last_emit_close``: EMIT FINAL's last emitted window-close time (None before the first).
- ``table_rows``: for a TABLE source, ``{source key tuple: (group key tuple, argument values)}``,
  the row each key currently contributes, so an update or delete can be retracted.
- ``late_records``: how many records arrived after their window closed (dropped).
- ``having_passing``: group keys (and windows) whose last output passed HAVING.
- ``frame``: the columnar store of the caching-on fast path (COUNT and numeric SUM): a polars
  DataFrame of group keys, window start, accumulators and max timestamp, merged per batch with
  joins (see :mod:`telemetry_lib.ksql.exec.aggregate_columnar`).

Snapshot / restore API (for changelog recovery by the Kafka runtime)::

    blob = state.snapshot()              # bytes, self-contained
    fresh = AggregateState.restore(blob) # an equal, independent state
    state.evict_windows(retention_ms)    # drop windows that left retention (memory stays
                                         # bounded by open windows x keys)
    state.approximate_bytes()            # size of the snapshot, for benchmarks

Accumulators are plain Python values (see :mod:`telemetry_lib.ksql.functions.aggregates`), so a
snapshot is a pickle of the stores; restoring yields the same future outputs as running on.
"""

from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AggregateState"]

logger = logging.getLogger(__name__)

#: Bumped when the snapshot layout changes, so an old blob is refused instead of misread.
SNAPSHOT_VERSION = 1


@dataclass
class AggregateState:
    """The stores of one aggregate operator (see module doc)."""

    groups: dict[tuple[Any, ...], list[Any]] = field(default_factory=dict)
    sessions: dict[tuple[Any, ...], list[list[Any]]] = field(default_factory=dict)
    stream_time: int | None = None
    last_emit_close: int | None = None
    table_rows: dict[tuple[Any, ...], tuple[Any, ...]] = field(default_factory=dict)
    late_records: int = 0
    #: The columnar store of the caching-on fast path (COUNT / SUM only), a polars DataFrame.
    frame: Any = None
    #: Windowed group keys whose last output passed HAVING (a later failure emits a tombstone).
    having_passing: set[tuple[Any, ...]] = field(default_factory=set)

    def snapshot(self) -> bytes:
        """A self-contained copy of the state (pickle of the stores)."""
        payload = {
            "version": SNAPSHOT_VERSION,
            "groups": self.groups,
            "sessions": self.sessions,
            "stream_time": self.stream_time,
            "last_emit_close": self.last_emit_close,
            "table_rows": self.table_rows,
            "late_records": self.late_records,
            "having_passing": self.having_passing,
            "frame": self.frame,
        }
        return pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def restore(cls, blob: bytes) -> AggregateState:
        """The state a :meth:`snapshot` captured; ValueError for a blob of another layout."""
        payload = pickle.loads(blob)  # noqa: S301 - our own snapshots only
        if not isinstance(payload, dict) or payload.get("version") != SNAPSHOT_VERSION:
            raise ValueError(
                "aggregate state snapshot has an unknown layout; it was written by another "
                f"engine version (expected version {SNAPSHOT_VERSION})"
            )
        return cls(
            groups=payload["groups"],
            sessions=payload["sessions"],
            stream_time=payload["stream_time"],
            last_emit_close=payload["last_emit_close"],
            table_rows=payload["table_rows"],
            late_records=payload["late_records"],
            having_passing=payload["having_passing"],
            frame=payload["frame"],
        )

    def expired_before(self, retention_ms: int) -> int | None:
        """Window starts below this have left the window store's retention (measured from
        stream time, as the conformance cases of EMIT FINAL show)."""
        if self.stream_time is None:
            return None
        return self.stream_time - retention_ms

    def evict_windows(self, retention_ms: int) -> int:
        """Drop windows (and sessions) whose start left retention; returns how many."""
        low = self.expired_before(retention_ms)
        if low is None:
            return 0
        doomed = [k for k in self.groups if k[1] is not None and k[1] < low]
        for k in doomed:
            del self.groups[k]
        evicted = len(doomed)
        if self.sessions and self.stream_time is not None:
            for key in list(self.sessions):
                kept = [s for s in self.sessions[key] if s[1] >= low]
                evicted += len(self.sessions[key]) - len(kept)
                if kept:
                    self.sessions[key] = kept
                else:
                    del self.sessions[key]
        return evicted

    def approximate_bytes(self) -> int:
        return len(self.snapshot())

    def entries(self) -> int:
        """Number of (key, window) aggregates held."""
        rows = self.frame.height if self.frame is not None else 0
        return rows + len(self.groups) + sum(len(s) for s in self.sessions.values())
