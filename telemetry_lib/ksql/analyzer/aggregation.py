"""Analysis of aggregating queries: GROUP BY, aggregate calls, HAVING and WINDOW (reference §2.4).

Owns: :func:`analyze_aggregation` (called by :func:`telemetry_lib.ksql.analyzer.query.analyze_query`
when a query has GROUP BY or aggregate calls) and its result :class:`AggregateAnalysis` — an
:class:`~telemetry_lib.ksql.analyzer.query.AnalyzedQuery` whose output columns and HAVING are typed
over the *aggregate scope* (group-by values, aggregate results, WINDOWSTART / WINDOWEND) rather
than the source scope — plus :class:`WindowSpec` (window kind, size, advance/gap, grace,
retention with ksqlDB's default-grace rules, reference §5.3) and :class:`AggregateCall`.

The SELECT and HAVING expressions are rewritten before typing: each aggregate call becomes a
reference to ``KSQL_AGG_VARIABLE_i`` and each occurrence of a GROUP BY expression a reference to
``KSQL_GROUPBY_j`` (ksqlDB's AggregateAnalyzer does the same); a source column left over after the
rewrite is a non-aggregate expression not in GROUP BY, reported with ksqlDB's wording. No polars.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

from telemetry_lib.ksql.analyzer.expressions_text import expression_text
from telemetry_lib.ksql.analyzer.scope import Scope, ScopeColumn
from telemetry_lib.ksql.analyzer.typed import TColumn, TypedExpression
from telemetry_lib.ksql.catalog import WINDOW_BOUND_COLUMNS, DataSource, quote_identifier
from telemetry_lib.ksql.errors import AnalysisError, KsqlEngineError, UnsupportedError
from telemetry_lib.ksql.functions.aggregates import (
    AGGREGATE_NAMES,
    Aggregate,
    LiteralArg,
    resolve_aggregate,
)
from telemetry_lib.ksql.parser.ast import (
    AllColumns,
    BooleanLiteral,
    ColumnRef,
    Expression,
    FunctionCall,
    HoppingWindow,
    IntegerLiteral,
    LongLiteral,
    Node,
    Query,
    SessionWindow,
    SingleColumn,
    TumblingWindow,
    WindowExpression,
)
from telemetry_lib.ksql.types import BIGINT, BOOLEAN
from telemetry_lib.ksql.windows import WindowInfo, WindowType

__all__ = [
    "AggregateAnalysis",
    "AggregateCall",
    "WindowSpec",
    "agg_field",
    "analyze_aggregation",
    "group_field",
    "is_aggregate_query",
]

logger = logging.getLogger(__name__)

#: ksqlDB's default grace: windows stay open 24 h after their start (StreamAggregateBuilder).
DEFAULT_GRACE_HORIZON_MS = 24 * 3_600_000
_AGG_NAME = "KSQL_AGG_VARIABLE_{}"
_GB_NAME = "KSQL_GROUPBY_{}"
_AGG_REF = re.compile(r"\bKSQL_AGG_VARIABLE_(\d+)\b")
_GB_REF = re.compile(r"\bKSQL_GROUPBY_(\d+)\b")


def agg_field(index: int) -> str:
    """Batch field holding aggregate ``index``'s result after the aggregate operator."""
    return f"__ksql_agg_{index}"


def group_field(index: int) -> str:
    """Batch field holding GROUP BY expression ``index``'s value after the aggregate operator."""
    return f"__ksql_gb_{index}"


@dataclass(frozen=True)
class WindowSpec:
    """A WINDOW clause with its effective grace and retention in milliseconds."""

    type: WindowType
    size_ms: int
    advance_ms: int
    grace_ms: int
    retention_ms: int

    @property
    def info(self) -> WindowInfo:
        """What the catalog records for the sink's windowed key."""
        return WindowInfo(self.type, None if self.type is WindowType.SESSION else self.size_ms)

    def describe(self) -> str:
        if self.type is WindowType.SESSION:
            return f"SESSION gap={self.size_ms} grace={self.grace_ms}"
        hop = f" advance={self.advance_ms}" if self.type is WindowType.HOPPING else ""
        return f"{self.type.value} size={self.size_ms}{hop} grace={self.grace_ms}"


@dataclass(frozen=True)
class AggregateCall:
    """One distinct aggregate call: the function and its per-row argument expressions."""

    aggregate: Aggregate
    args: tuple[TypedExpression, ...]
    text: str

    def __hash__(self) -> int:
        return hash(self.text)


