"""Foreign-key table-table join operator: ``lt JOIN rt ON <expression over lt> = rt.<key>``.

Owns: :class:`ForeignKeyJoinOperator` (the ``table-table-fk`` kind of the join contract in
:mod:`telemetry_lib.ksql.plan.join`; INNER and LEFT). Its state is a
:class:`~telemetry_lib.ksql.state.fk_join.ForeignKeyJoinState`. The result is a table keyed by
the LEFT table's primary key.

Update semantics (Kafka Streams' ``KTable#join(other, foreignKeyExtractor, ...)`` as ksqlDB runs
it, one task, cache off; "the right row" is the right table's current row for the left row's
foreign key):

- left insert (a key not present before): INNER emits the joined row only when the right row
  exists; LEFT emits the joined row, or the left row with null right fields.
- left update (the key was present): the row is re-joined with the right row of its (possibly
  new) foreign key; when there is none, INNER retracts the old result with a tombstone and LEFT
  emits the left row with null right fields. A changed foreign key thus retracts or replaces the
  result joined through the old one (one output, never a tombstone and then a row). For INNER,
  a row whose old foreign key was null was subscribed to nothing: its update is an insert.
- left delete: a tombstone when the key was present (INNER: and had a foreign key; nothing
  otherwise).
- right change (insert, update or delete): re-emits every left row currently pointing at that
  key, in left-key order: joined with the new right row, or — for a delete — a tombstone
  (INNER) / the left row with null right fields (LEFT).
- timestamps: a left-triggered result takes ``max(left time, right row's time)`` (the left time
  when there is no right row; for a left delete — and an INNER row losing its foreign key — the
  right row of the OLD foreign key counts);
  a right-triggered result takes the right record's time. Headers are the triggering record's.
- a null foreign key matches nothing (Kafka Streams >= 3.7, KIP-962: a LEFT join emits the left
  row with null right fields; older Kafka Streams skipped such rows entirely).

Vectorised: per batch, the previous state of each left key comes from a window ``shift`` over
the batch plus one join with the state; right rows are looked up with one join on the foreign
key; a right batch finds its subscribers with one join on the foreign key column of the left
state. Rows come out in input order (then left-key order for a right change fanning out).

Subscribers of one right key come out in the order of their serialized left keys (Kafka
Streams' prefix scan), so e.g. JSON keys ``10`` sort before ``9`` as in ksqlDB.
"""

from __future__ import annotations

import logging

import polars as pl

from telemetry_lib.ksql.catalog import ColumnRole
from telemetry_lib.ksql.errors import InternalError
from telemetry_lib.ksql.exec import batch as B
from telemetry_lib.ksql.exec.join_base import StatefulJoinOperator, null_fields, output_columns
from telemetry_lib.ksql.exec.serde_bridge import encode_key
from telemetry_lib.ksql.plan.join import JoinNode, JoinSideNode, Side, join_key_field
from telemetry_lib.ksql.state.fk_join import FK, RK, TIME, ForeignKeyJoinState

__all__ = ["ForeignKeyJoinOperator"]

logger = logging.getLogger(__name__)

# Working columns (double underscore: never a user field).
_I = "__fkj_i"  # position of the record in the batch
_DEL = "__fkj_del"  # the record is a tombstone
_HAD = "__fkj_had"  # the left key was present before the record
_OLD_FK = "__fkj_old_fk"  # the left key's foreign key before the record
_RTS = "__fkj_rts"  # time of the right row of the (new) foreign key
_OLD_RTS = "__fkj_old_rts"  # time of the right row of the old foreign key
_HIT = "__fkj_hit"  # the foreign key has a right row
_EMIT = "__fkj_emit"  # the record produces an output row
_TOMB = "__fkj_tomb"  # ... and it is a tombstone
_KEY_BYTES = "__fkj_key_bytes"  # serialized left key (fan-out order)


