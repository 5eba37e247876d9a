"""Serialization formats of the engine: JSON, DELIMITED, KAFKA, NONE, and windowed keys.

Public API:

* format registry and CREATE-time validation (``formats``): :data:`FORMATS`, :func:`get_format`,
  :func:`resolve_format_names`, :func:`parse_delimiter`, :func:`check_format_properties`,
  :func:`resolve_value_features`, :func:`resolve_key_features`, :func:`validate_key_schema`,
  :func:`validate_value_schema`, :func:`persistence_text`, :func:`contains_map`;
* batch codecs (``codec``): :func:`deserialize` (Binary Series -> :class:`Decoded`) and
  :func:`serialize` (frame -> Binary Series), configured by :class:`SerdeOptions`;
* tooling: :func:`python_to_bytes` / :func:`bytes_to_python` (the QTT representation);
* windowed keys (``windowed``): :func:`encode_windowed_keys`, :func:`decode_windowed_keys`,
  :func:`encode_windowed_key`, :func:`decode_windowed_key`.

Columns are always ``(name, SqlType)`` pairs in schema order; values in frames follow the
dtype contract of ``telemetry_lib.ksql.types``.
"""

from __future__ import annotations

from telemetry_lib.ksql.serde.codec import bytes_to_python, deserialize, python_to_bytes, serialize
from telemetry_lib.ksql.serde.formats import (
    FORMATS,
    Format,
    SerdeFeature,
    check_format_properties,
    contains_map,
    get_format,
    parse_delimiter,
    persistence_text,
    resolve_format_names,
    resolve_key_features,
    resolve_value_features,
    validate_key_schema,
    validate_value_schema,
)
from telemetry_lib.ksql.serde.options import Decoded, RowError, SerdeOptions
from telemetry_lib.ksql.serde.windowed import (
    WindowedKeys,
    decode_windowed_key,
    decode_windowed_keys,
    encode_windowed_key,
    encode_windowed_keys,
)

__all__ = [
    "FORMATS",
    "Decoded",
    "Format",
    "RowError",
    "SerdeFeature",
    "SerdeOptions",
    "WindowedKeys",
    "bytes_to_python",
    "check_format_properties",
    "contains_map",
    "decode_windowed_key",
    "decode_windowed_keys",
    "deserialize",
    "encode_windowed_key",
    "encode_windowed_keys",
    "get_format",
    "parse_delimiter",
    "persistence_text",
    "python_to_bytes",
    "resolve_format_names",
    "resolve_key_features",
    "resolve_value_features",
    "serialize",
    "validate_key_schema",
    "validate_value_schema",
]
