"""Type coercion used while typing expressions (ksqlDB's CoercionUtil / DefaultSqlValueCoercer).

Owns: the common type of a user-supplied list (IN lists, ARRAY/MAP constructors) with literal
coercion (``'4.000'`` into a number, ``'yes'`` into a BOOLEAN), the "can coerce" rules for
expressions (strict: numeric widening and container element widening) and literals (lax: also
STRING literals into numbers, booleans and date/time types), the conversion of a literal value
to another SQL type, and the list of conversions CAST supports. Pure: no polars.
"""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import re

from telemetry_lib.ksql.types import (
    BIGINT,
    BOOLEAN,
    DOUBLE,
    INTEGER,
    STRING,
    BaseType,
    SqlArray,
    SqlDecimal,
    SqlMap,
    SqlStruct,
    SqlType,
    is_numeric,
    widen_numeric,
)

__all__ = [
    "CoercionError",
    "InvalidCoercion",
    "can_cast",
    "can_coerce",
    "coerce_literal_value",
    "parse_boolean_lax",
    "parse_date_text",
    "parse_time_text",
    "parse_timestamp_text",
    "string_numeric_type",
]

logger = logging.getLogger(__name__)

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
# The words ksqlDB's SqlBooleans accepts (and any non-empty prefix of them), case-insensitively.
_TRUE_WORDS = ("true", "yes")
_FALSE_WORDS = ("false", "no")
_EPOCH = dt.datetime(1970, 1, 1)


class CoercionError(Exception):
    """A literal or expression cannot be coerced; ``str()`` is ksqlDB's message."""


class InvalidCoercion(CoercionError):
    """Two types have no common type (``operator does not exist: ...``); a constructor that
    contains the failing element reports itself instead (ksqlDB's InvalidCoercionException)."""


def parse_boolean_lax(text: str) -> bool | None:
    """``true``/``yes`` and ``false``/``no`` or any prefix, any case; None when not a boolean."""
    v = text.strip().lower()
    if not v:
        return None
    if any(w.startswith(v) for w in _TRUE_WORDS):
        return True
    if any(w.startswith(v) for w in _FALSE_WORDS):
        return False
    return None


def string_numeric_type(text: str) -> SqlType:
    """INTEGER, BIGINT or DECIMAL for the number in ``text`` (ValueError when not a number)."""
    value = decimal.Decimal(text.strip())
    if not value.is_finite():
        raise ValueError(text)
    has_point = any(c in text for c in ".eE")
    if not has_point and value == value.to_integral_value():
        iv = int(value)
        if _INT_MIN < iv < _INT_MAX:
            return INTEGER
        if _LONG_MIN < iv < _LONG_MAX:
            return BIGINT
    return decimal_type_of(value)


def decimal_type_of(value: decimal.Decimal) -> SqlDecimal:
    """The DECIMAL type of a value (BigDecimal precision/scale; values in (-1, 1) get p = s + 1)."""
    _sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    scale = max(-exponent, 0)
    precision = len(digits) + max(exponent, 0)
    if precision <= scale:
        precision = scale + 1
    return SqlDecimal(max(precision, 1), scale)


def can_coerce(source: SqlType, target: SqlType, *, literal: bool) -> SqlType | None:
    """The type ``source`` becomes when coerced towards ``target``, or None.

    Numbers widen (DECIMAL results hold both); containers coerce element-wise; with
    ``literal`` a STRING may also become a number, BOOLEAN or date/time type.
    """
    if source == target:
        return target
    if is_numeric(source) and is_numeric(target):
        order = [BaseType.INTEGER, BaseType.BIGINT, BaseType.DECIMAL, BaseType.DOUBLE]
        if order.index(source.base) <= order.index(target.base):
            return widen_numeric(source, target) if target.base is BaseType.DECIMAL else target
        return None
    if isinstance(source, SqlArray) and isinstance(target, SqlArray):
        el = can_coerce(source.element, target.element, literal=literal)
        return None if el is None else SqlArray(el)
    if isinstance(source, SqlMap) and isinstance(target, SqlMap):
        k = can_coerce(source.key, target.key, literal=literal)
        v = can_coerce(source.value, target.value, literal=literal)
        return None if k is None or v is None else SqlMap(k, v)
    if isinstance(source, SqlStruct) and isinstance(target, SqlStruct):
        # Every source field must exist in the target (extra target fields read as NULL).
        fields = []
        for n, tt in target.fields:
            st = source.field(n)
            ft = tt if st is None else can_coerce(st, tt, literal=literal)
            if ft is None:
                return None
            fields.append((n, ft))
        if any(target.field(n) is None for n, _ in source.fields):
            return None
        return SqlStruct(tuple(fields))
    if (
        literal
        and source.base is BaseType.STRING
        and target.base
        in (
            BaseType.BOOLEAN,
            BaseType.DATE,
            BaseType.TIME,
            BaseType.TIMESTAMP,
        )
    ):
        return target
    return None


