"""DELIMITED format, vectorised decode of the common case: records without quotes.

Owns :func:`decode_fast`. A record with no ``"``, CR or LF is just its fields split on the
delimiter (Commons CSV neither trims nor unescapes unquoted fields), so polars string
operations give the fields of every such record at once; each column is then parsed with
polars expressions that accept exactly what the Java parsers accept in the plain forms
(``[+-]digits`` for INT/BIGINT, plain decimal or exponent numbers for DOUBLE, fitting
DECIMALs, ``true`` in any case for BOOLEAN). Everything else — quoted records, field-count
mismatches, values the plain forms do not cover, parse failures — goes to the exact
per-record path (``delimited``), which also writes the error messages.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import polars as pl

from telemetry_lib.ksql.serde.options import utf8_text
from telemetry_lib.ksql.types import BaseType, SqlDecimal, SqlType, to_polars

__all__ = ["decode_fast"]

logger = logging.getLogger(__name__)

# Plain forms the vectorised parsers handle; anything else is left to the Java-like parsers.
_INTEGER_TEXT = r"^[+-]?[0-9]+$"
_DOUBLE_TEXT = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
_DECIMAL_TEXT = r"^-?[0-9]+(?:\.[0-9]+)?$"
# Range of the Java int (INTEGER, DATE epoch days, TIME ms of day).
_INT_MIN, _INT_MAX = -(1 << 31), (1 << 31) - 1
# Dates and timestamps the exact path (Python's datetime) can hold: years 1 to 9999.
_MIN_DAYS, _MAX_DAYS = -719_162, 2_932_896
_MIN_MS, _MAX_MS = _MIN_DAYS * 86_400_000, (_MAX_DAYS + 1) * 86_400_000 - 1


def decode_fast(
    payloads: pl.Series, columns: Sequence[tuple[str, SqlType]], *, delimiter: str
) -> tuple[pl.DataFrame, pl.Series]:
    """(typed frame, rows left for the exact path) for DELIMITED payloads."""
    text = utf8_text(payloads, replace=True)
    fields = pl.col("text").str.split(delimiter, inclusive=False)
    frame = pl.DataFrame({"text": text}).with_columns(fields.alias("fields"))
    aside = (
        pl.col("text").is_null()
        | pl.col("text").str.contains('"', literal=True)
        | pl.col("text").str.contains("\n", literal=True)
        | pl.col("text").str.contains("\r", literal=True)
        | (pl.col("text") == "")
        | (pl.col("fields").list.len() != len(columns))
    )
    values: list[pl.Expr] = []
    flags: list[pl.Expr] = [aside]
    for index, (name, t) in enumerate(columns):
        raw = pl.col("fields").list.get(index, null_on_oob=True)
        field = pl.when(raw == "").then(None).otherwise(raw)
        value, bad = _parse(field, t)
        values.append(value.alias(name))
        flags.append(bad.fill_null(False))
    out = frame.select(*values, pl.any_horizontal(*flags).fill_null(True).alias("__exact"))
    exact = out.get_column("__exact")
    typed = out.drop("__exact").select(
        [pl.when(pl.lit(exact)).then(None).otherwise(pl.col(n)).alias(n) for n, _ in columns]
    )
    return typed, exact


def _parse(field: pl.Expr, t: SqlType) -> tuple[pl.Expr, pl.Expr]:
    """(typed value, needs the exact path) for one column's text (null = empty field)."""
    present = field.is_not_null()
    base = t.base
    if base is BaseType.STRING:
        return field, pl.lit(False)
    if base is BaseType.BOOLEAN:
        return field.str.to_lowercase() == "true", pl.lit(False)
    if base in (
        BaseType.INTEGER,
        BaseType.DATE,
        BaseType.TIME,
        BaseType.BIGINT,
        BaseType.TIMESTAMP,
    ):
        plain = field.str.contains(_INTEGER_TEXT)
        number = pl.when(plain).then(field).otherwise(None).str.to_integer(strict=False)
        bad = present & (~plain | number.is_null())
        if base is BaseType.BIGINT:
            return number, bad
        if base is BaseType.TIMESTAMP:
            bad = bad | (number < _MIN_MS) | (number > _MAX_MS)
            return number.cast(pl.Datetime("ms")), bad
        bad = bad | (number < _INT_MIN) | (number > _INT_MAX)
        if base is BaseType.DATE:
            bad = bad | (number < _MIN_DAYS) | (number > _MAX_DAYS)
            return number.cast(pl.Int32, strict=False).cast(pl.Date), bad
        if base is BaseType.TIME:
            ns = (number % 86_400_000) * 1_000_000
            return ns.cast(pl.Time, strict=False), bad
        return number.cast(pl.Int32, strict=False), bad
    if base is BaseType.DOUBLE:
        plain = field.str.contains(_DOUBLE_TEXT)
        return field.cast(pl.Float64, strict=False), present & ~plain
    if isinstance(t, SqlDecimal):
        plain = field.str.contains(_DECIMAL_TEXT)
        integer = field.str.extract(r"^-?0*([0-9]*)", 1).str.len_chars()
        fraction = field.str.extract(r"\.([0-9]*?)0*$", 1).str.len_chars().fill_null(0)
        fits = (integer <= t.precision - t.scale) & (fraction <= t.scale)
        bad = present & ~(plain & fits).fill_null(False)
        value = pl.when(bad).then(None).otherwise(field).cast(to_polars(t), strict=False)
        return value, bad
    if base is BaseType.BYTES:
        decoded = field.str.decode("base64", strict=False)
        return decoded, present & decoded.is_null()
    return pl.lit(None, dtype=to_polars(t)), present
