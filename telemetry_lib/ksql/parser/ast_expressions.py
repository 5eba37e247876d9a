"""AST nodes for ksqlDB expressions and types (what ``SqlBase.g4``'s expression rules produce).

Owns: the source location ``Loc``, the ``Node`` base (generic ``children()``/``walk()``),
every expression node, the type nodes used by CAST / column definitions / CREATE TYPE,
and ``resolve_type`` which turns a type node into a ``telemetry_lib.ksql.types.SqlType``.

Conventions (shared with the analyzer and the formatter):

- Every node is a frozen dataclass; child collections are tuples, so nodes are hashable
  and compare by value. ``loc`` is keyword-only and excluded from equality, so
  ``parse(format(parse(x))) == parse(x)`` holds although locations differ.
- ``Loc(line, column)``: ``line`` is 1-based, ``column`` is 1-based (ANTLR's
  ``charPositionInLine + 1``), i.e. exactly the numbers ksqlDB prints in ``line L:C``.
- Identifiers are stored already normalised: unquoted ones upper-cased, quoted ones
  (back-quotes or double quotes) verbatim. The formatter re-quotes when needed.
- Numeric literals keep their source text (``text``); DECIMAL precision/scale derive from it
  (``1.50`` is DECIMAL(3,2), ``0.5`` is DECIMAL(2,1)). A leading ``-`` written directly before
  a number is part of the literal, as in ksqlDB's grammar (``number: MINUS? INTEGER_VALUE``).
- ksqlDB rewrites some syntax while parsing, and so do we: ``a || b`` is
  ``FunctionCall("CONCAT", (a, b))``; ``COUNT(*)`` is ``FunctionCall("COUNT", ())``;
  ``x NOT BETWEEN ..`` / ``NOT IN`` / ``NOT LIKE`` are ``Not(Between|InList|Like)``;
  ``a IS NOT DISTINCT FROM b`` is ``Not(Comparison("IS DISTINCT FROM", a, b))``; ``!=`` is ``<>``;
  ``DECIMAL '1.5'`` is ``DecimalLiteral("1.5")``.
- Inside a lambda body, references to the lambda's parameters are ``LambdaVariable``;
  every other bare name is ``ColumnRef``.
"""

from __future__ import annotations

import dataclasses
import decimal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from telemetry_lib.ksql.types import SqlArray, SqlMap, SqlStruct, SqlType

__all__ = [
    "ArithmeticBinary",
    "ArithmeticOperator",
    "ArithmeticUnary",
    "ArrayType",
    "AtTimeZone",
    "Between",
    "BooleanLiteral",
    "BuiltinType",
    "Cast",
    "ColumnRef",
    "Comparison",
    "ComparisonOperator",
    "CreateArray",
    "CreateMap",
    "CreateStruct",
    "CustomType",
    "DecimalLiteral",
    "Dereference",
    "DoubleLiteral",
    "Expression",
    "FunctionCall",
    "InList",
    "IntegerLiteral",
    "IntervalUnit",
    "IsNotNull",
    "IsNull",
    "LambdaFunction",
    "LambdaVariable",
    "Like",
    "Literal_",
    "Loc",
    "LogicalBinary",
    "LongLiteral",
    "MapType",
    "Node",
    "Not",
    "NullLiteral",
    "SearchedCase",
    "SimpleCase",
    "StringLiteral",
    "StructType",
    "Subscript",
    "TimeUnit",
    "TypeNode",
    "WhenClause",
    "resolve_type",
    "type_node_of",
]

ArithmeticOperator = Literal["+", "-", "*", "/", "%"]
ComparisonOperator = Literal["=", "<>", "<", "<=", ">", ">=", "IS DISTINCT FROM"]
# Canonical (plural) window/interval unit names, as ksqlDB's TimeUnit enum spells them.
TimeUnit = Literal["MILLISECONDS", "SECONDS", "MINUTES", "HOURS", "DAYS"]