def coerce_literal_value(value: object, source: SqlType, target: SqlType) -> object:
    """Convert a literal's Python value to ``target`` (CoercionError with ksqlDB's wording)."""
    if value is None or source == target:
        return value
    if isinstance(value, str):
        if target.base is BaseType.BOOLEAN:
            b = parse_boolean_lax(value)
            if b is None:
                raise CoercionError(f'invalid input syntax for type BOOLEAN: "{value}".')
            return b
        if is_numeric(target):
            try:
                d = decimal.Decimal(value.strip())
            except decimal.InvalidOperation:
                raise CoercionError(
                    f'invalid input syntax for type {target.base.value}: "{value}".'
                ) from None
            return _number_to(d, target)
        if target.base is BaseType.DATE:
            return parse_date_text(value)
        if target.base is BaseType.TIME:
            return parse_time_text(value)
        if target.base is BaseType.TIMESTAMP:
            return parse_timestamp_text(value)
    if isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool):
        if is_numeric(target):
            return _number_to(
                decimal.Decimal(str(value)) if isinstance(value, float) else decimal.Decimal(value),
                target,
            )
    if (
        isinstance(value, dt.date)
        and not isinstance(value, dt.datetime)
        and target.base is BaseType.TIMESTAMP
    ):
        return dt.datetime(value.year, value.month, value.day)
    return value


def _number_to(d: decimal.Decimal, target: SqlType) -> object:
    if target.base is BaseType.DOUBLE:
        return float(d)
    if target.base in (BaseType.INTEGER, BaseType.BIGINT):
        return int(d)
    if isinstance(target, SqlDecimal):
        return d.quantize(decimal.Decimal(1).scaleb(-target.scale), rounding=decimal.ROUND_HALF_UP)
    return d


def parse_date_text(text: str) -> dt.date:
    """ISO ``yyyy-MM-dd`` (CoercionError otherwise)."""
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise CoercionError(f'Required format is: "yyyy-MM-dd": {text}') from None


def parse_time_text(text: str) -> dt.time:
    """ISO ``HH:mm[:ss[.SSS]]`` (CoercionError otherwise)."""
    try:
        return dt.time.fromisoformat(text.strip())
    except ValueError:
        raise CoercionError(f'Required format is: "HH:mm:ss.SSS": {text}') from None


#: ``yyyy-MM-ddT24[:00[:00[.000]]][zone]``: the date, the zero time parts, the zone.
_END_OF_DAY = re.compile(r"^(\d{4}-\d{2}-\d{2})T24((?::00){0,2}(?:\.0+)?)([Zz]|[+-].*)?$")


def parse_timestamp_text(text: str) -> dt.datetime:
    """ISO-8601 text with optional parts (``2022-06-14``, ``2017-11-17T04:53:45``, zones), as
    ksqlDB's SqlTimeTypes.parseTimestamp; the result is a naive UTC datetime."""
    s = text.strip()
    # Java's resolver reads hour 24 of a day (nothing after it but zeros) as the next midnight.
    end_of_day = _END_OF_DAY.match(s)
    if end_of_day is not None:
        s = end_of_day.group(1) + "T00" + (end_of_day.group(3) or "")
    try:
        if len(s) == 10:
            d = dt.date.fromisoformat(s)
            return dt.datetime(d.year, d.month, d.day)
        parsed = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
        if end_of_day is not None:
            parsed += dt.timedelta(days=1)
    except ValueError:
        raise CoercionError(
            f"Failed to parse timestamp '{text}': Required format is: \"yyyy-MM-dd'T'HH:mm:ss.SSS\""
        ) from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


def can_cast(source: SqlType, target: SqlType) -> bool:
    """Whether ``CAST(x AS target)`` is supported for ``x`` of ``source`` (ksqlDB CastEvaluator)."""
    if source == target:
        return True
    sb, tb = source.base, target.base
    if tb is BaseType.STRING:
        return sb is not BaseType.BYTES
    if is_numeric(source) and is_numeric(target):
        return True
    if sb is BaseType.STRING:
        return tb in (
            BaseType.BOOLEAN,
            BaseType.INTEGER,
            BaseType.BIGINT,
            BaseType.DECIMAL,
            BaseType.DOUBLE,
            BaseType.DATE,
            BaseType.TIME,
            BaseType.TIMESTAMP,
        )
    if sb is BaseType.TIMESTAMP:
        return tb in (BaseType.DATE, BaseType.TIME)
    if sb is BaseType.DATE:
        return tb is BaseType.TIMESTAMP
    if isinstance(source, SqlArray) and isinstance(target, SqlArray):
        return can_cast(source.element, target.element)
    if isinstance(source, SqlMap) and isinstance(target, SqlMap):
        return can_cast(source.key, target.key) and can_cast(source.value, target.value)
    if isinstance(source, SqlStruct) and isinstance(target, SqlStruct):
        for name, tt in target.fields:
            st = source.field(name)
            if st is not None and not can_cast(st, tt):
                return False
        return True
    return False


_ = (BOOLEAN, DOUBLE, STRING, _EPOCH)
