"""What a pull query may ask, with ksqlDB's errors (PullQueryValidator, WhereInfo, KeyExtractor).

Owns: :func:`validate_pull`, run before a pull query is planned. Always: no JOIN, no GROUP BY,
and key values in ``K = v`` / ``K IN (...)`` must convert to the key column's type. With
``ksql.query.pull.table.scan.enabled=false`` (ksqlDB's default is true) every disjunct of the
WHERE clause must pin every key column with ``=`` (or ``IN``) against a literal; window bounds
may take ranges; other columns make the query a scan, which is then refused. A scan's LIKE
must filter a STRING column.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from telemetry_lib.ksql.catalog import Column, DataSource
from telemetry_lib.ksql.errors import KsqlStatementError
from telemetry_lib.ksql.parser.ast import (
    ColumnRef,
    Comparison,
    Expression,
    InList,
    IntegerLiteral,
    JoinRelation,
    Like,
    Literal_,
    LogicalBinary,
    LongLiteral,
    Query,
    StringLiteral,
)
from telemetry_lib.ksql.parser.formatter import format_expression

__all__ = ["validate_pull"]

logger = logging.getLogger(__name__)

_SCAN_ENABLED = "ksql.query.pull.table.scan.enabled"
_INTEGRAL = ("INTEGER", "BIGINT")


def validate_pull(query: Query, source: DataSource | None, config: Mapping[str, object]) -> None:
    """Raise ksqlDB's KsqlStatementException for a pull query it would refuse."""
    if isinstance(query.from_, JoinRelation):
        raise KsqlStatementError("Pull queries don't support JOIN clauses.")
    if query.group_by is not None:
        raise KsqlStatementError("Pull queries don't support GROUP BY clauses")
    if source is None or not source.key_columns:
        return
    keys = {c.name: c for c in source.key_columns}
    for expr in _conjuncts_of_all(query.where):
        _check_key_literals(expr, keys)
    if str(config.get(_SCAN_ENABLED, "true")).strip().lower() != "false":
        _check_like_columns(query.where, source)
        return
    if query.where is None:
        return  # a full scan without WHERE is refused by the engine's own check
    for disjunct in _disjuncts(query.where):
        _check_disjunct(disjunct, keys)


def _disjuncts(expr: Expression) -> list[Expression]:
    if isinstance(expr, LogicalBinary) and expr.op == "OR":
        return _disjuncts(expr.left) + _disjuncts(expr.right)
    return [expr]


def _conjuncts(expr: Expression) -> list[Expression]:
    if isinstance(expr, LogicalBinary) and expr.op == "AND":
        return _conjuncts(expr.left) + _conjuncts(expr.right)
    return [expr]


def _conjuncts_of_all(where: Expression | None) -> list[Expression]:
    if where is None:
        return []
    return [c for d in _disjuncts(where) for c in _conjuncts(d)]


def _columns(expr: Expression) -> list[str]:
    return [n.name for n in expr.walk() if isinstance(n, ColumnRef)]


def _check_disjunct(disjunct: Expression, keys: Mapping[str, Column]) -> None:
    counts: dict[str, int] = {}
    not_equal: list[str] = []
    for part in _conjuncts(disjunct):
        if isinstance(part, Like):
            raise KsqlStatementError("Like condition must be between strings")
        if isinstance(part, InList) and isinstance(part.value, ColumnRef):
            if part.value.name in keys:
                counts[part.value.name] = counts.get(part.value.name, 0) + 1
            continue
        if not isinstance(part, Comparison):
            continue
        left, right = _columns(part.left), _columns(part.right)
        if not any(c in keys for c in left + right):
            continue
        if left and right:
            raise KsqlStatementError(
                "A comparison must be between a key column and a resolvable expression."
            )
        column_side = part.left if left else part.right
        if not isinstance(column_side, ColumnRef):
            raise KsqlStatementError("A comparison must directly reference a key column.")
        counts[column_side.name] = counts.get(column_side.name, 0) + 1
        if part.op != "=":
            not_equal.append(column_side.name)
    if any(n > 1 for n in counts.values()):
        raise KsqlStatementError(
            "A comparison condition on the key column cannot be combined with other "
            "comparisons such as an IN predicate"
        )
    if not_equal:
        column = keys[not_equal[0]]
        raise KsqlStatementError(f"Bound on key columns '[{column.ddl()}]' must currently be '='. ")
    if not counts:
        raise KsqlStatementError(
            f"WHERE clause missing key column for disjunct: {format_expression(disjunct)}"
        )
    if len(counts) < len(keys):
        raise KsqlStatementError("Multi-column sources must specify every key in the WHERE clause")


def _check_like_columns(where: Expression | None, source: DataSource) -> None:
    """A table scan filters with LIKE on STRING columns only (ksqlDB's wording)."""
    if where is None:
        return
    types = {c.name: c.type for c in (*source.key_columns, *source.value_columns)}
    for node in where.walk():
        if isinstance(node, Like) and isinstance(node.value, ColumnRef):
            found = types.get(node.value.name)
            if found is not None and found.base.value != "STRING":
                raise KsqlStatementError(
                    "The column type for Like condition must be VARCHAR. The column type is "
                    f"{found.base.value}"
                )


def _check_key_literals(expr: Expression, keys: Mapping[str, Column]) -> None:
    """``K IN ('10', 8)`` on an INTEGER key: ksqlDB refuses the string literal."""
    pairs: list[tuple[str, Expression]] = []
    if isinstance(expr, InList) and isinstance(expr.value, ColumnRef):
        pairs = [(expr.value.name, item) for item in expr.items]
    for name, literal in pairs:
        column = keys.get(name)
        if column is None or not isinstance(literal, Literal_):
            continue
        base = column.type.base.value
        if base in _INTEGRAL and isinstance(literal, StringLiteral):
            raise KsqlStatementError(
                f"'{literal.value}' can not be converted to the type of the key column: "
                f"{column.name} {column.type.sql()} KEY"
            )
        if base == "STRING" and isinstance(literal, (IntegerLiteral, LongLiteral)):
            continue  # ksqlDB coerces numbers to strings here
