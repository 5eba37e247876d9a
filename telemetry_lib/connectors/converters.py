"""Key/value converters: Connect's ``JsonConverter``, ``StringConverter`` and
``ByteArrayConverter``, under their official class names.

The worker configures one converter for keys and one for values from the connector's
``key.converter``/``value.converter`` (falling back to the worker's defaults) and the prefixed
properties (``value.converter.schemas.enable=false`` reaches the converter as
``schemas.enable=false``). Wire formats are Connect's, so topics written here read the same in a
real Connect worker and vice versa:

- JsonConverter, ``schemas.enable=true`` (Connect's default): ``{"schema": ..., "payload": ...}``;
  the schema is whatever the record carried (``null`` when none — we do not infer schemas);
  reading requires exactly those two fields (Connect's error otherwise). ``schemas.enable=false``:
  plain JSON. ``bytes`` values become base64 strings (msgspec), as Connect writes BYTES. A null value is a
  null record (tombstone), with or without schemas.
- StringConverter: ``str`` values as UTF-8 (``converter.encoding``); other values as their JSON
  text (Connect writes Java's ``toString()`` there — JSON is what a Python user can read back).
- ByteArrayConverter: ``bytes`` pass through; anything else is a DataError.

Logical types (Decimal, Timestamp, Date) in schemas are not decoded: payloads stay as JSON gives
them (base64 string / epoch number).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

import msgspec

from telemetry_lib.connectors.api import PluginInfo, plugin, register_plugin
from telemetry_lib.connectors.config_def import ConfigDef, ValidString
from telemetry_lib.connectors.errors import DataError

__all__ = [
    "BYTE_ARRAY_CONVERTER",
    "JSON_CONVERTER",
    "STRING_CONVERTER",
    "ByteArrayConverter",
    "Converter",
    "JsonConverter",
    "StringConverter",
    "converter_props",
    "make_converter",
]

logger = logging.getLogger(__name__)

JSON_CONVERTER = "org.apache.kafka.connect.json.JsonConverter"
STRING_CONVERTER = "org.apache.kafka.connect.storage.StringConverter"
BYTE_ARRAY_CONVERTER = "org.apache.kafka.connect.converters.ByteArrayConverter"

_ENVELOPE_ERROR = (
    'JsonConverter with schemas.enable requires "schema" and "payload" fields and may not contain '
    "additional fields. If you are trying to deserialize plain JSON data, set schemas.enable=false "
    "in your converter configuration."
)
_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


class Converter(Protocol):
    """Connect's ``Converter``: bytes <-> (value, schema)."""

    def configure(self, props: Mapping[str, str], *, is_key: bool) -> None: ...

    def to_bytes(self, topic: str, value: Any, schema: Mapping[str, Any] | None) -> bytes | None:
        """Serialize; raise DataError when the value cannot be written in this format."""
        ...

    def from_bytes(self, topic: str, data: bytes | None) -> tuple[Any, Mapping[str, Any] | None]:
        """Deserialize to (value, schema); raise DataError for bytes not in this format."""
        ...


_JSON_CONFIG = (
    ConfigDef()
    .define("schemas.enable", "BOOLEAN", default=True, importance="HIGH",
            documentation="Include schemas within each of the serialized values and keys.")
    .define("schemas.cache.size", "INT", default=1000, importance="HIGH",
            documentation="Accepted for compatibility; schemas are not cached here.")
    .define("decimal.format", "STRING", default="BASE64", validator=ValidString(("BASE64", "NUMERIC")),
            importance="LOW", documentation="Accepted for compatibility (logical types are not decoded).")
    .define("replace.null.with.default", "BOOLEAN", default=True, importance="LOW",
            documentation="Accepted for compatibility.")
    .define("converter.type", "STRING", default="value", importance="LOW",
            documentation="key, value or header (set by the worker).")
)  # fmt: skip


