"""State of a foreign-key table-table join: the current rows of both tables.

Owns: :class:`ForeignKeyJoinState`:

- ``left``: one row per left-table primary key currently present: the left data fields, the
  row's foreign-key value (:data:`FK`, the left join expression) and its time (:data:`TIME`).
  It doubles as Kafka Streams' *subscription store*: the left rows subscribed to a right key
  are those whose foreign key equals it.
- ``right``: one row per right-table key currently present: the right data fields, the key
  (:data:`RK`) and the row's time.

Both are polars frames, upserted per batch with anti-joins (no per-record Python).

Snapshot / restore (the Kafka runtime checkpoints it like the aggregate state)::

    blob = state.snapshot()
    fresh = ForeignKeyJoinState.restore(blob)
"""

from __future__ import annotations

import io
import logging
import pickle
from dataclasses import dataclass

import polars as pl

__all__ = ["FK", "RK", "TIME", "ForeignKeyJoinState"]

logger = logging.getLogger(__name__)

#: Bumped when the snapshot layout changes, so an old blob is refused instead of misread.
SNAPSHOT_VERSION = 1

#: Left-state column: the foreign key (value of the left join expression).
FK = "__fkj_fk"
#: Right-state column: the right table's primary key.
RK = "__fkj_rk"
#: Both states: the row's time (ROWTIME of its last change).
TIME = "__fkj_ts"


@dataclass
class ForeignKeyJoinState:
    """The two table stores of one foreign-key join operator (see module doc)."""

    left: pl.DataFrame | None = None
    right: pl.DataFrame | None = None

    def upsert(self, which: str, changes: pl.DataFrame, keys: list[str], *, deleted: str) -> None:
        """Apply the last change per key of ``changes`` (rows with ``deleted`` true remove the
        key) to the ``which`` ("left" / "right") store."""
        last = changes.unique(subset=keys, keep="last", maintain_order=True)
        current: pl.DataFrame | None = getattr(self, which)
        if current is not None and current.height:
            current = current.join(last.select(keys), on=keys, how="anti", nulls_equal=True)
        live = last.filter(~pl.col(deleted)).drop(deleted)
        if current is None or current.height == 0:
            merged = live
        else:
            merged = pl.concat([current, live], how="diagonal_relaxed")
        setattr(self, which, merged)

    def entries(self) -> int:
        return sum(f.height for f in (self.left, self.right) if f is not None)

    def snapshot(self) -> bytes:
        payload = {
            "version": SNAPSHOT_VERSION,
            "left": _frame_bytes(self.left),
            "right": _frame_bytes(self.right),
        }
        return pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def restore(cls, blob: bytes) -> ForeignKeyJoinState:
        """The state a :meth:`snapshot` captured; ValueError for a blob of another layout."""
        payload = pickle.loads(blob)  # noqa: S301 - our own snapshots only
        if not isinstance(payload, dict) or payload.get("version") != SNAPSHOT_VERSION:
            raise ValueError(
                "foreign-key join state snapshot has an unknown layout; it was written by "
                f"another engine version (expected version {SNAPSHOT_VERSION})"
            )
        return cls(left=_frame_of(payload["left"]), right=_frame_of(payload["right"]))


def _frame_bytes(frame: pl.DataFrame | None) -> bytes | None:
    if frame is None:
        return None
    buffer = io.BytesIO()
    frame.write_ipc(buffer)
    return buffer.getvalue()


def _frame_of(blob: bytes | None) -> pl.DataFrame | None:
    return None if blob is None else pl.read_ipc(io.BytesIO(blob))
