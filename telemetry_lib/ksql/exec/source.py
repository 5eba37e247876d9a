"""Source operator: Kafka records -> rows of the source's columns (reference §2.4, §4, §4.9).

Owns: :class:`SourceOperator`. For each batch of a source topic it (1) deserializes keys and
values with the source's formats (vectorised, in :mod:`telemetry_lib.ksql.exec.serde_bridge`),
(2) sends records that fail to the processing log (DESERIALIZATION_ERROR) and skips them
(``ksql.fail.on.deserialization.error=true`` fails the query instead), (3) adds the pseudo
columns ROWTIME / ROWPARTITION / ROWOFFSET (and WINDOWSTART / WINDOWEND for windowed keys),
header columns, and the null-value flag, (4) for tables, skips records with a null key, and
(5) when the source has a TIMESTAMP column, replaces ROWTIME with it (TIMESTAMP_FORMAT parsed
vectorised); a record whose timestamp cannot be extracted or is negative is skipped and logged,
or fails the query with ksqlDB's StreamsException when ``ksql.timestamp.throw.on.invalid`` is set.

Decoding a large batch uses both cores: the batch's second half is decoded on the engine's
worker thread (:mod:`~telemetry_lib.ksql.exec.parallel`) while the calling thread decodes the
first (polars releases the GIL in its kernels and its NDJSON reader, so the decode's
single-threaded steps — UTF-8 checks, line joins, type conversions — overlap). Each half is
decoded in pieces of ~12 MB of values (:data:`_PIECE_BYTES`: larger NDJSON buffers page-fault).
Decoding is a pure function of the records, and the pieces are joined in record order before
anything is logged or emitted, so results and processing-log order are those of a one-piece
decode.

A batch that an in-process query just wrote may carry the writer's typed values
(:mod:`~telemetry_lib.ksql.exec.typed_handoff`); when they fit this source's value schema and
format, they are taken as the decoded values (they are what decoding the bytes gives) and
only the keys are decoded.
"""

from __future__ import annotations

import itertools
import logging

import polars as pl

from telemetry_lib.ksql.catalog import ColumnRole, DataSource
from telemetry_lib.ksql.errors import StreamsError
from telemetry_lib.ksql.exec import batch as B
from telemetry_lib.ksql.exec.operator import Emit, ExecContext, Operator
from telemetry_lib.ksql.exec.parallel import run_both
from telemetry_lib.ksql.exec.serde_bridge import DecodedColumns, decode_key, decode_value
from telemetry_lib.ksql.exec.timestamps import timestamp_expression
from telemetry_lib.ksql.exec.typed_handoff import handed_values
from telemetry_lib.ksql.serde.constant import constant
from telemetry_lib.ksql.types import BaseType

__all__ = ["SourceOperator"]

logger = logging.getLogger(__name__)

_STEP = "KsqlTopic.Source"
#: Batches with at least this many records are decoded as two halves at once. Below it the
#: hand-off to the worker thread (tens of microseconds) and the concatenation cost more than the
#: overlap saves; a Kafka poll or a driver batch of the benchmark's size (100k) is far above it.
_PARALLEL_DECODE_ROWS = 20_000
#: Each half is decoded in pieces of about this many value bytes: the NDJSON read copies its
#: piece into one buffer, and buffers past glibc's largest recycled size (32 MB) are fresh
#: mappings whose page faults cost ~25 ms per 40 MB (measured on the demo's 500k-record
#: catch-up batches); a piece's fixed cost (~1 ms of small queries) keeps pieces large.
_PIECE_BYTES = 12 * 1024 * 1024


