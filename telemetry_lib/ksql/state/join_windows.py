"""State of a stream-stream join: the two join window stores and the outer-join store.

Owns: :class:`StreamJoinState`, everything a stream-stream join operator remembers between
batches, as Kafka Streams keeps it for ``KStream#join/leftJoin/outerJoin``:

- ``records[side]``: the side's *join window store* — every record of that side that can still
  be joined (data fields, join key, ``WINDOWSTART``/``WINDOWEND`` for windowed sides, the record
  time and an arrival sequence number that orders records with equal times), one polars frame
  per side.
- ``store_time[side]``: the largest time put into that store (the store's observed stream time).
  A record of the store is visible to the other side's look-ups while ``time > store_time -
  retention`` (retention = before + after + grace, Kafka Streams' join store retention) and is
  evicted from the frame once it is not (:meth:`evict`): memory stays bounded by what the
  window can still match (the operator runs the scan each time a store doubled).
- ``stream_time``: the join's shared stream time (the largest time seen on either side).
- ``pending[side]``: the *outer-join store* (only with ``GRACE PERIOD``): records of an outer
  side that have found no partner yet. They are emitted with nulls for the other side when the
  window closes, or dropped when a partner arrives.
- ``seq``: the next arrival sequence number.

Snapshot / restore (the Kafka runtime checkpoints it like the aggregate state)::

    blob = state.snapshot()                 # bytes, self-contained
    fresh = StreamJoinState.restore(blob)   # an equal, independent state
"""

from __future__ import annotations

import io
import logging
import pickle
from dataclasses import dataclass, field

import polars as pl

__all__ = ["PENDING_TIME", "RECORD_SEQ", "RECORD_TIME", "StreamJoinState"]

logger = logging.getLogger(__name__)

#: Bumped when the snapshot layout changes, so an old blob is refused instead of misread.
SNAPSHOT_VERSION = 1

#: Column of a window-store / outer-store frame holding the record time (ROWTIME).
RECORD_TIME = "__ssj_ts"
#: Column of a window-store frame holding the record's arrival sequence number.
RECORD_SEQ = "__ssj_seq"
#: Outer-store frames use the same time column as the window store.
PENDING_TIME = RECORD_TIME


@dataclass
class StreamJoinState:
    """The stores of one stream-stream join operator (see module doc)."""

    records: dict[str, pl.DataFrame] = field(default_factory=dict)
    store_time: dict[str, int] = field(default_factory=dict)
    stream_time: int | None = None
    pending: dict[str, pl.DataFrame] = field(default_factory=dict)
    seq: int = 0

    def evict(self, side: str, retention_ms: int) -> int:
        """Drop the side's records no look-up can see any more; returns how many."""
        frame = self.records.get(side)
        top = self.store_time.get(side)
        if frame is None or top is None or frame.height == 0:
            return 0
        kept = frame.filter(pl.col(RECORD_TIME) > top - retention_ms)
        evicted = frame.height - kept.height
        if evicted:
            self.records[side] = kept
        return evicted

    def entries(self) -> int:
        """Records held in the window stores and the outer-join store."""
        return sum(f.height for f in self.records.values()) + sum(
            f.height for f in self.pending.values()
        )

    def snapshot(self) -> bytes:
        """A self-contained copy of the state (frames as Arrow IPC, scalars as they are)."""
        payload = {
            "version": SNAPSHOT_VERSION,
            "records": {s: _frame_bytes(f) for s, f in self.records.items()},
            "store_time": dict(self.store_time),
            "stream_time": self.stream_time,
            "pending": {s: _frame_bytes(f) for s, f in self.pending.items()},
            "seq": self.seq,
        }
        return pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def restore(cls, blob: bytes) -> StreamJoinState:
        """The state a :meth:`snapshot` captured; ValueError for a blob of another layout."""
        payload = pickle.loads(blob)  # noqa: S301 - our own snapshots only
        if not isinstance(payload, dict) or payload.get("version") != SNAPSHOT_VERSION:
            raise ValueError(
                "stream-stream join state snapshot has an unknown layout; it was written by "
                f"another engine version (expected version {SNAPSHOT_VERSION})"
            )
        return cls(
            records={s: _frame_of(b) for s, b in payload["records"].items()},
            store_time=dict(payload["store_time"]),
            stream_time=payload["stream_time"],
            pending={s: _frame_of(b) for s, b in payload["pending"].items()},
            seq=payload["seq"],
        )

    def approximate_bytes(self) -> int:
        return len(self.snapshot())


def _frame_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_ipc(buffer)
    return buffer.getvalue()


def _frame_of(blob: bytes) -> pl.DataFrame:
    return pl.read_ipc(io.BytesIO(blob))
