"""Analysis of a SELECT inside CSAS / CTAS / INSERT INTO (the stateless subset of ksqlDB's Analyzer).

Owns: :func:`analyze_query`, which resolves the FROM source, builds the expression scope (source
columns, then the pseudo columns ROWTIME / ROWPARTITION / ROWOFFSET and, for windowed sources,
WINDOWSTART / WINDOWEND), types WHERE and PARTITION BY, expands ``*`` and ``s->*``, names every
output column (aliases, column and field names, ``KSQL_COL_n`` — reference §4.6), decides which
output columns are key columns (source keys, or the PARTITION BY expressions, first, in their
order), and rejects what ksqlDB rejects with its wording. The result, :class:`AnalyzedQuery`, is
what the logical planner consumes.

GROUP BY / aggregates / WINDOW / HAVING are analysed by
:mod:`telemetry_lib.ksql.analyzer.aggregation` (the result carries ``aggregation``). JOINs are
analysed by :mod:`telemetry_lib.ksql.analyzer.joins`, which rewrites the statement over a virtual
joined source; this module then finishes it (the result carries ``join``; the key columns come
from the join key). Table functions raise :class:`~telemetry_lib.ksql.errors.UnsupportedError`.
No polars here.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from telemetry_lib.ksql.analyzer.scope import Scope, ScopeColumn
from telemetry_lib.ksql.analyzer.typed import TColumn, TDereference, TypedExpression
from telemetry_lib.ksql.catalog import (
    PSEUDO_COLUMNS,
    WINDOW_BOUND_COLUMNS,
    Catalog,
    DataSource,
    quote_identifier,
)
from telemetry_lib.ksql.errors import (
    AnalysisError,
    KsqlEngineError,
    KsqlStatementError,
    UnsupportedError,
)
from telemetry_lib.ksql.functions.aggregates import AGGREGATE_NAMES
from telemetry_lib.ksql.parser.ast import (
    AliasedRelation,
    AllColumns,
    ColumnRef,
    Dereference,
    Expression,
    FunctionCall,
    JoinRelation,
    NullLiteral,
    Query,
    SingleColumn,
    StructAll,
)
from telemetry_lib.ksql.types import BIGINT, BOOLEAN, INTEGER, SqlStruct, SqlType

__all__ = [
    "TABLE_FUNCTIONS",
    "AnalyzedQuery",
    "OutputColumn",
    "PartitionKey",
    "analyze_query",
    "pseudo_column_type",
    "source_scope",
]

logger = logging.getLogger(__name__)

#: Table functions (one input row -> many output rows), not built yet.
TABLE_FUNCTIONS: frozenset[str] = frozenset({"EXPLODE", "CUBE_EXPLODE"})

_PSEUDO_TYPES: dict[str, SqlType] = {
    "ROWTIME": BIGINT,
    "ROWPARTITION": INTEGER,
    "ROWOFFSET": BIGINT,
    "WINDOWSTART": BIGINT,
    "WINDOWEND": BIGINT,
}
_RESERVED = PSEUDO_COLUMNS + WINDOW_BOUND_COLUMNS
_GENERATED_NAME = re.compile(r"^KSQL_COL_(\d+)$")


def pseudo_column_type(name: str) -> SqlType:
    return _PSEUDO_TYPES[name]


@dataclass(frozen=True)
class OutputColumn:
    """A column of the query's result. ``expression`` is typed over the source scope;
    ``partition_index`` is set when the column is the value of PARTITION BY key ``i``."""

    name: str
    type: SqlType
    expression: TypedExpression
    is_key: bool
    partition_index: int | None = None

    def ddl(self) -> str:
        return f"{quote_identifier(self.name)} {self.type.sql()}{' KEY' if self.is_key else ''}"


@dataclass(frozen=True)
class PartitionKey:
    """One PARTITION BY expression; ``source_key_field`` is set when it is a plain reference to a
    source key column (its value survives a null record value, as in ksqlDB)."""

    expression: TypedExpression
    text: str
    source_key_field: str | None


@dataclass(frozen=True)
class AnalyzedQuery:
    """A validated stateless query: what the logical planner needs."""

    source: DataSource
    alias: str
    scope: Scope
    where: TypedExpression | None
    #: None: no PARTITION BY. Empty tuple: PARTITION BY NULL (keyless result).
    partition_by: tuple[PartitionKey, ...] | None
    key_columns: tuple[OutputColumn, ...]
    value_columns: tuple[OutputColumn, ...]
    #: LIMIT n: the query emits at most n rows, then nothing more.
    limit: int | None = None
    #: GROUP BY / aggregates (engine II): an analyzer.aggregation.AggregateAnalysis, else None.
    aggregation: object | None = None
    #: JOIN (engine III): an analyzer.joins.JoinAnalysis, else None. ``source`` is then the
    #: virtual joined source (its columns are the join fields).
    join: Any = None

    @property
    def columns(self) -> tuple[OutputColumn, ...]:
        return self.key_columns + self.value_columns

    def schema_text(self) -> str:
        return ", ".join(c.ddl() for c in self.columns)


def source_scope(source: DataSource, alias: str, *, include_window_bounds: bool = True) -> Scope:
    """Every column an expression over ``source`` may use, with batch field names.

    Field names equal column names: user columns cannot use the reserved pseudo column names,
    so the two never clash inside one batch.
    """
    cols = [ScopeColumn(alias, c.name, c.type, c.name) for c in source.ordered_columns()]
    pseudo = list(PSEUDO_COLUMNS)
    if source.is_windowed and include_window_bounds:
        pseudo += list(WINDOW_BOUND_COLUMNS)
    cols += [ScopeColumn(alias, p, _PSEUDO_TYPES[p], p) for p in pseudo]
    return Scope(tuple(cols))


def _type(expr: Expression, scope: Scope, *, context: str, registry: object) -> TypedExpression:
    from telemetry_lib.ksql.analyzer.expressions import type_expression

    if registry is None:
        return type_expression(expr, scope, context=context)
    return type_expression(expr, scope, registry, context=context)  # type: ignore[arg-type]


def _check_unsupported(expr: Expression, clause: str) -> None:
    for node in expr.walk():
        if isinstance(node, FunctionCall):
            if node.name in AGGREGATE_NAMES:
                raise UnsupportedError(
                    f"aggregate function {node.name} in the {clause} clause of a query "
                    "without GROUP BY"
                )
            if node.name in TABLE_FUNCTIONS:
                raise UnsupportedError(f"table function {node.name}")


def analyze_query(
    query: Query,
    catalog: Catalog,
    registry: object,
    *,
    sink_name: str,
    config: Mapping[str, object],
    sink_timestamp: str | None = None,
) -> AnalyzedQuery:
    """Analyze the SELECT of a persistent query writing into ``sink_name``.

    ``sink_timestamp`` is the C*AS ``TIMESTAMP`` column; ksqlDB checks it exists in the result
    before it checks the key columns."""
    relation = query.from_
    join: Any = None
    if isinstance(relation, JoinRelation):
        from telemetry_lib.ksql.analyzer.joins import analyze_join

        join, query = analyze_join(
            query,
            catalog,
            lambda e, s, context: _type(e, s, context=context, registry=registry),
        )
        relation = query.from_
    if not isinstance(relation, AliasedRelation):
        raise UnsupportedError(f"FROM clause {type(relation).__name__}")
    source = catalog.get_source(relation.name) if join is None else join.joined
    if source is None:
        prefix = ""
        if relation.loc is not None:
            prefix = f"Line: {relation.loc.line}, Col: {relation.loc.column}: "
        known = ", ".join(s.name for s in catalog.sources()) or "none yet"
        raise AnalysisError(
            f"{prefix}{relation.name} does not exist.",
            hint=f"known streams and tables: {known}",
        )
    alias = relation.alias or relation.name
    from telemetry_lib.ksql.analyzer.aggregation import is_aggregate_query

    if is_aggregate_query(query):
        result = _analyze_aggregate(
            query, source, alias, registry, sink_name, config, sink_timestamp
        )
        return result if join is None else dataclasses.replace(result, join=join)
    if query.window is not None and query.group_by is None:
        loc = query.window.loc
        prefix = f"Line: {loc.line}, Col: {loc.column}: " if loc is not None else ""
        raise KsqlEngineError(f"{prefix}WINDOW clause requires a GROUP BY clause.")
    if query.having is not None:
        raise AnalysisError("HAVING requires GROUP BY")
    if query.emit == "FINAL":
        raise AnalysisError("EMIT FINAL is only supported for windowed aggregations.")
    for item in query.select:
        if isinstance(item, SingleColumn):
            _check_unsupported(item.expression, "SELECT")
    scope = source_scope(source, alias)

    where: TypedExpression | None = None
    if query.where is not None:
        _check_unsupported(query.where, "WHERE")
        where = _type(query.where, scope, context="WHERE", registry=registry)
        if where.type is not None and where.type != BOOLEAN:
            raise AnalysisError(
                "Type error in WHERE expression: Should evaluate to boolean but is "
                f"{where.text or query.where} ({where.type.sql()}) instead."
            )

    select_aliases = {
        item.alias for item in query.select if isinstance(item, SingleColumn) and item.alias
    }
    partition_by = _partition_keys(query, source, alias, scope, registry, select_aliases)
    names = _NameGenerator(source)
    items = _expand_select(query, source, alias, scope, registry, names, partition_by)
    if sink_timestamp is not None and all(item.name != sink_timestamp for item in items):
        raise KsqlEngineError(
            "The TIMESTAMP column set in the WITH clause does not exist in the schema: "
            f"'{sink_timestamp}'"
        )
    if join is not None and partition_by is None:
        key_columns, value_columns = _assign_join_keys(items, join, sink_name)
    else:
        key_columns, value_columns = _assign_keys(
            items, source, alias, partition_by, names, sink_name=sink_name, config=config
        )
    return AnalyzedQuery(
        source=source,
        alias=alias,
        scope=scope,
        where=where,
        partition_by=partition_by,
        key_columns=tuple(key_columns),
        value_columns=tuple(value_columns),
        limit=query.limit,
        join=join,
    )


def _assign_join_keys(
    items: list[_Item], join: Any, sink_name: str
) -> tuple[list[OutputColumn], list[OutputColumn]]:
    """Key columns of a join result (see :func:`telemetry_lib.ksql.analyzer.join_keys.pick_keys`)."""
    from telemetry_lib.ksql.analyzer.join_keys import pick_keys

    picked = pick_keys([(i.name, i.expression) for i in items], join, sink_name)
    keys = [_out(items[pos].name, expr, True, None) for pos, expr in picked]
    used = {pos for pos, _ in picked}
    values = [_out(i.name, i.expression, False, None) for p, i in enumerate(items) if p not in used]
    _check_duplicates(keys + values)
    _check_has_values(values)
    return keys, values


def _analyze_aggregate(
    query: Query,
    source: DataSource,
    alias: str,
    registry: object,
    sink_name: str,
    config: Mapping[str, object],
    sink_timestamp: str | None,
) -> AnalyzedQuery:
    """GROUP BY / aggregates: see :mod:`telemetry_lib.ksql.analyzer.aggregation`."""
    from telemetry_lib.ksql.analyzer.aggregation import analyze_aggregation

    scope = source_scope(source, alias)
    aggregation, items, where = analyze_aggregation(
        query,
        source,
        alias,
        scope,
        registry,
        sink_name=sink_name,
        config=config,
        type_fn=lambda e, s, context: _type(e, s, context=context, registry=registry),
    )
    keys = [_out(name, expr, True, None) for name, expr, is_key in items if is_key]
    values = [_out(name, expr, False, None) for name, expr, is_key in items if not is_key]
    if sink_timestamp is not None and all(c.name != sink_timestamp for c in keys + values):
        raise KsqlEngineError(
            "The TIMESTAMP column set in the WITH clause does not exist in the schema: "
            f"'{sink_timestamp}'"
        )
    _check_duplicates(keys + values)
    _check_has_values(values)
    return AnalyzedQuery(
        source=source,
        alias=alias,
        scope=scope,
        where=where,
        partition_by=None,
        key_columns=tuple(keys),
        value_columns=tuple(values),
        limit=query.limit,
        aggregation=aggregation,
    )


# ---------------------------------------------------------------------------------- naming
class _NameGenerator:
    """ksqlDB's ColumnNames: ``KSQL_COL_n`` skipping numbers used by source columns."""

    def __init__(self, source: DataSource) -> None:
        self._taken = set()
        for col in source.columns:
            match = _GENERATED_NAME.match(col.name)
            if match:
                self._taken.add(int(match.group(1)))
        self._next = 0

    def next(self) -> str:
        while self._next in self._taken:
            self._next += 1
        name = f"KSQL_COL_{self._next}"
        self._next += 1
        return name


