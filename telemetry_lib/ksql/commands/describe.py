"""SHOW / LIST and DESCRIBE statements: read-only views of the catalog as REST entities.

Owns: SHOW|LIST STREAMS / TABLES [EXTENDED], QUERIES [EXTENDED], [ALL] TOPICS [EXTENDED],
PROPERTIES, FUNCTIONS, TYPES, VARIABLES; DESCRIBE source [EXTENDED], DESCRIBE STREAMS|TABLES,
DESCRIBE FUNCTION — with the entity shapes of reference §1.2 (``sourceDescription`` fields, the
``fields[i].schema`` form, RunningQuery entries).
"""

from __future__ import annotations

import logging
from typing import Any

from telemetry_lib.ksql.catalog import ColumnRole, DataSource, QueryInfo, SourceType
from telemetry_lib.ksql.commands.context import StatementContext
from telemetry_lib.ksql.commands.results import StatementResult
from telemetry_lib.ksql.errors import KsqlEngineError
from telemetry_lib.ksql.parser.ast import (
    DescribeFunction,
    DescribeSource,
    DescribeStreams,
    DescribeTables,
    ListFunctions,
    ListProperties,
    ListQueries,
    ListStreams,
    ListTables,
    ListTopics,
    ListTypes,
    ListVariables,
)
from telemetry_lib.ksql.types import SqlArray, SqlDecimal, SqlMap, SqlStruct, SqlType

__all__ = [
    "describe_function",
    "describe_source",
    "describe_sources",
    "field_entries",
    "list_functions",
    "list_properties",
    "list_queries",
    "list_sources",
    "list_topics",
    "list_types",
    "list_variables",
    "query_state",
    "schema_json",
    "source_description",
]

logger = logging.getLogger(__name__)

# Topics ksqlDB hides from SHOW TOPICS (SHOW ALL TOPICS lists them).
_INTERNAL_PREFIX = "_confluent-ksql-"


def schema_json(t: SqlType) -> dict[str, Any]:
    """``{"type":"INTEGER","fields":null,"memberSchema":null}`` (+ ``parameters`` for DECIMAL)."""
    body: dict[str, Any] = {"type": t.base.value, "fields": None, "memberSchema": None}
    if isinstance(t, SqlArray):
        body["memberSchema"] = schema_json(t.element)
    elif isinstance(t, SqlMap):
        body["memberSchema"] = schema_json(t.value)
    elif isinstance(t, SqlStruct):
        body["fields"] = [{"name": n, "schema": schema_json(ft)} for n, ft in t.fields]
    elif isinstance(t, SqlDecimal):
        body["parameters"] = {"precision": t.precision, "scale": t.scale}
    return body


def field_entries(source: DataSource) -> list[dict[str, Any]]:
    out = []
    for col in source.ordered_columns():
        entry: dict[str, Any] = {"name": col.name, "schema": schema_json(col.type)}
        if col.role is ColumnRole.KEY:
            entry["type"] = "KEY"
        elif col.role is ColumnRole.HEADER:
            entry["type"] = "HEADER"
            if col.header_key is not None:
                entry["headerKey"] = col.header_key
        out.append(entry)
    return out


def query_state(info: QueryInfo, ctx: StatementContext) -> str:
    """RUNNING / PAUSED from the catalog, or ERROR when the query's pipeline failed."""
    running = ctx.state.running.get(info.query_id)
    if running is not None and running.pipeline.error is not None:
        return "ERROR"
    return info.state


def _running_query(info: QueryInfo, ctx: StatementContext) -> dict[str, Any]:
    state = query_state(info, ctx)
    return {
        "queryString": info.statement_text,
        "sinks": [info.sink],
        "sinkKafkaTopics": [info.sink_topic],
        "id": info.query_id,
        "statusCount": {state: 1},
        "queryType": "PERSISTENT",
        "state": state,
    }


def _source_description(
    source: DataSource, ctx: StatementContext, extended: bool
) -> dict[str, Any]:
    catalog = ctx.catalog
    read = [q for q in catalog.queries() if source.name in q.sources]
    write = [q for q in catalog.queries() if q.sink == source.name]
    topic = ctx.io.describe_topic(source.topic) if extended else None
    statistics = ""
    error_stats = ""
    if extended:
        failures = sum(ctx.state.processing_log.counts.get(q.query_id, 0) for q in read + write)
        error_stats = f"failed-messages: {failures}" if failures else ""
    return {
        "name": source.name,
        "windowType": source.window.type.value if source.window else None,
        "readQueries": [_running_query(q, ctx) for q in read],
        "writeQueries": [_running_query(q, ctx) for q in write],
        "fields": field_entries(source),
        "type": source.source_type.value,
        "timestamp": source.timestamp_column or "",
        "statistics": statistics,
        "errorStats": error_stats,
        "extended": extended,
        "keyFormat": source.key_format.name,
        "valueFormat": source.value_format.name,
        "topic": source.topic,
        "partitions": topic.partitions if topic is not None else 0,
        "replication": topic.replicas if topic is not None else 0,
        "statement": source.statement_text,
        "queryOffsetSummaries": [],
        "sourceConstraints": [],
        "clusterStatistics": [],
        "clusterErrorStats": [],
    }


def source_description(
    source: DataSource, ctx: StatementContext, *, extended: bool
) -> dict[str, Any]:
    """A ``sourceDescription`` object (DESCRIBE CONNECTOR lists the sources over its topics)."""
    return _source_description(source, ctx, extended)


