"""CAST between SQL types as polars expressions, with ksqlDB's (Java's) conversion semantics.

Owns :func:`cast_expr` (value expression, source type, target type -> value and a per-row
failure-message expression), :func:`exact_decimal_unscaled` (the unscaled Int128 of a cast to
DECIMAL that cannot round or overflow, for DECIMAL arithmetic on top of it) and
:func:`java_string_of` (Java ``toString`` text of a value). A cast to DECIMAL that cannot round or
overflow (INTEGER to DECIMAL(p >= 10 + s, s), a DECIMAL to a wider one) is a plain polars cast
with no check.

Semantics (ksqlDB CastEvaluator): integer narrowing wraps like Java ``intValue()``; DOUBLE to
integers truncates toward zero and saturates (NaN -> 0); to DECIMAL rounds HALF_UP and fails
(NULL + error) when the value needs more digits than the precision; STRING to numbers trims
and fails on bad text; STRING to BOOLEAN is SqlBooleans.parseBoolean (a non-empty prefix of
``true`` or ``yes``, any case, is true; anything else false); STRING to
DATE/TIME/TIMESTAMP parses ISO-8601; containers convert element-wise and STRUCTs by field name
(missing fields NULL). To STRING: DOUBLE as Java's ``Double.toString`` (``1.0E10``), DECIMAL as
plain text, TIMESTAMP as ``yyyy-MM-dd'T'HH:mm:ss.SSS``, ARRAY/MAP/STRUCT as Java's collection
text (``[1, 3]``, ``{k=1}``, ``Struct{F0=1,f1=3}``).

Not vectorised (documented exceptions, whole-Series ``map_batches``): DOUBLE to STRING outside
[1e-3, 1e7) and ARRAY/MAP/STRUCT to STRING, which need Java's number/collection text rules.
"""

from __future__ import annotations

import decimal
import logging
import math
from collections.abc import Callable

import polars as pl

from telemetry_lib.ksql.functions.decimal_ops import rescale, to_decimal, unscaled
from telemetry_lib.ksql.types import (
    BaseType,
    SqlArray,
    SqlDecimal,
    SqlMap,
    SqlStruct,
    SqlType,
    to_polars,
)

__all__ = ["cast_expr", "exact_decimal_unscaled", "java_string_of", "wrap_int32"]

logger = logging.getLogger(__name__)

_INT32_SPAN = 2**32
_INT32_HALF = 2**31
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# Java's Double.toString switches to scientific notation outside [1e-3, 1e7).
_PLAIN_LOW, _PLAIN_HIGH = 1e-3, 1e7
# Scale used when parsing text into DECIMAL before the final HALF_UP rounding.
_PARSE_EXTRA_SCALE = 8
# Digits of the largest INTEGER / BIGINT magnitude (2^31, 2^63): a DECIMAL with that many
# integral digits holds every value.
_INTEGRAL_DIGITS = {BaseType.INTEGER: 10, BaseType.BIGINT: 19}
# polars' Decimal holds at most 38 digits.
_MAX_DECIMAL_DIGITS = 38
# The expression compiler's let-binding (exec/expressions.py ``_Lets.share``).
Share = Callable[[pl.Expr], pl.Expr]
# Java's String.trim() removes every character <= U+0020.
_JAVA_WHITESPACE = "".join(chr(c) for c in range(33))


def wrap_int32(expr: pl.Expr) -> pl.Expr:
    """Java ``(int) long``: keep the low 32 bits."""
    wide = expr.cast(pl.Int64)
    return ((wide + _INT32_HALF) % _INT32_SPAN - _INT32_HALF).cast(pl.Int32)


def _fail_where(condition: pl.Expr, message: str) -> pl.Expr:
    return pl.when(condition).then(pl.lit(message))


def _same(expr: pl.Expr) -> pl.Expr:
    return expr


