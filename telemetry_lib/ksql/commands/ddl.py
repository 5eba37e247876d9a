"""CREATE / DROP of streams, tables and types: their catalog and topic effects.

Owns: the handlers for ``CREATE [OR REPLACE] [SOURCE] STREAM|TABLE`` (with columns),
``DROP STREAM|TABLE [IF EXISTS] [DELETE TOPIC]``, ``CREATE TYPE`` and ``DROP TYPE``; name-clash
rules (IF NOT EXISTS, OR REPLACE, source streams/tables being read-only); topic existence and
creation (PARTITIONS / REPLICAS); DROP's refusal while queries use the source (ksqlDB's text) and
termination of the C*AS query that writes a dropped sink.
"""

from __future__ import annotations

import logging

from telemetry_lib.ksql.analyzer.ddl import (
    analyze_create_source,
    read_create_topic,
    resolve_type_node,
)
from telemetry_lib.ksql.catalog import DataSource, SourceType, quote_identifier
from telemetry_lib.ksql.commands.context import StatementContext
from telemetry_lib.ksql.commands.results import StatementResult, command_status
from telemetry_lib.ksql.errors import AnalysisError, KsqlEngineError, KsqlStatementError
from telemetry_lib.ksql.parser.ast import (
    CreateSource,
    CreateTable,
    DropSource,
    DropTable,
    DropType,
    RegisterType,
)
from telemetry_lib.ksql.runtime.io import TopicSpec

__all__ = [
    "check_name_available",
    "create_source",
    "drop_source",
    "drop_type",
    "ensure_topic",
    "register_type",
    "terminate_query",
]

logger = logging.getLogger(__name__)

# ksqlDB's default replication for topics it creates when REPLICAS is not given.
_DEFAULT_REPLICAS = 1


def check_name_available(
    ctx: StatementContext,
    name: str,
    kind: SourceType,
    *,
    or_replace: bool,
    if_not_exists: bool,
    is_source: bool = False,
) -> DataSource | None:
    """The existing source to replace, or None; raises or returns the IF NOT EXISTS marker.

    Returns the existing source only when it may be replaced (OR REPLACE on the same kind).
    Raises :class:`_AlreadyExists` when IF NOT EXISTS applies (the caller answers with a warning).
    """
    existing = ctx.catalog.get_source(name)
    if existing is None:
        return None
    kind_lower = kind.lower
    if if_not_exists:
        raise _AlreadyExists(existing)
    if existing.is_source or (is_source and or_replace):
        raise KsqlEngineError(
            f"Cannot add {kind_lower} '{name}': CREATE OR REPLACE is not supported on "
            f"source {kind_lower}s."
        )
    if existing.source_type is not kind:
        raise KsqlEngineError(
            f"Cannot add {kind_lower} '{name}': A {existing.source_type.lower} with the same "
            "name already exists"
        )
    if not or_replace:
        raise KsqlEngineError(
            f"Cannot add {kind_lower} '{name}': A {kind_lower} with the same name already exists"
        )
    return existing


class _AlreadyExists(Exception):
    def __init__(self, existing: DataSource) -> None:
        super().__init__(existing.name)
        self.existing = existing


def already_exists_result(
    stmt_text: str, existing: DataSource, kind: SourceType
) -> StatementResult:
    return command_status(
        stmt_text,
        command_id=f"{kind.lower}/{quote_identifier(existing.name)}/create",
        message=f"Cannot add {kind.lower} {existing.name}: A {existing.source_type.lower} with the "
        "same name already exists.",
        warnings=(f"A {existing.source_type.lower} with the same name already exists.",),
    )


def ensure_topic(
    ctx: StatementContext,
    topic: str,
    *,
    partitions: int | None,
    replicas: int | None,
    kind: SourceType,
    config: dict[str, str] | None = None,
) -> TopicSpec:
    """The topic's spec; creates it when PARTITIONS is given and it is missing."""
    existing = ctx.io.describe_topic(topic)
    if existing is not None:
        if partitions is not None and existing.partitions != partitions:
            raise KsqlEngineError(
                f"A Kafka topic with the name '{topic}' already exists, with different "
                f"partition/replica configuration than required. KSQL expects {partitions} "
                f"partitions (topic has {existing.partitions}), "
                f"{replicas if replicas is not None else existing.replicas} replication factor "
                f"(topic has {existing.replicas})."
            )
        return existing
    if partitions is None:
        raise KsqlEngineError(
            f"Kafka topic does not exist: {topic}",
            hint=f"create the topic first, or add PARTITIONS=n (and optionally REPLICAS=n) to "
            f"the WITH clause so that the {kind.lower} creates it",
        )
    spec = TopicSpec(
        topic,
        partitions=partitions,
        replicas=replicas if replicas is not None else _DEFAULT_REPLICAS,
        config=dict(config or {}),
    )
    ctx.io.create_topic(spec)
    return spec


