"""Transient queries: a standalone SELECT planned like a persistent query, without a sink topic.

Owns: :func:`plan_transient` — a push (``EMIT CHANGES``) or pull (no EMIT) SELECT is analysed
and planned exactly like the SELECT of a CREATE ... AS SELECT (so WHERE, projections, PARTITION
BY, GROUP BY/windows and LIMIT behave the same), but the physical sink operator is replaced by a
:class:`CollectOperator` that hands the projected rows to Python instead of serializing them into
a topic — and :func:`rows_to_json`, the REST representation of those rows (reference §1.9).

A :class:`TransientQuery` is fed record batches of its source topic with
:meth:`~TransientQuery.push` and returns the result rows produced by each batch. Pull queries are
answered by feeding the whole topic (for a table: only the latest record of each key, tombstones
removed) and keeping the rows that survive the WHERE clause; push queries are fed the live topic as
it grows.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import logging
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import polars as pl

from telemetry_lib.ksql.analyzer.query import OutputColumn, analyze_query
from telemetry_lib.ksql.catalog import Catalog, Column, ColumnRole, DataSource, SourceType
from telemetry_lib.ksql.errors import AnalysisError, KsqlEngineError, KsqlStatementError
from telemetry_lib.ksql.exec import batch as B
from telemetry_lib.ksql.exec.join_pipeline import JoinPipeline
from telemetry_lib.ksql.exec.operator import Emit, ExecContext, Operator, Pipeline
from telemetry_lib.ksql.exec.physical_planner import plan_physical
from telemetry_lib.ksql.exec.processing_log import ProcessingLog
from telemetry_lib.ksql.parser.ast import (
    AllColumns,
    ColumnRef,
    Comparison,
    DecimalLiteral,
    Dereference,
    DoubleLiteral,
    Expression,
    FunctionCall,
    InList,
    IntegerLiteral,
    LogicalBinary,
    LongLiteral,
    Query,
    SelectItem,
    SingleColumn,
    StringLiteral,
)
from telemetry_lib.ksql.plan.builder import build_logical_plan
from telemetry_lib.ksql.rest.pull_validation import validate_pull
from telemetry_lib.ksql.runtime.io import TopicIO
from telemetry_lib.ksql.types import SqlType

__all__ = ["CollectOperator", "ResultRow", "TransientQuery", "plan_transient", "rows_to_json"]

logger = logging.getLogger(__name__)

#: ksqlDB's QueryIdUtil draws a random non-negative long for transient query ids.
_MAX_QUERY_ID_SUFFIX = 2**63 - 1


#: Internal aliases for window bounds in transient projections (see _with_window_bounds).
_BOUND_NAMES = {
    name: f"KSQL_TRANSIENT_{name}"
    for name in (B.WINDOWSTART, B.WINDOWEND, B.ROWTIME, B.ROWPARTITION, B.ROWOFFSET)
}
_GENERATED = re.compile(r"^KSQL_COL_\d+$")
#: Window bounds are part of a windowed table's key (pull query headers mark them KEY).
_WINDOW_BOUNDS = (B.WINDOWSTART, B.WINDOWEND)
#: Hidden value column added when a transient projection has only key columns.
_PAD_COLUMN = "KSQL_TRANSIENT_PAD"
#: How the analyzer's comparison type errors start (a pull query prefixes them, as ksqlDB).
_COMPARE = "Cannot compare "
_BOUND_ALIASES = {alias: name for name, alias in _BOUND_NAMES.items()}


@dataclass(frozen=True)
class ResultRow:
    """One result row: JSON-ready column values, and whether it is a table tombstone."""

    columns: list[Any]
    tombstone: bool = False


class CollectOperator(Operator):
    """The sink of a transient query: keeps the projected rows instead of producing them."""

    step = "Collect"

    def __init__(
        self,
        columns: tuple[OutputColumn, ...],
        *,
        visible: tuple[int, ...] | None = None,
        keep_tombstones: bool = True,
    ) -> None:
        self.columns = columns
        self.visible = visible if visible is not None else tuple(range(len(columns)))
        #: A pull query drops tombstones (rows its table filter rejected) before converting.
        self.keep_tombstones = keep_tombstones
        self.rows: list[ResultRow] = []

    def describe(self) -> str:
        return f"Collect[{', '.join(c.name for c in self.columns)}]"

    def process_batch(self, batch: pl.DataFrame, ctx: ExecContext, out: Emit) -> None:
        if not self.keep_tombstones and B.NULL_VALUE in batch.columns:
            batch = batch.filter(~pl.col(B.NULL_VALUE).fill_null(False))
        # Window bounds come from the record's windowed key, so a tombstone keeps them too.
        fields = [
            pl.col(self.columns[i].name)
            if self.columns[i].name in _WINDOW_BOUNDS and self.columns[i].name in batch.columns
            else pl.col(B.output_field(i))
            for i in self.visible
        ]
        values = batch.select(fields)
        tombstones = (
            batch.get_column(B.NULL_VALUE).fill_null(False).to_list()
            if B.NULL_VALUE in batch.columns
            else [False] * batch.height
        )
        types = [self.columns[i].type for i in self.visible]
        for raw, tomb in zip(values.iter_rows(), tombstones, strict=True):
            converted = [to_json_value(v, t) for v, t in zip(raw, types, strict=True)]
            self.rows.append(ResultRow(converted, bool(tomb)))


class TransientQuery:
    """A planned standalone SELECT over one source."""

    def __init__(
        self,
        *,
        query_id: str,
        statement_text: str,
        source: DataSource,
        columns: tuple[OutputColumn, ...],
        pipeline: Pipeline,
        collector: CollectOperator,
        is_pull: bool,
        limit: int | None,
        aggregation: object | None = None,
        topics: tuple[str, ...] = (),
    ) -> None:
        #: Every topic a join query reads (empty: just ``source.topic``).
        self.topics = topics
        self.query_id = query_id
        self.statement_text = statement_text
        self.source = source
        self.columns = columns
        self.pipeline = pipeline
        self.collector = collector
        self.is_pull = is_pull
        self.limit = limit
        self.aggregation = aggregation
        self.emitted = 0

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def column_types(self) -> list[str]:
        return [c.type.rest() for c in self.columns]

    def schema_text(self) -> str:
        """The legacy header's schema: back-quoted names; pull queries mark key columns."""
        parts = []
        for c in self.columns:
            is_key = c.is_key or (self.source.is_windowed and c.name in _WINDOW_BOUNDS)
            key = " KEY" if (self.is_pull and is_key) else ""
            parts.append(f"`{c.name}` {c.type.sql()}{key}")
        return ", ".join(parts)

    def push(self, records: pl.DataFrame) -> list[ResultRow]:
        """Run a record batch of the source topic through the query; the rows it produced
        (at most up to LIMIT in total)."""
        if records.height == 0 or self.limit_reached:
            return []
        self.pipeline.push(records)
        return self._collect()

    def push_topics(self, batches: list[tuple[str, pl.DataFrame]]) -> list[ResultRow]:
        """A join query's new records of several topics, interleaved as one task does: the
        topic whose next record has the lowest timestamp first (each topic keeps its order;
        ties: the given topic order), processed in runs of one topic."""
        if self.limit_reached or not batches:
            return []
        merged = pl.concat(
            [
                b.with_columns(
                    pl.lit(i, dtype=pl.Int32).alias("__topic"),
                    pl.col("timestamp").cum_max().alias("__head"),
                )
                for i, (_, b) in enumerate(batches)
            ],
            how="vertical_relaxed",
        ).sort(["__head", "__topic"], maintain_order=True)
        runs = merged.with_columns(
            (pl.col("__topic") != pl.col("__topic").shift(1))
            .fill_null(True)
            .cum_sum()
            .alias("__run")
        )
        for run in runs.partition_by("__run", maintain_order=True):
            topic = batches[int(run.get_column("__topic")[0])][0]
            self.pipeline.push(run.drop("__topic", "__head", "__run"), topic=topic)
        return self._collect()

    def _collect(self) -> list[ResultRow]:
        rows, self.collector.rows = self.collector.rows, []
        if not self.source.is_table and self.aggregation is None:
            # a stream record with a null value is no row (ksqlDB drops it)
            rows = [r for r in rows if not r.tombstone]
        if self.limit is not None:
            rows = rows[: max(self.limit - self.emitted, 0)]
        self.emitted += len(rows)
        return rows

    @property
    def limit_reached(self) -> bool:
        return self.limit is not None and self.emitted >= self.limit

    def close(self) -> None:
        self.pipeline.close()


