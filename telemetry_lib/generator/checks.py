"""Properties of a generated (or read back) event stream: checksums and disorder measures.

Used by the sinks (checksum of what was written), the main job (checksum of what was read
back) and the tests (measured out-of-order / late fractions).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import polars as pl

__all__ = [
    "CHECKSUM_COLUMNS",
    "StreamStats",
    "combine_checksums",
    "event_checksum",
    "stream_stats",
]

logger = logging.getLogger(__name__)

#: The fields the round-trip checksum covers: identity, who, what and when of each event.
CHECKSUM_COLUMNS: dict[str, pl.DataType] = {
    "event_id": pl.Int64(),
    "player_id": pl.String(),
    "event_type": pl.String(),
    "timestamp": pl.Int64(),
}
#: Fixed hash seed so two computations in one process (and with one polars version) agree.
_HASH_SEED = 20_240_101


def event_checksum(events: pl.DataFrame) -> int:
    """Order-independent checksum of events: the sum (mod 2**64) of a per-event hash of
    :data:`CHECKSUM_COLUMNS`. Columns are cast first, so a frame read back from Kafka or
    Mongo with other integer widths gives the same value. Stable for one polars version."""
    if events.height == 0:
        return 0
    hashes = events.select(
        pl.struct([pl.col(c).cast(t) for c, t in CHECKSUM_COLUMNS.items()]).hash(seed=_HASH_SEED)
    ).to_series()
    return int(np.sum(hashes.to_numpy(), dtype=np.uint64))


def combine_checksums(*parts: int) -> int:
    """Checksum of the union of disjoint event sets, from their checksums."""
    return int(sum(parts) % (1 << 64))


@dataclass(frozen=True)
class StreamStats:
    """How disordered a delivered stream is (records in delivery order)."""

    records: int
    #: Delivered after a record with a larger timestamp, by at most ``late_after_ms``.
    out_of_order: int
    #: Delivered after the stream had moved more than ``late_after_ms`` past its timestamp.
    late: int

    @property
    def out_of_order_fraction(self) -> float:
        return self.out_of_order / self.records if self.records else 0.0

    @property
    def late_fraction(self) -> float:
        return self.late / self.records if self.records else 0.0


def stream_stats(timestamps: pl.Series, *, late_after_ms: int) -> StreamStats:
    """Measure disorder of ``timestamps`` given in delivery order."""
    ts = timestamps.cast(pl.Int64)
    before = ts.cum_max().shift(1)
    behind = (before - ts).fill_null(0)
    late = int((behind > late_after_ms).sum())
    out_of_order = int(((behind > 0) & (behind <= late_after_ms)).sum())
    return StreamStats(records=ts.len(), out_of_order=out_of_order, late=late)