def _implicit_name(expr: Expression, names: _NameGenerator) -> str:
    if isinstance(expr, ColumnRef):
        return expr.name
    if isinstance(expr, Dereference):
        return expr.field_name
    return names.next()


# ---------------------------------------------------------------------------- partition by
def _partition_keys(
    query: Query,
    source: DataSource,
    alias: str,
    scope: Scope,
    registry: object,
    select_aliases: set[str],
) -> tuple[PartitionKey, ...] | None:
    if query.partition_by is None:
        return None
    exprs = query.partition_by
    if source.is_table:
        _check_table_partition_by(exprs, source, scope, registry)
        return None
    if any(isinstance(e, NullLiteral) for e in exprs):
        if len(exprs) > 1:
            raise AnalysisError("Cannot PARTITION BY multiple columns including NULL")
        return ()
    keys: list[PartitionKey] = []
    key_fields = {c.name for c in source.key_columns}
    for expr in exprs:
        _check_unsupported(expr, "PARTITION BY")
        try:
            typed = _type(expr, scope, context="PARTITION BY", registry=registry)
        except AnalysisError as exc:
            message = str(exc.message)
            if (
                isinstance(expr, ColumnRef)
                and message.startswith("PARTITION BY column")
                and expr.name in select_aliases
            ):
                raise AnalysisError(
                    f"PARTITION BY column '{expr.name}' cannot be resolved. '{expr.name}' must be "
                    "a column in the source schema since PARTITION BY is applied on the input."
                ) from None
            raise
        if typed.type is None:
            raise AnalysisError(
                "Can't infer a type of null. Please explicitly cast it to a required type, "
                "e.g. CAST(null AS VARCHAR)."
            )
        source_key = (
            typed.field_name
            if isinstance(typed, TColumn) and typed.field_name in key_fields
            else None
        )
        keys.append(PartitionKey(typed, _qualified_text(expr, alias, typed), source_key))
    return tuple(keys)


