"""Filter operator (WHERE).

Owns: :class:`FilterOperator`. Streams keep the rows whose predicate is true and whose value is
not null (a WHERE drops null stream values, reference §2.3). Tables turn a row that does not
match into a tombstone (Kafka Streams' KTable filter), and pass tombstones on. A predicate that
fails to compute for a row counts as false and is logged (RECORD_PROCESSING_ERROR).
"""

from __future__ import annotations

import logging

import polars as pl

from telemetry_lib.ksql.analyzer.typed import TypedExpression
from telemetry_lib.ksql.exec import batch as B
from telemetry_lib.ksql.exec.expr_bridge import compile_typed
from telemetry_lib.ksql.exec.operator import Emit, ExecContext, Operator
from telemetry_lib.ksql.exec.processing_log import rows_as_json

__all__ = ["FilterOperator"]

logger = logging.getLogger(__name__)

_STEP = "WhereFilter"


class FilterOperator(Operator):
    step = _STEP

    def __init__(self, predicate: TypedExpression, *, emit_tombstones: bool) -> None:
        self.predicate = predicate
        self.emit_tombstones = emit_tombstones
        self._compiled = compile_typed(predicate)

    def describe(self) -> str:
        return (
            f"FilterOperator[{self.predicate.text}{', tombstones' if self.emit_tombstones else ''}]"
        )

    def process_batch(self, batch: pl.DataFrame, ctx: ExecContext, out: Emit) -> None:
        exprs = [self._compiled.value.fill_null(False).cast(pl.Boolean).alias("__pass")]
        if self._compiled.error is not None:
            exprs.append(self._compiled.error.alias("__err"))
        # with_columns broadcasts a constant predicate or error to every row (select would not)
        evaluated = batch.with_columns(exprs).select([e.meta.output_name() for e in exprs])
        passed = evaluated.get_column("__pass")
        if "__err" in evaluated.columns:
            errors = evaluated.get_column("__err")
            # A null value row is never evaluated by ksqlDB's filter: its errors are not logged.
            failed = errors.is_not_null() & ~batch.get_column(B.NULL_VALUE)
            errors = errors.filter(failed)
            if errors.len():
                records = rows_as_json(batch, failed) if ctx.processing_log.include_rows else None
                ctx.processing_log.record_processing_errors(
                    ctx.query_id,
                    _STEP,
                    messages=[
                        f"Error computing expression {self.predicate.text}: {e}"
                        for e in errors.to_list()
                    ],
                    records=records,
                )
        null_value = batch.get_column(B.NULL_VALUE)
        if self.emit_tombstones:
            out(batch.with_columns((null_value | ~passed).alias(B.NULL_VALUE)))
            return
        kept = batch.filter(passed & ~null_value)
        if kept.height:
            out(kept)