def plan_transient(
    query: Query,
    *,
    text: str,
    catalog: Catalog,
    io: TopicIO,
    processing_log: ProcessingLog,
    config: Mapping[str, object],
) -> TransientQuery:
    """Analyse and plan ``query`` (push or pull) and start its pipeline."""
    relation_name = getattr(query.from_, "name", None) or "QUERY"
    source = catalog.get_source(relation_name)
    if query.is_pull:
        validate_pull(query, source, config)
    query_id = f"transient_{relation_name}_{random.randint(0, _MAX_QUERY_ID_SUFFIX)}"
    limit = query.limit
    # LIMIT is applied to the result rows here, after null stream values are dropped, not
    # by the plan's Limit operator (which would count them).
    query = replace(query, limit=None)
    if source is not None:
        query = _with_pseudo_columns(query, source)
    hidden: set[str] = set()
    analysis = None
    for _attempt in range(3):
        try:
            analysis = analyze_query(query, catalog, None, sink_name=query_id, config=config)
            break
        except AnalysisError as exc:
            if query.is_pull and query.where is not None and exc.message.startswith(_COMPARE):
                # ksqlDB's pull-query planner reports a WHERE it cannot type this way.
                raise AnalysisError(f"Invalid expression: {exc.message}", hint=exc.hint) from None
            # A persistent query must project its key / GROUP BY columns and at least one
            # value column; a transient one need not: add what is missing to the projection
            # and hide it from the result.
            if source is None:
                raise
            if "in its projection (eg, SELECT" in exc.message:
                query, added = _with_keys(query, source)
            elif exc.message == "The projection contains no value columns.":
                padding: Expression = (
                    FunctionCall("COUNT", ())
                    if query.group_by is not None
                    else ColumnRef(B.ROWTIME)
                )
                pad = SingleColumn(padding, alias=_PAD_COLUMN)
                query, added = replace(query, select=(*query.select, pad)), {_PAD_COLUMN}
            else:
                raise
            if not added - hidden:
                raise
            hidden |= added
    if analysis is None:
        analysis = analyze_query(query, catalog, None, sink_name=query_id, config=config)
    src = analysis.source
    if query.is_pull:
        _check_pull_source(source, relation_name)
    columns = tuple(
        replace(c, name=_BOUND_ALIASES[c.name]) if c.name in _BOUND_ALIASES else c
        for c in analysis.columns
    )
    produces_table = src.is_table or analysis.aggregation is not None
    sink = DataSource(
        name=query_id,
        source_type=SourceType.TABLE if produces_table else SourceType.STREAM,
        columns=tuple(
            Column(c.name, c.type, ColumnRole.KEY if c.is_key else ColumnRole.VALUE)
            for c in analysis.columns
        ),
        topic=query_id,
        key_format=src.key_format,
        value_format=src.value_format,
        window=(
            analysis.aggregation.sink_window  # type: ignore[attr-defined]
            if analysis.aggregation is not None
            else src.window
        ),
        statement_text=text,
    )
    plan = build_logical_plan(analysis, sink)
    physical = plan_physical(plan)
    visible = _select_order(
        query, source, [i for i, c in enumerate(columns) if c.name not in hidden], columns
    )
    collector = CollectOperator(columns, visible=visible, keep_tombstones=not query.is_pull)
    pipeline: Pipeline
    if isinstance(physical, JoinPipeline):  # a join: one input chain per source topic
        pipeline = JoinPipeline(physical.root, [*physical.downstream[:-1], collector])
    else:
        pipeline = Pipeline([*physical.operators[:-1], collector])
    pipeline.start(
        ExecContext(query_id=query_id, io=io, processing_log=processing_log, config=dict(config))
    )
    return TransientQuery(
        query_id=query_id,
        statement_text=text,
        source=src,
        columns=tuple(columns[i] for i in visible),
        pipeline=pipeline,
        collector=collector,
        is_pull=query.is_pull,
        limit=limit,
        aggregation=analysis.aggregation,
        topics=analysis.join.topics if analysis.join is not None else (),
    )


