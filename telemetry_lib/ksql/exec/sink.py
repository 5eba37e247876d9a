"""Sink operator: output rows -> Kafka records in the sink topic.

Owns: :class:`SinkOperator`. It serializes key columns with the key format (windowed keys keep
the input's window) and value columns with the value format (a null-value row becomes a null
value: a stream's null value or a table tombstone), sets the record timestamp (ROWTIME, or the
sink's TIMESTAMP column — reference §5.1; a row whose timestamp is null or negative is skipped and
logged), propagates headers, and produces through the TopicIO. The partition is left null so the
I/O layer applies Kafka's default partitioner to the key bytes. Rows that fail to serialize go to
the processing log (SERIALIZATION_ERROR) and are skipped. Keys and values of a large batch are
encoded at the same time (:mod:`~telemetry_lib.ksql.exec.parallel`), and the values of a very
large one as two halves at once (the first half and the keys here, the second half on the
worker thread); encoding is pure and row by row, so the records are those of sequential
encoding — and when a half reports an error, the batch is encoded again in one piece, so
errors that concern the whole batch are reported as before. An I/O that hands typed values to in-process readers
(the in-memory driver) also gets the typed value columns beside the records where decoding the
bytes would give them back exactly (:mod:`~telemetry_lib.ksql.exec.typed_handoff`).
"""

from __future__ import annotations

import logging

import polars as pl

from telemetry_lib.ksql.analyzer.query import OutputColumn
from telemetry_lib.ksql.catalog import Column, ColumnRole, FormatSpec
from telemetry_lib.ksql.exec import batch as B
from telemetry_lib.ksql.exec.operator import Emit, ExecContext, Operator
from telemetry_lib.ksql.exec.parallel import run_both
from telemetry_lib.ksql.exec.serde_bridge import encode_key, encode_value
from telemetry_lib.ksql.exec.timestamps import timestamp_expression
from telemetry_lib.ksql.exec.typed_handoff import (
    TYPED_VALUE,
    delivers_typed_values,
    typed_value_column,
)
from telemetry_lib.ksql.runtime.io import RECORD_SCHEMA
from telemetry_lib.ksql.serde.constant import constant
from telemetry_lib.ksql.windows import WindowInfo

__all__ = ["SinkOperator"]

logger = logging.getLogger(__name__)

_STEP = "KsqlTopic.Sink"
#: Batches with at least this many rows encode keys (on the engine's worker thread) and values
#: at the same time; below it the hand-off costs more than the overlap saves.
_PARALLEL_ENCODE_ROWS = 5_000
#: Batches with at least this many rows also encode their values as two halves at once (the
#: halves' concatenation costs little, but below this the worker's hand-off is not repaid).
_SPLIT_VALUES_ROWS = 20_000


