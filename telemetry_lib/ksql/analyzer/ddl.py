"""Analysis of CREATE STREAM / CREATE TABLE (with columns) and CREATE TYPE.

Owns: turning a :class:`~telemetry_lib.ksql.parser.ast.CreateSource` into the
:class:`~telemetry_lib.ksql.catalog.DataSource` it registers plus the topic it needs
(:class:`SourcePlan`), enforcing ksqlDB's rules with its wording: KEY vs PRIMARY KEY, tables need
a PRIMARY KEY, reserved and duplicate column names, header columns, WITH properties, TIMESTAMP /
TIMESTAMP_FORMAT, WINDOW_TYPE / WINDOW_SIZE, and format support for the key and value schemas.
Pure: topic existence is checked by the command that executes the plan. No polars here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from telemetry_lib.ksql.analyzer.formats import validate_schema_formats
from telemetry_lib.ksql.analyzer.properties import (
    CREATE_PROPERTIES,
    WithProperties,
    read_properties,
    resolve_formats,
)
from telemetry_lib.ksql.catalog import (
    PSEUDO_COLUMNS,
    WINDOW_BOUND_COLUMNS,
    Column,
    ColumnRole,
    DataSource,
    FormatSpec,
    SourceType,
    quote_identifier,
)
from telemetry_lib.ksql.errors import AnalysisError, KsqlEngineError
from telemetry_lib.ksql.parser.ast import CreateSource, CreateTable, TypeNode, resolve_type
from telemetry_lib.ksql.types import (
    BIGINT,
    BYTES,
    STRING,
    TIMESTAMP,
    BaseType,
    SqlArray,
    SqlStruct,
    SqlType,
)
from telemetry_lib.ksql.windows import WindowInfo, WindowType, parse_duration, parse_window_type

__all__ = [
    "SourcePlan",
    "analyze_create_source",
    "check_timestamp_column",
    "read_create_topic",
    "resolve_type_node",
]

logger = logging.getLogger(__name__)

#: The only type a ``HEADERS`` column may have.
HEADERS_TYPE = SqlArray(SqlStruct((("KEY", STRING), ("VALUE", BYTES))))
_RESERVED = PSEUDO_COLUMNS + WINDOW_BOUND_COLUMNS
_KEY_HINT = (
    "\nTables have PRIMARY KEYs, which are unique and NON NULL."
    "\nStreams have KEYs, which have no uniqueness or NON NULL constraints."
)


@dataclass(frozen=True)
class SourcePlan:
    """What executing a CREATE STREAM/TABLE does: register ``source``; ensure its topic exists
    (created with ``partitions``/``replicas`` when they are given and it is missing)."""

    source: DataSource
    partitions: int | None
    replicas: int | None
    topic_config: Mapping[str, str]


def resolve_type_node(node: TypeNode, lookup: Callable[[str], SqlType | None]) -> SqlType:
    """A column/CAST type with custom types resolved; unknown names get ksqlDB's wording."""
    try:
        return resolve_type(node, lookup)
    except LookupError as exc:
        raise AnalysisError(f"Cannot resolve unknown type: {exc.args[0]}") from None


def read_create_topic(stmt: CreateSource) -> tuple[str, int | None, int | None]:
    """KAFKA_TOPIC, PARTITIONS and REPLICAS of a CREATE: ksqlDB checks the topic first."""
    props = read_properties(stmt.properties, allowed=CREATE_PROPERTIES)
    topic = props.text("KAFKA_TOPIC")
    if topic is None:
        raise AnalysisError('Missing required property "KAFKA_TOPIC" which has no default value.')
    return topic, props.integer("PARTITIONS"), props.integer("REPLICAS")


