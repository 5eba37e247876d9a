"""The format registry: which serialization formats exist and what each can carry (reference §4.1).

Owns: :class:`Format` (name, key/value support, supported SQL types, multi-column support,
wrapping features, whether Schema Registry is needed), :data:`FORMATS`, :func:`get_format`,
and the CREATE-time validation functions with ksqlDB's wording:

* :func:`get_format` — ``Unknown format: FOO``;
* :func:`resolve_format_names` — FORMAT versus KEY_FORMAT / VALUE_FORMAT;
* :func:`parse_delimiter` — VALUE_DELIMITER / KEY_DELIMITER (one character, ``TAB``, ``SPACE``);
* :func:`check_format_properties` — a property the format does not accept (``delimiter`` on JSON);
* :func:`resolve_value_features` / :func:`resolve_key_features` — WRAP_SINGLE_VALUE rules
  (ksqlDB's SerdeFeaturesFactory);
* :func:`validate_key_schema` / :func:`validate_value_schema` — map-typed keys, unsupported
  types per format, the KAFKA single-column rule, NONE's "no columns" rule; failures read
  ``Key format does not support schema.\\nformat: KAFKA\\nschema: Persistence{...}\\nreason: ...``.

Every error is a :class:`~telemetry_lib.ksql.errors.KsqlStatementError`. ksqlDB raises some of these
as plain ``KsqlException`` (its ``KsqlStatementException`` subclasses it), so a runner that
matches an expected ``io.confluent.ksql.util.KsqlException`` should accept a subclass, as
ksqlDB's own test runner does (``instanceOf``).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from telemetry_lib.ksql.errors import KsqlStatementError
from telemetry_lib.ksql.types import BaseType, SqlArray, SqlMap, SqlStruct, SqlType

__all__ = [
    "FORMATS",
    "Format",
    "SerdeFeature",
    "check_format_properties",
    "contains_map",
    "get_format",
    "parse_delimiter",
    "persistence_text",
    "resolve_format_names",
    "resolve_key_features",
    "resolve_value_features",
    "validate_key_schema",
    "validate_value_schema",
]

logger = logging.getLogger(__name__)

# ksqlDB's Delimiter.parse accepts these words for characters that cannot be typed in a literal.
_NAMED_DELIMITERS = {"TAB": "\t", "SPACE": " "}
# Issue ksqlDB links from its map-key error message.
_MAP_KEY_ISSUE = "https://github.com/confluentinc/ksql/issues/6621"
# The format property name ksqlDB uses for VALUE_DELIMITER / KEY_DELIMITER.
DELIMITER_PROPERTY = "delimiter"


class SerdeFeature(enum.Enum):
    """ksqlDB's SerdeFeature values that matter without Schema Registry."""

    WRAP_SINGLES = "WRAP_SINGLES"
    UNWRAP_SINGLES = "UNWRAP_SINGLES"


_ALL_TYPES = frozenset(BaseType)
_PRIMITIVES = frozenset(BaseType) - {BaseType.ARRAY, BaseType.MAP, BaseType.STRUCT}