@register_plugin(JSON_CONVERTER, type="converter", version="3.7.0")
class JsonConverter:
    """Connect's JsonConverter (see the module docstring for the wire format)."""

    CONFIG = _JSON_CONFIG

    def __init__(self) -> None:
        self.schemas_enable = True

    def configure(self, props: Mapping[str, str], *, is_key: bool) -> None:
        self.schemas_enable = bool(self.CONFIG.parse(props)["schemas.enable"])

    def to_bytes(self, topic: str, value: Any, schema: Mapping[str, Any] | None) -> bytes | None:
        if value is None and schema is None:
            return None
        try:
            payload = value
            if self.schemas_enable:
                return _encoder.encode({"schema": schema, "payload": payload})
            return _encoder.encode(payload)
        except (TypeError, msgspec.EncodeError) as exc:
            raise DataError(
                f"Converting Kafka Connect data to byte[] failed due to serialization error of "
                f"topic {topic}: {exc}"
            ) from exc

    def from_bytes(self, topic: str, data: bytes | None) -> tuple[Any, Mapping[str, Any] | None]:
        if data is None:
            return None, None
        try:
            parsed = _decoder.decode(data)
        except msgspec.DecodeError as exc:
            raise DataError(
                f"Converting byte[] to Kafka Connect data failed due to serialization error: {exc}"
            ) from exc
        if not self.schemas_enable:
            return parsed, None
        if not isinstance(parsed, dict) or set(parsed) != {"schema", "payload"}:
            raise DataError(_ENVELOPE_ERROR)
        schema = parsed["schema"]
        return parsed["payload"], schema if isinstance(schema, dict) else None


_STRING_CONFIG = ConfigDef().define(
    "converter.encoding", "STRING", default="UTF8", importance="HIGH",
    documentation="The name of the Java character set used to encode strings.",
).define("converter.type", "STRING", default="value", importance="LOW",
         documentation="key, value or header (set by the worker).")  # fmt: skip


@register_plugin(STRING_CONVERTER, type="converter", version="3.7.0")
class StringConverter:
    """Connect's StringConverter (non-str values are written as JSON text)."""

    CONFIG = _STRING_CONFIG

    def __init__(self) -> None:
        self.encoding = "utf-8"

    def configure(self, props: Mapping[str, str], *, is_key: bool) -> None:
        name = str(self.CONFIG.parse(props)["converter.encoding"])
        self.encoding = {"UTF8": "utf-8", "UTF-8": "utf-8"}.get(name.upper(), name)
        try:
            "".encode(self.encoding)
        except LookupError as exc:
            raise DataError(f"Unsupported encoding {name} for converter.encoding") from exc

    def to_bytes(self, topic: str, value: Any, schema: Mapping[str, Any] | None) -> bytes | None:
        if value is None:
            return None
        if isinstance(value, bytes):
            return value
        text = value if isinstance(value, str) else _encoder.encode(value).decode()
        try:
            return text.encode(self.encoding)
        except UnicodeEncodeError as exc:
            raise DataError(f"Failed to serialize to a string: {exc}") from exc

    def from_bytes(self, topic: str, data: bytes | None) -> tuple[Any, Mapping[str, Any] | None]:
        if data is None:
            return None, None
        try:
            return data.decode(self.encoding), None
        except UnicodeDecodeError as exc:
            raise DataError(f"Failed to deserialize string: {exc}") from exc


@register_plugin(BYTE_ARRAY_CONVERTER, type="converter", version="3.7.0")
class ByteArrayConverter:
    """Connect's ByteArrayConverter."""

    CONFIG = ConfigDef().define("converter.type", "STRING", default="value", importance="LOW",
                                documentation="key, value or header (set by the worker).")  # fmt: skip

    def configure(self, props: Mapping[str, str], *, is_key: bool) -> None:
        self.CONFIG.parse(props)

    def to_bytes(self, topic: str, value: Any, schema: Mapping[str, Any] | None) -> bytes | None:
        if value is None or isinstance(value, bytes):
            return value
        if isinstance(value, bytearray | memoryview):
            return bytes(value)
        raise DataError(
            f"ByteArrayConverter is not compatible with objects of type {type(value).__name__}"
        )

    def from_bytes(self, topic: str, data: bytes | None) -> tuple[Any, Mapping[str, Any] | None]:
        return data, None


def converter_props(props: Mapping[str, Any], prefix: str) -> dict[str, str]:
    """The properties under ``prefix.`` with the prefix removed (``value.converter.x`` -> ``x``)."""
    start = prefix + "."
    return {k[len(start) :]: str(v) for k, v in props.items() if k.startswith(start)}


def make_converter(class_name: str, props: Mapping[str, str], *, is_key: bool) -> Converter:
    """A configured converter instance; NotFoundError for an unknown class name."""
    info: PluginInfo = plugin(class_name, types=("converter",))
    converter: Converter = info.factory()
    converter.configure({**props, "converter.type": "key" if is_key else "value"}, is_key=is_key)
    return converter
