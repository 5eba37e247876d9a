"""Persistent queries: CREATE STREAM/TABLE AS SELECT, INSERT INTO ... SELECT, TERMINATE, EXPLAIN.

Owns: analysing the query (:mod:`telemetry_lib.ksql.analyzer.query`), deciding the sink (name,
topic with ``ksql.output.topic.name.prefix``, partitions/replicas copied from the source topic,
formats inherited from the source unless given, TIMESTAMP column), building the logical plan
and, outside the validation pass, starting the physical pipeline under its query id
(``CSAS_<SINK>_<n>`` / ``CTAS_<SINK>_<n>`` / ``INSERTQUERY_<n>`` or the given QUERY_ID).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace

from telemetry_lib.ksql.analyzer.formats import validate_schema_formats
from telemetry_lib.ksql.analyzer.properties import (
    CREATE_AS_PROPERTIES,
    WithProperties,
    read_properties,
    resolve_formats,
)
from telemetry_lib.ksql.analyzer.query import AnalyzedQuery, OutputColumn, analyze_query
from telemetry_lib.ksql.analyzer.typed import TCast
from telemetry_lib.ksql.catalog import (
    Column,
    ColumnRole,
    DataSource,
    FormatSpec,
    QueryInfo,
    QueryKind,
    SourceType,
    quote_identifier,
)
from telemetry_lib.ksql.commands.context import RunningQuery, StatementContext
from telemetry_lib.ksql.commands.ddl import (
    _AlreadyExists,
    already_exists_result,
    check_name_available,
    ensure_topic,
    terminate_query,
)
from telemetry_lib.ksql.commands.results import StatementResult, command_status
from telemetry_lib.ksql.commands.sandbox import SandboxIO
from telemetry_lib.ksql.errors import AnalysisError, KsqlEngineError, KsqlStatementError
from telemetry_lib.ksql.exec.operator import ExecContext
from telemetry_lib.ksql.exec.physical_planner import plan_physical
from telemetry_lib.ksql.parser.ast import (
    CreateAsSelect,
    CreateTableAsSelect,
    Explain,
    InsertInto,
    PauseQuery,
    Query,
    ResumeQuery,
    TerminateQuery,
    properties_dict,
)
from telemetry_lib.ksql.plan.builder import build_logical_plan
from telemetry_lib.ksql.plan.logical import SinkNode, explain
from telemetry_lib.ksql.types import can_implicitly_cast

__all__ = [
    "PlannedQuery",
    "create_as_select",
    "explain_statement",
    "insert_into",
    "pause_or_resume",
    "terminate",
]

logger = logging.getLogger(__name__)

_INSERT_TARGET = re.compile(r"^\s*INSERT\s+INTO\s+", re.IGNORECASE)


@dataclass(frozen=True)
class PlannedQuery:
    """A persistent query ready to start."""

    query_id: str
    kind: QueryKind
    analysis: AnalyzedQuery
    sink: DataSource
    plan: SinkNode


def _analyze(
    query: Query, ctx: StatementContext, sink_name: str, *, sink_timestamp: str | None = None
) -> AnalyzedQuery:
    return analyze_query(
        query,
        ctx.catalog,
        None,
        sink_name=sink_name,
        config=ctx.config,
        sink_timestamp=sink_timestamp,
    )


def _timestamp_name(props: WithProperties) -> str | None:
    raw = props.text("TIMESTAMP")
    if raw is None:
        return None
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in '`"':
        return raw[1:-1]
    return raw.upper()


def _sink_formats(
    props_values: object, analysis: AnalyzedQuery, ctx: StatementContext, kind: SourceType
) -> tuple[FormatSpec, FormatSpec]:
    assert isinstance(props_values, WithProperties)
    source = analysis.source
    has_keys = bool(analysis.key_columns)
    explicit_key = (
        props_values.get("KEY_FORMAT") is not None or props_values.get("FORMAT") is not None
    )
    inherited_key = source.key_format
    if inherited_key.name == "NONE" and has_keys:
        inherited_key = None  # type: ignore[assignment]
    key_format, value_format = resolve_formats(
        props_values,
        config=ctx.config,
        inherited_key=inherited_key,
        inherited_value=source.value_format,
        has_key_columns=has_keys,
    )
    if not has_keys:
        if props_values.get("KEY_FORMAT") is not None:
            raise AnalysisError(f"Key format specified for {kind.lower} without key columns.")
        key_format = FormatSpec("NONE")
    elif key_format.name == "NONE" and not explicit_key:
        default_key = str(ctx.config.get("ksql.persistence.default.format.key") or "KAFKA")
        key_format = FormatSpec(default_key.upper())
    return key_format, value_format


def _sink_columns(analysis: AnalyzedQuery) -> tuple[Column, ...]:
    return tuple(
        Column(c.name, c.type, ColumnRole.KEY if c.is_key else ColumnRole.VALUE)
        for c in analysis.columns
    )


def _check_sink_timestamp(
    props: object, columns: tuple[Column, ...]
) -> tuple[str | None, str | None]:
    from telemetry_lib.ksql.analyzer.ddl import check_timestamp_column

    return check_timestamp_column(props, columns)  # type: ignore[arg-type]


def create_as_select(stmt: CreateAsSelect, ctx: StatementContext) -> StatementResult:
    kind = SourceType.TABLE if isinstance(stmt, CreateTableAsSelect) else SourceType.STREAM
    try:
        existing = check_name_available(
            ctx, stmt.name, kind, or_replace=stmt.or_replace, if_not_exists=stmt.if_not_exists
        )
    except _AlreadyExists as exists:
        return already_exists_result(stmt.text, exists.existing, kind)
    props = read_properties(stmt.properties, allowed=CREATE_AS_PROPERTIES)
    analysis = _analyze(stmt.query, ctx, stmt.name, sink_timestamp=_timestamp_name(props))
    source = analysis.source
    aggregation = analysis.aggregation
    produces_table = source.is_table or aggregation is not None
    if kind is SourceType.STREAM and produces_table:
        raise AnalysisError(
            "Invalid result type. Your SELECT query produces a TABLE. Please use CREATE TABLE AS "
            "SELECT statement instead."
        )
    if kind is SourceType.TABLE and not produces_table:
        raise AnalysisError(
            "Invalid result type. Your SELECT query produces a STREAM. Please use CREATE STREAM "
            "AS SELECT statement instead."
        )
    key_format, value_format = _sink_formats(props, analysis, ctx, kind)
    columns = _sink_columns(analysis)
    validate_schema_formats(
        [c for c in columns if c.role is ColumnRole.KEY],
        [c for c in columns if c.role is ColumnRole.VALUE],
        key_format=key_format,
        value_format=value_format,
        explicit_wrap="WRAP_SINGLE_VALUE" in props,
    )
    ts_column, ts_format = _check_sink_timestamp(props, columns)
    topic = props.text("KAFKA_TOPIC") or (ctx.setting("ksql.output.topic.name.prefix") + stmt.name)
    # A join's sink inherits the partition count of its last (right-most) source (ksqlDB's
    # JoinNode.getPartitions).
    inherit_from = source.topic
    if analysis.join is not None:
        from telemetry_lib.ksql.analyzer.join_keys import check_partitions

        check_partitions(
            analysis.join, lambda t: getattr(ctx.io.describe_topic(t), "partitions", None)
        )
        inherit_from = analysis.join.sources[-1].source.topic
    source_topic = ctx.io.describe_topic(inherit_from)
    partitions = props.integer("PARTITIONS")
    replicas = props.integer("REPLICAS")
    if partitions is None and ctx.io.describe_topic(topic) is None:
        partitions = source_topic.partitions if source_topic is not None else 1
    if replicas is None and source_topic is not None and ctx.io.describe_topic(topic) is None:
        replicas = source_topic.replicas
    ensure_topic(ctx, topic, partitions=partitions, replicas=replicas, kind=kind)

    query_kind: QueryKind = "CTAS" if kind is SourceType.TABLE else "CSAS"
    if existing is not None and existing.created_by_query is not None:
        query_id = existing.created_by_query
        if ctx.catalog.get_query(query_id) is not None:
            terminate_query(ctx, query_id)
    else:
        query_id = ctx.catalog.next_query_id(query_kind, stmt.name)
    sink = DataSource(
        name=stmt.name,
        source_type=kind,
        columns=columns,
        topic=topic,
        key_format=key_format,
        value_format=value_format,
        timestamp_column=ts_column,
        timestamp_format=ts_format,
        # A re-keyed stream has plain keys: PARTITION BY drops the input's window.
        window=(
            aggregation.sink_window  # type: ignore[attr-defined]
            if aggregation is not None
            else source.window
            if analysis.partition_by is None
            else None
        ),
        statement_text=stmt.text,
        created_by_query=query_id,
    )
    ctx.catalog.put_source(sink)
    planned = PlannedQuery(query_id, query_kind, analysis, sink, build_logical_plan(analysis, sink))
    _start(planned, stmt.text, ctx)
    return command_status(
        stmt.text,
        command_id=f"{kind.lower}/{quote_identifier(stmt.name)}/create",
        message=f"Created query with ID {query_id}",
        query_id=query_id,
    )


def _target_location(stmt: InsertInto) -> str:
    if stmt.loc is None:
        return ""
    match = _INSERT_TARGET.match(stmt.text)
    if match is None:
        return f"Line: {stmt.loc.line}, Col: {stmt.loc.column}: "
    prefix = stmt.text[: match.end()]
    lines = prefix.split("\n")
    line = stmt.loc.line + len(lines) - 1
    column = (stmt.loc.column + len(lines[0])) if len(lines) == 1 else len(lines[-1]) + 1
    return f"Line: {line}, Col: {column}: "


def _known_sources(ctx: StatementContext) -> str:
    names = [s.name for s in ctx.catalog.sources()]
    return (
        f"known streams and tables: {', '.join(names)}"
        if names
        else "no stream or table exists yet"
    )


def insert_into(stmt: InsertInto, ctx: StatementContext) -> StatementResult:
    target = ctx.catalog.get_source(stmt.target)
    if target is None:
        raise KsqlEngineError(
            f"{_target_location(stmt)}Source {quote_identifier(stmt.target)} does not exist.",
            hint=_known_sources(ctx),
        )
    if target.is_source:
        raise KsqlEngineError(
            f"Cannot insert into read-only {target.source_type.lower}: {target.name}"
        )
    if target.is_table:
        raise KsqlStatementError(
            f"INSERT INTO can only be used to insert into a stream. {target.name} is a table."
        )
    props = properties_dict(stmt.properties)
    unknown = sorted(k for k in props if k != "QUERY_ID")
    if unknown:
        raise AnalysisError(f"Invalid config variable(s) in the WITH clause: {','.join(unknown)}")
    analysis = _analyze(stmt.query, ctx, target.name)
    if analysis.aggregation is not None:
        raise KsqlStatementError(
            f"Incompatible data sink and query result. Data sink ({target.name}) type is KSTREAM "
            "but select query result is KTABLE."
        )
    if analysis.source.is_table:
        raise AnalysisError(
            f"INSERT INTO can only be used to insert into a stream. {target.name} is a stream "
            "but the query reads a TABLE."
        )
    analysis = _conform_to_sink(analysis, target)
    query_id = str(props["QUERY_ID"]).upper() if props.get("QUERY_ID") else None
    if query_id is not None and ctx.catalog.get_query(query_id) is not None:
        raise KsqlEngineError(f"Query ID '{query_id}' already exists.")
    if query_id is None:
        query_id = ctx.catalog.next_query_id("INSERT", target.name)
    plan = build_logical_plan(analysis, target)
    planned = PlannedQuery(query_id, "INSERT", analysis, target, plan)
    _start(planned, stmt.text, ctx)
    return command_status(
        stmt.text,
        command_id=f"stream/{quote_identifier(target.name)}/create",
        message=f"Created query with ID {query_id}",
        query_id=query_id,
    )


def _conform_to_sink(analysis: AnalyzedQuery, target: DataSource) -> AnalyzedQuery:
    """Match the result schema to the sink's position by position (ksqlDB's
    LogicalSchema.compatibleSchema: same names, same key/value roles, implicitly castable types)
    and insert the implicit casts; ksqlDB's error otherwise."""
    result = analysis.columns
    sink_cols = target.key_columns + target.value_columns
    compatible = len(result) == len(sink_cols)
    conformed: list[OutputColumn] = []
    if compatible:
        for out, col in zip(result, sink_cols, strict=True):
            if (
                out.name != col.name
                or out.is_key != (col.role is ColumnRole.KEY)
                or not can_implicitly_cast(out.type, col.type)
            ):
                compatible = False
                break
            expr = out.expression
            if out.type != col.type:
                expr = TCast(expr, type=col.type, text=expr.text)
            conformed.append(replace(out, type=col.type, expression=expr))
    if not compatible:
        raise KsqlStatementError(
            f"Incompatible schema between results and sink.\n"
            f"Result schema is {analysis.schema_text()}\n"
            f"Sink schema is {target.schema_text()}"
        )
    keys = tuple(c for c in conformed if c.is_key)
    values = tuple(c for c in conformed if not c.is_key)
    return replace(analysis, key_columns=keys, value_columns=values)