@dataclass(frozen=True)
class Format:
    """A serialization format and what it supports (ksqlDB's ``Format``)."""

    name: str
    supports_key: bool
    supports_value: bool
    #: Base types a column may have (checked recursively for containers).
    types: frozenset[BaseType]
    #: Whether several columns fit in one key or value.
    multi_column: bool
    features: frozenset[SerdeFeature]
    #: Property names the format accepts in WITH (``delimiter``).
    properties: frozenset[str] = frozenset()
    requires_schema_registry: bool = False
    #: False for formats this engine knows by name but cannot (de)serialize yet.
    implemented: bool = True

    def supports(self, feature: SerdeFeature) -> bool:
        return feature in self.features


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format(
            "JSON",
            True,
            True,
            _ALL_TYPES,
            True,
            frozenset({SerdeFeature.WRAP_SINGLES, SerdeFeature.UNWRAP_SINGLES}),
        ),
        Format(
            "DELIMITED",
            True,
            True,
            _PRIMITIVES,
            True,
            frozenset({SerdeFeature.UNWRAP_SINGLES}),
            frozenset({DELIMITER_PROPERTY}),
        ),
        Format(
            "KAFKA",
            True,
            True,
            frozenset(
                {
                    BaseType.INTEGER,
                    BaseType.BIGINT,
                    BaseType.DOUBLE,
                    BaseType.STRING,
                    BaseType.BYTES,
                }
            ),
            False,
            frozenset({SerdeFeature.UNWRAP_SINGLES}),
        ),
        Format("NONE", True, False, frozenset(), False, frozenset()),
        Format(
            "AVRO",
            True,
            True,
            _ALL_TYPES,
            True,
            frozenset({SerdeFeature.WRAP_SINGLES, SerdeFeature.UNWRAP_SINGLES}),
            requires_schema_registry=True,
            implemented=False,
        ),
        Format(
            "JSON_SR",
            True,
            True,
            _ALL_TYPES,
            True,
            frozenset({SerdeFeature.WRAP_SINGLES, SerdeFeature.UNWRAP_SINGLES}),
            requires_schema_registry=True,
            implemented=False,
        ),
        Format(
            "PROTOBUF",
            True,
            True,
            _ALL_TYPES,
            True,
            frozenset({SerdeFeature.WRAP_SINGLES, SerdeFeature.UNWRAP_SINGLES}),
            requires_schema_registry=True,
            implemented=False,
        ),
        Format(
            "PROTOBUF_NOSR",
            True,
            True,
            _ALL_TYPES,
            True,
            frozenset({SerdeFeature.WRAP_SINGLES, SerdeFeature.UNWRAP_SINGLES}),
            implemented=False,
        ),
    )
}


def get_format(name: str) -> Format:
    """The format called ``name`` (case-insensitive); ``Unknown format: FOO`` otherwise."""
    found = FORMATS.get(name.upper())
    if found is None:
        raise KsqlStatementError(
            f"Unknown format: {name.upper()}",
            hint=f"use one of {', '.join(FORMATS)}",
        )
    return found


def resolve_format_names(
    *,
    format_name: str | None,
    key_format: str | None,
    value_format: str | None,
    default_key: str | None = "KAFKA",
    default_value: str | None = None,
) -> tuple[str | None, str | None]:
    """(key format, value format) from the WITH properties FORMAT / KEY_FORMAT / VALUE_FORMAT.

    FORMAT sets both and cannot be combined with the other two (ksqlDB's wording). Missing
    values fall back to the defaults (``ksql.persistence.default.format.key/value``).
    """
    if format_name is not None:
        for prop, given in (("KEY_FORMAT", key_format), ("VALUE_FORMAT", value_format)):
            if given is not None:
                raise KsqlStatementError(
                    f"Cannot supply both '{prop}' and 'FORMAT' properties, as 'FORMAT' sets both "
                    "key and value formats. Either use just 'FORMAT', or use 'KEY_FORMAT' and "
                    "'VALUE_FORMAT'."
                )
        return format_name.upper(), format_name.upper()
    key = key_format if key_format is not None else default_key
    value = value_format if value_format is not None else default_value
    return (key.upper() if key else None), (value.upper() if value else None)


def parse_delimiter(value: str, *, property_name: str = "VALUE_DELIMITER") -> str:
    """The delimiter character for ``VALUE_DELIMITER`` / ``KEY_DELIMITER`` (Delimiter.parse).

    One character, or ``TAB`` / ``SPACE``; a blank value (including a literal space or tab)
    is rejected with ksqlDB's message.
    """
    prefix = f"Failed to prepare statement: Configuration {property_name} is invalid: "
    if value.strip() == "":
        raise KsqlStatementError(
            prefix + "Delimiter cannot be empty, if you meant to have a tab or space for "
            "delimiter, please use the special values 'TAB' or 'SPACE'\nExample valid value: ';'"
        )
    if len(value) == 1:
        return value
    named = _NAMED_DELIMITERS.get(value)
    if named is not None:
        return named
    raise KsqlStatementError(
        prefix + f"Invalid delimiter value: '{value}'. Delimiter must be a single character or "
        "TAB or SPACE\nExample valid value: ';'"
    )


