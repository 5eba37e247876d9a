"""WITH-clause properties of CREATE and CREATE ... AS SELECT (reference §2.3).

Owns: reading the properties a statement gives (names case-insensitive), checking each against
the set its statement kind accepts, and resolving formats (FORMAT vs KEY_FORMAT/VALUE_FORMAT,
defaults from ``ksql.persistence.default.format.*``, delimiters, WRAP_SINGLE_VALUE) into
:class:`~telemetry_lib.ksql.catalog.FormatSpec` s, with ksqlDB's error wording.
No polars here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from telemetry_lib.ksql.catalog import FormatSpec
from telemetry_lib.ksql.errors import AnalysisError, UnsupportedError
from telemetry_lib.ksql.parser.ast import Property, properties_dict
from telemetry_lib.ksql.serde.formats import parse_delimiter

__all__ = [
    "CREATE_AS_PROPERTIES",
    "CREATE_PROPERTIES",
    "KNOWN_FORMATS",
    "SCHEMA_REGISTRY_FORMATS",
    "WithProperties",
    "read_properties",
    "resolve_formats",
]

logger = logging.getLogger(__name__)

#: Every format name ksqlDB knows (reference §2.3 VALUE_FORMAT).
KNOWN_FORMATS: frozenset[str] = frozenset(
    {"JSON", "JSON_SR", "AVRO", "PROTOBUF", "PROTOBUF_NOSR", "DELIMITED", "KAFKA", "NONE"}
)
#: Formats that need Schema Registry (or a protobuf schema) — a later issue.
SCHEMA_REGISTRY_FORMATS: frozenset[str] = frozenset(
    {"JSON_SR", "AVRO", "PROTOBUF", "PROTOBUF_NOSR"}
)

_COMMON = {
    "KAFKA_TOPIC",
    "PARTITIONS",
    "REPLICAS",
    "FORMAT",
    "KEY_FORMAT",
    "VALUE_FORMAT",
    "VALUE_DELIMITER",
    "KEY_DELIMITER",
    "WRAP_SINGLE_VALUE",
    "TIMESTAMP",
    "TIMESTAMP_FORMAT",
    "KEY_SCHEMA_ID",
    "VALUE_SCHEMA_ID",
    "KEY_SCHEMA_FULL_NAME",
    "VALUE_SCHEMA_FULL_NAME",
    "VALUE_AVRO_SCHEMA_FULL_NAME",
    "KEY_PROTOBUF_NULLABLE_REPRESENTATION",
    "VALUE_PROTOBUF_NULLABLE_REPRESENTATION",
    "RETENTION_MS",
    "CLEANUP_POLICY",
}
#: Properties CREATE STREAM/TABLE accepts (CreateConfigs).
CREATE_PROPERTIES: frozenset[str] = frozenset(
    _COMMON | {"WINDOW_TYPE", "WINDOW_SIZE", "SOURCE_CONNECTOR"}
)
#: Properties CREATE ... AS SELECT accepts (CreateAsConfigs).
CREATE_AS_PROPERTIES: frozenset[str] = frozenset(_COMMON)


@dataclass(frozen=True)
class WithProperties:
    """A statement's WITH properties: ``values`` keyed by upper-case name."""

    values: Mapping[str, object]

    def get(self, name: str) -> object | None:
        return self.values.get(name)

    def text(self, name: str) -> str | None:
        value = self.values.get(name)
        return None if value is None else str(value)

    def integer(self, name: str) -> int | None:
        value = self.values.get(name)
        if value is None:
            return None
        try:
            return int(str(value))
        except ValueError:
            raise AnalysisError(
                f"Invalid value for property {name}: '{value}'. It must be an integer."
            ) from None

    def boolean(self, name: str) -> bool | None:
        value = self.values.get(name)
        if value is None:
            return None
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "false"):
            return text == "true"
        raise AnalysisError(f"Property {name} must be true or false, got '{value}'.")

    def __contains__(self, name: str) -> bool:
        return name in self.values


def read_properties(properties: tuple[Property, ...], *, allowed: frozenset[str]) -> WithProperties:
    """Upper-case the names and reject unknown ones (ksqlDB: ``Invalid config variable(s) in the WITH clause: X``)."""
    values = properties_dict(properties)
    unknown = sorted(name for name in values if name not in allowed)
    if unknown:
        raise AnalysisError(f"Invalid config variable(s) in the WITH clause: {','.join(unknown)}")
    return WithProperties(values)


