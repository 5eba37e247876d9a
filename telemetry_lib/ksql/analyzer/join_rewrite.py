"""Rewriting a join query's AST over the joined schema (see :mod:`telemetry_lib.ksql.analyzer.joins`).

Owns: :func:`resolve_ref` (a column reference in the joined scope, with ksqlDB's location-prefixed
errors for unknown, unqualified-ambiguous and unknown-qualifier references), :func:`qualify`
(criteria with every reference qualified, for ksqlDB's error texts), :func:`to_fields`
(references replaced by their batch fields), :func:`rewrite_query` (SELECT / WHERE / GROUP BY /
PARTITION BY / HAVING over the fields; ``*`` and ``A.*`` expanded with prefixed names, led by a
synthetic key; unaliased references keep their ksqlDB names; ``JOINKEY(a, b)`` names the
synthetic key). No polars here.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from telemetry_lib.ksql.analyzer.expressions_text import expression_text
from telemetry_lib.ksql.analyzer.join_types import join_key_field
from telemetry_lib.ksql.analyzer.scope import Scope, ScopeColumn
from telemetry_lib.ksql.errors import AnalysisError
from telemetry_lib.ksql.parser.ast import (
    AliasedRelation,
    AllColumns,
    ColumnRef,
    Expression,
    FunctionCall,
    Node,
    Query,
    SingleColumn,
)

if TYPE_CHECKING:
    from telemetry_lib.ksql.analyzer.joins import JoinAnalysis

__all__ = [
    "field_scope",
    "qualify",
    "resolve_ref",
    "rewrite_query",
    "sources_of",
    "text_of",
    "to_fields",
]

logger = logging.getLogger(__name__)


def _map_ast(node: Any, fn: Callable[[Node], Node | None]) -> Any:
    """``node`` with every sub-node rewritten by ``fn`` (None: keep and recurse)."""
    if isinstance(node, tuple):
        return tuple(_map_ast(n, fn) for n in node)
    if not isinstance(node, Node):
        return node
    replaced = fn(node)
    if replaced is not None:
        return replaced
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(node):
        if f.name == "loc":
            continue
        value = getattr(node, f.name)
        new = _map_ast(value, fn)
        if new is not value:
            changes[f.name] = new
    return dataclasses.replace(node, **changes) if changes else node


def resolve_ref(ref: ColumnRef, scope: Scope, context: str) -> ScopeColumn:
    """The column ``ref`` names, with ksqlDB's errors (location-prefixed)."""
    prefix = f"Line: {ref.loc.line}, Col: {ref.loc.column}: " if ref.loc is not None else ""
    matches = scope.find(ref.name, ref.source)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        if ref.source is not None and not any(c.source == ref.source for c in scope.columns):
            raise AnalysisError(
                f"Failed to prepare statement: '{ref.source}' is not a valid stream/table name "
                "or alias.",
                hint="use the name or alias given in the FROM clause",
            )
        shown = f"{ref.source}.{ref.name}" if ref.source is not None else ref.name
        raise AnalysisError(f"{prefix}{context} column '{shown}' cannot be resolved.")
    candidates = [f"{c.source}.{c.name}" for c in matches]
    listed = (
        candidates[0]
        if len(candidates) == 1
        else ", ".join(candidates[:-1]) + " or " + candidates[-1]
    )
    raise AnalysisError(
        f"Exception while preparing statement: {prefix}Column '{ref.name}' is ambiguous. "
        f"Could be {listed}.",
        hint="qualify the column with its source name or alias",
    )


def qualify(expr: Expression, scope: Scope) -> Expression:
    """``expr`` with every column reference qualified by its source alias."""

    def fn(n: Node) -> Node | None:
        if isinstance(n, ColumnRef):
            col = resolve_ref(n, scope, "JOIN ON")
            return ColumnRef(col.name, col.source, loc=n.loc)
        return None

    result: Expression = _map_ast(expr, fn)
    return result


def sources_of(expr: Expression) -> set[str]:
    return {n.source for n in expr.walk() if isinstance(n, ColumnRef) and n.source is not None}