def check_format_properties(fmt: Format, properties: Mapping[str, object]) -> None:
    """Refuse format properties the format does not accept (e.g. a delimiter for JSON)."""
    unsupported = sorted(p for p in properties if p.lower() not in fmt.properties)
    if unsupported:
        raise KsqlStatementError(
            f"{fmt.name} does not support the following configs: [{', '.join(unsupported)}]"
        )


def resolve_value_features(
    fmt: Format,
    value_column_count: int,
    *,
    wrap_single_value: bool | None,
    default_wrap: bool | None = None,
) -> frozenset[SerdeFeature]:
    """The value's wrapping feature (ksqlDB's SerdeFeaturesFactory.buildValueFeatures).

    An explicit ``WRAP_SINGLE_VALUE`` must be supported by the format and needs a
    single-column value. Otherwise ``ksql.persistence.wrap.single.values`` (``default_wrap``)
    applies to single-column values when the format supports it.
    """
    single = value_column_count == 1
    if wrap_single_value is not None:
        feature = SerdeFeature.WRAP_SINGLES if wrap_single_value else SerdeFeature.UNWRAP_SINGLES
        if not fmt.supports(feature):
            raise KsqlStatementError(
                f"Format '{fmt.name}' does not support 'WRAP_SINGLE_VALUE' set to "
                f"'{str(wrap_single_value).lower()}'."
            )
        if not single:
            raise KsqlStatementError(
                "'WRAP_SINGLE_VALUE' is only valid for single-field value schemas"
            )
        return frozenset({feature})
    if not single or default_wrap is None:
        return frozenset()
    feature = SerdeFeature.WRAP_SINGLES if default_wrap else SerdeFeature.UNWRAP_SINGLES
    return frozenset({feature}) if fmt.supports(feature) else frozenset()


def resolve_key_features(fmt: Format, key_column_count: int) -> frozenset[SerdeFeature]:
    """A single key is unwrapped when the format could do both (ksqlDB buildKeyFeatures)."""
    if (
        key_column_count == 1
        and fmt.supports(SerdeFeature.WRAP_SINGLES)
        and fmt.supports(SerdeFeature.UNWRAP_SINGLES)
    ):
        return frozenset({SerdeFeature.UNWRAP_SINGLES})
    return frozenset()


def contains_map(t: SqlType) -> bool:
    """Whether ``t`` is or holds a MAP (keys may not)."""
    if isinstance(t, SqlMap):
        return True
    if isinstance(t, SqlArray):
        return contains_map(t.element)
    if isinstance(t, SqlStruct):
        return any(contains_map(ft) for _, ft in t.fields)
    return False


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def persistence_text(
    columns: Sequence[tuple[str, SqlType]],
    *,
    is_key: bool,
    features: frozenset[SerdeFeature] = frozenset(),
) -> str:
    """ksqlDB's PersistenceSchema.toString, as quoted in its schema errors."""
    cols = ", ".join(f"{_quote(n)} {t.sql()}{' KEY' if is_key else ''}" for n, t in columns)
    feats = ", ".join(sorted(f.value for f in features))
    return f"Persistence{{columns=[{cols}], features=[{feats}]}}"


