"""The typed expression tree: what the expression analyzer produces and the compiler consumes.

Owns: the frozen dataclasses of typed expressions. They are made by
:func:`telemetry_lib.ksql.analyzer.expressions.type_expression` from AST expressions and turned
into polars expressions by :func:`telemetry_lib.ksql.exec.expressions.compile_expression`.
No polars here (analyzer/ stays polars-free).

Contract (everything the compiler relies on):

- Every node has ``type: SqlType | None``; ``None`` only for an untyped ``NULL`` literal that no
  context gave a type to (e.g. an argument of a generic function).
- Implicit conversions are explicit in the tree: the analyzer wraps operands in :class:`TCast`
  wherever ksqlDB converts (numeric widening in arithmetic/comparisons, function arguments to
  the chosen overload's parameter types, IN-list / constructor elements to their common type,
  string-to-date/time in comparisons). So both operands of :class:`TArithmetic` have the same
  base type (for DECIMAL: both DECIMAL, possibly different precision/scale), and both operands of
  :class:`TComparison` are comparable as they stand.
- :class:`TGuard` marks ksqlDB's "nested error handling" boundaries (a CAST — written or implied
  by IN-list coercion and function-argument conversion —, a function argument that is itself a
  call or a struct dereference, elements of ARRAY/MAP/STRUCT constructors): an
  evaluation error inside a guard makes only that sub-expression NULL (and is logged); anywhere
  else an error makes the whole top-level expression NULL for that row (and is logged).
- Columns are referred to by their batch field name (:attr:`TColumn.field`), resolved through a
  :class:`~telemetry_lib.ksql.analyzer.scope.Scope`.
- ``text`` on :class:`TypedExpression` is the ksqlDB-formatted text of the source expression
  (used in error messages and processing-log entries).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from telemetry_lib.ksql.types import SqlType

__all__ = [
    "TArithmetic",
    "TCall",
    "TCase",
    "TCast",
    "TColumn",
    "TComparison",
    "TCreateArray",
    "TCreateMap",
    "TCreateStruct",
    "TDereference",
    "TGuard",
    "TIn",
    "TIsNull",
    "TLambda",
    "TLambdaVar",
    "TLike",
    "TLiteral",
    "TLogical",
    "TNegate",
    "TNot",
    "TSubscript",
    "TypedExpression",
    "children_of",
]

ComparisonOp = Literal["=", "<>", "<", "<=", ">", ">=", "IS DISTINCT FROM", "IS NOT DISTINCT FROM"]


@dataclass(frozen=True)
class TypedExpression:
    """Base of typed expressions."""

    type: SqlType | None = field(default=None, kw_only=True)
    text: str = field(default="", kw_only=True, compare=False)


@dataclass(frozen=True)
class TColumn(TypedExpression):
    """A column of the batch, by its field (polars column) name."""

    field_name: str


@dataclass(frozen=True)
class TLiteral(TypedExpression):
    """A constant. ``value`` holds the Python form of the SQL type:

    bool, int, float, decimal.Decimal, str, bytes, datetime.date, datetime.time,
    datetime.datetime (naive, UTC wall clock), list (ARRAY), list of (key, value) pairs (MAP),
    dict (STRUCT), or None (NULL; ``type`` None when untyped).
    """

    value: object


@dataclass(frozen=True)
class TLambdaVar(TypedExpression):
    """A reference to a lambda parameter inside the lambda body."""

    name: str


@dataclass(frozen=True)
class TArithmetic(TypedExpression):
    """``left op right``; operands share a base type (see module doc). STRING ``+`` concatenates."""

    op: Literal["+", "-", "*", "/", "%"]
    left: TypedExpression
    right: TypedExpression


@dataclass(frozen=True)
class TNegate(TypedExpression):
    """Unary minus."""

    operand: TypedExpression


@dataclass(frozen=True)
class TComparison(TypedExpression):
    """A comparison; null operands give false (IS [NOT] DISTINCT FROM treat null as a value)."""

    op: ComparisonOp
    left: TypedExpression
    right: TypedExpression


@dataclass(frozen=True)
class TLogical(TypedExpression):
    """``AND`` / ``OR`` with Java's short-circuit evaluation (a null operand that is evaluated
    is an error, as in ksqlDB's generated code)."""

    op: Literal["AND", "OR"]
    left: TypedExpression
    right: TypedExpression