def _start(planned: PlannedQuery, text: str, ctx: StatementContext) -> None:
    """Register the query; outside validation, build and start its pipeline."""
    source = planned.analysis.source
    join = planned.analysis.join
    names = (source.name,) if join is None else tuple(s.source.name for s in join.sources)
    topics = (source.topic,) if join is None else join.topics
    ctx.catalog.put_query(
        QueryInfo(
            query_id=planned.query_id,
            kind=planned.kind,
            statement_text=text,
            sink=planned.sink.name,
            sink_topic=planned.sink.topic,
            sources=names,
            source_topics=topics,
        )
    )
    pipeline = plan_physical(planned.plan)
    if ctx.sandbox:
        return
    exec_ctx = ExecContext(
        query_id=planned.query_id,
        io=ctx.io,
        processing_log=ctx.state.processing_log,
        config=ctx.config,
    )
    pipeline.start(exec_ctx)
    logical = explain(planned.plan)
    ctx.state.running[planned.query_id] = RunningQuery(
        query_id=planned.query_id,
        source_topic=topics[0],
        sink_topic=planned.sink.topic,
        pipeline=pipeline,
        explain_text=f"Logical plan:\n{logical}\n\nPhysical plan:\n{pipeline.explain()}",
        input_topics=topics if len(topics) > 1 else (),
    )