def _with_pseudo_columns(query: Query, source: DataSource) -> Query:
    """Transient queries may project pseudo columns (ROWTIME, ROWPARTITION, ROWOFFSET) and keep
    WINDOWSTART / WINDOWEND of a windowed source in their output (``SELECT *`` lists the bounds
    after the key columns), where a persistent projection rejects the former and drops the
    latter into the windowed key; they are aliased here and renamed back after the analysis
    (:data:`_BOUND_ALIASES`)."""
    items: list[SelectItem] = []
    for item in query.select:
        if isinstance(item, AllColumns) and source.is_windowed and query.group_by is None:
            keys = [c.name for c in source.columns if c.role is ColumnRole.KEY]
            others = [c.name for c in source.columns if c.role is not ColumnRole.KEY]
            for name in [*keys, B.WINDOWSTART, B.WINDOWEND, *others]:
                items.append(_bound_alias(SingleColumn(ColumnRef(name, item.source))))
        elif isinstance(item, SingleColumn):
            items.append(_bound_alias(item))
        else:
            items.append(item)
    return replace(query, select=tuple(items))


def _select_order(
    query: Query,
    source: DataSource | None,
    indexes: list[int],
    columns: tuple[OutputColumn, ...],
) -> tuple[int, ...]:
    """``indexes`` (positions in the analysis' keys-first column list) reordered as the
    SELECT lists them: a transient query's result keeps the projection's order. Falls back
    to the analysis order when a name cannot be matched."""
    hint: list[str | None] = []
    for item in query.select:
        if isinstance(item, AllColumns):
            star = [c.name for c in source.columns] if source is not None else []
            hint.extend(
                columns[i].name
                for i in indexes
                if columns[i].name in star or columns[i].name in _WINDOW_BOUNDS
            )
        elif isinstance(item, SingleColumn):
            expr = item.expression
            if item.alias is not None:
                hint.append(_BOUND_ALIASES.get(item.alias, item.alias))
            elif isinstance(expr, ColumnRef):
                hint.append(expr.name)
            elif isinstance(expr, Dereference):
                hint.append(expr.field_name)
            else:
                hint.append(None)
        else:
            return tuple(indexes)
    generated = iter(columns[i].name for i in indexes if _GENERATED.match(columns[i].name))
    names = [n if n is not None else next(generated, None) for n in hint]
    position: dict[str, int] = {}
    for pos, name in enumerate(names):
        if name is not None:
            position.setdefault(name, pos)
    if any(columns[i].name not in position for i in indexes):
        return tuple(indexes)
    return tuple(sorted(indexes, key=lambda i: position[columns[i].name]))


