"""Record conversion and comparison for the QTT runner: the test harness's own serdes.

Owns how a test's JSON record specs become Kafka bytes and how produced bytes are read back
for comparison — deliberately **independent of the engine's serde** (``telemetry_lib.ksql.serde``),
exactly as ksqlDB's runner uses test-only serdes (``SerdeUtil.getSerdeSupplier``) rather than
the engine's: decoding outputs with the code under test would make the check circular.

==========  ===================================================  ==============================
format      spec -> bytes (inputs)                               bytes -> value (outputs)
==========  ===================================================  ==============================
JSON        the spec as JSON text (exact decimals kept)          JSON, non-integers as Decimal
DELIMITED   the spec string, UTF-8                               the UTF-8 string
KAFKA       by the single key/value column's SQL type: INT 4,    the same, back to int/float/str
            BIGINT 8 bytes big-endian, DOUBLE IEEE-754, STRING
            UTF-8, BYTES base64-decoded
NONE        no bytes                                             None
==========  ===================================================  ==============================

A windowed key is the inner key followed by the big-endian window start (TUMBLING/HOPPING)
or by end then start (SESSION), as Kafka Streams' (Session|Time)WindowedSerializer write it
(reference §4.5); a time window's end is start + size.

:func:`matches` is ksqlDB's ``ExpectedRecordComparator``: objects compare field by field (an
expected field name also matches its upper-case form; the field count must be equal), arrays
element-wise, numbers by the actual value's kind (int: the expected value's integer part;
float: as double; Decimal: by exact value — and scale too in ksqlDB's exact mode), strings
exactly (or as a decimal when the actual is a Decimal), booleans exactly, null only with null.
"""

from __future__ import annotations

import base64
import json
import logging
import struct
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from telemetry_lib.ksql.types import BaseType, SqlType

__all__ = [
    "DecodeError",
    "SerdeInfo",
    "decode_key",
    "decode_value",
    "encode_key",
    "encode_value",
    "matches",
    "render",
]

logger = logging.getLogger(__name__)

# Kafka Streams writes window bounds as 8-byte big-endian longs.
_WINDOW_BOUND_BYTES = 8
# Java's Long.MAX_VALUE: a time window's end is capped at it (TimeWindowedDeserializer).
_LONG_MAX = 2**63 - 1


class DecodeError(ValueError):
    """Produced bytes cannot be read with the topic's format (a test failure, not a crash)."""


@dataclass(frozen=True)
class SerdeInfo:
    """What the harness needs to know about one side (key or value) of a topic."""

    format: str
    column_types: tuple[SqlType, ...]
    window_type: str | None = None  # TUMBLING / HOPPING / SESSION (keys only)
    window_size_ms: int | None = None


# --------------------------------------------------------------------------------------------
# spec -> bytes
# --------------------------------------------------------------------------------------------


def _json_text(spec: Any) -> str:
    """JSON text of ``spec`` with Decimals written exactly (Jackson writes BigDecimal.toString)."""
    if isinstance(spec, Decimal):
        return _decimal_text(spec)
    if isinstance(spec, dict):
        return (
            "{" + ",".join(json.dumps(str(k)) + ":" + _json_text(v) for k, v in spec.items()) + "}"
        )
    if isinstance(spec, list):
        return "[" + ",".join(_json_text(v) for v in spec) + "]"
    return json.dumps(spec)


def _decimal_text(d: Decimal) -> str:
    # Python's str(Decimal) and Java's BigDecimal.toString use the same scientific rule.
    return str(d)


def _encode_inner(spec: Any, info: SerdeInfo, *, what: str) -> bytes | None:
    if spec is None:
        return None
    fmt = info.format.upper()
    if fmt == "JSON":
        return _json_text(spec).encode()
    if fmt == "DELIMITED":
        return (spec if isinstance(spec, str) else _plain_text(spec)).encode()
    if fmt == "KAFKA":
        return _encode_kafka(spec, info, what=what)
    if fmt == "NONE":
        return None
    raise DecodeError(f"the test harness cannot write {what}s in format {info.format}")