def terminate(stmt: TerminateQuery, ctx: StatementContext) -> StatementResult:
    if stmt.query_id is None:
        for query in ctx.catalog.queries():
            terminate_query(ctx, query.query_id)
        return command_status(
            stmt.text, command_id="terminate/ALL/execute", message="Query terminated."
        )
    query_id = stmt.query_id.upper()
    if ctx.catalog.get_query(query_id) is None:
        raise KsqlEngineError(f"Unknown queryId: {stmt.query_id}")
    terminate_query(ctx, query_id)
    return command_status(
        stmt.text, command_id=f"terminate/{query_id}/execute", message="Query terminated."
    )


def pause_or_resume(stmt: PauseQuery | ResumeQuery, ctx: StatementContext) -> StatementResult:
    """PAUSE / RESUME a persistent query (or ALL): a paused query holds its input until resumed."""
    pause = isinstance(stmt, PauseQuery)
    verb = "pause" if pause else "resume"
    if stmt.query_id is None:
        ids = [q.query_id for q in ctx.catalog.queries()]
    else:
        query_id = stmt.query_id.upper()
        if ctx.catalog.get_query(query_id) is None:
            raise KsqlEngineError(f"Unknown queryId: {stmt.query_id}")
        ids = [query_id]
    for query_id in ids:
        info = ctx.catalog.get_query(query_id)
        assert info is not None
        ctx.catalog.put_query(replace(info, state="PAUSED" if pause else "RUNNING"))
        running = None if ctx.sandbox else ctx.state.running.get(query_id)
        if running is not None:
            if pause:
                running.pipeline.pause()
            else:
                running.pipeline.resume()
    target = stmt.query_id.upper() if stmt.query_id else "ALL"
    return command_status(
        stmt.text,
        command_id=f"{verb}/{target}/execute",
        message=f"Query {'paused' if pause else 'resumed'}.",
    )