@dataclass(frozen=True)
class AggregateAnalysis:
    """Extra analysis of an aggregating query (attached to AnalyzedQuery.aggregation)."""

    group_by: tuple[TypedExpression, ...]
    group_by_text: tuple[str, ...]
    calls: tuple[AggregateCall, ...]
    window: WindowSpec | None
    having: TypedExpression | None
    emit_final: bool
    source_is_table: bool
    #: Scope of the operator's output (group-by fields, aggregate fields, window bounds).
    output_scope: Scope
    #: Batch fields of the source's key columns (a TABLE source retracts per source key).
    source_key_fields: tuple[str, ...] = ()

    @property
    def sink_window(self) -> WindowInfo | None:
        return self.window.info if self.window is not None else None


def is_aggregate_query(query: Query) -> bool:
    """GROUP BY present, or an aggregate call in SELECT / HAVING."""
    if query.group_by is not None or query.having is not None:
        return True
    for item in query.select:
        if isinstance(item, SingleColumn) and _has_aggregate(item.expression):
            return True
    return False


def _has_aggregate(expr: Node) -> bool:
    return any(isinstance(n, FunctionCall) and n.name in AGGREGATE_NAMES for n in expr.walk())


def _window_bound(args: tuple[Expression, ...]) -> str | None:
    """The first WINDOWSTART / WINDOWEND referenced in ``args`` (an aggregate's arguments)."""
    for arg in args:
        for n in arg.walk():
            if isinstance(n, ColumnRef) and n.name in WINDOW_BOUND_COLUMNS:
                return n.name
    return None


def _strip_sources(expr: Expression) -> Expression:
    """Drop ``src.`` qualifiers (single-source queries) so ``T.ID`` and ``ID`` compare equal."""
    out = _rewrite(
        expr,
        lambda n: ColumnRef(n.name, loc=n.loc) if isinstance(n, ColumnRef) and n.source else None,
    )
    assert isinstance(out, Expression)
    return out


def _rewrite(node: Node, fn: object) -> Node:  # fn: Callable[[Node], Node | None]
    replaced = fn(node)  # type: ignore[operator]
    if replaced is not None:
        return replaced
    changes: dict[str, object] = {}
    for f in dataclasses.fields(node):
        if f.name == "loc":
            continue
        value = getattr(node, f.name)
        new = _rewrite_value(value, fn)
        if new is not value:
            changes[f.name] = new
    return dataclasses.replace(node, **changes) if changes else node  # type: ignore[arg-type]


def _rewrite_value(value: object, fn: object) -> object:
    if isinstance(value, Node):
        return _rewrite(value, fn)
    if isinstance(value, tuple):
        items = tuple(_rewrite_value(v, fn) for v in value)
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    return value


def _window_spec(window: WindowExpression, emit_final: bool) -> WindowSpec:
    if isinstance(window, TumblingWindow):
        kind, size, advance = WindowType.TUMBLING, window.size.millis, window.size.millis
    elif isinstance(window, HoppingWindow):
        kind, size, advance = WindowType.HOPPING, window.size.millis, window.advance.millis
        if advance <= 0 or advance > size:
            raise KsqlEngineError(
                "Window advance must be greater than zero and not larger than the window size; "
                f"got size {size} ms and advance {advance} ms."
            )
    elif isinstance(window, SessionWindow):
        kind, size, advance = WindowType.SESSION, window.gap.millis, 0
    else:  # pragma: no cover - the parser produces the three kinds
        raise UnsupportedError(f"window {type(window).__name__}")
    if size <= 0:
        raise KsqlEngineError("Window size must be greater than zero.")
    if window.grace is not None:
        grace = window.grace.millis
    elif emit_final:
        grace = 0
    else:
        grace = max(DEFAULT_GRACE_HORIZON_MS - size, 0)
    retention = window.retention.millis if window.retention is not None else size + grace
    if window.retention is not None and retention < size + grace:
        raise KsqlEngineError(
            f"The retention period of a window must be at least the window size plus the grace "
            f"period. Got retention {retention} ms, size {size} ms and grace {grace} ms."
        )
    return WindowSpec(kind, size, advance, grace, retention)


def _literal(expr: Expression) -> LiteralArg | None:
    if isinstance(expr, (IntegerLiteral, LongLiteral, BooleanLiteral)):
        return LiteralArg(expr.value)
    return None