def list_sources(stmt: ListStreams | ListTables, ctx: StatementContext) -> StatementResult:
    kind = SourceType.STREAM if isinstance(stmt, ListStreams) else SourceType.TABLE
    sources = ctx.catalog.sources(kind)
    if stmt.extended:
        return StatementResult(
            "source_descriptions",
            stmt.text,
            {"sourceDescriptions": [_source_description(s, ctx, True) for s in sources]},
        )
    entries = [
        {
            "type": kind.value,
            "name": s.name,
            "topic": s.topic,
            "keyFormat": s.key_format.name,
            "valueFormat": s.value_format.name,
            "isWindowed": s.is_windowed,
        }
        for s in sources
    ]
    key = "streams" if kind is SourceType.STREAM else "tables"
    return StatementResult(key, stmt.text, {key: entries})


def describe_sources(
    stmt: DescribeStreams | DescribeTables, ctx: StatementContext
) -> StatementResult:
    kind = SourceType.STREAM if isinstance(stmt, DescribeStreams) else SourceType.TABLE
    return StatementResult(
        "source_descriptions",
        stmt.text,
        {
            "sourceDescriptions": [
                _source_description(s, ctx, stmt.extended) for s in ctx.catalog.sources(kind)
            ]
        },
    )


def describe_source(stmt: DescribeSource, ctx: StatementContext) -> StatementResult:
    source = ctx.catalog.get_source(stmt.name)
    if source is None:
        raise KsqlEngineError(f"Could not find STREAM/TABLE '{stmt.name}' in the Metastore")
    return StatementResult(
        "sourceDescription",
        stmt.text,
        {"sourceDescription": _source_description(source, ctx, stmt.extended)},
    )


def list_queries(stmt: ListQueries, ctx: StatementContext) -> StatementResult:
    queries = ctx.catalog.queries()
    if stmt.extended:
        from telemetry_lib.ksql.commands.queries import _query_description

        descriptions = []
        for q in queries:
            running = ctx.state.running.get(q.query_id)
            plan = running.explain_text if running is not None else ""
            described = _query_description(stmt.text, q, plan, ctx)
            descriptions.append(described.fields["queryDescription"])
        return StatementResult("query_descriptions", stmt.text, {"queryDescriptions": descriptions})
    return StatementResult(
        "queries", stmt.text, {"queries": [_running_query(q, ctx) for q in queries]}
    )


def list_topics(stmt: ListTopics, ctx: StatementContext) -> StatementResult:
    topics = sorted(ctx.io.list_topics(), key=lambda t: t.name)
    if not stmt.all:
        topics = [t for t in topics if not t.name.startswith(_INTERNAL_PREFIX)]
    entries: list[dict[str, Any]] = []
    for t in topics:
        entry: dict[str, Any] = {"name": t.name, "replicaInfo": [t.replicas] * t.partitions}
        if stmt.extended:
            entry["consumerCount"] = 0
            entry["consumerGroupCount"] = 0
        entries.append(entry)
    kind = "kafka_topics_extended" if stmt.extended else "kafka_topics"
    return StatementResult(kind, stmt.text, {"topics": entries})


def list_properties(stmt: ListProperties, ctx: StatementContext) -> StatementResult:
    config = ctx.config
    entries = [
        {
            "name": name,
            "scope": "KSQL" if name.startswith("ksql.") else "STREAMS",
            "value": None if value is None else _shown(name, value),
            "editable": True,
            "level": "QUERY" if name in ctx.properties else "SERVER",
        }
        for name, value in sorted(config.items())
    ]
    return StatementResult(
        "properties",
        stmt.text,
        {
            "properties": entries,
            "overwrittenProperties": sorted(ctx.properties),
            "defaultProperties": sorted(k for k in config if k not in ctx.properties),
        },
    )


#: Config names whose values are credentials (e.g. ksql.connect.basic.auth.user.info): never
#: shown by SHOW PROPERTIES.
_SECRET_MARKERS = ("password", "secret", "user.info", "sasl.jaas.config")


def _shown(name: str, value: object) -> str:
    return "[hidden]" if any(m in name.lower() for m in _SECRET_MARKERS) else str(value)


def list_functions(stmt: ListFunctions, ctx: StatementContext) -> StatementResult:
    from telemetry_lib.ksql.functions.builtins import BUILTINS

    entries = [
        {"name": name.upper(), "type": "SCALAR", "category": "OTHER"} for name in BUILTINS.names()
    ]
    return StatementResult("function_names", stmt.text, {"functions": entries})


def describe_function(stmt: DescribeFunction, ctx: StatementContext) -> StatementResult:
    from telemetry_lib.ksql.functions.builtins import BUILTINS

    name = stmt.name.upper()
    if not BUILTINS.is_function(name):
        raise KsqlEngineError(f"Can't find any functions with the name '{name}'")
    variants = [
        {"arguments": [], "returnType": "", "description": sig.text(), "argumentTypes": []}
        for sig in BUILTINS.overloads(name)
    ]
    return StatementResult(
        "describe_function",
        stmt.text,
        {
            "name": name,
            "description": "",
            "author": "confluent",
            "version": "",
            "path": "internal",
            "functions": variants,
            "type": "SCALAR",
        },
    )


def list_types(stmt: ListTypes, ctx: StatementContext) -> StatementResult:
    types = {name: schema_json(t) for name, t in ctx.catalog.types().items()}
    return StatementResult("type_list", stmt.text, {"types": types})


def list_variables(stmt: ListVariables, ctx: StatementContext) -> StatementResult:
    entries = [{"name": k, "value": v} for k, v in sorted(ctx.variables.items())]
    return StatementResult("variables", stmt.text, {"variables": entries})