def _plain_text(spec: Any) -> str:
    if isinstance(spec, bool):
        return "true" if spec else "false"
    if isinstance(spec, (int, Decimal, float)):
        return str(spec)
    return _json_text(spec)


def _single_type(info: SerdeInfo, *, what: str) -> SqlType:
    if not info.column_types:
        raise DecodeError(f"KAFKA {what}: no columns in schema")
    if len(info.column_types) != 1:
        raise DecodeError(f"KAFKA format only supports single column schemas ({what})")
    return info.column_types[0]


def _encode_kafka(spec: Any, info: SerdeInfo, *, what: str) -> bytes:
    sql_type = _single_type(info, what=what)
    base = sql_type.base
    try:
        if base is BaseType.INTEGER:
            return struct.pack(">i", int(spec))
        if base is BaseType.BIGINT:
            return struct.pack(">q", int(spec))
        if base is BaseType.DOUBLE:
            return struct.pack(">d", float(spec))
        if base is BaseType.STRING:
            return (spec if isinstance(spec, str) else _plain_text(spec)).encode()
        if base is BaseType.BYTES:
            return base64.b64decode(str(spec))
    except (ValueError, TypeError, struct.error) as exc:
        raise DecodeError(f"cannot write {spec!r} as KAFKA {sql_type.sql()} {what}: {exc}") from exc
    raise DecodeError(f"Unsupported type for KAFKA format: {sql_type.sql()} ({what})")


def encode_key(
    spec: Any, info: SerdeInfo, *, window: tuple[int, int] | None = None
) -> bytes | None:
    """Bytes of a key spec; with ``window`` (start, end) the windowed layout of ``info``."""
    inner = _encode_inner(spec, info, what="key")
    if window is None or info.window_type is None:
        return inner
    start, end = window
    body = inner or b""
    if info.window_type.upper() == "SESSION":
        return body + struct.pack(">q", end) + struct.pack(">q", start)
    return body + struct.pack(">q", start)


def encode_value(spec: Any, info: SerdeInfo) -> bytes | None:
    return _encode_inner(spec, info, what="value")


# --------------------------------------------------------------------------------------------
# bytes -> value
# --------------------------------------------------------------------------------------------


def _decode_inner(data: bytes | None, info: SerdeInfo, *, what: str) -> Any:
    if data is None:
        return None
    fmt = info.format.upper()
    if fmt == "JSON":
        try:
            return json.loads(data.decode(), parse_float=Decimal)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DecodeError(f"Failed to deserialize {what}: not JSON: {data!r}") from exc
    if fmt == "DELIMITED":
        try:
            return data.decode()
        except UnicodeDecodeError as exc:
            raise DecodeError(f"Failed to deserialize {what}: not UTF-8: {data!r}") from exc
    if fmt == "KAFKA":
        return _decode_kafka(data, info, what=what)
    if fmt == "NONE":
        return None
    raise DecodeError(f"the test harness cannot read {what}s in format {info.format}")


def _decode_kafka(data: bytes, info: SerdeInfo, *, what: str) -> Any:
    sql_type = _single_type(info, what=what)
    base = sql_type.base
    sizes = {BaseType.INTEGER: (4, ">i"), BaseType.BIGINT: (8, ">q"), BaseType.DOUBLE: (8, ">d")}
    if base in sizes:
        size, fmt = sizes[base]
        if len(data) != size:
            raise DecodeError(
                f"Failed to deserialize {what}. Size of data received by "
                f"{base.value.title()}Deserializer is not {size} (got {len(data)} bytes)"
            )
        return struct.unpack(fmt, data)[0]
    if base is BaseType.STRING:
        try:
            return data.decode()
        except UnicodeDecodeError as exc:
            raise DecodeError(f"Failed to deserialize {what}: not UTF-8: {data!r}") from exc
    if base is BaseType.BYTES:
        return base64.b64encode(data).decode()
    raise DecodeError(f"Unsupported type for KAFKA format: {sql_type.sql()} ({what})")