def create_source(stmt: CreateSource, ctx: StatementContext) -> StatementResult:
    kind = SourceType.TABLE if isinstance(stmt, CreateTable) else SourceType.STREAM
    # ksqlDB checks (or creates) the topic before it looks at the columns.
    topic, partitions, replicas = read_create_topic(stmt)
    if ctx.io.describe_topic(topic) is None and partitions is None:
        ensure_topic(ctx, topic, partitions=None, replicas=replicas, kind=kind)
    try:
        check_name_available(
            ctx,
            stmt.name,
            kind,
            or_replace=stmt.or_replace,
            if_not_exists=stmt.if_not_exists,
            is_source=stmt.is_source,
        )
    except _AlreadyExists as exists:
        return already_exists_result(stmt.text, exists.existing, kind)
    plan = analyze_create_source(stmt, config=ctx.config, type_lookup=ctx.catalog.get_type)
    ensure_topic(
        ctx,
        plan.source.topic,
        partitions=plan.partitions,
        replicas=plan.replicas,
        kind=kind,
        config=dict(plan.topic_config),
    )
    ctx.catalog.put_source(plan.source)
    return command_status(
        stmt.text,
        command_id=f"{kind.lower}/{quote_identifier(stmt.name)}/create",
        message=f"{kind.title} created",
    )


def terminate_query(ctx: StatementContext, query_id: str) -> None:
    """Stop a running persistent query and forget it."""
    ctx.catalog.remove_query(query_id)
    running = ctx.state.running.pop(query_id, None) if not ctx.sandbox else None
    if running is not None:
        running.pipeline.close()


def drop_source(stmt: DropSource, ctx: StatementContext) -> StatementResult:
    kind = SourceType.TABLE if isinstance(stmt, DropTable) else SourceType.STREAM
    source = ctx.catalog.get_source(stmt.name)
    if source is None or source.source_type is not kind:
        if stmt.if_exists and source is None:
            return command_status(
                stmt.text,
                command_id=f"{kind.lower}/{stmt.name}/drop",
                message=f"Source `{stmt.name}` does not exist.",
            )
        if source is not None:
            raise KsqlEngineError(
                f"Incompatible data source type is {source.source_type.value}, but statement was "
                f"DROP {kind.value}"
            )
        raise KsqlEngineError(f"{kind.title} {stmt.name} does not exist.")
    if stmt.delete_topic and source.is_source:
        raise KsqlEngineError(f"Cannot delete topic for read-only source: {stmt.name}")
    readers = [q for q in ctx.catalog.queries_reading(source.name)]
    writers = [q for q in ctx.catalog.queries_writing(source.name) if q != source.created_by_query]
    if readers or writers:
        raise KsqlStatementError(
            f"Cannot drop {source.name}.\n"
            f"The following queries read from this source: [{', '.join(readers)}].\n"
            f"The following queries write into this source: [{', '.join(writers)}].\n"
            f"You need to terminate them before dropping {source.name}.",
            hint="TERMINATE the queries listed (SHOW QUERIES shows them), then DROP again",
        )
    if source.created_by_query is not None and ctx.catalog.get_query(source.created_by_query):
        terminate_query(ctx, source.created_by_query)
    ctx.catalog.remove_source(source.name)
    if stmt.delete_topic:
        others = [s for s in ctx.catalog.sources() if s.topic == source.topic]
        if not others:
            ctx.io.delete_topic(source.topic)
    return command_status(
        stmt.text,
        command_id=f"{kind.lower}/{source.name}/drop",
        message=f"Source `{source.name}` (topic: {source.topic}) was dropped.",
    )


def register_type(stmt: RegisterType, ctx: StatementContext) -> StatementResult:
    if ctx.catalog.get_type(stmt.name) is not None and not stmt.if_not_exists:
        raise AnalysisError(
            f"Cannot register custom type '{stmt.name}' since it is already registered with "
            f"type: {ctx.catalog.get_type(stmt.name).sql()}"  # type: ignore[union-attr]
        )
    sql_type = resolve_type_node(stmt.type, ctx.catalog.get_type)
    if ctx.catalog.get_type(stmt.name) is None:
        ctx.catalog.put_type(stmt.name, sql_type)
    return command_status(
        stmt.text,
        command_id=f"type/{stmt.name}/create",
        message=f"Registered custom type with name '{stmt.name}' and SQL type {sql_type.sql()}",
    )


def drop_type(stmt: DropType, ctx: StatementContext) -> StatementResult:
    removed = ctx.catalog.remove_type(stmt.name)
    if not removed and not stmt.if_exists:
        raise AnalysisError(f"Type {stmt.name} does not exist.")
    return command_status(
        stmt.text,
        command_id=f"type/{stmt.name}/drop",
        message=f"Dropped type '{stmt.name}'" if removed else f"Type {stmt.name} does not exist.",
    )