def _check_table_partition_by(
    exprs: tuple[Expression, ...], source: DataSource, scope: Scope, registry: object
) -> None:
    """A table is already keyed: PARTITION BY its own key is a no-op, anything else is refused
    (ksqlDB's SchemaKTable.selectKey)."""
    keys = source.key_columns
    typed = [_type(e, scope, context="PARTITION BY", registry=registry) for e in exprs]
    if (
        len(keys) == 1
        and len(typed) == 1
        and isinstance(typed[0], TColumn)
        and typed[0].field_name == keys[0].name
    ):
        return
    if len(keys) > 1:
        raise KsqlStatementError(
            "Cannot repartition a TABLE source. If this is a join, joins on tables with multiple "
            "columns is not yet supported."
        )
    shown = ", ".join(t.text for t in typed)
    raise KsqlStatementError(
        "Cannot repartition a TABLE source. If this is a join, make sure that the criteria uses "
        f"the TABLE's key column {keys[0].name} instead of {shown}"
    )


def _qualified_text(expr: Expression, alias: str, typed: TypedExpression) -> str:
    if isinstance(expr, ColumnRef):
        return f"{alias}.{expr.name}"
    return typed.text or type(expr).__name__


# ---------------------------------------------------------------------------------- select
@dataclass(frozen=True)
class _Item:
    name: str
    expression: TypedExpression
    aliased: bool
    from_star: bool