def cast_expr(
    expr: pl.Expr, source: SqlType, target: SqlType, *, share: Share = _same
) -> tuple[pl.Expr, pl.Expr | None]:
    """``CAST(expr AS target)`` for ``expr`` of ``source``: (value, failure message or None).

    ``share`` (the expression compiler's let-binding) is applied to intermediate results the
    conversion refers to several times (parsed text, unscaled and rounded values, failures);
    element conversions inside containers (``list.eval``) do not use it."""
    if source == target:
        return expr, None
    sb, tb = source.base, target.base
    if tb is BaseType.STRING:
        return _to_string(expr, source), None
    if sb is BaseType.STRING:
        return _from_string(expr, target, share)
    numeric = (BaseType.INTEGER, BaseType.BIGINT, BaseType.DOUBLE, BaseType.DECIMAL)
    if sb in numeric and tb in numeric:
        return _numeric(expr, source, target, share)
    if sb is BaseType.TIMESTAMP and tb is BaseType.DATE:
        return expr.dt.date(), None
    if sb is BaseType.TIMESTAMP and tb is BaseType.TIME:
        return expr.dt.time(), None
    if sb is BaseType.DATE and tb is BaseType.TIMESTAMP:
        return expr.cast(pl.Datetime("ms")), None
    # Containers: an element that fails to convert fails the whole CAST (Java's mapper throws).
    if isinstance(source, SqlArray) and isinstance(target, SqlArray):
        inner, inner_fail = cast_expr(pl.element(), source.element, target.element)
        return expr.list.eval(inner), _any_failed(expr, inner_fail)
    if isinstance(source, SqlMap) and isinstance(target, SqlMap):
        k, k_fail = cast_expr(pl.element().struct.field("key"), source.key, target.key)
        v, v_fail = cast_expr(pl.element().struct.field("value"), source.value, target.value)
        both = [f for f in (k_fail, v_fail) if f is not None]
        entry_fail = pl.coalesce(both) if both else None
        value = expr.list.eval(pl.struct(k.alias("key"), v.alias("value")))
        return value, _any_failed(expr, entry_fail)
    if isinstance(source, SqlStruct) and isinstance(target, SqlStruct):
        fields = []
        fails = []
        for name, ft in target.fields:
            st = source.field(name)
            if st is None:
                fields.append(pl.lit(None, dtype=to_polars(ft)).alias(name))
            else:
                fv, f_fail = cast_expr(expr.struct.field(name), st, ft)
                fields.append(fv.alias(name))
                if f_fail is not None:
                    fails.append(f_fail)
        struct_fail = pl.coalesce(fails) if fails else None
        return pl.when(expr.is_not_null()).then(pl.struct(fields)), struct_fail
    raise ValueError(f"Cast of {source.sql()} to {target.sql()} is not supported")


def _any_failed(collection: pl.Expr, element_fail: pl.Expr | None) -> pl.Expr | None:
    if element_fail is None:
        return None
    failed = collection.list.eval(element_fail.is_not_null()).list.any().fill_null(False)
    return pl.when(failed).then(pl.lit("Cannot convert a collection element"))


def _numeric(
    expr: pl.Expr, source: SqlType, target: SqlType, share: Share = _same
) -> tuple[pl.Expr, pl.Expr | None]:
    sb, tb = source.base, target.base
    if isinstance(target, SqlDecimal):
        exact = _exact_decimal(expr, source, target)
        if exact is not None:
            return exact, None
        if isinstance(source, SqlDecimal):
            return to_decimal(expr, source.scale, target, share=share)
        if sb is BaseType.DOUBLE:
            text = share(expr.cast(pl.String))
            return _decimal_from_text(text, target, finite=expr.is_finite(), share=share)
        as_dec = expr.cast(pl.Decimal(38, 0))
        return to_decimal(as_dec, 0, target, share=share)
    if tb is BaseType.DOUBLE:
        return expr.cast(pl.Float64), None
    # to INTEGER / BIGINT
    if sb is BaseType.DOUBLE:
        lo, hi = (
            (-_INT32_HALF, _INT32_HALF - 1) if tb is BaseType.INTEGER else (_INT64_MIN, _INT64_MAX)
        )
        clipped = expr.fill_nan(0.0).clip(float(lo), float(hi))
        big = clipped.cast(pl.Int64, strict=False).fill_null(
            pl.when(clipped > 0).then(hi).otherwise(lo)
        )
        return (big.cast(pl.Int32) if tb is BaseType.INTEGER else big), None
    if sb is BaseType.DECIMAL:
        whole = expr.cast(pl.Int128)
        wrapped64 = ((whole + 2**63) % 2**64 - 2**63).cast(pl.Int64)
        return (wrap_int32(wrapped64) if tb is BaseType.INTEGER else wrapped64), None
    if tb is BaseType.INTEGER:
        return wrap_int32(expr), None
    return expr.cast(pl.Int64), None


