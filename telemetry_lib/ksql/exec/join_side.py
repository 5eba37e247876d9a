"""Operators that prepare one input of a join (contract in :mod:`telemetry_lib.ksql.plan.join`).

Owns:

- :class:`JoinSideOperator`: a leaf source's frame -> its join fields (``<ALIAS>_<COL>`` for
  every key, value, header and pseudo column), keeping ROWTIME and the internal fields.
- :class:`JoinKeyOperator`: adds the join key fields ``__ksql_jk_<i>`` — the side's key
  expressions evaluated over the batch. For a :class:`~telemetry_lib.ksql.plan.join.RepartitionNode`
  it is the in-memory repartition (re-keying is all a repartition changes for a single task);
  on Kafka the runtime writes the re-keyed side through the internal repartition topic named by
  :attr:`JoinKeyOperator.topic_suffix`. A key expression that fails for a row gives a null key
  and a RECORD_PROCESSING_ERROR entry, as ksqlDB's PARTITION BY does.
"""

from __future__ import annotations

import logging

import polars as pl

from telemetry_lib.ksql.analyzer.typed import TypedExpression
from telemetry_lib.ksql.exec import batch as B
from telemetry_lib.ksql.exec.expr_bridge import compile_typed
from telemetry_lib.ksql.exec.operator import Emit, ExecContext, Operator
from telemetry_lib.ksql.plan.join import join_key_field

__all__ = ["JoinKeyOperator", "JoinSideOperator"]

logger = logging.getLogger(__name__)

# Internal fields a side frame keeps next to its join fields (the batch contract).
_KEPT = (B.ROWTIME, B.NULL_VALUE, B.NULL_KEY, B.HEADERS, B.WINDOWSTART, B.WINDOWEND)


class JoinSideOperator(Operator):
    """Rename a leaf source's columns to their join fields."""

    step = "PrependAlias"

    def __init__(self, alias: str, fields: tuple[tuple[str, str], ...]) -> None:
        self.alias = alias
        self.fields = fields

    def describe(self) -> str:
        return f"JoinSideOperator[{self.alias}]"

    def process_batch(self, batch: pl.DataFrame, ctx: ExecContext, out: Emit) -> None:
        present = set(batch.columns)
        exprs = [
            (pl.col(col) if col in present else pl.lit(None)).alias(fld) for col, fld in self.fields
        ]
        exprs += [pl.col(name) for name in _KEPT if name in present]
        out(batch.select(exprs))


class JoinKeyOperator(Operator):
    """Evaluate the join key expressions of one side into ``__ksql_jk_<i>``."""

    step = "Join"

    def __init__(
        self,
        keys: tuple[TypedExpression, ...],
        *,
        repartition: bool = False,
        context: str = "",
    ) -> None:
        self.keys = keys
        self.repartition = repartition
        #: ``<context>-repartition``: the internal topic's suffix when this side is re-keyed.
        self.topic_suffix = f"{context}-repartition" if repartition else None
        self._compiled = [compile_typed(k) for k in keys]

    def describe(self) -> str:
        kind = "Repartition" if self.repartition else "JoinKey"
        return f"{kind}Operator[{', '.join(k.text for k in self.keys)}]"

    def process_batch(self, batch: pl.DataFrame, ctx: ExecContext, out: Emit) -> None:
        exprs = [c.value.alias(join_key_field(i)) for i, c in enumerate(self._compiled)]
        errors = [
            c.error.alias(f"__err_{i}") for i, c in enumerate(self._compiled) if c.error is not None
        ]
        result = batch.with_columns(exprs)
        if errors:
            frame = batch.select(errors)
            messages: list[str] = []
            for index, name in enumerate(frame.columns):
                failed = frame.get_column(name).drop_nulls().to_list()
                messages += [
                    f"Error computing expression {self.keys[index].text} for join key: {m}"
                    for m in failed
                ]
            if messages:
                ctx.processing_log.record_processing_errors(
                    ctx.query_id, self.step, messages=messages
                )
        out(result)
