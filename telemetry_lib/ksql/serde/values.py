"""Exact, per-value conversions between parsed JSON, Python values and polars columns.

Owns the *reference* semantics of ksqlDB's JSON serde (KsqlJsonDeserializer + JsonSerdeUtils):
:func:`parse_json` (exact decimals, object key order kept), :func:`coerce` (a JSON node into a
SQL type, with ksqlDB's coercions and error wording), :func:`to_json_node` (a Python value of a
SQL type back to JSON), the Python value helpers shared with DELIMITED and KAFKA
(:func:`fit_decimal`, epoch conversions) and :func:`column_series` (Python values -> a polars
Series with the dtype of ``telemetry_lib.ksql.types``).

Python representation of SQL values here: BOOLEAN bool, INTEGER/BIGINT int, DOUBLE float,
DECIMAL Decimal, STRING str, BYTES bytes, DATE date, TIME time, TIMESTAMP naive datetime (UTC),
ARRAY list, MAP dict, STRUCT dict (field name -> value). The vectorised JSON path
(``json_fast``) must agree with this module; this module is its oracle and its fallback.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
import re
from collections.abc import Iterable
from decimal import Context, Decimal
from typing import Any

import polars as pl

from telemetry_lib.ksql.types import (
    BaseType,
    SqlArray,
    SqlDecimal,
    SqlMap,
    SqlStruct,
    SqlType,
    to_polars,
)

__all__ = [
    "DECIMAL_CONTEXT",
    "CoercionError",
    "JsonObject",
    "coerce",
    "column_series",
    "date_from_days",
    "days_from_date",
    "dump_json",
    "fit_decimal",
    "java_double_text",
    "ms_from_time",
    "ms_from_timestamp",
    "node_type_name",
    "parse_java_decimal",
    "parse_json",
    "time_from_ms",
    "timestamp_from_ms",
    "to_json_node",
]

logger = logging.getLogger(__name__)

_EPOCH = dt.datetime(1970, 1, 1)
_EPOCH_DATE = dt.date(1970, 1, 1)
# Java's Integer.parseInt / Long.parseLong accept an optional sign and ASCII digits only.
_JAVA_INT = re.compile(r"[+-]?[0-9]+")
# Double.parseDouble: trims blanks; decimal or exponent forms, d/f suffix, NaN, Infinity.
_JAVA_DOUBLE = re.compile(
    r"[+-]?(NaN|Infinity|(([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?)[dDfF]?)"
)
_INF = float("inf")
# Java's BigDecimal(String) grammar.
_JAVA_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# Decimal arithmetic context wide enough for any DECIMAL(p, s) (the default keeps 28 digits).
DECIMAL_CONTEXT = Context(prec=1000)


class CoercionError(ValueError):
    """A JSON node does not fit the SQL type; ``path`` is ksqlDB's ``$.FIELD[0]`` form."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.raw = message
        self.path = path

    def __str__(self) -> str:
        return f"{self.raw}, path: {self.path}" if self.path else self.raw


class JsonObject(list[tuple[str, Any]]):
    """A parsed JSON object as its (key, value) pairs in document order (duplicates kept)."""


def _reject_constant(name: str) -> None:
    raise ValueError(
        f"Non-standard token '{name}': enable JsonParser.Feature.ALLOW_NON_NUMERIC_NUMBERS to allow"
    )


def parse_json(data: bytes | str) -> Any:
    """Parse JSON as Jackson does with exact decimals (floats -> Decimal, objects -> JsonObject)."""
    return json.loads(
        data,
        parse_float=Decimal,
        object_pairs_hook=JsonObject,
        parse_constant=_reject_constant,
    )


def node_type_name(node: Any) -> str:
    """Jackson's node class name for a parsed value (as ksqlDB's messages show it)."""
    if node is None:
        return "NullNode"
    if isinstance(node, bool):
        return "BooleanNode"
    if isinstance(node, int):
        if -(1 << 31) <= node < (1 << 31):
            return "IntNode"
        return "LongNode" if -(1 << 63) <= node < (1 << 63) else "BigIntegerNode"
    if isinstance(node, Decimal):
        return "DecimalNode"
    if isinstance(node, str):
        return "TextNode"
    if isinstance(node, JsonObject):
        return "ObjectNode"
    if isinstance(node, list):
        return "ArrayNode"
    return type(node).__name__