@dataclass(frozen=True)
class Loc:
    """A source position: 1-based line and 1-based column, as ksqlDB prints ``line L:C``."""

    line: int
    column: int

    def __str__(self) -> str:
        return f"line {self.line}:{self.column}"


@dataclass(frozen=True)
class Node:
    """Base of every AST node. ``loc`` is keyword-only and not part of equality."""

    loc: Loc | None = field(default=None, compare=False, kw_only=True, repr=False)

    def children(self) -> tuple[Node, ...]:
        """Direct child nodes, in field order (tuples and nested pairs are flattened)."""
        out: list[Node] = []
        for f in dataclasses.fields(self):
            if f.name == "loc":
                continue
            _collect_nodes(getattr(self, f.name), out)
        return tuple(out)

    def walk(self) -> Iterator[Node]:
        """This node and all descendants, depth-first, pre-order."""
        stack: list[Node] = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children()))


def _collect_nodes(value: object, out: list[Node]) -> None:
    if isinstance(value, Node):
        out.append(value)
    elif isinstance(value, tuple):
        for item in value:
            _collect_nodes(item, out)


# --------------------------------------------------------------------------------------
# Types
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TypeNode(Node):
    """Base of type nodes (column types, CAST targets, CREATE TYPE bodies)."""


@dataclass(frozen=True)
class BuiltinType(TypeNode):
    """A type made only of built-in types (the common case): ``INT``, ``ARRAY<STRUCT<A INT>>``.

    Containers whose parts are all built-in collapse into one ``BuiltinType``; only a type that
    mentions a custom type name somewhere uses ``ArrayType``/``MapType``/``StructType`` nodes.
    """

    sql_type: SqlType


@dataclass(frozen=True)
class CustomType(TypeNode):
    """A type referenced by name (registered with ``CREATE TYPE``); ``name`` is normalised."""

    name: str


@dataclass(frozen=True)
class ArrayType(TypeNode):
    """``ARRAY<element>`` where ``element`` mentions a custom type."""

    element: TypeNode


@dataclass(frozen=True)
class MapType(TypeNode):
    """``MAP<key, value>`` where a part mentions a custom type."""

    key: TypeNode
    value: TypeNode


@dataclass(frozen=True)
class StructType(TypeNode):
    """``STRUCT<name type, ...>`` where a field type mentions a custom type."""

    fields: tuple[tuple[str, TypeNode], ...]


def type_node_of(node: TypeNode) -> TypeNode:
    """Collapse a type node to ``BuiltinType`` when it mentions no custom type (parser helper)."""
    if isinstance(node, ArrayType):
        element = type_node_of(node.element)
        if isinstance(element, BuiltinType):
            return BuiltinType(SqlArray(element.sql_type), loc=node.loc)
        return ArrayType(element, loc=node.loc)
    if isinstance(node, MapType):
        key, value = type_node_of(node.key), type_node_of(node.value)
        if isinstance(key, BuiltinType) and isinstance(value, BuiltinType):
            return BuiltinType(SqlMap(key.sql_type, value.sql_type), loc=node.loc)
        return MapType(key, value, loc=node.loc)
    if isinstance(node, StructType):
        fields = tuple((name, type_node_of(t)) for name, t in node.fields)
        if all(isinstance(t, BuiltinType) for _, t in fields):
            return BuiltinType(
                SqlStruct(tuple((n, t.sql_type) for n, t in fields if isinstance(t, BuiltinType))),
                loc=node.loc,
            )
        return StructType(fields, loc=node.loc)
    return node


