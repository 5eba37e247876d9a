"""JSON format, vectorised encode: a frame of typed columns -> a Binary Series of JSON payloads.

Owns :func:`encode_fast`. Columns are first turned into their JSON form with polars
expressions (TIMESTAMP -> epoch ms, DATE -> epoch days, TIME -> ms of day, BYTES -> base64),
then ``struct.json_encode`` writes each row. polars writes DECIMAL as a string, so each
decimal is written as a marked string and the marks (with the quotes) are removed afterwards,
giving a JSON number that keeps its scale (``1.50``) as ksqlDB writes it. MAP columns (polars
has no map type to write as an object) are encoded per row by ``json_exact``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import polars as pl

from telemetry_lib.ksql.types import BaseType, SqlArray, SqlDecimal, SqlStruct, SqlType

__all__ = ["encode_fast"]

logger = logging.getLogger(__name__)

# Marks around a decimal's text; \x01 cannot appear unescaped in JSON text, and polars escapes
# it as \u0001, so the pattern below only matches marks this module wrote (see _has_mark).
_MARK = "\x01D"
_MARK_END = "\x01"
_MARK_PATTERN = r'"\\u0001D([^"\\]*)\\u0001"'


def encode_fast(
    frame: pl.DataFrame,
    columns: Sequence[tuple[str, SqlType]],
    *,
    wrapped: bool,
    null_rows: pl.Series | None = None,
) -> pl.Series:
    """JSON payloads (Binary) for ``frame``'s columns; rows where ``null_rows`` is True -> null."""
    exprs = [_json_form(pl.col(name), t).alias(name) for name, t in columns]
    has_decimal = any(_has_decimal(t) for _, t in columns)
    # polars writes NaN/Infinity as null; Jackson writes them as the strings "NaN", "Infinity".
    for i, (name, t) in enumerate(columns):
        values = frame.get_column(name)
        if t.base is BaseType.DOUBLE and not values.is_finite().fill_null(True).all():
            x = pl.col(name)
            exprs[i] = (
                pl.when(x.is_nan())
                .then(pl.lit("NaN"))
                .when(x == float("inf"))
                .then(pl.lit("Infinity"))
                .when(x == float("-inf"))
                .then(pl.lit("-Infinity"))
                .otherwise(pl.concat_str([pl.lit(_MARK), x.cast(pl.String), pl.lit(_MARK_END)]))
                .alias(name)
            )
            has_decimal = True
    encoded = frame.select(pl.struct(exprs).struct.json_encode().alias("json")).to_series()
    if not wrapped:
        name = columns[0][0]
        prefix = pl.select(
            pl.struct(pl.lit(None, dtype=pl.Int8).alias(name)).struct.json_encode()
        ).item()
        start = len(prefix) - len("null}")
        encoded = encoded.str.slice(start).str.head(-1)
    if has_decimal:
        encoded = encoded.str.replace_all(_MARK_PATTERN, "${1}")
    if null_rows is not None:
        encoded = pl.select(
            pl.when(null_rows).then(pl.lit(None, dtype=pl.String)).otherwise(encoded)
        ).to_series()
    return encoded.cast(pl.Binary).alias("payload")


def _has_decimal(t: SqlType) -> bool:
    if isinstance(t, SqlDecimal):
        return True
    if isinstance(t, SqlArray):
        return _has_decimal(t.element)
    if isinstance(t, SqlStruct):
        return any(_has_decimal(ft) for _, ft in t.fields)
    return False


def _json_form(expr: pl.Expr, t: SqlType) -> pl.Expr:
    base = t.base
    if base is BaseType.TIMESTAMP:
        return expr.dt.epoch("ms")
    if base is BaseType.DATE:
        return expr.cast(pl.Int32)
    if base is BaseType.TIME:
        return (expr.cast(pl.Int64) // 1_000_000).cast(pl.Int32)
    if base is BaseType.BYTES:
        return expr.bin.encode("base64")
    if isinstance(t, SqlDecimal):
        return pl.concat_str([pl.lit(_MARK), expr.cast(pl.String), pl.lit(_MARK_END)])
    if isinstance(t, SqlArray):
        return expr.list.eval(_json_form(pl.element(), t.element))
    if isinstance(t, SqlStruct):
        fields = [_json_form(expr.struct.field(n), ft).alias(n) for n, ft in t.fields]
        return pl.when(expr.is_null()).then(None).otherwise(pl.struct(fields))
    return expr
