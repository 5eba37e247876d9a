"""Which SQL schemas each key/value format can carry (reference §4.1), with ksqlDB's wording.

Owns: :func:`validate_schema_formats` (CREATE and C*AS sinks): map-typed keys are refused,
KAFKA holds one column of INT/BIGINT/DOUBLE/STRING/BYTES, DELIMITED holds no ARRAY/MAP/STRUCT,
JSON maps need STRING keys, NONE holds nothing, and WRAP_SINGLE_VALUE is only for single-column
JSON-like values. No polars here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from telemetry_lib.ksql.catalog import Column, ColumnRole, FormatSpec, quote_identifier
from telemetry_lib.ksql.errors import AnalysisError
from telemetry_lib.ksql.types import BaseType, SqlArray, SqlMap, SqlStruct, SqlType

__all__ = ["contains_map", "validate_schema_formats"]

logger = logging.getLogger(__name__)

_KAFKA_TYPES = {BaseType.INTEGER, BaseType.BIGINT, BaseType.DOUBLE, BaseType.STRING, BaseType.BYTES}
_DELIMITED_UNSUPPORTED = {BaseType.ARRAY, BaseType.MAP, BaseType.STRUCT}
_MAP_KEY_ISSUE = "https://github.com/confluentinc/ksql/issues/6621"
# Formats that cannot wrap a single value (ksqlDB: the format lacks the WRAP_SINGLES feature).
_NO_WRAP_FORMATS = {"DELIMITED", "KAFKA"}


def contains_map(t: SqlType) -> bool:
    if isinstance(t, SqlMap):
        return True
    if isinstance(t, SqlArray):
        return contains_map(t.element)
    if isinstance(t, SqlStruct):
        return any(contains_map(ft) for _, ft in t.fields)
    return False


def _walk(t: SqlType) -> list[SqlType]:
    out = [t]
    if isinstance(t, SqlArray):
        out += _walk(t.element)
    elif isinstance(t, SqlMap):
        out += _walk(t.key) + _walk(t.value)
    elif isinstance(t, SqlStruct):
        for _, ft in t.fields:
            out += _walk(ft)
    return out


def _persistence(columns: Sequence[Column], *, key: bool) -> str:
    parts = [f"{quote_identifier(c.name)} {c.type.sql()}{' KEY' if key else ''}" for c in columns]
    return f"Persistence{{columns=[{', '.join(parts)}], features=[]}}"


def _reason(fmt: FormatSpec, columns: Sequence[Column]) -> str | None:
    name = fmt.name
    if name == "NONE":
        if columns:
            return (
                "The 'NONE' format can only be used when no columns are defined. Got: "
                f"[{', '.join(c.ddl() for c in columns)}]"
            )
        return None
    if name == "KAFKA":
        if len(columns) > 1:
            got = ", ".join(f"{quote_identifier(c.name)} {c.type.sql()}" for c in columns)
            return f"The 'KAFKA' format only supports a single field. Got: [{got}]"
        for col in columns:
            if col.type.base not in _KAFKA_TYPES:
                return f"The 'KAFKA' format does not support type '{col.type.base.value}'"
        return None
    if name == "DELIMITED":
        for col in columns:
            for part in _walk(col.type):
                if part.base in _DELIMITED_UNSUPPORTED:
                    return (
                        f"The 'DELIMITED' format does not support type '{part.base.value}', "
                        f"column: {quote_identifier(col.name)}"
                    )
        return None
    return None


def validate_schema_formats(
    key_columns: Sequence[Column],
    value_columns: Sequence[Column],
    *,
    key_format: FormatSpec,
    value_format: FormatSpec,
    explicit_wrap: bool,
) -> None:
    """Raise :class:`AnalysisError` when a format cannot hold the columns given to it."""
    for col in key_columns:
        if contains_map(col.type):
            raise AnalysisError(
                "Map keys, including types that contain maps, are not supported as they may lead "
                "to unexpected behavior due to inconsistent serialization. Key column name: "
                f"{quote_identifier(col.name)}. Column type: {col.type.sql()}. "
                f"See {_MAP_KEY_ISSUE} for more."
            )
    for fmt, columns, label, is_key in (
        (key_format, key_columns, "Key", True),
        (value_format, value_columns, "Value", False),
    ):
        if fmt.name == "NONE" and not is_key:
            raise AnalysisError("The 'NONE' format can only be used for keys.")
        reason = _reason(fmt, columns)
        if reason is not None:
            raise AnalysisError(
                f"{label} format does not support schema.\nformat: {fmt.name}\n"
                f"schema: {_persistence(columns, key=is_key)}\nreason: {reason}"
            )
        if fmt.name in ("JSON", "JSON_SR"):
            for col in columns:
                for part in _walk(col.type):
                    if isinstance(part, SqlMap) and part.key.base is not BaseType.STRING:
                        raise AnalysisError("JSON only supports MAP types with STRING keys")
    wrap = value_format.wrap_single_value
    if explicit_wrap and wrap is not None:
        if wrap and value_format.name in _NO_WRAP_FORMATS:
            raise AnalysisError(
                f"Format '{value_format.name}' does not support 'WRAP_SINGLE_VALUE' set to 'true'."
            )
        if len([c for c in value_columns if c.role is ColumnRole.VALUE]) != 1:
            raise AnalysisError("'WRAP_SINGLE_VALUE' is only valid for single-field value schemas")