def _with_keys(query: Query, source: DataSource) -> tuple[Query, set[str]]:
    """``query`` with the source's key columns (tables) or its plain-column GROUP BY
    expressions appended to the projection when absent; the names added."""
    selected = {
        item.expression.name
        for item in query.select
        if isinstance(item, SingleColumn) and isinstance(item.expression, ColumnRef)
    }
    if any(isinstance(item, AllColumns) for item in query.select):
        selected |= {c.name for c in source.columns}
    if query.group_by is not None:
        wanted = [e.name for e in query.group_by if isinstance(e, ColumnRef)]
    else:
        wanted = [c.name for c in source.key_columns]
    added = [name for name in wanted if name not in selected]
    extra = tuple(SingleColumn(ColumnRef(name)) for name in added)
    return replace(query, select=query.select + extra), set(added)


def _bound_alias(item: SingleColumn) -> SingleColumn:
    expr = item.expression
    if item.alias is None and isinstance(expr, ColumnRef) and expr.name in _BOUND_NAMES:
        return replace(item, alias=_BOUND_NAMES[expr.name])
    return item


def _check_pull_source(source: DataSource | None, name: str) -> None:
    if source is None:
        return  # the analyzer reports the unknown source with ksqlDB's wording
    if source.is_table and source.created_by_query is None and not source.is_source:
        raise KsqlStatementError(
            f"The `{source.name}` table isn't queryable. To derive a queryable table, you can do "
            f"'CREATE TABLE QUERYABLE_{source.name} AS SELECT * FROM {source.name}'. See "
            "https://cnfl.io/queries for more info.\n"
            "Add EMIT CHANGES if you intended to issue a push query."
        )