class SourceOperator(Operator):
    step = _STEP

    def __init__(self, source: DataSource) -> None:
        self.source = source
        self._ts = (
            timestamp_expression(source, source.timestamp_column, source.timestamp_format)
            if source.timestamp_column
            else None
        )

    def describe(self) -> str:
        return f"SourceOperator[{self.source.name} <- {self.source.topic}]"

    def process_batch(self, batch: pl.DataFrame, ctx: ExecContext, out: Emit) -> None:
        source = self.source
        keys, values = _decode(batch, source)

        bad = keys.errors.is_not_null() | values.errors.is_not_null()
        if bool(bad.any()) and ctx.config_flag("ksql.fail.on.deserialization.error"):
            first = keys.errors.fill_null(values.errors).drop_nulls().to_list()[0]
            raise StreamsError(
                f"Deserialization exception handler is set to fail upon a deserialization error. "
                f"If you would rather have the streaming pipeline continue after a "
                f"deserialization error, please set the ksql.fail.on.deserialization.error "
                f"config to false. Cause: {first}"
            )
        if bool(bad.any()):
            self._log_deserialization(ctx, batch, keys.errors, "key")
            self._log_deserialization(
                ctx,
                batch,
                values.errors.filter(keys.errors.is_null()),
                "value",
                mask=keys.errors.is_null(),
            )
        frame = values.columns.with_columns(keys.columns.get_columns())
        extra = {
            B.ROWTIME: batch.get_column("timestamp").fill_null(0).cast(pl.Int64),
            B.ROWPARTITION: batch.get_column("partition").fill_null(0).cast(pl.Int32),
            B.ROWOFFSET: batch.get_column("offset").cast(pl.Int64),
            B.NULL_VALUE: (
                values.null_payload
                if values.null_payload is not None
                else batch.get_column("value").is_null()
            ),
            B.NULL_KEY: batch.get_column("key").is_null(),
        }
        if source.is_windowed and keys.window_start is not None and keys.window_end is not None:
            extra[B.WINDOWSTART] = keys.window_start
            extra[B.WINDOWEND] = keys.window_end
        frame = frame.with_columns(
            *(pl.Series(name, series) for name, series in extra.items()),
            _headers(batch).alias(B.HEADERS),
        )
        frame = frame.with_columns(*self._header_columns(frame))
        keep = ~bad
        if source.is_table:
            keep = keep & batch.get_column("key").is_not_null()
        if not bool(keep.all()):
            frame = frame.filter(keep)
        if self._ts is not None and frame.height:
            frame = self._extract_timestamps(frame, ctx)
        if frame.height:
            out(frame)

    # ------------------------------------------------------------------ helpers
    def _header_columns(self, frame: pl.DataFrame) -> list[pl.Expr]:
        exprs: list[pl.Expr] = []
        for col in self.source.columns:
            if col.role is not ColumnRole.HEADER:
                continue
            headers = pl.col(B.HEADERS)
            if col.header_key is None:
                exprs.append(
                    headers.list.eval(
                        pl.struct(
                            pl.element().struct.field("key").alias("KEY"),
                            pl.element().struct.field("value").alias("VALUE"),
                        )
                    ).alias(col.name)
                )
            else:
                # The last header with that key wins (ksqlDB reads Headers.lastHeader).
                exprs.append(
                    headers.list.eval(
                        pl.element()
                        .filter(pl.element().struct.field("key") == col.header_key)
                        .struct.field("value")
                    )
                    .list.last()
                    .alias(col.name)
                )
        return exprs

    def _log_deserialization(
        self,
        ctx: ExecContext,
        batch: pl.DataFrame,
        errors: pl.Series,
        target: str,
        *,
        mask: pl.Series | None = None,
    ) -> None:
        raw = batch.get_column(target)
        if mask is not None:
            raw = raw.filter(mask)
        failed = errors.is_not_null()
        if not bool(failed.any()):
            return
        ctx.processing_log.deserialization_errors(
            ctx.query_id,
            _STEP,
            target=target,
            topic=self.source.topic,
            messages=errors.filter(failed).to_list(),
            raw=raw.filter(failed).to_list(),
        )

    def _extract_timestamps(self, frame: pl.DataFrame, ctx: ExecContext) -> pl.DataFrame:
        assert self._ts is not None
        extracted = frame.select(self._ts.alias("__ts")).get_column("__ts")
        invalid = extracted.is_null() | (extracted < 0)
        if not bool(invalid.any()):  # the common case: no filter over the whole batch
            return frame.with_columns(extracted.alias(B.ROWTIME))
        column = self.source.timestamp_column
        if ctx.config_flag("ksql.timestamp.throw.on.invalid"):
            raise StreamsError(
                "Fatal user code error in TimestampExtractor callback for record "
                f"(topic {self.source.topic}): could not extract a timestamp from column "
                f"{column}"
            )
        col_type = self.source.column(column or "")
        kind = "STRING" if col_type and col_type.type.base is BaseType.STRING else "value"
        ctx.processing_log.record_processing_errors(
            ctx.query_id,
            f"{_STEP}.timestampExtractor",
            messages=[
                f"Failed to extract timestamp from column {column} ({kind}); the record is skipped."
            ]
            * int(invalid.sum()),
        )
        frame = frame.with_columns(extracted.alias(B.ROWTIME))
        return frame.filter(~invalid)