def _expand_select(
    query: Query,
    source: DataSource,
    alias: str,
    scope: Scope,
    registry: object,
    names: _NameGenerator,
    partition_by: tuple[PartitionKey, ...] | None,
) -> list[_Item]:
    items: list[_Item] = []
    for item in query.select:
        if isinstance(item, AllColumns):
            if item.source is not None and item.source != alias:
                raise AnalysisError(f"'{item.source}' is not a valid stream/table name or alias.")
            items.extend(_star(source, partition_by))
        elif isinstance(item, StructAll):
            typed_base = _type(item.base, scope, context="SELECT", registry=registry)
            if not isinstance(typed_base.type, SqlStruct):
                raise AnalysisError(
                    f"Expected STRUCT type for {typed_base.text} but got "
                    f"{typed_base.type.sql() if typed_base.type else 'NULL'}"
                )
            for field_name, field_type in typed_base.type.fields:
                deref = TDereference(
                    typed_base, field_name, type=field_type, text=f"{typed_base.text}->{field_name}"
                )
                items.append(_Item(field_name, deref, aliased=False, from_star=False))
        elif isinstance(item, SingleColumn):
            if item.alias is not None and item.alias in _RESERVED:
                raise AnalysisError(
                    f"{quote_identifier(item.alias)} is a reserved column name. "
                    "You cannot use it as an alias for a column."
                )
            typed = _type(item.expression, scope, context="SELECT", registry=registry)
            if typed.type is None:
                raise AnalysisError(
                    "Can't infer a type of null. Please explicitly cast it to a required type, "
                    "e.g. CAST(null AS VARCHAR)."
                )
            if item.alias is None:
                name = _implicit_name(item.expression, names)
                if name in WINDOW_BOUND_COLUMNS and isinstance(item.expression, ColumnRef):
                    # ksqlDB drops unaliased window bounds from a persistent projection: the
                    # bounds travel in the windowed key.
                    continue
                if name in PSEUDO_COLUMNS and isinstance(item.expression, ColumnRef):
                    raise AnalysisError(
                        f"Reserved column name in select: {quote_identifier(name)}. "
                        "Please remove or alias the column.",
                        hint=f"write {name} AS {name[:3]}_COPY (any name that is not reserved)",
                    )
            else:
                name = item.alias
            items.append(_Item(name, typed, aliased=item.alias is not None, from_star=False))
        else:  # pragma: no cover - the parser produces only the three kinds
            raise UnsupportedError(f"select item {type(item).__name__}")
    _dedupe_dereference_names(items, query)
    return items


