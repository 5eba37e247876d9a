"""Keyed table-side stores of joins: the latest row per join key, held as a polars DataFrame.

Owns: :class:`TableStore` — what a stream-table join keeps of its table side and what a
table-table join keeps of each side: one row per key (the key fields, the side's data fields
and the row's ROWTIME), replaced by each update and removed by a tombstone. Updates and lookups
are vectorised polars operations over a whole batch (no per-record Python):

- :meth:`TableStore.lookup` left-joins a batch's keys against the store (input order kept,
  ``present`` column True where the key has a row);
- :meth:`TableStore.apply` folds a changelog batch in (the last change per key wins; a tombstone
  deletes the key).

Snapshot / restore (checkpointed by the Kafka runtime like the aggregate state)::

    blob = store.snapshot()                 # bytes (Arrow IPC of the frame)
    again = TableStore.restore(blob)        # an equal, independent store
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field

import polars as pl

__all__ = ["PRESENT", "TableStore"]

logger = logging.getLogger(__name__)

#: Column a lookup adds: True where the store holds a row for the key.
PRESENT = "__ksql_present"
# Internal column holding a stored row's timestamp (ROWTIME of the update that wrote it).
_TS = "__ksql_store_ts"
# Internal column numbering a batch's rows, to keep the last change per key.
_SEQ = "__ksql_store_seq"


@dataclass
class TableStore:
    """The latest row per key of one table side (see the module docstring)."""

    key_fields: tuple[str, ...]
    value_fields: tuple[str, ...]
    frame: pl.DataFrame | None = field(default=None)

    @property
    def ts_field(self) -> str:
        return _TS

    def __len__(self) -> int:
        return 0 if self.frame is None else self.frame.height

    def apply(self, batch: pl.DataFrame, *, tombstone: pl.Expr, timestamp: pl.Expr) -> None:
        """Fold the changelog ``batch`` in: per key, its last row replaces the stored one, or
        deletes it when ``tombstone`` is true for that row. Rows with a null key are ignored."""
        keys = list(self.key_fields)
        changes = batch.select(
            *[pl.col(k) for k in keys],
            *[pl.col(v) for v in self.value_fields],
            timestamp.alias(_TS),
            tombstone.alias("__ksql_tombstone"),
        ).with_row_index(_SEQ)
        changes = changes.drop_nulls(keys)
        if changes.height == 0:
            return
        last = changes.unique(subset=keys, keep="last", maintain_order=True).drop(_SEQ)
        upserts = last.filter(~pl.col("__ksql_tombstone")).drop("__ksql_tombstone")
        if self.frame is None or self.frame.height == 0:
            self.frame = upserts
            return
        # Rows of other keys stay; only rows whose first key column matches the batch are
        # checked against the full key (a small anti join instead of one over the store).
        first = keys[0]
        touched = pl.col(first).is_in(last.get_column(first).implode())
        stored = self.frame
        kept = [stored.filter(~touched)]
        if len(keys) > 1:
            candidates = stored.filter(touched)
            kept.append(candidates.join(last.select(keys), on=keys, how="anti", nulls_equal=False))
        self.frame = pl.concat([*kept, upserts.select(stored.columns)], how="vertical_relaxed")

    def lookup(self, keys: pl.DataFrame) -> pl.DataFrame:
        """For each row of ``keys`` (columns = the key fields, in input order): the stored value
        fields, the stored timestamp (``ts_field``) and :data:`PRESENT`."""
        key_cols = list(self.key_fields)
        if self.frame is None or self.frame.height == 0:
            return keys.select(key_cols).with_columns(
                *[pl.lit(None).alias(v) for v in self.value_fields],
                pl.lit(None, dtype=pl.Int64).alias(_TS),
                pl.lit(False).alias(PRESENT),
            )
        probe = keys.select(key_cols)
        probe = probe.with_columns(
            [pl.col(k).cast(self.frame.schema[k], strict=False) for k in key_cols]
        )
        # A store larger than the batch is first narrowed to the batch's keys (a hash set of
        # the small side), so the join's hash table is built over a handful of rows, not the
        # whole store. A store no larger than the batch is joined whole: narrowing it would
        # hash the bigger side twice (10k players vs 100k events: 10.6 -> 3.9 ms per batch).
        stored = self.frame
        if stored.height > probe.height:
            first = key_cols[0]
            stored = stored.filter(
                pl.col(first).is_in(probe.get_column(first).drop_nulls().implode())
            )
        stored = stored.with_columns(pl.lit(True).alias(PRESENT))
        joined = probe.join(stored, on=key_cols, how="left", maintain_order="left")
        return joined.with_columns(pl.col(PRESENT).fill_null(False))

    def snapshot(self) -> bytes:
        if self.frame is None:
            return b""
        buf = io.BytesIO()
        self.frame.write_ipc(buf)
        return buf.getvalue()

    def load(self, blob: bytes) -> None:
        self.frame = pl.read_ipc(io.BytesIO(blob)) if blob else None

    @classmethod
    def restore(
        cls, blob: bytes, *, key_fields: tuple[str, ...], value_fields: tuple[str, ...]
    ) -> TableStore:
        store = cls(key_fields, value_fields)
        store.load(blob)
        return store
