"""INSERT INTO ... VALUES: one record written straight to a stream's or table's topic.

Owns: resolving the target and the column list (all columns, key columns first, when none is
given; ROWTIME may be set and defaults to the current time; ROWPARTITION / ROWOFFSET and header
columns are refused), typing and evaluating the value expressions, coercing them to the column
types (structs by field name, missing fields null), and producing the record through the same
:class:`~telemetry_lib.ksql.exec.sink.SinkOperator` persistent queries use. One row: evaluating it
in Python is fine. Produces no REST entity.
"""

from __future__ import annotations

import decimal
import logging

import polars as pl

from telemetry_lib.ksql.analyzer.query import OutputColumn
from telemetry_lib.ksql.analyzer.scope import Scope
from telemetry_lib.ksql.analyzer.typed import TColumn
from telemetry_lib.ksql.catalog import ColumnRole, DataSource, quote_identifier
from telemetry_lib.ksql.commands.context import StatementContext
from telemetry_lib.ksql.errors import AnalysisError, KsqlEngineError, KsqlStatementError
from telemetry_lib.ksql.exec import batch as B
from telemetry_lib.ksql.exec.expr_bridge import compile_typed
from telemetry_lib.ksql.exec.operator import ExecContext
from telemetry_lib.ksql.exec.processing_log import ProcessingLog
from telemetry_lib.ksql.exec.sink import SinkOperator
from telemetry_lib.ksql.parser.ast import CreateStruct, InsertValues
from telemetry_lib.ksql.runtime.io import RECORD_SCHEMA
from telemetry_lib.ksql.types import (
    BaseType,
    SqlArray,
    SqlMap,
    SqlStruct,
    SqlType,
    can_implicitly_cast,
    is_numeric,
    to_polars,
)

__all__ = ["insert_values"]

logger = logging.getLogger(__name__)

_FORBIDDEN = ("ROWPARTITION", "ROWOFFSET", "WINDOWSTART", "WINDOWEND")


def insert_values(stmt: InsertValues, ctx: StatementContext) -> None:
    target = ctx.catalog.get_source(stmt.target)
    if target is None:
        message = (
            f"Cannot insert values into an unknown stream/table: {quote_identifier(stmt.target)}"
        )
        similar = ctx.catalog.similar_source_names(stmt.target)
        if similar:
            message += (
                f'\nDid you mean "{similar[0]}"? Hint: wrap the source name in double quotes to '
                "make it case-sensitive."
            )
        raise KsqlEngineError(message)
    if target.is_source:
        raise KsqlEngineError(
            f"Cannot insert values into read-only {target.source_type.lower}: {target.name}"
        )
    try:
        _insert(stmt, target, ctx)
    except KsqlEngineError as exc:
        # ksqlDB's InsertValuesExecutor wraps every failure to build or write the row.
        raise KsqlStatementError(
            f"Failed to insert values into '{stmt.target}'. {exc.message}", hint=exc.hint
        ) from exc


def _insert(stmt: InsertValues, target: DataSource, ctx: StatementContext) -> None:
    data_columns = target.key_columns + target.value_columns
    names = list(stmt.columns) or [c.name for c in data_columns]
    for name in names:
        if name in _FORBIDDEN:
            raise AnalysisError(f"Inserting into column {quote_identifier(name)} is not allowed.")
        col = target.column(name)
        if name != "ROWTIME" and col is None:
            raise AnalysisError(f"Column name {quote_identifier(name)} does not exist.")
        if col is not None and col.role is ColumnRole.HEADER:
            raise AnalysisError(f"Cannot insert into HEADER columns: {quote_identifier(name)}")
    if len(names) != len(stmt.values):
        raise AnalysisError(
            "Failed to prepare statement: Expected number columns and values to match: "
            f"{len(names)}, {len(stmt.values)}"
        )
    given = dict(zip(names, stmt.values, strict=True))
    rowtime = ctx.state.clock()
    if "ROWTIME" in given:
        rowtime_value = _evaluate(given["ROWTIME"], ctx)
        if rowtime_value is None:
            raise AnalysisError("ROWTIME cannot be NULL")
        rowtime = int(rowtime_value)  # type: ignore[call-overload]

    row: dict[str, pl.Series] = {}
    out_cols: list[OutputColumn] = []
    for index, col in enumerate(data_columns):
        value = None
        if col.name in given:
            raw = _evaluate(given[col.name], ctx, expected=col.type, column=col.name)
            value = _coerce(raw, col.type, col.name)
        if value is None and target.is_table and col.role is ColumnRole.KEY:
            raise AnalysisError(
                f"Value for primary key column(s) {col.name} is required for tables"
            )
        row[B.output_field(index)] = pl.Series([value], dtype=to_polars(col.type))
        out_cols.append(
            OutputColumn(
                col.name,
                col.type,
                TColumn(B.output_field(index), type=col.type, text=col.name),
                col.role is ColumnRole.KEY,
            )
        )
    frame = pl.DataFrame(row).with_columns(
        pl.lit(rowtime, dtype=pl.Int64).alias(B.ROWTIME),
        pl.lit(False).alias(B.NULL_VALUE),
        pl.Series(B.HEADERS, [[]], dtype=RECORD_SCHEMA["headers"]),
    )
    sink = SinkOperator(
        topic=target.topic,
        columns=tuple(out_cols),
        key_format=target.key_format,
        value_format=target.value_format,
        window=target.window,
    )
    log = ctx.state.processing_log
    if ctx.sandbox:
        # The validation pass must leave no trace, not even in the processing log.
        log = ProcessingLog(ctx.io, topic=log.topic, include_rows=log.include_rows)
    exec_ctx = ExecContext(
        query_id="INSERT_VALUES", io=ctx.io, processing_log=log, config=ctx.config
    )
    produced: list[pl.DataFrame] = []
    sink.process_batch(frame, exec_ctx, produced.append)
    if not produced or produced[0].height == 0:
        raise KsqlEngineError(
            f"The values could not be serialized with the {target.key_format.name} key format "
            f"and {target.value_format.name} value format (see the processing log)."
        )