def _dedupe_dereference_names(items: list[_Item], query: Query) -> None:
    """Unaliased ``s->f`` items whose name clashes get ``F_1``, ``F_2``... (ColumnNames)."""
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        if item.name in seen and isinstance(item.expression, TDereference) and not item.aliased:
            counter = seen[item.name]
            while True:
                counter += 1
                candidate = f"{item.name}_{counter}"
                if candidate not in seen:
                    break
            seen[item.name] = counter
            items[index] = _Item(candidate, item.expression, item.aliased, item.from_star)
            seen[candidate] = 0
        else:
            seen.setdefault(item.name, 0)


def _star(source: DataSource, partition_by: tuple[PartitionKey, ...] | None) -> list[_Item]:
    """``*``: key columns then value columns; after PARTITION BY, value columns then the old key
    columns, minus columns that became keys (ksqlDB's repartitioned schema)."""

    def col_item(name: str, sql_type: SqlType) -> _Item:
        return _Item(name, TColumn(name, type=sql_type, text=name), aliased=False, from_star=True)

    if partition_by is None:
        return [col_item(c.name, c.type) for c in source.ordered_columns()]
    moved = {p.expression.field_name for p in partition_by if isinstance(p.expression, TColumn)}
    out = [
        col_item(c.name, c.type)
        for c in source.value_columns + source.header_columns
        if c.name not in moved
    ]
    out += [col_item(c.name, c.type) for c in source.key_columns if c.name not in moved]
    return out