class SinkOperator(Operator):
    step = _STEP

    def __init__(
        self,
        *,
        topic: str,
        columns: tuple[OutputColumn, ...],
        key_format: FormatSpec,
        value_format: FormatSpec,
        timestamp_column: str | None = None,
        timestamp_format: str | None = None,
        window: WindowInfo | None = None,
    ) -> None:
        self.topic = topic
        self.columns = columns
        self.key_format = key_format
        self.value_format = value_format
        self.window = window
        self._key_cols = [
            (i, Column(c.name, c.type, ColumnRole.KEY)) for i, c in enumerate(columns) if c.is_key
        ]
        self._value_cols = [
            (i, Column(c.name, c.type, ColumnRole.VALUE))
            for i, c in enumerate(columns)
            if not c.is_key
        ]
        self._ts: pl.Expr | None = None
        self.timestamp_column = timestamp_column
        if timestamp_column is not None:
            index = next(i for i, c in enumerate(columns) if c.name == timestamp_column)
            self._ts = timestamp_expression(
                None,
                timestamp_column,
                timestamp_format,
                field=B.output_field(index),
                base=columns[index].type.base,
            )

    def describe(self) -> str:
        ts = f", timestamp={self.timestamp_column}" if self.timestamp_column else ""
        return (
            f"SinkOperator[-> {self.topic}, key={self.key_format.name}, "
            f"value={self.value_format.name}{ts}]"
        )

    def process_batch(self, batch: pl.DataFrame, ctx: ExecContext, out: Emit) -> None:
        if self._ts is not None:
            batch = self._apply_timestamp(batch, ctx)
            if batch.height == 0:
                return
        # Frames built from Series run no polars query (a select costs ~0.1 ms per batch).
        key_frame = pl.DataFrame(
            [batch.get_column(B.output_field(i)).alias(c.name) for i, c in self._key_cols]
        )
        value_frame = pl.DataFrame(
            [batch.get_column(B.output_field(i)).alias(c.name) for i, c in self._value_cols]
        )
        window_start = batch.get_column(B.WINDOWSTART) if B.WINDOWSTART in batch.columns else None
        window_end = batch.get_column(B.WINDOWEND) if B.WINDOWEND in batch.columns else None
        null_key = batch.get_column(B.NULL_KEY) if B.NULL_KEY in batch.columns else None

        def keys_of() -> tuple[pl.Series, pl.Series]:
            return encode_key(
                key_frame,
                [c for _, c in self._key_cols],
                self.key_format,
                topic=self.topic,
                window=self.window,
                window_start=window_start,
                window_end=window_end,
                rows=batch.height,
                null_key=null_key,
            )

        null_value = batch.get_column(B.NULL_VALUE)

        def values_of(offset: int = 0, length: int | None = None) -> tuple[pl.Series, pl.Series]:
            return encode_value(
                value_frame.slice(offset, length),
                [c for _, c in self._value_cols],
                self.value_format,
                topic=self.topic,
                null_value=null_value.slice(offset, length),
            )

        n = batch.height
        if n >= _SPLIT_VALUES_ROWS and self._value_cols:
            half = n // 2
            ((head, head_errors), (keys, key_errors)), (tail, tail_errors) = run_both(
                lambda: (values_of(0, half), keys_of()), lambda: values_of(half)
            )
            if head_errors.null_count() + tail_errors.null_count() == n:
                values = pl.concat([head, tail], rechunk=False)
                value_errors = pl.concat([head_errors, tail_errors], rechunk=False)
            else:  # errors: as the one-piece encode reports them (see the module doc)
                values, value_errors = values_of()
        elif n >= _PARALLEL_ENCODE_ROWS and self._key_cols:
            # Keys on the worker thread while values are encoded here (both pure).
            (values, value_errors), (keys, key_errors) = run_both(values_of, keys_of)
        else:
            keys, key_errors = keys_of()
            values, value_errors = values_of()
        failed = key_errors.is_not_null() | value_errors.is_not_null()
        if bool(failed.any()):
            for target, errors in (("key", key_errors), ("value", value_errors)):
                messages = errors.drop_nulls().to_list()
                if messages:
                    ctx.processing_log.serialization_errors(
                        ctx.query_id, _STEP, target=target, topic=self.topic, messages=messages
                    )
        records = pl.DataFrame(
            [
                keys.alias("key"),
                values.alias("value"),
                batch.get_column(B.ROWTIME).cast(pl.Int64).alias("timestamp"),
                constant(None, n, pl.Int32()).alias("partition"),
                constant(None, n, pl.Int64()).alias("offset"),
                _headers(batch).alias("headers"),
            ]
        )
        if records.schema != RECORD_SCHEMA:
            records = records.cast(RECORD_SCHEMA)  # type: ignore[arg-type]
        typed = None
        if delivers_typed_values(ctx.io):
            typed = typed_value_column(
                value_frame,
                [c for _, c in self._value_cols],
                self.value_format,
                null_value=null_value,
            )
        if bool(failed.any()):
            records = records.filter(~failed)
            typed = typed.filter(~failed) if typed is not None else None
        if records.height:
            produced = records if typed is None else records.with_columns(typed.alias(TYPED_VALUE))
            ctx.io.produce(self.topic, produced)
        out(records)

    def _apply_timestamp(self, batch: pl.DataFrame, ctx: ExecContext) -> pl.DataFrame:
        assert self._ts is not None
        ts = batch.select(self._ts.alias("__ts")).get_column("__ts")
        invalid = ts.is_null() | (ts < 0)
        if bool(invalid.any()):
            ctx.processing_log.record_processing_errors(
                ctx.query_id,
                f"{_STEP}.timestamp",
                messages=[
                    f"Invalid timestamp in column {self.timestamp_column}; the record is skipped."
                ]
                * int(invalid.sum()),
            )
        return batch.with_columns(ts.alias(B.ROWTIME)).filter(~invalid)


def _headers(batch: pl.DataFrame) -> pl.Series:
    """The records' headers: the batch's, or — when no row has any (the common case, and the
    source's broadcast empty list) — one empty list repeated, so the column is not built row
    by row (100k empty lists cost several ms per batch)."""
    dtype = RECORD_SCHEMA["headers"]
    if B.HEADERS not in batch.columns:
        return constant([], batch.height, dtype)
    headers = batch.get_column(B.HEADERS)
    lengths = headers.list.len()
    if lengths.null_count() == 0 and bool((lengths == 0).all()):
        return constant([], batch.height, dtype)
    return headers