def text_of(expr: Expression) -> str:
    """ksqlDB's text of ``expr`` (qualified references print as ``A.COL``)."""
    return expression_text(expr)


def field_scope(scope: Scope) -> Scope:
    """The scope as seen after rewriting: each column only by its (unqualified) field name."""
    return Scope(
        tuple(ScopeColumn(None, c.field_name, c.type, c.field_name) for c in scope.columns)
    )


def to_fields(expr: Expression, scope: Scope, context: str = "JOIN ON") -> Expression:
    """``expr`` with column references replaced by their batch fields (unqualified)."""

    def fn(n: Node) -> Node | None:
        if isinstance(n, ColumnRef):
            col = resolve_ref(n, scope, context)
            return ColumnRef(col.field_name, None, loc=n.loc)
        return None

    result: Expression = _map_ast(expr, fn)
    return result


def _display_name(col: ScopeColumn, scope: Scope) -> str:
    """ksqlDB's name of an unaliased column reference in a join: the column name when no other
    source has a column of that name, else ``<ALIAS>_<COL>``."""
    if col.source is None:
        return col.name
    owners = {c.source for c in scope.columns if c.name == col.name and c.source is not None}
    return col.name if len(owners) == 1 else col.field_name


def rewrite_query(query: Query, analysis: JoinAnalysis) -> Query:
    scope = analysis.scope
    items: list[Any] = []
    for item in query.select:
        if isinstance(item, AllColumns):
            items += _expand_star(item, analysis)
        elif isinstance(item, SingleColumn):
            expr = _joinkey(item.expression, analysis)
            alias = item.alias
            if alias is None and isinstance(expr, ColumnRef):
                alias = _display_name(resolve_ref(expr, scope, "SELECT"), scope)
            items.append(SingleColumn(to_fields(expr, scope, "SELECT"), alias, loc=item.loc))
        else:
            items.append(_map_ast(item, lambda n: _field_ref(n, scope, "SELECT")))

    def clause(expr: Expression | None, context: str) -> Expression | None:
        return None if expr is None else to_fields(expr, scope, context)

    def clauses(
        exprs: tuple[Expression, ...] | None, context: str
    ) -> tuple[Expression, ...] | None:
        if exprs is None:
            return None
        return tuple(to_fields(e, scope, context) for e in exprs)

    return dataclasses.replace(
        query,
        select=tuple(items),
        from_=AliasedRelation(analysis.joined.name, None),
        where=clause(query.where, "WHERE"),
        group_by=clauses(query.group_by, "GROUP BY"),
        partition_by=clauses(query.partition_by, "PARTITION BY"),
        having=clause(query.having, "HAVING"),
    )


def _joinkey(expr: Expression, analysis: JoinAnalysis) -> Expression:
    """ksqlDB's JOINKEY(a, b) select item: the synthetic join key when the join has one,
    else COALESCE(a, b)."""
    if not isinstance(expr, FunctionCall) or expr.name != "JOINKEY":
        return expr
    if analysis.synthetic:
        return ColumnRef(analysis.steps[-1].keys[0].name, loc=expr.loc)
    return FunctionCall("COALESCE", expr.args, loc=expr.loc)


def _field_ref(n: Node, scope: Scope, context: str) -> Node | None:
    if isinstance(n, ColumnRef):
        col = resolve_ref(n, scope, context)
        return ColumnRef(col.field_name, None, loc=n.loc)
    return None


def _expand_star(item: AllColumns, analysis: JoinAnalysis) -> list[SingleColumn]:
    out: list[SingleColumn] = []
    if item.source is None and analysis.synthetic:
        key = analysis.steps[-1].keys[0]
        out.append(SingleColumn(ColumnRef(join_key_field(0)), key.name))
    for s in analysis.sources:
        if item.source is not None and item.source != s.alias:
            continue
        for fld, _ in s.star_fields():
            out.append(SingleColumn(ColumnRef(fld), fld))
    if item.source is not None and not out:
        raise AnalysisError(f"'{item.source}' is not a valid stream/table name or alias.")
    return out