# -------------------------------------------------------------------------------- key logic
def _assign_keys(
    items: list[_Item],
    source: DataSource,
    alias: str,
    partition_by: tuple[PartitionKey, ...] | None,
    names: _NameGenerator,
    *,
    sink_name: str,
    config: Mapping[str, object],
) -> tuple[list[OutputColumn], list[OutputColumn]]:
    keys: list[OutputColumn] = []
    values: list[OutputColumn] = []
    has_star = any(i.from_star for i in items)

    if partition_by is not None:
        used: set[int] = set()
        for index, key in enumerate(partition_by):
            match = next(
                (
                    pos
                    for pos, item in enumerate(items)
                    if pos not in used and not item.from_star and item.expression == key.expression
                ),
                None,
            )
            if match is not None:
                used.add(match)
                item = items[match]
                keys.append(_out(item.name, key.expression, True, index))
                continue
            if not has_star:
                raise AnalysisError(
                    f"The query used to build {quote_identifier(sink_name)} must include the "
                    f"partitioning expression {key.text} in its projection (eg, SELECT "
                    f"{key.text}...)."
                )
            expr = key.expression
            name = (
                expr.field_name
                if isinstance(expr, TColumn)
                else (expr.field_name if isinstance(expr, TDereference) else names.next())
            )
            keys.append(_out(name, expr, True, index))
        values = [
            _out(item.name, item.expression, False, None)
            for pos, item in enumerate(items)
            if pos not in used
        ]
        _check_duplicates(keys + values)
        _check_has_values(values)
        return keys, values

    key_fields = [c.name for c in source.key_columns]
    key_positions: dict[str, list[int]] = {k: [] for k in key_fields}
    for pos, item in enumerate(items):
        expr = item.expression
        if isinstance(expr, TColumn) and expr.field_name in key_positions:
            key_positions[expr.field_name].append(pos)
    new_planner = str(config.get("ksql.new.query.planner.enabled", "false")).lower() == "true"
    key_pos: set[int] = set()
    for key_field, positions in key_positions.items():
        if len(positions) > 1:
            aliases = sorted(items[p].name for p in positions)
            raise AnalysisError(
                f"The projection contains a key column ({quote_identifier(key_field)}) more than "
                f"once, aliased as: {_and(aliases)}.\n"
                "Each key column must only be in the projection once. If you intended to copy the "
                "key into the value, then consider using the AS_VALUE function to indicate which "
                "key reference should be copied."
            )
    missing = [k for k, positions in key_positions.items() if not positions]
    if missing and not new_planner:
        plural = "s" if len(missing) > 1 else ""
        raise AnalysisError(
            f"The query used to build {quote_identifier(sink_name)} must include the key "
            f"column{plural} {_and(missing)} in its projection (eg, SELECT "
            f"{', '.join(missing)}...)."
        )
    for positions in key_positions.values():
        if positions:
            key_pos.add(positions[0])
    if new_planner and any(not key_positions[k] for k in key_fields):
        # A partially selected multi-column key cannot be kept: the result is keyless.
        key_pos = set()
    for pos, item in enumerate(items):
        if pos in key_pos:
            keys.append(_out(item.name, item.expression, True, None))
        else:
            values.append(_out(item.name, item.expression, False, None))
    _check_duplicates(keys + values)
    _check_has_values(values)
    return keys, values


def _check_has_values(values: list[OutputColumn]) -> None:
    if not values:
        raise AnalysisError("The projection contains no value columns.")


def _and(names: list[str]) -> str:
    """``A``, ``A and B``, ``A, B and C`` (ksqlDB's GrammaticalJoiner.and)."""
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _out(
    name: str, expr: TypedExpression, is_key: bool, partition_index: int | None
) -> OutputColumn:
    assert expr.type is not None
    return OutputColumn(name, expr.type, expr, is_key, partition_index)


def _check_duplicates(columns: list[OutputColumn]) -> None:
    seen: set[str] = set()
    for col in columns:
        if col.name in seen:
            raise AnalysisError(
                f"Duplicate {'key' if col.is_key else 'value'} columns found in schema: {col.ddl()}"
            )
        seen.add(col.name)
