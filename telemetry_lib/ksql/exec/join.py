"""Stream-table and primary-key table-table join operators (contract: :mod:`telemetry_lib.ksql.plan.join`).

Owns:

- :class:`StreamTableJoinOperator` (INNER, LEFT): table-side batches update a
  :class:`~telemetry_lib.ksql.state.join_tables.TableStore` and emit nothing; each stream row is
  joined with the table's latest row for its key at that point of the input (one vectorised
  polars left join per batch), INNER dropping unmatched rows. Stream rows with a null value are
  dropped (Kafka Streams skips them); the output carries the stream row's ROWTIME and headers.
- :class:`TableTableJoinOperator` (INNER, LEFT, RIGHT, FULL) on the primary key, with Kafka
  Streams' KTable-KTable join semantics per change of either side, cache off: the change is
  joined with the other side's current row; INNER emits when the other side exists (a tombstone
  when the change is a delete), an outer side's change emits (a tombstone when it is a delete
  and — FULL — the other side is gone too; nothing for a delete of a key that side never had
  while the other side has none), the inner side's change emits only when the
  outer side exists (its delete then emits the outer row with null fields). The result time is
  ``max`` of the two rows' ROWTIMEs.

Within one batch the other side's store is fixed, so every row of the batch is joined in one
polars join; the batch's own side is folded into its store afterwards (the last change per key
wins). The pipeline hands batches in input order, split per topic, so cross-side order holds.
State: ``snapshot()`` / ``restore()`` pickle the stores' Arrow IPC bytes.
"""

from __future__ import annotations

import logging
import pickle

import polars as pl

from telemetry_lib.ksql.exec import batch as B
from telemetry_lib.ksql.exec.join_base import JoinOperator
from telemetry_lib.ksql.exec.operator import Emit, ExecContext
from telemetry_lib.ksql.plan.join import JoinNode, Side, join_key_field
from telemetry_lib.ksql.serde.constant import constant
from telemetry_lib.ksql.state.join_tables import PRESENT, TableStore
from telemetry_lib.ksql.types import to_polars

__all__ = ["StreamTableJoinOperator", "TableTableJoinOperator"]

logger = logging.getLogger(__name__)

# Store key columns holding the record's window bounds (0 for non-windowed sources), so rows of
# windowed sources join only rows of the same window.
_WS = "__ksql_win_start"
_WE = "__ksql_win_end"


class _StoredJoin(JoinOperator):
    """Shared helpers: typed nulls, output assembly, store snapshots."""

    def __init__(self, node: JoinNode) -> None:
        super().__init__(node)
        self.dtypes: dict[str, pl.DataType] = {name: to_polars(t) for name, t in node.field_types}
        self.key = join_key_field(0)
        self.store_keys = (self.key, _WS, _WE)

    @staticmethod
    def _keyed(batch: pl.DataFrame) -> pl.DataFrame:
        """``batch`` with the store's window key columns."""
        return batch.with_columns(
            *[
                (pl.col(src) if src in batch.columns else pl.lit(0)).cast(pl.Int64).alias(dst)
                for src, dst in ((B.WINDOWSTART, _WS), (B.WINDOWEND, _WE))
            ]
        )

    @staticmethod
    def _window(batch: pl.DataFrame) -> list[pl.Expr]:
        return [pl.col(w) for w in (B.WINDOWSTART, B.WINDOWEND) if w in batch.columns]

    def _typed(self, frame: pl.DataFrame, fields: tuple[str, ...]) -> list[pl.Expr]:
        exprs: list[pl.Expr] = []
        for f in fields:
            dtype = self.dtypes.get(f)
            col = pl.col(f) if f in frame.columns else pl.lit(None)
            exprs.append(col.cast(dtype, strict=False).alias(f) if dtype is not None else col)
        return exprs

    def _stores(self) -> dict[str, TableStore]:
        raise NotImplementedError

    def snapshot(self) -> bytes:
        return pickle.dumps(
            {side: store.snapshot() for side, store in self._stores().items()},
            protocol=pickle.HIGHEST_PROTOCOL,
        )

    def restore(self, blob: bytes) -> None:
        blobs = pickle.loads(blob)  # noqa: S301 - our own snapshots only
        if not isinstance(blobs, dict):
            raise ValueError("not a join operator snapshot (expected one blob per store)")
        for side, store in self._stores().items():
            store.load(blobs.get(side, b""))