def analyze_aggregation(  # noqa: C901 - ksqlDB's checks, in its order
    query: Query,
    source: DataSource,
    alias: str,
    scope: Scope,
    registry: object,
    *,
    sink_name: str,
    config: Mapping[str, object],
    type_fn: object,
) -> tuple[AggregateAnalysis, list[tuple[str, TypedExpression, bool]], TypedExpression | None]:
    """Analyze GROUP BY / aggregates / HAVING / WINDOW.

    Returns the aggregation facts, the output items ``(name, expression over the output scope,
    is_key)`` in key-first order, and the WHERE predicate typed over the source scope.
    ``type_fn(expr, scope, context=...)`` types an AST expression (the query analyzer's typer)."""
    typer = type_fn
    select_items = _expand_star(query, source)
    if query.group_by is None:
        bare = [
            expression_text(e)
            for e in select_items
            if not _has_aggregate(e) and any(isinstance(n, ColumnRef) for n in e.walk())
        ]
        if bare:
            raise AnalysisError(
                f"Non-aggregate SELECT expression(s) not part of GROUP BY: {', '.join(bare)}\n"
                "Either add the column(s) to the GROUP BY or remove them from the SELECT."
            )
        calls_text = [
            expression_text(n) if n.args else f"{n.name}(ROWTIME)"
            for e in select_items
            for n in e.walk()
            if isinstance(n, FunctionCall) and n.name in AGGREGATE_NAMES
        ]
        raise AnalysisError(
            "CREATE TABLE AS SELECT statement does not support aggregate function "
            f"[{', '.join(calls_text)}] without a GROUP BY clause."
        )
    if not query.group_by:
        raise AnalysisError("GROUP BY requires at least one expression.")
    if source.value_format.name == "KAFKA":
        raise AnalysisError(
            f"Source(s) {source.name} are using the 'KAFKA' value format. This format does not "
            "yet support GROUP BY."
        )
    if query.partition_by is not None:
        raise AnalysisError(
            "PARTITION BY and GROUP BY cannot be combined: the GROUP BY expressions become the "
            "key of the result. Remove the PARTITION BY clause."
        )
    emit_final = query.emit == "FINAL"
    if query.window is not None and source.is_table:
        raise AnalysisError("Windowed aggregations are only supported on streams, not tables.")
    if emit_final and query.window is None:
        raise AnalysisError("EMIT FINAL is only supported for windowed aggregations.")
    window = _window_spec(query.window, emit_final) if query.window is not None else None

    where: TypedExpression | None = None
    if query.where is not None:
        for node in query.where.walk():
            if isinstance(node, ColumnRef) and node.name in WINDOW_BOUND_COLUMNS:
                if not source.is_windowed:
                    raise AnalysisError(f"Error in WHERE expression: Unknown column {node.name}.")
        where = typer(query.where, scope, context="WHERE")  # type: ignore[operator]
        if where.type is not None and where.type != BOOLEAN:
            raise AnalysisError(
                "Type error in WHERE expression: Should evaluate to boolean but is "
                f"{where.text or query.where} ({where.type.sql()}) instead."
            )

    # GROUP BY expressions
    group_exprs: list[Expression] = []
    group_typed: list[TypedExpression] = []
    for expr in query.group_by:
        for node in expr.walk():
            if isinstance(node, FunctionCall) and node.name in AGGREGATE_NAMES:
                raise AnalysisError(
                    f"GROUP BY does not support aggregate functions: {node.name} is an aggregate "
                    "function."
                )
        stripped = _strip_sources(expr)
        if stripped in group_exprs:
            text = expression_text(expr)
            if isinstance(expr, ColumnRef) and expr.source is None:
                text = f"{alias}.{expr.name}"
            raise AnalysisError(f"Duplicate GROUP BY expression: {text}")
        typed = typer(expr, scope, context="GROUP BY")  # type: ignore[operator]
        if typed.type is None:
            raise AnalysisError(
                "Can't infer a type of null. Please explicitly cast it to a required type, "
                "e.g. CAST(null AS VARCHAR)."
            )
        group_exprs.append(stripped)
        group_typed.append(typed)

    # aggregate calls (SELECT then HAVING), deduplicated by their stripped AST
    call_nodes: list[FunctionCall] = []
    sources = list(select_items)
    if query.having is not None:
        sources.append(query.having)
    for expr in sources:
        for node in expr.walk():
            if isinstance(node, FunctionCall) and node.name in AGGREGATE_NAMES:
                stripped_call = _strip_sources(node)
                assert isinstance(stripped_call, FunctionCall)
                for arg in stripped_call.args:
                    if _has_aggregate(arg):
                        raise AnalysisError(
                            f"Aggregate functions can not be nested: {node.name}("
                            f"{expression_text(arg)})"
                        )
                if stripped_call not in call_nodes:
                    call_nodes.append(stripped_call)
    if not call_nodes:
        for expr in sources:
            try:
                typer(expr, scope, context="SELECT")  # type: ignore[operator]
            except AnalysisError as exc:
                if "Can't find any functions" in str(exc.message):
                    raise
        raise AnalysisError(
            "GROUP BY requires aggregate functions in either the SELECT or HAVING clause."
        )
    calls: list[AggregateCall] = []
    for node in call_nodes:
        bound = _window_bound(node.args)
        if bound is not None and window is not None:  # it exists only after the aggregation
            raise AnalysisError(
                f"Window bounds column {bound} can only be used in the SELECT clause of "
                "windowed aggregations and can not be passed to aggregate functions."
            )
        arg_typed = [typer(a, scope, context="SELECT") for a in node.args]  # type: ignore[operator]
        if bound is not None:
            raise AnalysisError(f"Unknown column {bound}.")
        agg, n_inputs = resolve_aggregate(
            node.name,
            [t.type for t in arg_typed],
            [_literal(a) for a in node.args],
            config=config,
        )
        calls.append(AggregateCall(agg, tuple(arg_typed[:n_inputs]), expression_text(node)))
    if source.is_table:
        bad = list(dict.fromkeys(c.aggregate.name for c in calls if not c.aggregate.table_capable))
        if bad:
            raise AnalysisError(
                f"The aggregation functions {_and(bad)} cannot be applied to a table source, "
                "only to a stream source."
            )
    if source.value_format.name == "DELIMITED" and any(
        c.aggregate.complex_intermediate for c in calls
    ):
        raise AnalysisError(
            "One of the functions used in the statement has an intermediate type that the value "
            "format can not handle. Please remove the function or change the format."
        )

    # output scope
    out_cols = [
        ScopeColumn(None, _GB_NAME.format(j), t.type, group_field(j))  # type: ignore[arg-type]
        for j, t in enumerate(group_typed)
    ]
    out_cols += [
        ScopeColumn(None, _AGG_NAME.format(i), c.aggregate.result_type, agg_field(i))
        for i, c in enumerate(calls)
    ]
    if window is not None:
        out_cols += [ScopeColumn(None, w, BIGINT, w) for w in WINDOW_BOUND_COLUMNS]
    out_scope = Scope(tuple(out_cols))

    def restore_names(text: str) -> str:
        """Internal column names in an error message -> the expressions they stand for."""
        text = _AGG_REF.sub(lambda m: calls[int(m.group(1))].text, text)
        group_texts = [expression_text(e) for e in query.group_by or ()]
        return _GB_REF.sub(lambda m: group_texts[int(m.group(1))], text)

    def replace_node(node: Node) -> Node | None:
        if isinstance(node, ColumnRef) and node.source and node.name in WINDOW_BOUND_COLUMNS:
            return ColumnRef(node.name, loc=node.loc)
        if isinstance(node, Expression):
            stripped_node = (
                _strip_sources(node) if not isinstance(node, ColumnRef) or node.source else node
            )
            if isinstance(stripped_node, FunctionCall) and stripped_node in call_nodes:
                return ColumnRef(_AGG_NAME.format(call_nodes.index(stripped_node)), loc=node.loc)
            if stripped_node in group_exprs:
                return ColumnRef(_GB_NAME.format(group_exprs.index(stripped_node)), loc=node.loc)
        return None

    # SELECT items
    from telemetry_lib.ksql.analyzer.query import _implicit_name, _NameGenerator  # noqa: PLC0415

    names = _NameGenerator(source)
    items: list[tuple[str, TypedExpression, Expression, bool]] = []
    non_agg: list[str] = []
    for item in _expanded_items(query, source):
        if not isinstance(item, SingleColumn):
            raise UnsupportedError(f"select item {type(item).__name__} in an aggregation")
        original = item.expression
        rewritten = _rewrite(original, replace_node)
        assert isinstance(rewritten, Expression)
        leftover = [
            n
            for n in rewritten.walk()
            if isinstance(n, ColumnRef)
            and not n.name.startswith(("KSQL_AGG_VARIABLE_", "KSQL_GROUPBY_"))
            and not (window is not None and n.name in WINDOW_BOUND_COLUMNS)
        ]
        if item.alias is None:
            name = _implicit_name(original, names)
        else:
            name = item.alias
        if leftover:
            if window is None and any(n.name in WINDOW_BOUND_COLUMNS for n in leftover):
                raise AnalysisError(
                    f"Window bounds column {leftover[0].name} can only be used in the SELECT "
                    "clause of windowed aggregations and can not be passed to aggregate functions."
                )
            non_agg.append(expression_text(original))
            continue
        if (
            item.alias is None
            and isinstance(original, ColumnRef)
            and original.name in WINDOW_BOUND_COLUMNS
        ):
            continue  # unaliased window bounds travel in the windowed key
        try:
            typed = typer(rewritten, out_scope, context="SELECT")  # type: ignore[operator]
        except AnalysisError as exc:
            raise AnalysisError(
                restore_names(str(exc.message)), hint=getattr(exc, "hint", None)
            ) from None
        if typed.type is None:
            raise AnalysisError(
                "Can't infer a type of null. Please explicitly cast it to a required type, "
                "e.g. CAST(null AS VARCHAR)."
            )
        items.append((name, typed, original, item.alias is not None))
    if non_agg:
        raise AnalysisError(
            f"Non-aggregate SELECT expression(s) not part of GROUP BY: {', '.join(non_agg)}\n"
            "Either add the column(s) to the GROUP BY or remove them from the SELECT."
        )

    having: TypedExpression | None = None
    if query.having is not None:
        rewritten_having = _rewrite(query.having, replace_node)
        assert isinstance(rewritten_having, Expression)
        leftover = [
            n
            for n in rewritten_having.walk()
            if isinstance(n, ColumnRef)
            and not n.name.startswith(("KSQL_AGG_VARIABLE_", "KSQL_GROUPBY_"))
        ]
        if leftover:
            raise AnalysisError(
                "Non-aggregate HAVING expression not part of GROUP BY: "
                f"{', '.join(expression_text(n) for n in leftover)}"
            )
        try:
            having = typer(rewritten_having, out_scope, context="HAVING")  # type: ignore[operator]
        except AnalysisError as exc:
            message = restore_names(str(exc.message))
            if not message.startswith("Error in HAVING expression"):
                message = f"Error in HAVING expression: {message}"
            raise AnalysisError(message, hint=getattr(exc, "hint", None)) from None
        if having.type is not None and having.type != BOOLEAN:
            raise AnalysisError(
                "Type error in HAVING expression: Should evaluate to boolean but is "
                f"{expression_text(query.having)} ({having.type.sql()}) instead."
            )

    # keys: the select items that are exactly a GROUP BY expression, in GROUP BY order
    key_items: list[tuple[str, TypedExpression, bool]] = []
    used: set[int] = set()
    missing: list[str] = []
    for j in range(len(group_exprs)):
        matches = [
            pos
            for pos, (_, typed, _, _) in enumerate(items)
            if isinstance(typed, TColumn) and typed.field_name == group_field(j)
        ]
        if len(matches) > 1:
            shown = " and ".join(quote_identifier(items[p][0]) for p in matches)
            raise AnalysisError(f"The projection contains a key column more than once: {shown}.")
        if not matches:
            missing.append(expression_text(query.group_by[j]))
            continue
        used.add(matches[0])
        key_items.append((items[matches[0]][0], items[matches[0]][1], True))
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise AnalysisError(
            f"The query used to build {quote_identifier(sink_name)} must include the grouping "
            f"expression{plural} {_and(missing)} in its projection (eg, SELECT "
            f"{', '.join(missing)}...)."
        )
    value_items = [(n, t, False) for pos, (n, t, _, _) in enumerate(items) if pos not in used]
    analysis = AggregateAnalysis(
        group_by=tuple(group_typed),
        group_by_text=tuple(expression_text(e) for e in query.group_by),
        calls=tuple(calls),
        window=window,
        having=having,
        emit_final=emit_final,
        source_is_table=source.is_table,
        output_scope=out_scope,
        source_key_fields=tuple(c.name for c in source.key_columns),
    )
    return analysis, key_items + value_items, where


def _expanded_items(query: Query, source: DataSource) -> list[SingleColumn]:
    """SELECT items with ``*`` replaced by the source's columns (keys first)."""
    out: list[SingleColumn] = []
    for item in query.select:
        if isinstance(item, AllColumns):
            out += [SingleColumn(ColumnRef(c.name), None) for c in source.ordered_columns()]
        elif isinstance(item, SingleColumn):
            out.append(item)
        else:
            raise UnsupportedError(f"select item {type(item).__name__} in an aggregation")
    return out


def _expand_star(query: Query, source: DataSource) -> list[Expression]:
    return [item.expression for item in _expanded_items(query, source)]


def _and(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]
