"""The base of join operators: two inputs, one output (contract in :mod:`telemetry_lib.ksql.plan.join`).

Owns: :class:`JoinOperator` — the pipeline hands it batches with ``process_side(side, batch, ctx,
out)`` (``side`` is ``"left"`` or ``"right"``); ``process_batch`` is refused because a join batch
without its side is meaningless — and :class:`StatefulJoinOperator`, the base of joins whose whole
state is one object with ``snapshot()``/``restore()`` (stream-stream, foreign-key). Also small
polars helpers every join operator needs: :func:`null_fields` (all-null columns of the other
side, typed like it) and :func:`output_columns` (the output columns in the contract's order).
"""

from __future__ import annotations

import logging
import pickle
from typing import Any

import polars as pl

from telemetry_lib.ksql.errors import InternalError
from telemetry_lib.ksql.exec import batch as B
from telemetry_lib.ksql.exec.operator import Emit, ExecContext, Operator
from telemetry_lib.ksql.plan.join import JoinNode, Side, join_key_field

__all__ = [
    "CARRIED_FIELDS",
    "JoinOperator",
    "StatefulJoinOperator",
    "null_fields",
    "output_columns",
]

logger = logging.getLogger(__name__)

#: Internal fields a join output carries after its data and key fields (the batch contract).
CARRIED_FIELDS: tuple[str, ...] = (B.ROWTIME, B.NULL_VALUE, B.NULL_KEY, B.HEADERS)


class JoinOperator(Operator):
    """Base of the join operators: see the contract in :mod:`telemetry_lib.ksql.plan.join`."""

    step = "Join"

    def __init__(self, node: JoinNode) -> None:
        self.node = node
        self.key_fields = tuple(join_key_field(i) for i in range(len(node.key_columns)))
        #: dtype of every data field of each side, learnt from the first batch of that side.
        self.schemas: dict[Side, dict[str, pl.DataType]] = {}

    def describe(self) -> str:
        return f"{type(self).__name__}[{self.node.label()}]"

    def process_batch(self, batch: pl.DataFrame, ctx: ExecContext, out: Emit) -> None:
        raise InternalError(
            f"{type(self).__name__} has two inputs: the pipeline must call process_side()"
        )

    def process_side(self, side: Side, batch: pl.DataFrame, ctx: ExecContext, out: Emit) -> None:
        raise NotImplementedError

    def fields_of(self, side: Side) -> tuple[str, ...]:
        return self.node.left_fields if side == "left" else self.node.right_fields

    def remember_schema(self, side: Side, batch: pl.DataFrame) -> None:
        if side not in self.schemas:
            self.schemas[side] = {f: batch.schema[f] for f in self.fields_of(side)}


class StatefulJoinOperator(JoinOperator):
    """A join whose state is one ``state`` object (its class has ``snapshot()`` and a ``restore``
    classmethod): a snapshot pickles it with the side schemas learnt so far; a batch of either
    side goes through :meth:`join_batch`, whose rows (if any) are emitted."""

    state: Any

    def snapshot(self) -> bytes:
        schemas = {side: dict(s) for side, s in self.schemas.items()}
        return pickle.dumps(
            {"state": self.state.snapshot(), "schemas": schemas},
            protocol=pickle.HIGHEST_PROTOCOL,
        )

    def restore(self, blob: bytes) -> None:
        payload = pickle.loads(blob)  # noqa: S301 - our own snapshots only
        if not isinstance(payload, dict) or "state" not in payload:
            raise ValueError(f"not a {type(self).__name__} snapshot")
        self.state = type(self.state).restore(payload["state"])
        self.schemas = payload["schemas"]

    def process_side(self, side: Side, batch: pl.DataFrame, ctx: ExecContext, out: Emit) -> None:
        self.remember_schema(side, batch)
        result = self.join_batch(side, batch)
        if result.height:
            out(result)

    def join_batch(self, side: Side, batch: pl.DataFrame) -> pl.DataFrame:
        """The output rows of one batch of ``side``, in order."""
        raise NotImplementedError


def null_fields(fields: tuple[str, ...], schema: dict[str, pl.DataType] | None) -> list[pl.Expr]:
    """All-null columns for ``fields`` (typed from ``schema`` when the side was seen, else Null)."""
    return [pl.lit(None, dtype=(schema or {}).get(f, pl.Null())).alias(f) for f in fields]


def output_columns(node: JoinNode, frame: pl.DataFrame) -> list[str]:
    """The output's columns in contract order, those of ``frame`` that exist."""
    names = list(node.left_fields + node.right_fields)
    names += [join_key_field(i) for i in range(len(node.key_columns))]
    names += [c for c in (*CARRIED_FIELDS, B.WINDOWSTART, B.WINDOWEND) if c in frame.columns]
    return names