def _type_text(t: SqlType) -> str:
    return t.base.value if not isinstance(t, (SqlArray, SqlMap, SqlStruct, SqlDecimal)) else t.sql()


def _invalid(node: Any, t: SqlType) -> CoercionError:
    return CoercionError(
        f"Can't convert type. sourceType: {node_type_name(node)}, requiredType: {_type_text(t)}"
    )


def _wrap(value: int, bits: int) -> int:
    """Java's narrowing of an integer to ``bits`` (two's complement wrap-around)."""
    mod = 1 << bits
    value %= mod
    return value - mod if value >= mod >> 1 else value


def _parse_java_int(text: str, t: SqlType, bits: int) -> int:
    if _JAVA_INT.fullmatch(text):
        value = int(text)
        if -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
            return value
    raise CoercionError(f"Can't coerce string to type. targetType: {t.base.value}")


def _to_integral(node: Any, t: SqlType, bits: int) -> int:
    if isinstance(node, bool) or node is None:
        raise _invalid(node, t)
    if isinstance(node, int):
        return _wrap(node, bits)
    if isinstance(node, Decimal):
        return _wrap(int(node), bits)  # int() truncates toward zero, like BigDecimal.intValue()
    if isinstance(node, str):
        return _parse_java_int(node, t, bits)
    raise _invalid(node, t)


def _to_double(node: Any, t: SqlType) -> float:
    if isinstance(node, bool):
        raise _invalid(node, t)
    if isinstance(node, (int, Decimal)):
        return float(node)
    if isinstance(node, str):
        text = node.strip()
        if _JAVA_DOUBLE.fullmatch(text):
            text = text.rstrip("dDfF") if not text.endswith("Infinity") else text
            return float(text.replace("Infinity", "inf"))
        raise CoercionError("Can't coerce string to type. targetType: DOUBLE")
    raise _invalid(node, t)


def parse_java_decimal(text: str) -> Decimal:
    """Java's ``new BigDecimal(text)``: no blanks, underscores, NaN or infinities."""
    if not _JAVA_DECIMAL.fullmatch(text):
        raise CoercionError(
            f"Character array is missing \"exponent\" mark 'e' or 'E'. Value: '{text}'"
        )
    return Decimal(text)


def fit_decimal(value: Decimal, t: SqlDecimal) -> Decimal:
    """ksqlDB's DecimalUtil.ensureFit: no lost integer digits, no rounding."""
    if not value.is_finite():
        raise CoercionError(f"Cannot fit decimal '{value}' into DECIMAL({t.precision}, {t.scale})")
    plain = _plain(value)
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    precision = max(len(digits), 1)
    scale = -exponent
    left = precision - scale
    if value == 0:
        left = 1 if scale <= 0 else 0
    if left > t.precision - t.scale:
        raise CoercionError(
            f"Cannot fit decimal '{plain}' into DECIMAL({t.precision}, {t.scale}) as it would "
            f"truncate left digits to {t.precision - t.scale}."
        )
    quantized = value.quantize(Decimal(1).scaleb(-t.scale), context=DECIMAL_CONTEXT)
    if quantized != value:
        raise CoercionError(
            f"Cannot fit decimal '{plain}' into DECIMAL({t.precision}, {t.scale}) without rounding."
        )
    return quantized


def _plain(value: Decimal) -> str:
    return format(value, "f")


def _to_decimal(node: Any, t: SqlDecimal) -> Decimal:
    if isinstance(node, bool):
        raise _invalid(node, t)
    if isinstance(node, int):
        return fit_decimal(Decimal(node), t)
    if isinstance(node, Decimal):
        return fit_decimal(node, t)
    if isinstance(node, str):
        return fit_decimal(parse_java_decimal(node), t)
    raise _invalid(node, t)


def timestamp_from_ms(ms: int) -> dt.datetime:
    try:
        return _EPOCH + dt.timedelta(milliseconds=ms)
    except OverflowError:
        raise CoercionError(f"Timestamp {ms} ms is outside the years 1 to 9999") from None