class ForeignKeyJoinOperator(StatefulJoinOperator):
    """INNER / LEFT foreign-key table-table join (see module doc)."""

    step = "Join"

    def __init__(self, node: JoinNode) -> None:
        super().__init__(node)
        if node.kind != "table-table-fk" or node.join_type not in ("INNER", "LEFT"):
            raise InternalError(f"ForeignKeyJoinOperator cannot run {node.label()}")
        if not node.left_primary_key:
            raise InternalError("a foreign-key join needs the left table's primary key fields")
        self.left_join = node.join_type == "LEFT"
        self.primary_key = list(node.left_primary_key)
        self.state = ForeignKeyJoinState()

    # ------------------------------------------------------------------------- batches
    def join_batch(self, side: Side, batch: pl.DataFrame) -> pl.DataFrame:
        """Process one changelog batch of ``side`` and return the output rows in order."""
        if batch.height == 0:
            return pl.DataFrame()
        if side == "left":
            return self._left_batch(batch)
        return self._right_batch(batch)

    # ------------------------------------------------------------------------- left changes
    def _left_batch(self, batch: pl.DataFrame) -> pl.DataFrame:
        pk = self.primary_key
        fk = join_key_field(0)
        rows = batch.with_columns(
            pl.int_range(pl.len(), dtype=pl.Int64).alias(_I),
            pl.col(B.NULL_VALUE).fill_null(False).alias(_DEL),
            pl.col(fk).alias(FK),
        )
        rows = self._previous_left(rows)
        right = self.state.right
        if right is not None and right.height:
            lookup = right.rename({TIME: _RTS}).with_columns(pl.lit(True).alias(_HIT))
            rows = rows.join(lookup, left_on=FK, right_on=RK, how="left", maintain_order="left")
            old = right.select(pl.col(RK), pl.col(TIME).alias(_OLD_RTS))
            rows = rows.join(old, left_on=_OLD_FK, right_on=RK, how="left", maintain_order="left")
        else:
            rows = rows.with_columns(
                *null_fields(self.node.right_fields, self.schemas.get("right")),
                pl.lit(None, dtype=pl.Int64).alias(_RTS),
                pl.lit(None, dtype=pl.Int64).alias(_OLD_RTS),
                pl.lit(None, dtype=pl.Boolean).alias(_HIT),
            )
        hit = pl.col(_HIT).fill_null(False) & ~pl.col(_DEL)
        had = pl.col(_HAD)
        deleted = pl.col(_DEL)
        ts = pl.col(B.ROWTIME)
        old_time = pl.max_horizontal(ts, pl.col(_OLD_RTS))
        if self.left_join:
            emit = (deleted & had) | ~deleted
            tomb = deleted
            retract = deleted
        else:
            # an INNER result exists only for a row subscribed to a foreign key
            subscribed = had & pl.col(_OLD_FK).is_not_null()
            emit = (deleted & subscribed) | hit | (~deleted & subscribed)
            tomb = deleted | ~hit
            # unsubscribing (delete, or no foreign key any more) answers from the old key
            retract = subscribed & (deleted | pl.col(FK).is_null())
        time = (
            pl.when(retract)
            .then(old_time)
            .otherwise(pl.max_horizontal(ts, pl.when(hit).then(pl.col(_RTS))))
        )
        rows = rows.with_columns(emit.alias(_EMIT), tomb.alias(_TOMB), time.alias("__fkj_time"))
        right_fields = list(self.node.right_fields)
        result = rows.filter(pl.col(_EMIT)).with_columns(
            *[pl.when(hit & ~pl.col(_TOMB)).then(pl.col(f)).alias(f) for f in right_fields],
            pl.col("__fkj_time").alias(B.ROWTIME),
            pl.col(_TOMB).alias(B.NULL_VALUE),
        )

        # State: the last change per left key.
        stored = rows.select(*self.node.left_fields, FK, pl.col(B.ROWTIME).alias(TIME), _DEL)
        self.state.upsert("left", stored, pk, deleted=_DEL)
        return self._finish(result)

    def _previous_left(self, rows: pl.DataFrame) -> pl.DataFrame:
        """Whether each record's key was present before it (and with which foreign key)."""
        pk = self.primary_key
        left = self.state.left
        if left is not None and left.height:
            before = left.select(
                *pk, pl.col(FK).alias("__fkj_state_fk"), pl.lit(True).alias("__fkj_state")
            )
            rows = rows.join(before, on=pk, how="left", maintain_order="left", nulls_equal=True)
        else:
            rows = rows.with_columns(
                pl.lit(None, dtype=rows.schema[FK]).alias("__fkj_state_fk"),
                pl.lit(None, dtype=pl.Boolean).alias("__fkj_state"),
            )
        first = pl.int_range(pl.len()).over(pk) == 0
        return rows.with_columns(
            pl.when(first)
            .then(pl.col("__fkj_state").fill_null(False))
            .otherwise((~pl.col(_DEL)).shift(1).over(pk))
            .alias(_HAD),
            pl.when(first)
            .then(pl.col("__fkj_state_fk"))
            .otherwise(pl.col(FK).shift(1).over(pk))
            .alias(_OLD_FK),
        ).drop("__fkj_state_fk", "__fkj_state")

    # ------------------------------------------------------------------------- right changes
    def _right_batch(self, batch: pl.DataFrame) -> pl.DataFrame:
        rk = join_key_field(0)
        rows = batch.filter(pl.col(rk).is_not_null()).with_columns(
            pl.int_range(pl.len(), dtype=pl.Int64).alias(_I),
            pl.col(B.NULL_VALUE).fill_null(False).alias(_DEL),
        )
        left = self.state.left
        result = pl.DataFrame()
        if left is not None and left.height:
            subscribers = left.drop(TIME)
            fanned = rows.drop(*[c for c in self.node.left_fields if c in rows.columns]).join(
                subscribers, left_on=rk, right_on=FK, how="inner"
            )
            if fanned.height:
                fanned = self._subscriber_order(fanned)
                deleted = pl.col(_DEL)
                tomb = deleted if not self.left_join else pl.lit(False)
                result = fanned.with_columns(
                    *[pl.when(~deleted).then(pl.col(f)).alias(f) for f in self.node.right_fields],
                    tomb.alias(B.NULL_VALUE),
                )
        stored = rows.select(
            *self.node.right_fields, pl.col(rk).alias(RK), pl.col(B.ROWTIME).alias(TIME), _DEL
        )
        self.state.upsert("right", stored, [RK], deleted=_DEL)
        if result.height == 0:
            return pl.DataFrame()
        return self._finish(result)

    def _subscriber_order(self, fanned: pl.DataFrame) -> pl.DataFrame:
        """Fan-out rows per right record in the order of the left key's serialized bytes (Kafka
        Streams' prefix scan of the subscription store); key-value order when the left side is
        not a plain source or its key cannot be encoded."""
        encoded = self._left_key_bytes(fanned)
        if encoded is None:
            return fanned.sort([_I, *self.primary_key], nulls_last=True)
        return (
            fanned.with_columns(encoded.alias(_KEY_BYTES))
            .sort([_I, _KEY_BYTES], nulls_last=True)
            .drop(_KEY_BYTES)
        )

    def _left_key_bytes(self, frame: pl.DataFrame) -> pl.Series | None:
        side = self.node.left
        if not isinstance(side, JoinSideNode):
            return None
        source = side.source
        names = dict(side.fields)
        columns = [c for c in source.columns if c.role is ColumnRole.KEY]
        if not columns or any(c.name not in names for c in columns):
            return None
        key_frame = frame.select([pl.col(names[c.name]).alias(c.name) for c in columns])
        encoded, errors = encode_key(
            key_frame, columns, source.key_format, topic=source.topic, rows=frame.height
        )
        if bool(errors.is_not_null().any()):
            return None
        return encoded

    # ------------------------------------------------------------------------- output
    def _finish(self, result: pl.DataFrame) -> pl.DataFrame:
        """Output key (the left primary key), internal fields, contract column order."""
        if result.height == 0:
            return pl.DataFrame()
        result = result.with_columns(
            *[
                pl.col(f).alias(join_key_field(i))
                for i, f in enumerate(self.primary_key[: len(self.node.key_columns)])
            ],
            pl.lit(False).alias(B.NULL_KEY),
        )
        return result.select(output_columns(self.node, result))