def resolve_type(node: TypeNode, lookup: Callable[[str], SqlType | None]) -> SqlType:
    """The ``SqlType`` of ``node``; custom names are resolved with ``lookup`` (name -> type).

    Raises ``LookupError`` naming the custom type when ``lookup`` returns None; the analyzer
    turns it into ksqlDB's wording.
    """
    if isinstance(node, BuiltinType):
        return node.sql_type
    if isinstance(node, CustomType):
        found = lookup(node.name)
        if found is None:
            raise LookupError(node.name)
        return found
    if isinstance(node, ArrayType):
        return SqlArray(resolve_type(node.element, lookup))
    if isinstance(node, MapType):
        return SqlMap(resolve_type(node.key, lookup), resolve_type(node.value, lookup))
    if isinstance(node, StructType):
        return SqlStruct(tuple((n, resolve_type(t, lookup)) for n, t in node.fields))
    raise TypeError(f"not a type node: {node!r}")


# --------------------------------------------------------------------------------------
# Expressions
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expression(Node):
    """Base of expression nodes."""


@dataclass(frozen=True)
class Literal_(Expression):
    """Base of literal nodes (trailing underscore: ``typing.Literal`` is also used here)."""


@dataclass(frozen=True)
class NullLiteral(Literal_):
    """``NULL`` (untyped)."""


@dataclass(frozen=True)
class BooleanLiteral(Literal_):
    """``TRUE`` / ``FALSE`` (any case)."""

    value: bool


@dataclass(frozen=True)
class StringLiteral(Literal_):
    """``'text'``; ``value`` is unescaped (``''`` -> ``'``)."""

    value: str


@dataclass(frozen=True)
class IntegerLiteral(Literal_):
    """An integer literal that fits in 32 bits (SQL INTEGER)."""

    value: int
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class LongLiteral(Literal_):
    """An integer literal that needs 64 bits (SQL BIGINT)."""

    value: int
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class DecimalLiteral(Literal_):
    """``1.5``, ``1.``, ``.5``, ``-0.25`` or ``DECIMAL '1.5'``: SQL DECIMAL with the written digits.

    ``text`` is the literal as written (sign included); equality is by text because
    ``1.50`` and ``1.5`` have different types.
    """

    text: str

    @property
    def value(self) -> decimal.Decimal:
        return decimal.Decimal(self.text)

    @property
    def precision(self) -> int:
        """Digits written, with ksqlDB's rule for values in (-1, 1): precision = scale + 1."""
        precision, _ = _decimal_precision_scale(self.text)
        return precision

    @property
    def scale(self) -> int:
        _, scale = _decimal_precision_scale(self.text)
        return scale


def _decimal_precision_scale(text: str) -> tuple[int, int]:
    # java.math.BigDecimal(text): scale = digits after the point, precision = digits of the
    # unscaled value (1 for zero). ksqlDB's DecimalUtil.fromValue then widens precision to
    # scale + 1 so that values in (-1, 1) form a valid SQL DECIMAL (0.5 -> DECIMAL(2,1)).
    _, digits, exponent = decimal.Decimal(text).as_tuple()
    assert isinstance(exponent, int)
    scale = max(-exponent, 0)
    significant = "".join(str(d) for d in digits).lstrip("0")
    precision = max(len(significant), 1)
    return max(precision, scale + 1), scale


@dataclass(frozen=True)
class DoubleLiteral(Literal_):
    """A literal with an exponent (``1e3``, ``-1.5E-2``): SQL DOUBLE."""

    value: float
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class ColumnRef(Expression):
    """A column reference: ``col`` (``source`` None) or ``src.col``."""

    name: str
    source: str | None = None


@dataclass(frozen=True)
class LambdaVariable(Expression):
    """A reference to a lambda parameter inside the lambda's body."""

    name: str


@dataclass(frozen=True)
class Dereference(Expression):
    """Struct field access ``base->field``."""

    base: Expression
    field_name: str


@dataclass(frozen=True)
class Subscript(Expression):
    """``base[index]``: arrays (1-based, negative from the end) and maps."""

    base: Expression
    index: Expression


@dataclass(frozen=True)
class IntervalUnit(Expression):
    """A time unit used as a function argument, e.g. ``TIMESTAMPADD(SECONDS, 5, ts)``."""

    unit: TimeUnit