def analyze_create_source(
    stmt: CreateSource,
    *,
    config: Mapping[str, object],
    type_lookup: Callable[[str], SqlType | None],
) -> SourcePlan:
    """Validate a CREATE STREAM/TABLE statement and build the source it registers."""
    source_type = SourceType.TABLE if isinstance(stmt, CreateTable) else SourceType.STREAM
    kind_lower = source_type.lower
    if stmt.is_source and stmt.or_replace:
        raise KsqlEngineError(
            f"Cannot add {kind_lower} '{stmt.name}': CREATE OR REPLACE is not supported on "
            f"source {kind_lower}s."
        )
    props = read_properties(stmt.properties, allowed=CREATE_PROPERTIES)
    columns = _columns(stmt, source_type, type_lookup)

    topic = props.text("KAFKA_TOPIC")
    if topic is None:
        raise AnalysisError('Missing required property "KAFKA_TOPIC" which has no default value.')
    key_format, value_format = resolve_formats(
        props, config=config, has_key_columns=any(c.role is ColumnRole.KEY for c in columns)
    )
    if not columns:
        raise AnalysisError("The statement does not define any columns.")
    if source_type is SourceType.TABLE and not any(c.role is ColumnRole.KEY for c in columns):
        raise KsqlEngineError("Tables require a PRIMARY KEY. Please define the PRIMARY KEY.")
    key_columns = [c for c in columns if c.role is ColumnRole.KEY]
    value_columns = [c for c in columns if c.role is ColumnRole.VALUE]
    if not key_columns and props.get("KEY_FORMAT") is None and props.get("FORMAT") is None:
        # A keyless source reads no key: ksqlDB records its key format as NONE.
        key_format = FormatSpec("NONE")
    validate_schema_formats(
        key_columns,
        value_columns,
        key_format=key_format,
        value_format=value_format,
        explicit_wrap="WRAP_SINGLE_VALUE" in props,
    )
    window = _window(props)
    ts_column, ts_format = check_timestamp_column(props, columns)
    source = DataSource(
        name=stmt.name,
        source_type=source_type,
        columns=tuple(columns),
        topic=topic,
        key_format=key_format,
        value_format=value_format,
        timestamp_column=ts_column,
        timestamp_format=ts_format,
        window=window,
        is_source=stmt.is_source,
        statement_text=stmt.text,
    )
    topic_config: dict[str, str] = {}
    if props.get("RETENTION_MS") is not None:
        topic_config["retention.ms"] = str(props.get("RETENTION_MS"))
    if props.get("CLEANUP_POLICY") is not None:
        topic_config["cleanup.policy"] = str(props.get("CLEANUP_POLICY"))
    elif source_type is SourceType.TABLE:
        topic_config["cleanup.policy"] = "compact"
    return SourcePlan(
        source=source,
        partitions=props.integer("PARTITIONS"),
        replicas=props.integer("REPLICAS"),
        topic_config=topic_config,
    )


def _columns(
    stmt: CreateSource, source_type: SourceType, type_lookup: Callable[[str], SqlType | None]
) -> list[Column]:
    columns: list[Column] = []
    seen: set[str] = set()
    for element in stmt.elements:
        name = element.name
        if name in _RESERVED:
            raise KsqlEngineError(
                f"'{name}' is a reserved column name. You cannot use it as a name for a column."
            )
        if name in seen:
            raise AnalysisError(f"Duplicate column names:\n\t{quote_identifier(name)}")
        seen.add(name)
        sql_type = resolve_type_node(element.type, type_lookup)
        constraint = element.constraint
        role = ColumnRole.VALUE
        header_key: str | None = None
        if constraint == "PRIMARY KEY":
            if source_type is SourceType.STREAM:
                raise AnalysisError(
                    f"Column {quote_identifier(name)} is a 'PRIMARY KEY' column: "
                    f"please use 'KEY' for streams.{_KEY_HINT}"
                )
            role = ColumnRole.KEY
        elif constraint == "KEY":
            if source_type is SourceType.TABLE:
                raise AnalysisError(
                    f"Column {quote_identifier(name)} is a 'KEY' column: "
                    f"please use 'PRIMARY KEY' for tables.{_KEY_HINT}"
                )
            role = ColumnRole.KEY
        elif constraint == "HEADERS":
            if sql_type != HEADERS_TYPE:
                raise AnalysisError(
                    f"Invalid type for HEADERS column: expected {HEADERS_TYPE.sql()}, "
                    f"got {sql_type.sql()}"
                )
            role = ColumnRole.HEADER
        elif constraint == "HEADER":
            if sql_type != BYTES:
                raise AnalysisError(
                    f"Invalid type for HEADER('{element.header_key}') column: expected BYTES, "
                    f"got {sql_type.sql()}"
                )
            role = ColumnRole.HEADER
            header_key = element.header_key
        columns.append(Column(name, sql_type, role, header_key))
    headers = [c for c in columns if c.role is ColumnRole.HEADER and c.header_key is None]
    if len(headers) > 1:
        raise AnalysisError("Schema already contains a HEADERS column.")
    if headers and any(c.role is ColumnRole.HEADER and c.header_key for c in columns):
        raise AnalysisError(
            "Schema already contains a HEADERS column: HEADER('key') columns cannot be added."
        )
    return columns