def _unsupported_reason(fmt: Format, columns: Sequence[tuple[str, SqlType]]) -> str | None:
    if fmt.name == "NONE":
        if columns:
            cols = ", ".join(f"{_quote(n)} {t.sql()}" for n, t in columns)
            return f"The 'NONE' format can only be used when no columns are defined. Got: [{cols}]"
        return None
    if not fmt.multi_column and len(columns) > 1:
        cols = ", ".join(f"{_quote(n)} {t.sql()} KEY" for n, t in columns)
        return f"The '{fmt.name}' format only supports a single field. Got: [{cols}]"
    for name, t in columns:
        bad = _first_unsupported(fmt, t)
        if bad is not None:
            suffix = f", column: {_quote(name)}" if fmt.name == "DELIMITED" else ""
            return f"The '{fmt.name}' format does not support type '{bad.value}'{suffix}"
        if fmt.name == "JSON" and _has_non_string_map_key(t):
            return "JSON only supports MAP types with STRING keys"
    return None


def _first_unsupported(fmt: Format, t: SqlType) -> BaseType | None:
    if t.base not in fmt.types:
        return t.base
    if isinstance(t, SqlArray):
        return _first_unsupported(fmt, t.element)
    if isinstance(t, SqlMap):
        return _first_unsupported(fmt, t.key) or _first_unsupported(fmt, t.value)
    if isinstance(t, SqlStruct):
        for _, ft in t.fields:
            bad = _first_unsupported(fmt, ft)
            if bad is not None:
                return bad
    return None


def _has_non_string_map_key(t: SqlType) -> bool:
    if isinstance(t, SqlMap):
        return t.key.base is not BaseType.STRING or _has_non_string_map_key(t.value)
    if isinstance(t, SqlArray):
        return _has_non_string_map_key(t.element)
    if isinstance(t, SqlStruct):
        return any(_has_non_string_map_key(ft) for _, ft in t.fields)
    return False


def validate_key_schema(
    fmt: Format,
    columns: Sequence[tuple[str, SqlType]],
    *,
    features: frozenset[SerdeFeature] | None = None,
) -> None:
    """Check that ``fmt`` can carry these key columns; raise ksqlDB's error otherwise.

    Map-typed keys are refused first (GenericKeySerDe), then the format's own rules are
    wrapped in ``Key format does not support schema.`` with the persistence schema.
    """
    for name, t in columns:
        if contains_map(t):
            raise KsqlStatementError(
                "Map keys, including types that contain maps, are not supported as they may "
                "lead to unexpected behavior due to inconsistent serialization. Key column name: "
                f"{_quote(name)}. Column type: {t.sql()}. See {_MAP_KEY_ISSUE} for more."
            )
    if features is None:
        features = resolve_key_features(fmt, len(columns))
    reason = None if fmt.supports_key else f"The '{fmt.name}' format is not a key format"
    reason = reason or _unsupported_reason(fmt, columns)
    if reason is not None:
        raise KsqlStatementError(_schema_error("Key", fmt, columns, True, features, reason))


def validate_value_schema(
    fmt: Format,
    columns: Sequence[tuple[str, SqlType]],
    *,
    features: frozenset[SerdeFeature] = frozenset(),
) -> None:
    """Check that ``fmt`` can carry these value columns; raise ksqlDB's error otherwise."""
    if not fmt.supports_value:
        raise KsqlStatementError(
            f"The '{fmt.name}' format can only be used as a key format (KEY_FORMAT), "
            "not for values",
            hint="set VALUE_FORMAT to JSON, DELIMITED or KAFKA",
        )
    reason = _unsupported_reason(fmt, columns)
    if reason is not None:
        if not fmt.multi_column and len(columns) > 1:
            cols = ", ".join(f"{_quote(n)} {t.sql()}" for n, t in columns)
            reason = f"The '{fmt.name}' format only supports a single field. Got: [{cols}]"
        raise KsqlStatementError(_schema_error("Value", fmt, columns, False, features, reason))


def _schema_error(
    target: str,
    fmt: Format,
    columns: Sequence[tuple[str, SqlType]],
    is_key: bool,
    features: frozenset[SerdeFeature],
    reason: str,
) -> str:
    schema = persistence_text(columns, is_key=is_key, features=features)
    return (
        f"{target} format does not support schema.\nformat: {fmt.name}\n"
        f"schema: {schema}\nreason: {reason}"
    )