@dataclass(frozen=True)
class LambdaFunction(Expression):
    """``x => body`` or ``(x, y) => body``; parameter names are normalised identifiers."""

    params: tuple[str, ...]
    body: Expression


@dataclass(frozen=True)
class FunctionCall(Expression):
    """``NAME(args)``; ``name`` upper-cased. ``COUNT(*)`` has no arguments.

    Lambda arguments appear in ``args`` as ``LambdaFunction`` nodes (the grammar only allows
    them after the ordinary arguments).
    """

    name: str
    args: tuple[Expression, ...] = ()


@dataclass(frozen=True)
class ArithmeticUnary(Expression):
    """``-x`` / ``+x`` where x is not a plain number (a signed number is a literal)."""

    op: Literal["-", "+"]
    operand: Expression


@dataclass(frozen=True)
class ArithmeticBinary(Expression):
    op: ArithmeticOperator
    left: Expression
    right: Expression


@dataclass(frozen=True)
class Comparison(Expression):
    """``left op right`` incl. ``IS DISTINCT FROM`` (``IS NOT DISTINCT FROM`` is ``Not(...)``)."""

    op: ComparisonOperator
    left: Expression
    right: Expression


@dataclass(frozen=True)
class LogicalBinary(Expression):
    op: Literal["AND", "OR"]
    left: Expression
    right: Expression


@dataclass(frozen=True)
class Not(Expression):
    """``NOT operand`` (also the parse of ``NOT BETWEEN`` / ``NOT IN`` / ``NOT LIKE``)."""

    operand: Expression


@dataclass(frozen=True)
class IsNull(Expression):
    value: Expression


@dataclass(frozen=True)
class IsNotNull(Expression):
    value: Expression


@dataclass(frozen=True)
class Between(Expression):
    """``value BETWEEN lower AND upper`` (inclusive)."""

    value: Expression
    lower: Expression
    upper: Expression


@dataclass(frozen=True)
class InList(Expression):
    """``value IN (items...)`` (at least one item)."""

    value: Expression
    items: tuple[Expression, ...]


@dataclass(frozen=True)
class Like(Expression):
    """``value LIKE pattern [ESCAPE 'c']``; ``escape`` is the unquoted escape string."""

    value: Expression
    pattern: Expression
    escape: str | None = None


@dataclass(frozen=True)
class WhenClause(Node):
    """``WHEN condition THEN result`` (for simple CASE, ``condition`` is the compared value)."""

    condition: Expression
    result: Expression


@dataclass(frozen=True)
class SearchedCase(Expression):
    """``CASE WHEN c THEN r ... [ELSE d] END``."""

    whens: tuple[WhenClause, ...]
    default: Expression | None = None


@dataclass(frozen=True)
class SimpleCase(Expression):
    """``CASE operand WHEN v THEN r ... [ELSE d] END``."""

    operand: Expression
    whens: tuple[WhenClause, ...]
    default: Expression | None = None


@dataclass(frozen=True)
class Cast(Expression):
    """``CAST(expression AS type)``."""

    expression: Expression
    type: TypeNode


@dataclass(frozen=True)
class AtTimeZone(Expression):
    """``value AT TIME ZONE 'zone'`` (in SqlBase.g4's valueExpression)."""

    value: Expression
    zone: str


@dataclass(frozen=True)
class CreateArray(Expression):
    """``ARRAY[items...]`` (may be empty)."""

    items: tuple[Expression, ...] = ()


@dataclass(frozen=True)
class CreateMap(Expression):
    """``MAP(k := v, ...)`` (may be empty)."""

    entries: tuple[tuple[Expression, Expression], ...] = ()


@dataclass(frozen=True)
class CreateStruct(Expression):
    """``STRUCT(name := value, ...)``; field names are normalised identifiers."""

    fields: tuple[tuple[str, Expression], ...] = ()