@dataclass(frozen=True)
class TNot(TypedExpression):
    operand: TypedExpression


@dataclass(frozen=True)
class TIsNull(TypedExpression):
    """``IS NULL`` (``negated``: ``IS NOT NULL``)."""

    operand: TypedExpression
    negated: bool = False


@dataclass(frozen=True)
class TLike(TypedExpression):
    """SQL LIKE (``%`` any run, ``_`` one character, optional escape character)."""

    value: TypedExpression
    pattern: TypedExpression
    escape: str | None = None


@dataclass(frozen=True)
class TIn(TypedExpression):
    """``value IN (items)``; items already converted to the common type, null literals removed."""

    value: TypedExpression
    items: tuple[TypedExpression, ...]


@dataclass(frozen=True)
class TCase(TypedExpression):
    """Searched CASE (simple CASE is rewritten to it); lazily evaluated branches."""

    whens: tuple[tuple[TypedExpression, TypedExpression], ...]
    default: TypedExpression | None = None


@dataclass(frozen=True)
class TCast(TypedExpression):
    """Conversion of ``operand`` (of ``operand.type``) to ``type``."""

    operand: TypedExpression


@dataclass(frozen=True)
class TGuard(TypedExpression):
    """Nested-error boundary: an error inside yields NULL here instead of failing the row."""

    operand: TypedExpression
    label: str = "expression"


@dataclass(frozen=True)
class TCall(TypedExpression):
    """A resolved scalar function call; ``impl`` names the implementation (see functions/)."""

    name: str
    impl: str
    args: tuple[TypedExpression, ...]


@dataclass(frozen=True)
class TSubscript(TypedExpression):
    """``base[index]``: ARRAY (1-based, negative from the end, out of range -> NULL) or MAP."""

    base: TypedExpression
    index: TypedExpression


@dataclass(frozen=True)
class TDereference(TypedExpression):
    """``base->field`` on a STRUCT (null struct -> NULL)."""

    base: TypedExpression
    field_name: str


@dataclass(frozen=True)
class TCreateArray(TypedExpression):
    items: tuple[TypedExpression, ...]


@dataclass(frozen=True)
class TCreateMap(TypedExpression):
    entries: tuple[tuple[TypedExpression, TypedExpression], ...]


@dataclass(frozen=True)
class TCreateStruct(TypedExpression):
    fields: tuple[tuple[str, TypedExpression], ...]


@dataclass(frozen=True)
class TLambda(TypedExpression):
    """A lambda argument of a higher-order function; ``type`` is the body's type."""

    params: tuple[str, ...]
    param_types: tuple[SqlType, ...]
    body: TypedExpression


def children_of(node: TypedExpression) -> tuple[TypedExpression, ...]:
    """Direct typed children of ``node`` in evaluation order."""
    if isinstance(node, (TArithmetic, TComparison, TLogical)):
        return (node.left, node.right)
    if isinstance(node, (TNegate, TNot, TIsNull, TCast, TGuard)):
        return (node.operand,)
    if isinstance(node, TLike):
        return (node.value, node.pattern)
    if isinstance(node, TIn):
        return (node.value, *node.items)
    if isinstance(node, TCase):
        out: list[TypedExpression] = []
        for cond, result in node.whens:
            out.extend((cond, result))
        if node.default is not None:
            out.append(node.default)
        return tuple(out)
    if isinstance(node, TCall):
        return node.args
    if isinstance(node, TSubscript):
        return (node.base, node.index)
    if isinstance(node, TDereference):
        return (node.base,)
    if isinstance(node, TCreateArray):
        return node.items
    if isinstance(node, TCreateMap):
        return tuple(x for kv in node.entries for x in kv)
    if isinstance(node, TCreateStruct):
        return tuple(v for _, v in node.fields)
    if isinstance(node, TLambda):
        return (node.body,)
    return ()