def ms_from_timestamp(value: dt.datetime) -> int:
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def date_from_days(days: int) -> dt.date:
    try:
        return _EPOCH_DATE + dt.timedelta(days=days)
    except OverflowError:
        raise CoercionError(f"Date {days} days is outside the years 1 to 9999") from None


def days_from_date(value: dt.date) -> int:
    return (value - _EPOCH_DATE).days


def time_from_ms(ms: int) -> dt.time:
    ms %= 86_400_000
    return (dt.datetime.min + dt.timedelta(milliseconds=ms)).time()


def ms_from_time(value: dt.time) -> int:
    return ((value.hour * 60 + value.minute) * 60 + value.second) * 1000 + value.microsecond // 1000


def _to_string(node: Any) -> str:
    if isinstance(node, bool):
        return "true" if node else "false"
    if isinstance(node, Decimal):
        return str(node).replace("e", "E") if "e" in str(node) else str(node)
    if isinstance(node, JsonObject):
        return dump_json(node)
    if isinstance(node, list):
        parts = ["null" if item is None else _to_string(item) for item in node]
        return "[" + ", ".join(parts) + "]"
    return str(node)


def _to_bytes(node: Any, t: SqlType) -> bytes:
    if isinstance(node, str):
        try:
            return base64.b64decode(node, validate=True)
        except (binascii.Error, ValueError):
            raise CoercionError(f"Value is not a valid Base64 encoded string: {node}") from None
    raise _invalid(node, t)


def _lookup(obj: JsonObject) -> tuple[dict[str, Any], dict[str, Any]]:
    exact: dict[str, Any] = {}
    upper: dict[str, Any] = {}
    for key, value in obj:
        exact[key] = value
        upper[key.upper()] = value
    return exact, upper


# Marks a field absent from a JSON object (None would mean present with a JSON null).
_MISSING = object()


def coerce(node: Any, t: SqlType, path: str = "$") -> Any:
    """The Python value of JSON ``node`` read as SQL type ``t`` (ksqlDB's enforceFieldType)."""
    if node is None:
        return None
    try:
        return _coerce(node, t, path)
    except CoercionError as err:
        if not err.path:
            err.path = path
        raise


def _coerce(node: Any, t: SqlType, path: str) -> Any:
    base = t.base
    if base is BaseType.BOOLEAN:
        if isinstance(node, bool):
            return node
        raise _invalid(node, t)
    if base is BaseType.INTEGER:
        return _to_integral(node, t, 32)
    if base is BaseType.BIGINT:
        return _to_integral(node, t, 64)
    if base is BaseType.DOUBLE:
        return _to_double(node, t)
    if isinstance(t, SqlDecimal):
        return _to_decimal(node, t)
    if base is BaseType.STRING:
        return _to_string(node)
    if base is BaseType.BYTES:
        return _to_bytes(node, t)
    if base is BaseType.TIMESTAMP:
        return timestamp_from_ms(_to_integral(node, t, 64))
    if base is BaseType.DATE:
        return date_from_days(_to_integral(node, t, 32))
    if base is BaseType.TIME:
        return time_from_ms(_to_integral(node, t, 32))
    if isinstance(t, SqlArray):
        if not isinstance(node, list) or isinstance(node, JsonObject):
            raise _invalid(node, t)
        return [coerce(item, t.element, f"{path}[{i}]") for i, item in enumerate(node)]
    if isinstance(t, SqlMap):
        if not isinstance(node, JsonObject):
            raise _invalid(node, t)
        return {key: coerce(value, t.value, f"{path}.{key}.value") for key, value in node}
    if isinstance(t, SqlStruct):
        if not isinstance(node, JsonObject):
            raise _invalid(node, t)
        exact, upper = _lookup(node)
        out: dict[str, Any] = {}
        for name, field_type in t.fields:
            value = exact.get(name, _MISSING)
            if value is _MISSING:
                value = upper.get(name)
            out[name] = coerce(value, field_type, f"{path}.{name}")
        return out
    raise CoercionError(f"Type is not supported: {base.value}")