def _decode_part(batch: pl.DataFrame, source: DataSource) -> tuple[DecodedColumns, DecodedColumns]:
    return decode_key(batch.get_column("key"), source), decode_value(
        batch.get_column("value"), source
    )


def _decode(batch: pl.DataFrame, source: DataSource) -> tuple[DecodedColumns, DecodedColumns]:
    """Keys and values of ``batch``: handed-over typed values with decoded keys, or large
    batches decoded as two halves at once, each half in pieces of at most ~_PIECE_BYTES of
    values (module doc)."""
    handed = handed_values(batch, source)
    if handed is not None:
        columns, null_payload = handed
        given = DecodedColumns(columns, _no_errors(batch.height), null_payload=null_payload)
        return decode_key(batch.get_column("key"), source), given
    n = batch.height
    if n < _PARALLEL_DECODE_ROWS:
        return _decode_part(batch, source)
    size = batch.select(pl.col("value").bin.size().sum()).item() or 0
    per_half = max(1, -(-int(size) // (2 * _PIECE_BYTES)))
    bounds = [n * i // (2 * per_half) for i in range(2 * per_half + 1)]
    pieces = [batch.slice(a, b - a) for a, b in itertools.pairwise(bounds)]

    def decode_all(parts: list[pl.DataFrame]) -> list[tuple[DecodedColumns, DecodedColumns]]:
        return [_decode_part(part, source) for part in parts]

    first, tail = run_both(
        lambda: decode_all(pieces[:per_half]), lambda: decode_all(pieces[per_half:])
    )
    decoded = first + tail
    keys = _concat_decoded([k for k, _ in decoded])
    values = _concat_decoded([v for _, v in decoded])
    if keys is None or values is None:
        return _decode_part(batch, source)
    return keys, values


def _no_errors(n: int) -> pl.Series:
    return constant(None, n, pl.String).alias("errors")


def _concat_decoded(parts: list[DecodedColumns]) -> DecodedColumns | None:
    """``parts`` in order as one decode; None if they differ in shape (column types, which
    optional parts are present) — never expected, as all follow the source's schema, but the
    caller then decodes in one piece rather than guess."""
    optional = ("window_start", "window_end", "null_payload")
    a = parts[0]
    for b in parts[1:]:
        if a.columns.schema != b.columns.schema or any(
            (getattr(a, name) is None) != (getattr(b, name) is None) for name in optional
        ):
            return None
    joined: dict[str, pl.Series | None] = {}
    for name in optional:
        series = [getattr(p, name) for p in parts]
        joined[name] = None if series[0] is None else pl.concat(series, rechunk=False)
    columns = a.columns
    if a.columns.width:
        columns = pl.concat([p.columns for p in parts], how="vertical", rechunk=False)
    return DecodedColumns(columns, pl.concat([p.errors for p in parts], rechunk=False), **joined)


def _headers(batch: pl.DataFrame) -> pl.Expr:
    """The batch's headers: when no record has any (the common case), one empty list
    broadcast to every row, which later filters and copies need not touch row by row."""
    dtype = batch.schema["headers"]
    none = batch.select((pl.col("headers").list.len() == 0).fill_null(False).all()).item()
    if batch.height and none:
        return pl.lit([], dtype=dtype)
    return pl.lit(batch.get_column("headers"))