def _exact_decimal(expr: pl.Expr, source: SqlType, target: SqlDecimal) -> pl.Expr | None:
    """The cast as a plain polars cast when every value of ``source`` fits ``target`` exactly
    (no rounding, no overflow: nothing to check), else None. polars casts integers and
    Decimals to a Decimal of an equal or larger scale exactly (the same value the unscaled
    path computes)."""
    if not _fits_exactly(source, target):
        return None
    return expr.cast(pl.Decimal(target.precision, target.scale))


def exact_decimal_unscaled(
    expr: pl.Expr, raw: pl.Expr | None, source: SqlType, target: SqlDecimal
) -> pl.Expr | None:
    """The unscaled Int128 of ``CAST(expr AS target)`` when that cast is exact (see
    :func:`_exact_decimal`), else None; ``raw`` is ``expr``'s own unscaled Int128 if known."""
    if not _fits_exactly(source, target):
        return None
    if isinstance(source, SqlDecimal):
        base = raw if raw is not None else unscaled(expr)
        return rescale(base, source.scale, target.scale)
    return rescale(expr.cast(pl.Int128), 0, target.scale)


def _fits_exactly(source: SqlType, target: SqlDecimal) -> bool:
    if isinstance(source, SqlDecimal):
        scale, integral = source.scale, source.precision - source.scale
    elif source.base in _INTEGRAL_DIGITS:
        scale, integral = 0, _INTEGRAL_DIGITS[source.base]
    else:
        return False
    p, s = target.precision, target.scale
    return p <= _MAX_DECIMAL_DIGITS and s >= scale and p - s >= integral


def _decimal_from_text(
    text: pl.Expr, target: SqlDecimal, *, finite: pl.Expr | None = None, share: Share = _same
) -> tuple[pl.Expr, pl.Expr]:
    scale = min(target.scale + _PARSE_EXTRA_SCALE, 37)
    parsed = share(text.str.strip_chars(_JAVA_WHITESPACE).cast(pl.Decimal(38, scale), strict=False))
    value, overflow = to_decimal(parsed, scale, target, share=share)
    bad = text.is_not_null() & parsed.is_null()
    if finite is not None:
        bad = bad | ~finite.fill_null(True)
    fail = share(
        pl.when(bad).then(pl.lit(f"Cannot convert value to {target.sql()}")).otherwise(overflow)
    )
    return pl.when(fail.is_null()).then(value), fail


def _from_string(
    expr: pl.Expr, target: SqlType, share: Share = _same
) -> tuple[pl.Expr, pl.Expr | None]:
    trimmed = share(expr.str.strip_chars(_JAVA_WHITESPACE))
    tb = target.base
    if tb is BaseType.BOOLEAN:
        # SqlBooleans.parseBoolean(s.trim()): a non-empty prefix of "true" or "yes" is true.
        lower = trimmed.str.to_lowercase()
        truthy = (lower.str.len_chars() > 0) & (
            pl.lit("true").str.starts_with(lower) | pl.lit("yes").str.starts_with(lower)
        )
        return pl.when(expr.is_not_null()).then(truthy), None
    if isinstance(target, SqlDecimal):
        return _decimal_from_text(expr, target, share=share)
    if tb in (BaseType.INTEGER, BaseType.BIGINT, BaseType.DOUBLE):
        dtype = to_polars(target)
        value = share(trimmed.cast(dtype, strict=False))
        return value, _fail_where(
            expr.is_not_null() & value.is_null(), f"Cannot convert text to {tb.value}"
        )
    if tb is BaseType.DATE:
        value = trimmed.str.to_date("%Y-%m-%d", strict=False)
        return value, _fail_where(
            expr.is_not_null() & value.is_null(), 'Required format is: "yyyy-MM-dd"'
        )
    if tb is BaseType.TIME:
        value = share(
            pl.coalesce(
                trimmed.str.to_time("%H:%M:%S%.f", strict=False),
                trimmed.str.to_time("%H:%M", strict=False),
            )
        )
        return value, _fail_where(
            expr.is_not_null() & value.is_null(), 'Required format is: "HH:mm:ss"'
        )
    if tb is BaseType.TIMESTAMP:
        value = share(parse_iso_timestamp(trimmed))
        return value, _fail_where(
            expr.is_not_null() & value.is_null(),
            "Required format is: \"yyyy-MM-dd'T'HH:mm:ss.SSS\"",
        )
    raise ValueError(f"Cast of STRING to {target.sql()} is not supported")