def to_json_node(value: Any, t: SqlType) -> Any:
    """A Python value of SQL type ``t`` as a JSON-ready value (ksqlDB's JSON write rules)."""
    if value is None:
        return None
    base = t.base
    if base is BaseType.TIMESTAMP:
        return ms_from_timestamp(value)
    if base is BaseType.DATE:
        return days_from_date(value)
    if base is BaseType.TIME:
        return ms_from_time(value)
    if base is BaseType.BYTES:
        return base64.b64encode(value).decode("ascii")
    if isinstance(t, SqlDecimal):
        return Decimal(value).quantize(Decimal(1).scaleb(-t.scale), context=DECIMAL_CONTEXT)
    if base is BaseType.DOUBLE:
        return float(value)
    if isinstance(t, SqlArray):
        return [to_json_node(v, t.element) for v in value]
    if isinstance(t, SqlMap):
        items = (
            value.items() if isinstance(value, dict) else ((e["key"], e["value"]) for e in value)
        )
        return {str(k): to_json_node(v, t.value) for k, v in items}
    if isinstance(t, SqlStruct):
        return {name: to_json_node(value.get(name), ft) for name, ft in t.fields}
    return value


def dump_json(node: Any) -> str:
    """Compact JSON text (Jackson's default writer): Decimals as plain numbers keeping scale."""
    return "".join(_dump(node))


def _dump(node: Any) -> Iterable[str]:
    if node is None:
        yield "null"
    elif isinstance(node, bool):
        yield "true" if node else "false"
    elif isinstance(node, int):
        yield str(node)
    elif isinstance(node, Decimal):
        yield str(node) if "E" not in str(node).upper() else str(node).upper()
    elif isinstance(node, float):
        text = _java_double(node)
        # Jackson quotes NaN and infinities (JsonGenerator QUOTE_NON_NUMERIC_NUMBERS).
        yield text if node == node and node not in (_INF, -_INF) else f'"{text}"'

    elif isinstance(node, str):
        yield json.dumps(node, ensure_ascii=False)
    elif isinstance(node, JsonObject):
        yield "{"
        for i, (k, v) in enumerate(node):
            yield ("," if i else "") + json.dumps(k, ensure_ascii=False) + ":"
            yield from _dump(v)
        yield "}"
    elif isinstance(node, dict):
        yield "{"
        for i, (k, v) in enumerate(node.items()):
            yield ("," if i else "") + json.dumps(str(k), ensure_ascii=False) + ":"
            yield from _dump(v)
        yield "}"
    elif isinstance(node, (list, tuple)):
        yield "["
        for i, v in enumerate(node):
            if i:
                yield ","
            yield from _dump(v)
        yield "]"
    else:
        raise TypeError(f"cannot write {type(node).__name__} as JSON")


def _java_double(value: float) -> str:
    """Java's Double.toString: plain between 1e-3 and 1e7, else ``d.dddE<n>`` (shortest digits)."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    magnitude = abs(value)
    if value == 0 or 1e-3 <= magnitude < 1e7:
        text = repr(value)
        if "e" in text:  # repr switches to exponents earlier than Java for tiny/huge values
            text = format(Decimal(text), "f")
        return text if "." in text else text + ".0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    if len(digits) == 1:
        # Java prints at least two digits and picks the two-digit decimal closest to the exact
        # binary value: Double.MIN_VALUE is 4.9E-324, not 5.0E-324.
        sign, digits, exponent = Decimal(format(Decimal(value), ".1e")).as_tuple()
        assert isinstance(exponent, int)
    ds = "".join(map(str, digits))
    exp10 = exponent + len(ds) - 1
    mantissa = ds[0] + "." + (ds[1:] or "0")
    return f"{'-' if sign else ''}{mantissa}E{exp10}"


java_double_text = _java_double


def column_series(name: str, values: list[Any], t: SqlType) -> pl.Series:
    """A polars Series of dtype ``to_polars(t)`` from Python values of SQL type ``t``."""
    return pl.Series(name, [_to_polars_value(v, t) for v in values], dtype=to_polars(t))


def _to_polars_value(value: Any, t: SqlType) -> Any:
    if value is None:
        return None
    if isinstance(t, SqlMap):
        items = value.items() if isinstance(value, dict) else value
        return [{"key": k, "value": _to_polars_value(v, t.value)} for k, v in items]
    if isinstance(t, SqlArray):
        return [_to_polars_value(v, t.element) for v in value]
    if isinstance(t, SqlStruct):
        return {n: _to_polars_value(value.get(n), ft) for n, ft in t.fields}
    return value