def _evaluate(
    expr: object, ctx: StatementContext, *, expected: SqlType | None = None, column: str = ""
) -> object:
    from telemetry_lib.ksql.analyzer.expressions import type_expression

    if isinstance(expr, CreateStruct) and not expr.fields:
        return {}  # STRUCT(): every field of the target struct is null
    typed = type_expression(expr, Scope(()), context="INSERT", type_lookup=ctx.catalog.get_type)  # type: ignore[arg-type]
    if expected is not None and typed.type is not None and not _assignable(typed.type, expected):
        raise KsqlEngineError(
            f"Expected type {expected.sql()} for field {column} but got {typed.text}"
            f"({typed.type.sql()})"
        )
    compiled = compile_typed(typed)
    result = pl.select(compiled.value.alias("v"))
    if compiled.error is not None:
        err = pl.select(compiled.error.alias("e")).item()
        if err is not None:
            raise KsqlEngineError(f"Failed to evaluate {typed.text}: {err}")
    return result.to_series().to_list()[0]


def _assignable(source: SqlType, target: SqlType) -> bool:
    if can_implicitly_cast(source, target):
        return True
    if is_numeric(source) and is_numeric(target):
        return True
    if isinstance(source, SqlStruct) and isinstance(target, SqlStruct):
        return all(target.field(n) is not None for n, _ in source.fields)
    if isinstance(source, SqlArray) and isinstance(target, SqlArray):
        return _assignable(source.element, target.element)
    if isinstance(source, SqlMap) and isinstance(target, SqlMap):
        return _assignable(source.key, target.key) and _assignable(source.value, target.value)
    return source.base is target.base


def _coerce(value: object, target: SqlType, column: str) -> object:
    """Python value -> the Python form polars needs for ``target`` (recursively)."""
    if value is None:
        return None
    if isinstance(target, SqlStruct):
        if not isinstance(value, dict):
            raise KsqlEngineError(f"Expected a STRUCT for column {column}, got {value!r}")
        return {
            name: _coerce(value.get(name), ftype, f"{column}->{name}")
            for name, ftype in target.fields
        }
    if isinstance(target, SqlArray):
        assert isinstance(value, list)
        return [_coerce(v, target.element, column) for v in value]
    if isinstance(target, SqlMap):
        # MAP values come from polars as a list of {"key", "value"} structs.
        if isinstance(value, dict):
            pairs = list(value.items())
        else:
            assert isinstance(value, list)
            pairs = [(e["key"], e["value"]) for e in value]
        return [
            {"key": _coerce(k, target.key, column), "value": _coerce(v, target.value, column)}
            for k, v in pairs
        ]
    base = target.base
    if base is BaseType.INTEGER or base is BaseType.BIGINT:
        return int(value)  # type: ignore[call-overload]
    if base is BaseType.DOUBLE:
        return float(value)  # type: ignore[arg-type]
    if base is BaseType.DECIMAL:
        return decimal.Decimal(str(value))
    return value