class StreamTableJoinOperator(_StoredJoin):
    """Stream (left) joined with the latest table (right) row of its key."""

    def __init__(self, node: JoinNode) -> None:
        super().__init__(node)
        self.table = TableStore(self.store_keys, node.right_fields)

    def _stores(self) -> dict[str, TableStore]:
        return {"right": self.table}

    def process_side(self, side: Side, batch: pl.DataFrame, ctx: ExecContext, out: Emit) -> None:
        if side == "right":
            self.table.apply(
                self._keyed(batch), tombstone=pl.col(B.NULL_VALUE), timestamp=pl.col(B.ROWTIME)
            )
            return
        stream = batch.filter(~pl.col(B.NULL_VALUE))
        if self.node.join_type == "INNER":
            stream = stream.filter(pl.col(self.key).is_not_null())
        if stream.height == 0:
            return
        found = self.table.lookup(self._keyed(stream).select(self.store_keys))
        node = self.node
        result = pl.concat(
            [
                stream.select(self._typed(stream, node.left_fields)),
                found.select(self._typed(found, node.right_fields)),
                stream.select(
                    pl.col(self.key),
                    pl.col(B.ROWTIME),
                    pl.lit(False).alias(B.NULL_VALUE),
                    pl.lit(False).alias(B.NULL_KEY),
                    pl.col(B.HEADERS),
                    *self._window(stream),
                ),
                found.select(pl.col(PRESENT)),
            ],
            how="horizontal",
        )
        if node.join_type == "INNER":
            result = result.filter(pl.col(PRESENT))
        if result.height:
            out(result.drop(PRESENT))


class TableTableJoinOperator(_StoredJoin):
    """Two tables joined on their primary keys (see the module docstring)."""

    def __init__(self, node: JoinNode) -> None:
        super().__init__(node)
        self.stores: dict[Side, TableStore] = {
            "left": TableStore(self.store_keys, node.left_fields),
            "right": TableStore(self.store_keys, node.right_fields),
        }

    def _stores(self) -> dict[str, TableStore]:
        return {"left": self.stores["left"], "right": self.stores["right"]}

    def _had_row(self, side: Side, batch: pl.DataFrame, present: pl.Series) -> pl.Series:
        """Per row: did ``side`` hold a row for the key just before this change (the previous
        change of the key in this batch, else the store)?"""
        stored = self.stores[side].lookup(batch.select(self.store_keys)).get_column(PRESENT)
        frame = batch.select(self.store_keys).with_columns(
            present.alias("__now"), stored.alias("__stored")
        )
        before = pl.col("__now").shift(1).over(list(self.store_keys))
        return frame.select(
            pl.when(before.is_null()).then(pl.col("__stored")).otherwise(before)
        ).to_series()

    def process_side(self, side: Side, batch: pl.DataFrame, ctx: ExecContext, out: Emit) -> None:
        other: Side = "right" if side == "left" else "left"
        batch = self._keyed(batch.filter(pl.col(self.key).is_not_null()))
        if batch.height == 0:
            return
        found = self.stores[other].lookup(batch.select(self.store_keys))
        this_present = ~batch.get_column(B.NULL_VALUE)
        other_present = found.get_column(PRESENT)
        jt = self.node.join_type
        outer_side = {"LEFT": "left", "RIGHT": "right"}.get(jt)
        outer_this = jt == "FULL" or outer_side == side
        outer_other = jt == "FULL" or outer_side == other
        if outer_this:
            # Kafka Streams' left/outer KTable join drops a delete of a key this side never
            # had while the other side has none either (nothing to retract).
            old_present = self._had_row(side, batch, this_present)
            emit = this_present | old_present | other_present
            tombstone = ~this_present & ~other_present if outer_other else ~this_present
        elif outer_other:  # the inner side of a LEFT/RIGHT join changed
            emit = other_present
            tombstone = constant(False, batch.height, pl.Boolean)
        else:  # INNER
            emit = other_present
            tombstone = ~this_present
        this_ts = batch.get_column(B.ROWTIME)
        other_ts = found.get_column(self.stores[other].ts_field)
        ts = pl.select(
            pl.when(other_present.alias("p"))
            .then(pl.max_horizontal(this_ts, other_ts))
            .otherwise(this_ts)
            .alias(B.ROWTIME)
        ).to_series()
        fields = {side: self.fields_of(side), other: self.fields_of(other)}
        this_frame = batch.select(
            [
                pl.when(this_present.alias("p")).then(e).otherwise(None).alias(f)
                for e, f in zip(self._typed(batch, fields[side]), fields[side], strict=True)
            ]
        )
        other_frame = found.select(self._typed(found, fields[other]))
        frames = {side: this_frame, other: other_frame}
        result = pl.concat(
            [
                frames["left"],
                frames["right"],
                batch.select(pl.col(self.key)),
                pl.DataFrame(
                    {
                        B.ROWTIME: ts,
                        B.NULL_VALUE: tombstone,
                        B.NULL_KEY: constant(False, batch.height, pl.Boolean),
                        "__emit": emit,
                    }
                ),
                batch.select(pl.col(B.HEADERS), *self._window(batch)),
            ],
            how="horizontal",
        ).filter(pl.col("__emit"))
        self.stores[side].apply(batch, tombstone=pl.col(B.NULL_VALUE), timestamp=pl.col(B.ROWTIME))
        if result.height:
            out(result.drop("__emit"))