def _window(props: WithProperties) -> WindowInfo | None:
    window_type_text = props.text("WINDOW_TYPE")
    window_size_text = props.text("WINDOW_SIZE")
    if window_type_text is None:
        if window_size_text is not None:
            raise AnalysisError("WINDOW_SIZE should only be set when WINDOW_TYPE is set.")
        return None
    try:
        window_type = parse_window_type(window_type_text)
    except ValueError as exc:
        raise AnalysisError(f"Configuration WINDOW_TYPE is invalid: {exc}") from None
    if window_type is WindowType.SESSION:
        if window_size_text is not None:
            raise AnalysisError("'WINDOW_SIZE' should not be set for SESSION windows.")
        return WindowInfo(window_type)
    if window_size_text is None:
        raise AnalysisError(
            f"{window_type.value} windows require 'WINDOW_SIZE' to be provided in the WITH clause. "
            "For example: 'WINDOW_SIZE'='10 SECONDS'"
        )
    try:
        size = parse_duration(window_size_text)
    except ValueError as exc:
        raise AnalysisError(f"Configuration WINDOW_SIZE is invalid: {exc}") from None
    return WindowInfo(window_type, size)


def check_timestamp_column(
    props: WithProperties, columns: list[Column] | tuple[Column, ...]
) -> tuple[str | None, str | None]:
    """The TIMESTAMP column (resolved like an identifier) and TIMESTAMP_FORMAT, validated."""
    raw = props.text("TIMESTAMP")
    ts_format = props.text("TIMESTAMP_FORMAT")
    if raw is None:
        if ts_format is not None:
            raise AnalysisError("TIMESTAMP_FORMAT can only be used with TIMESTAMP.")
        return None, None
    name = _identifier(raw)
    column = next((c for c in columns if c.name == name), None)
    if column is None:
        raise KsqlEngineError(
            f"The TIMESTAMP column set in the WITH clause does not exist in the schema: '{name}'"
        )
    if ts_format is not None:
        if column.type.base is not BaseType.STRING:
            raise AnalysisError(
                f"Timestamp column, {quote_identifier(name)}, should be of type STRING when "
                "TIMESTAMP_FORMAT is set, but is of type " + column.type.sql()
            )
        _check_timestamp_format(ts_format)
    elif column.type not in (BIGINT, TIMESTAMP):
        raise AnalysisError(
            f"Timestamp column, {quote_identifier(name)}, should be LONG(INT64) or "
            f"a String with a timestamp.format specified."
        )
    return name, ts_format


def _check_timestamp_format(pattern: str) -> None:
    """The pattern itself is compiled (and rejected if invalid) by the Source operator."""
    if not pattern.strip():
        raise AnalysisError("Invalid TIMESTAMP_FORMAT: the pattern is empty.")


def _identifier(text: str) -> str:
    """A WITH-clause column name: quoted names keep case, unquoted are upper-cased."""
    stripped = text.strip()
    if len(stripped) >= 2 and stripped[0] == stripped[-1] and stripped[0] in '`"':
        return stripped[1:-1]
    return stripped.upper()
