"""Project operator: computes the query's output columns (the SELECT list).

Owns: :class:`ProjectOperator`. Output columns are written to positional fields
(:func:`~telemetry_lib.ksql.exec.batch.output_field`, keys first) next to ROWTIME, the window
bounds, the null-value flag and the headers, which the sink needs. Key columns taken from a
PARTITION BY come from its fields. A column whose expression fails for a row is NULL there and
the failure is logged as ksqlDB does (``Error computing expression X for column Y with index i``).
Rows with a null value keep their key columns; their value columns are irrelevant (the sink
writes a null value).
"""

from __future__ import annotations

import logging

import polars as pl

from telemetry_lib.ksql.analyzer.query import OutputColumn
from telemetry_lib.ksql.exec import batch as B
from telemetry_lib.ksql.exec.expr_bridge import Compiled, compile_typed
from telemetry_lib.ksql.exec.operator import Emit, ExecContext, Operator
from telemetry_lib.ksql.exec.processing_log import rows_as_json
from telemetry_lib.ksql.types import to_polars

__all__ = ["ProjectOperator"]

logger = logging.getLogger(__name__)

_STEP = "Project"
_CARRIED = (B.ROWTIME, B.NULL_VALUE, B.NULL_KEY, B.HEADERS, B.WINDOWSTART, B.WINDOWEND)


class ProjectOperator(Operator):
    step = _STEP

    def __init__(self, columns: tuple[OutputColumn, ...]) -> None:
        self.columns = columns
        self._compiled: list[Compiled | None] = [
            None if c.partition_index is not None else compile_typed(c.expression) for c in columns
        ]
        # Select expressions per input column set (one entry in practice).
        self._plans: dict[tuple[str, ...], tuple[list[pl.Expr], list[tuple[int, pl.Expr]]]] = {}

    def _plan(self, names: tuple[str, ...]) -> tuple[list[pl.Expr], list[tuple[int, pl.Expr]]]:
        """The select's value expressions and error checks for a batch with columns ``names``
        (built once per input schema: the columns decide only which carried ones exist)."""
        exprs: list[pl.Expr] = []
        errors: list[tuple[int, pl.Expr]] = []
        null_value = pl.col(B.NULL_VALUE)
        for index, (col, compiled) in enumerate(zip(self.columns, self._compiled, strict=True)):
            target = to_polars(col.type)
            if compiled is None:
                assert col.partition_index is not None
                value = pl.col(B.partition_field(col.partition_index))
            else:
                value = compiled.value
                if compiled.error is not None:
                    # The compiler already nulls the value where evaluation failed; nested
                    # (handled) errors keep a value but are still logged.
                    err = compiled.error
                    if not col.is_key:
                        err = pl.when(null_value).then(None).otherwise(err)
                    errors.append((index, err))
                if not col.is_key:
                    value = pl.when(null_value).then(None).otherwise(value)
            exprs.append(value.cast(target, strict=False).alias(B.output_field(index)))
        exprs += [pl.col(name) for name in _CARRIED if name in names]
        return exprs, errors

    def describe(self) -> str:
        inner = ", ".join(f"{c.expression.text or c.name} AS {c.name}" for c in self.columns)
        return f"ProjectOperator[{inner}]"

    def process_batch(self, batch: pl.DataFrame, ctx: ExecContext, out: Emit) -> None:
        names = tuple(batch.columns)
        plan = self._plans.get(names)
        if plan is None:
            plan = self._plans[names] = self._plan(names)
        exprs, errors = plan
        # Values and failures in one select (each select is a polars query), split by Series
        # (a frame built from Series runs none).
        computed = batch.select(exprs + [e.alias(f"__err_{i}") for i, e in errors])
        if not errors:
            out(computed)
            return
        columns = computed.get_columns()
        result = pl.DataFrame(columns[: len(exprs)])
        error_frame = pl.DataFrame(columns[len(exprs) :])
        if errors:
            # Messages stay a polars Series (a batch can fail thousands of times, e.g. a
            # DECIMAL division that does not terminate): column by column, rows in order.
            parts: list[pl.Series] = []
            records: list[str | None] = []
            include_rows = ctx.processing_log.include_rows
            for (index, _), name in zip(errors, error_frame.columns, strict=True):
                col = self.columns[index]
                column = error_frame.get_column(name)
                failed = column.drop_nulls()
                if not failed.len():
                    continue
                prefix = (
                    f"Error computing expression {col.expression.text} for column {col.name} "
                    f"with index {index}: "
                )
                parts.append((prefix + failed).alias("message"))
                if include_rows:
                    records += rows_as_json(batch, column.is_not_null())
            if parts:
                messages = pl.concat(parts) if len(parts) > 1 else parts[0]
                ctx.processing_log.record_processing_errors(
                    ctx.query_id,
                    _STEP,
                    messages=messages,
                    records=records if include_rows else None,
                )
        out(result)