def explain_statement(stmt: Explain, ctx: StatementContext) -> StatementResult:
    """EXPLAIN <query id> or EXPLAIN <CSAS/CTAS/INSERT>: the query description with both plans."""
    if stmt.query_id is not None:
        query_id = stmt.query_id.upper()
        info = ctx.catalog.get_query(query_id)
        if info is None:
            raise KsqlEngineError(
                f"Query with id:{stmt.query_id} does not exist, use SHOW QUERIES to view the full set of queries."
            )
        running = ctx.state.running.get(query_id)
        plan_text = running.explain_text if running is not None else ""
        return _query_description(stmt.text, info, plan_text, ctx)
    inner = stmt.statement
    if not isinstance(inner, (CreateAsSelect, InsertInto)):
        raise KsqlEngineError(
            "The provided statement does not run a ksql query: only CREATE ... AS SELECT and "
            "INSERT INTO ... SELECT statements can be explained."
        )
    snapshot = ctx.catalog.snapshot()
    sandbox = replace(ctx, sandbox=True, io=SandboxIO(ctx.io))
    try:
        if isinstance(inner, CreateAsSelect):
            result = create_as_select(inner, sandbox)
        else:
            result = insert_into(inner, sandbox)
        query_id = result.query_id or ""
        info = ctx.catalog.get_query(query_id)
        assert info is not None
        source = ctx.catalog.get_source(info.sink)
        assert source is not None
        analysis = _analyze(inner.query, sandbox, info.sink)
        if isinstance(inner, InsertInto):
            analysis = _conform_to_sink(analysis, source)
        plan = build_logical_plan(analysis, source)
        pipeline = plan_physical(plan)
        plan_text = f"Logical plan:\n{explain(plan)}\n\nPhysical plan:\n{pipeline.explain()}"
        return _query_description(stmt.text, replace(info, query_id=""), plan_text, ctx)
    finally:
        ctx.catalog.restore(snapshot)


def _query_description(
    text: str, info: QueryInfo, plan_text: str, ctx: StatementContext
) -> StatementResult:
    from telemetry_lib.ksql.commands.describe import field_entries, query_state

    sink = ctx.catalog.get_source(info.sink)
    fields = []
    if sink is not None:
        fields = field_entries(sink)
    logical, _, physical = plan_text.partition("\n\nPhysical plan:\n")
    return StatementResult(
        "queryDescription",
        text,
        {
            "queryDescription": {
                "id": info.query_id,
                "statementText": info.statement_text,
                "windowType": sink.window.type.value if sink is not None and sink.window else None,
                "fields": fields,
                "sources": list(info.sources),
                "sinks": [info.sink],
                "topology": physical,
                "executionPlan": logical.removeprefix("Logical plan:\n"),
                "overriddenProperties": {},
                "ksqlHostQueryStatus": {},
                "queryType": "PERSISTENT",
                "queryErrors": [],
                "tasksMetadata": [],
                "state": query_state(info, ctx),
            }
        },
    )
