"""DELIMITED format: one CSV record per payload (reference §4.3; ksqlDB's KsqlDelimited* serdes).

Owns :func:`decode_rows`, :func:`encode_rows`, :func:`split_record` and :func:`format_record`.
Reading follows Apache Commons CSV's DEFAULT format with the configured delimiter: ``"``
quotes (``""`` inside a quoted field), only the first record of a payload counts, an empty
field is null, the field count must equal the column count. Types: BOOLEAN (``true`` in any
case, anything else false — Java's Boolean.parseBoolean), INT/BIGINT (Java integer parsing),
DOUBLE, STRING, DECIMAL (exact, must fit), TIMESTAMP epoch ms, DATE epoch days, TIME ms of
day, BYTES base64. No ARRAY, MAP or STRUCT.

Writing quotes minimally as the Commons CSV version ksqlDB ships does: a field is quoted
when it contains the delimiter, a quote, CR or LF, starts with a character up to ``#``, ends
with a space or control character, or — for the first field of the record — starts with a
character that is not a letter or digit (so ``-12.5`` first in a record is written ``"-12.5"``).
Null is an empty field. This module is the exact, per-record path; ``delimited_fast`` decodes
quote-free records in bulk and defers the rest here.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from telemetry_lib.ksql.serde.options import RowError, SerdeOptions
from telemetry_lib.ksql.serde.values import (
    DECIMAL_CONTEXT,
    CoercionError,
    date_from_days,
    days_from_date,
    fit_decimal,
    java_double_text,
    ms_from_time,
    ms_from_timestamp,
    parse_java_decimal,
    time_from_ms,
    timestamp_from_ms,
)
from telemetry_lib.ksql.types import BaseType, SqlDecimal, SqlType

__all__ = ["decode_rows", "encode_rows", "format_record", "split_record"]

logger = logging.getLogger(__name__)

_QUOTE = '"'
# Commons CSV quotes a field starting with a character <= '#' (its comment marker).
_COMMENT = "#"


def split_record(text: str, delimiter: str) -> list[str | None] | None:
    """Fields of the first CSV record in ``text`` (None when there is none).

    A field is None only when it was absent (never here); empty strings stay "" so the caller
    applies ksqlDB's "empty means null" rule.
    """
    fields: list[str | None] = []
    i, n = 0, len(text)
    if n == 0:
        return None
    while True:
        if i < n and text[i] == _QUOTE:
            i += 1
            buf: list[str] = []
            while True:
                if i >= n:
                    raise CoercionError("EOF reached before encapsulated token finished")
                ch = text[i]
                if ch == _QUOTE:
                    if i + 1 < n and text[i + 1] == _QUOTE:
                        buf.append(_QUOTE)
                        i += 2
                        continue
                    i += 1
                    break
                buf.append(ch)
                i += 1
            # Commons CSV: after the closing quote only whitespace may precede the delimiter.
            while i < n and text[i] not in (delimiter, "\n", "\r") and text[i].isspace():
                i += 1
            if i < n and text[i] not in (delimiter, "\n", "\r"):
                raise CoercionError("invalid char between encapsulated token and delimiter")
            fields.append("".join(buf))
        else:
            start = i
            while i < n and text[i] not in (delimiter, "\n", "\r"):
                i += 1
            fields.append(text[start:i])
        if i < n and text[i] == delimiter:
            i += 1
            continue
        return fields


def _parse(text: str, t: SqlType) -> Any:
    base = t.base
    if base is BaseType.STRING:
        return text
    if base is BaseType.BOOLEAN:
        return text.lower() == "true"
    if base in (BaseType.INTEGER, BaseType.DATE, BaseType.TIME):
        value = _java_int(text, 32)
        if base is BaseType.DATE:
            return date_from_days(value)
        return time_from_ms(value) if base is BaseType.TIME else value
    if base in (BaseType.BIGINT, BaseType.TIMESTAMP):
        value = _java_int(text, 64)
        return timestamp_from_ms(value) if base is BaseType.TIMESTAMP else value
    if base is BaseType.DOUBLE:
        try:
            return float(text.strip().rstrip("dDfF").replace("Infinity", "inf"))
        except ValueError:
            raise CoercionError(f'For input string: "{text}"') from None
    if isinstance(t, SqlDecimal):
        return fit_decimal(parse_java_decimal(text), t)
    if base is BaseType.BYTES:
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise CoercionError(f"Value is not a valid Base64 encoded string: {text}") from None
    raise CoercionError(f"The 'DELIMITED' format does not support type '{base.value}'")


def _java_int(text: str, bits: int) -> int:
    stripped = text[1:] if text[:1] in "+-" else text
    if stripped.isascii() and stripped.isdigit():
        value = int(text)
        if -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
            return value
    raise CoercionError(f'For input string: "{text}"')


def decode_rows(
    payloads: Sequence[bytes | None],
    columns: Sequence[tuple[str, SqlType]],
    options: SerdeOptions,
    *,
    row_numbers: Sequence[int] | None = None,
) -> tuple[list[list[Any] | None], list[RowError]]:
    """Decode DELIMITED payloads into rows (None = null row) plus per-row errors.

    Errors carry ``row_numbers[i]`` when given (the row in the caller's batch), else ``i``.
    """
    rows: list[list[Any] | None] = []
    errors: list[RowError] = []
    for i, payload in enumerate(payloads):
        if payload is None or not columns:
            rows.append(None)
            continue
        try:
            fields = split_record(payload.decode("utf-8", errors="replace"), options.delimiter)
            if not fields:
                raise CoercionError("No fields in record")
            if len(fields) != len(columns):
                raise CoercionError(
                    f"Column count mismatch on deserialization. topic: {options.topic}, "
                    f"expected: {len(columns)}, got: {len(fields)}"
                )
            rows.append(
                [
                    None if not f else _parse(f, t)
                    for f, (_, t) in zip(fields, columns, strict=False)
                ]
            )
        except CoercionError as exc:
            rows.append(None)
            detail = str(exc)
            errors.append(
                RowError(
                    row=row_numbers[i] if row_numbers is not None else i,
                    message=f"Failed to deserialize {options.target} from topic: "
                    f"{options.topic}. Error deserializing delimited",
                    cause=(detail,),
                )
            )
    return rows, errors


def _text(value: Any, t: SqlType) -> str | None:
    if value is None:
        return None
    base = t.base
    if base is BaseType.BOOLEAN:
        return "true" if value else "false"
    if base is BaseType.DOUBLE:
        return java_double_text(float(value))
    if isinstance(t, SqlDecimal):
        return format(
            Decimal(value).quantize(Decimal(1).scaleb(-t.scale), context=DECIMAL_CONTEXT), "f"
        )
    if base is BaseType.TIMESTAMP:
        return str(ms_from_timestamp(value))
    if base is BaseType.DATE:
        return str(days_from_date(value))
    if base is BaseType.TIME:
        return str(ms_from_time(value))
    if base is BaseType.BYTES:
        return base64.b64encode(value).decode("ascii")
    return str(value)


def format_record(values: Sequence[str | None], delimiter: str) -> str:
    """One CSV record with Commons CSV's minimal quoting (see module doc); None -> empty."""
    out: list[str] = []
    for index, value in enumerate(values):
        if value is None:
            out.append("")
        elif _needs_quotes(value, delimiter, first=index == 0):
            out.append(_QUOTE + value.replace(_QUOTE, _QUOTE + _QUOTE) + _QUOTE)
        else:
            out.append(value)
    return delimiter.join(out)


def _needs_quotes(value: str, delimiter: str, *, first: bool) -> bool:
    if value == "":
        return first
    c = value[0]
    if first and not (c.isascii() and c.isalnum()):
        return True
    if c <= _COMMENT:
        return True
    if any(ch in (delimiter, _QUOTE, "\n", "\r") for ch in value):
        return True
    return value[-1] <= " "


def encode_rows(
    rows: Sequence[Sequence[Any] | None],
    columns: Sequence[tuple[str, SqlType]],
    options: SerdeOptions,
) -> list[bytes | None]:
    """Encode rows (None = null row -> null payload) as DELIMITED payloads."""
    out: list[bytes | None] = []
    for row in rows:
        if row is None:
            out.append(None)
            continue
        texts = [_text(v, t) for v, (_, t) in zip(row, columns, strict=False)]
        out.append(format_record(texts, options.delimiter).encode("utf-8"))
    return out