def pull_order(
    records: pl.DataFrame, query: TransientQuery, where: Expression | None
) -> pl.DataFrame:
    """A table's current rows in the order ksqlDB's pull queries return them: for key lookups
    (``K = v``, ``K IN (...)``) the keys in the order written, each key's windows by start;
    for scans, partition by partition with keys in serialized byte order (a state store's
    iteration order)."""
    from telemetry_lib.ksql.exec.serde_bridge import decode_key

    if records.height == 0:
        return records
    keys = query.source.key_columns
    lookups = _key_lookups(where, keys[0].name) if len(keys) == 1 else []
    if not lookups:
        return records.sort(["partition", "key"])
    decoded = decode_key(records.get_column("key"), query.source)
    values = decoded.columns.get_column(keys[0].name).to_list()
    rank = [_rank(v, lookups) for v in values]
    start = (
        decoded.window_start
        if decoded.window_start is not None
        else pl.Series([0] * records.height, dtype=pl.Int64)
    )
    return (
        records.with_columns(
            pl.Series("__rank", rank, dtype=pl.Int64), start.alias("__start").cast(pl.Int64)
        )
        .sort(["__rank", "__start", "partition", "key"])
        .drop("__rank", "__start")
    )


def _key_lookups(where: Expression | None, key: str) -> list[Any]:
    """Literal key values a WHERE clause looks up, in the order written."""
    found: list[Any] = []
    if where is None:
        return found
    if isinstance(where, LogicalBinary):
        return _key_lookups(where.left, key) + _key_lookups(where.right, key)
    if isinstance(where, Comparison) and where.op == "=":
        for col, lit in ((where.left, where.right), (where.right, where.left)):
            if isinstance(col, ColumnRef) and col.name == key and _literal(lit) is not _NO_VALUE:
                found.append(_literal(lit))
    if isinstance(where, InList) and isinstance(where.value, ColumnRef):
        if where.value.name == key:
            found.extend(v for v in map(_literal, where.items) if v is not _NO_VALUE)
    return found


_NO_VALUE = object()


def _literal(expr: Expression) -> Any:
    if isinstance(expr, (StringLiteral, IntegerLiteral, LongLiteral, DoubleLiteral)):
        return expr.value
    if isinstance(expr, DecimalLiteral):
        return float(expr.text)
    return _NO_VALUE


def _rank(value: Any, lookups: list[Any]) -> int:
    for index, wanted in enumerate(lookups):
        if _same(value, wanted):
            return index
    return len(lookups)


def _same(value: Any, wanted: Any) -> bool:
    if isinstance(value, (int, float, decimal.Decimal)) and isinstance(wanted, (int, float)):
        return float(value) == float(wanted)
    return bool(value == wanted)


def latest_per_key(records: pl.DataFrame) -> pl.DataFrame:
    """A table's current state from its changelog: the last record of each key, tombstones
    (null values) removed, in offset order."""
    if records.height == 0:
        return records
    ordered = records.with_row_index("__pos")
    last = ordered.group_by("key", maintain_order=True).agg(pl.col("__pos").max())
    kept = ordered.join(last, on=["key", "__pos"], how="semi").sort("__pos").drop("__pos")
    return kept.filter(pl.col("value").is_not_null())


def rows_to_json(rows: list[ResultRow]) -> list[list[Any]]:
    return [r.columns for r in rows]


def to_json_value(value: Any, sql_type: SqlType) -> Any:
    """A polars value of ``sql_type`` as ksqlDB writes it in REST rows (reference §1.9)."""
    if value is None:
        return None
    base = sql_type.base.value
    if base == "TIMESTAMP" and isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}"
    if base == "DATE" and isinstance(value, dt.date):
        return value.isoformat()
    if base == "TIME" and isinstance(value, dt.time):
        text = f"{value.hour:02d}:{value.minute:02d}"
        return text + (f":{value.second:02d}" if value.second else "")
    if isinstance(value, decimal.Decimal):
        return value  # serialized as a plain-notation number by the writers
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if base == "ARRAY":
        inner = getattr(sql_type, "element", None) or getattr(sql_type, "item", None)
        return [to_json_value(v, inner) if inner is not None else v for v in value]
    if base == "MAP":
        value_type = getattr(sql_type, "value", None)
        return {
            str(e["key"]): to_json_value(e["value"], value_type) if value_type else e["value"]
            for e in value
        }
    if base == "STRUCT":
        fields = dict(getattr(sql_type, "fields", ()) or ())
        return {k: to_json_value(v, fields[k]) if k in fields else v for k, v in value.items()}
    return value


def check_select(query: object) -> Query:
    if not isinstance(query, Query):
        raise KsqlEngineError("Expected a SELECT statement")
    return query