def parse_iso_timestamp(text: pl.Expr) -> pl.Expr:
    """ISO-8601 date or date-time text (optional seconds, fraction, ``Z`` or offset) as
    Datetime("ms") in UTC; NULL where it does not parse."""
    with_zone = text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%#z", strict=False, time_unit="ms")
    candidates = [
        with_zone.dt.convert_time_zone("UTC").dt.replace_time_zone(None),
        text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="ms"),
        text.str.to_datetime("%Y-%m-%dT%H:%M", strict=False, time_unit="ms"),
        text.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", strict=False, time_unit="ms"),
        text.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("ms")),
    ]
    return pl.coalesce(candidates)


def _to_string(expr: pl.Expr, source: SqlType) -> pl.Expr:
    sb = source.base
    if sb in (BaseType.INTEGER, BaseType.BIGINT, BaseType.BOOLEAN, BaseType.STRING, BaseType.DATE):
        return expr.cast(pl.String)
    if sb is BaseType.DECIMAL:
        return expr.cast(pl.String)
    if sb is BaseType.DOUBLE:
        plain = expr.cast(pl.String)
        a = expr.abs()
        in_plain_range = ((a >= _PLAIN_LOW) & (a < _PLAIN_HIGH)) | (a == 0)
        return (
            pl.when(in_plain_range | expr.is_nan())
            .then(plain)
            .otherwise(expr.map_batches(_java_doubles, return_dtype=pl.String, is_elementwise=True))
        )
    if sb is BaseType.TIME:
        return expr.dt.strftime("%H:%M:%S")
    if sb is BaseType.TIMESTAMP:
        return expr.dt.strftime("%Y-%m-%dT%H:%M:%S%.3f")
    return expr.map_batches(
        lambda s: pl.Series([java_string_of(v, source) for v in s.to_list()], dtype=pl.String),
        return_dtype=pl.String,
        is_elementwise=True,
    )


def _java_doubles(s: pl.Series) -> pl.Series:
    return pl.Series(
        [None if v is None else java_double_text(v) for v in s.to_list()], dtype=pl.String
    )


def java_double_text(v: float) -> str:
    """Java's ``Double.toString``."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    if v == 0:
        return "-0.0" if math.copysign(1.0, v) < 0 else "0.0"
    a = abs(v)
    if _PLAIN_LOW <= a < _PLAIN_HIGH:
        text = repr(v)
        return text if ("." in text or "e" in text) else text + ".0"
    digits = repr(a)
    mantissa, _, exp = f"{decimal.Decimal(digits):E}".partition("E")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    if "." not in mantissa:
        mantissa += ".0"
    sign = "-" if v < 0 else ""
    return f"{sign}{mantissa}E{int(exp)}"


def java_string_of(value: object, t: SqlType) -> str | None:
    """Java ``toString`` of a Python value of SQL type ``t`` (collections, structs)."""
    if value is None:
        return None
    if isinstance(t, SqlArray):
        assert isinstance(value, list)
        return "[" + ", ".join(str(java_string_of(v, t.element)) for v in value) + "]"
    if isinstance(t, SqlMap):
        assert isinstance(value, list)
        return (
            "{"
            + ", ".join(
                f"{java_string_of(e['key'], t.key)}={java_string_of(e['value'], t.value)}"
                for e in value
            )
            + "}"
        )
    if isinstance(t, SqlStruct):
        assert isinstance(value, dict)
        return (
            "Struct{"
            + ",".join(
                f"{n}={java_string_of(value.get(n), ft)}"
                for n, ft in t.fields
                if value.get(n) is not None
            )
            + "}"
        )
    if t.base is BaseType.DOUBLE:
        return java_double_text(float(value))  # type: ignore[arg-type]
    if t.base is BaseType.BOOLEAN:
        return "true" if value else "false"
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    return str(value)