def decode_key(data: bytes | None, info: SerdeInfo) -> tuple[Any, tuple[int, int, str] | None]:
    """The key's value and, for a windowed key, its window ``(start, end, TIME|SESSION)``."""
    if info.window_type is None:
        return _decode_inner(data, info, what="key"), None
    if data is None:
        return None, None
    session = info.window_type.upper() == "SESSION"
    trailer = _WINDOW_BOUND_BYTES * (2 if session else 1)
    if len(data) < trailer:
        raise DecodeError(f"Failed to deserialize windowed key: only {len(data)} bytes")
    inner = data[: len(data) - trailer]
    if session:
        end = struct.unpack(">q", data[-16:-8])[0]
        start = struct.unpack(">q", data[-8:])[0]
        window = (start, end, "SESSION")
    else:
        start = struct.unpack(">q", data[-8:])[0]
        size = info.window_size_ms or 0
        end = start + size if start <= _LONG_MAX - size else _LONG_MAX
        window = (start, end, "TIME")
    return _decode_inner(
        inner if inner or info.format.upper() != "NONE" else None, info, what="key"
    ), window


def decode_value(data: bytes | None, info: SerdeInfo) -> Any:
    return _decode_inner(data, info, what="value")


# --------------------------------------------------------------------------------------------
# comparison (ExpectedRecordComparator)
# --------------------------------------------------------------------------------------------


def matches(actual: Any, expected: Any, *, scale_sensitive: bool = False) -> bool:
    """True when the decoded ``actual`` satisfies the test's ``expected`` JSON value.

    Numbers are normalised to exact decimals and compared by value (``10.0`` matches
    ``10.0000``, the string ``"3.40"`` matches the number ``3.4``): the corpus's expectations
    were written against both of ksqlDB's number modes (Jackson doubles and exact
    BigDecimals), which agree on values. ``scale_sensitive`` is ksqlDB's exact mode
    (``use.exact.numeric.comparison=true``): BigDecimal equality, scale included.
    """
    if expected is None:
        return actual is None
    if isinstance(expected, bool):
        return isinstance(actual, bool) and actual is expected
    if isinstance(expected, dict):
        return _match_object(actual, expected, scale_sensitive)
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return False
        return all(
            matches(a, e, scale_sensitive=scale_sensitive)
            for a, e in zip(actual, expected, strict=True)
        )
    if isinstance(expected, (int, Decimal)):
        return _match_number(actual, expected, scale_sensitive)
    if isinstance(expected, str):
        if isinstance(actual, str):
            return actual == expected
        if isinstance(actual, Decimal):
            try:
                return _decimal_equals(Decimal(expected), actual, scale_sensitive)
            except InvalidOperation:
                return False
        return False
    if isinstance(expected, float):
        return _match_number(actual, Decimal(repr(expected)), scale_sensitive)
    return False


def _match_object(actual: Any, expected: dict[str, Any], scale_sensitive: bool) -> bool:
    if not isinstance(actual, dict) or len(actual) != len(expected):
        return False
    for name, exp in expected.items():
        value = actual.get(name)
        if value is None:
            value = actual.get(name.upper())
        if not matches(value, exp, scale_sensitive=scale_sensitive):
            return False
    return True


def _match_number(actual: Any, expected: int | Decimal, scale_sensitive: bool) -> bool:
    if isinstance(actual, bool) or actual is None:
        return False
    if isinstance(actual, int):
        # Java compares with expected.intValue()/longValue(): the integer part.
        return int(expected) == actual
    if isinstance(actual, float):
        return float(expected) == actual
    if isinstance(actual, Decimal):
        if isinstance(expected, int):
            if not scale_sensitive:
                return actual == expected
            exponent = actual.as_tuple().exponent
            return isinstance(exponent, int) and exponent >= 0 and int(actual) == expected
        return _decimal_equals(expected, actual, scale_sensitive)
    return False


def _decimal_equals(a: Decimal, b: Decimal, scale_sensitive: bool) -> bool:
    """Equal values; with ``scale_sensitive`` also equal scales (Java's BigDecimal.equals)."""
    if not scale_sensitive:
        return a == b
    return a == b and a.as_tuple().exponent == b.as_tuple().exponent


def render(value: Any) -> str:
    """Compact JSON-ish text of a value for failure reasons (Decimals written exactly)."""
    try:
        return _json_text(value)
    except (TypeError, ValueError):
        return repr(value)