def _format_name(value: object, *, config_name: str) -> str:
    name = str(value).strip().upper()
    if name not in KNOWN_FORMATS:
        raise AnalysisError(f"Unknown format: {name}")
    return name


def _delimiter(props: WithProperties, name: str) -> str | None:
    """VALUE_DELIMITER / KEY_DELIMITER parsed by the serde registry (one character, TAB, SPACE)."""
    raw = props.get(name)
    if raw is None:
        return None
    return parse_delimiter(str(raw), property_name=name)


def resolve_formats(
    props: WithProperties,
    *,
    config: Mapping[str, object],
    inherited_key: FormatSpec | None = None,
    inherited_value: FormatSpec | None = None,
    has_key_columns: bool = True,
) -> tuple[FormatSpec, FormatSpec]:
    """Key and value formats from FORMAT / KEY_FORMAT / VALUE_FORMAT, inherited formats, or defaults.

    Raises :class:`UnsupportedError` for Schema Registry formats (a later issue).
    """
    fmt = props.get("FORMAT")
    key_fmt = props.get("KEY_FORMAT")
    value_fmt = props.get("VALUE_FORMAT")
    if fmt is not None and key_fmt is not None:
        raise AnalysisError(
            "Cannot supply both 'KEY_FORMAT' and 'FORMAT' properties, as 'FORMAT' sets both key "
            "and value formats. Either use just 'FORMAT', or use 'KEY_FORMAT' and 'VALUE_FORMAT'."
        )
    if fmt is not None and value_fmt is not None:
        raise AnalysisError(
            "Cannot supply both 'VALUE_FORMAT' and 'FORMAT' properties, as 'FORMAT' sets both key "
            "and value formats. Either use just 'FORMAT', or use 'KEY_FORMAT' and 'VALUE_FORMAT'."
        )
    if fmt is not None:
        key_fmt = value_fmt = fmt

    key_name: str
    if key_fmt is not None:
        key_name = _format_name(key_fmt, config_name="KEY_FORMAT")
    elif inherited_key is not None:
        key_name = inherited_key.name
    else:
        default_key = config.get("ksql.persistence.default.format.key") or "KAFKA"
        key_name = _format_name(default_key, config_name="ksql.persistence.default.format.key")

    value_name: str
    if value_fmt is not None:
        value_name = _format_name(value_fmt, config_name="VALUE_FORMAT")
    elif inherited_value is not None:
        value_name = inherited_value.name
    else:
        default_value = config.get("ksql.persistence.default.format.value")
        if not default_value:
            raise AnalysisError(
                "Statement is missing the 'VALUE_FORMAT' property from the WITH clause. Either "
                "provide one or set a default via the 'ksql.persistence.default.format.value' config."
            )
        value_name = _format_name(
            default_value, config_name="ksql.persistence.default.format.value"
        )

    if value_name == "NONE":
        raise AnalysisError("The 'NONE' format can only be used when no columns are defined.")
    for name in (key_name, value_name):
        if name in SCHEMA_REGISTRY_FORMATS:
            raise UnsupportedError(f"{name} format (needs Schema Registry)")

    # WRAP_SINGLE_VALUE is never inherited from a C*AS source (ksqlDB takes it from the WITH
    # clause or the ksql.persistence.wrap.single.values config).
    wrap = props.boolean("WRAP_SINGLE_VALUE")
    if wrap is None and config.get("ksql.persistence.wrap.single.values") is not None:
        wrap = str(config["ksql.persistence.wrap.single.values"]).lower() == "true"
    value_delim = _delimiter(props, "VALUE_DELIMITER")
    key_delim = _delimiter(props, "KEY_DELIMITER")
    if value_delim is None and inherited_value is not None and value_name == inherited_value.name:
        value_delim = inherited_value.delimiter if value_fmt is None and fmt is None else None
    if key_delim is None and inherited_key is not None and key_name == inherited_key.name:
        key_delim = inherited_key.delimiter if key_fmt is None and fmt is None else None
    if (
        value_delim is not None
        and value_name != "DELIMITED"
        and props.get("VALUE_DELIMITER") is not None
    ):
        raise AnalysisError(f"Delimeter only supported with DELIMITED format. Format: {value_name}")
    key_spec = FormatSpec(key_name, delimiter=key_delim)
    value_spec = FormatSpec(value_name, wrap_single_value=wrap, delimiter=value_delim)
    return key_spec, value_spec
