"""PartitionBy operator: computes the new key of a re-keyed stream (PARTITION BY).

Owns: :class:`PartitionByOperator`. It adds one field per PARTITION BY expression
(:func:`~telemetry_lib.ksql.exec.batch.partition_field`); the projection then takes the key
columns from those fields. On a record whose value is null, ksqlDB cannot evaluate expressions
over the value: a key that is a plain source key column keeps its value, every other key is null.
The sink's default partitioner then places records by the new key bytes (the repartition).
An expression that fails for a row gives a null key and a RECORD_PROCESSING_ERROR entry.
"""

from __future__ import annotations

import logging

import polars as pl

from telemetry_lib.ksql.analyzer.query import PartitionKey
from telemetry_lib.ksql.exec import batch as B
from telemetry_lib.ksql.exec.expr_bridge import compile_typed
from telemetry_lib.ksql.exec.operator import Emit, ExecContext, Operator

__all__ = ["PartitionByOperator"]

logger = logging.getLogger(__name__)

_STEP = "PartitionBy"


class PartitionByOperator(Operator):
    step = _STEP

    def __init__(self, keys: tuple[PartitionKey, ...]) -> None:
        self.keys = keys
        self._compiled = [compile_typed(k.expression) for k in keys]

    def describe(self) -> str:
        inner = ", ".join(k.text for k in self.keys) if self.keys else "NULL"
        return f"PartitionByOperator[{inner}]"

    def process_batch(self, batch: pl.DataFrame, ctx: ExecContext, out: Emit) -> None:
        null_value = pl.col(B.NULL_VALUE)
        exprs: list[pl.Expr] = []
        error_exprs: list[pl.Expr] = []
        for index, (key, compiled) in enumerate(zip(self.keys, self._compiled, strict=True)):
            value = compiled.value
            if compiled.error is not None:
                error_exprs.append(compiled.error.alias(f"__err_{index}"))
            if key.source_key_field is None:
                value = pl.when(null_value).then(None).otherwise(value)
            exprs.append(value.alias(B.partition_field(index)))
        # A re-keyed record always has a key object (its columns may all be null).
        exprs.append(pl.lit(False).alias(B.NULL_KEY))
        result = batch.with_columns(exprs)
        if error_exprs:
            errors = batch.select(error_exprs)
            messages: list[str] = []
            for index, name in enumerate(errors.columns):
                col = errors.get_column(name).filter(~batch.get_column(B.NULL_VALUE))
                messages += [
                    f"Error computing expression {self.keys[index].text} for PARTITION BY: {m}"
                    for m in col.drop_nulls().to_list()
                ]
            if messages:
                ctx.processing_log.record_processing_errors(ctx.query_id, _STEP, messages=messages)
        out(result)
