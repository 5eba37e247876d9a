"""ksqlDB's text form of an expression, as it appears inside error messages.

Owns: :func:`expression_text`, mirroring ksqlDB's ``ExpressionFormatter`` (the ``toString()`` of
expression nodes): binary operators and predicates in parentheses (``(RANDOM() + 1.5)``),
string literals single-quoted with ``''`` escapes, constructors as ``ARRAY[1, 2]``,
``MAP('a':=1)`` and ``STRUCT(F0:=1)``, struct access as ``S->F``. Error messages such as
``Cannot compare B (ARRAY<INTEGER>) to C (ARRAY<INTEGER>) with LESS_THAN.`` quote this form, so
it lives next to the analyzer rather than in the statement formatter.
"""

from __future__ import annotations

import re

from telemetry_lib.ksql.parser import ast_expressions as ast

__all__ = ["expression_text", "identifier_text"]

# An identifier ksqlDB prints without back-quotes: upper-case letters, digits, underscore,
# not starting with a digit.
_PLAIN_IDENTIFIER = re.compile(r"^[A-Z_][A-Z0-9_]*$")


def identifier_text(name: str) -> str:
    """``NAME`` as is; anything needing quotes as ```name```."""
    if _PLAIN_IDENTIFIER.match(name):
        return name
    return "`" + name.replace("`", "``") + "`"


def expression_text(e: ast.Expression) -> str:  # noqa: C901 - one branch per node type
    """The ksqlDB text of ``e``."""
    t = expression_text
    if isinstance(e, ast.NullLiteral):
        return "null"
    if isinstance(e, ast.BooleanLiteral):
        return "true" if e.value else "false"
    if isinstance(e, ast.StringLiteral):
        return "'" + e.value.replace("'", "''") + "'"
    if isinstance(e, (ast.IntegerLiteral, ast.LongLiteral)):
        return str(e.value)
    if isinstance(e, ast.DecimalLiteral):
        return e.text
    if isinstance(e, ast.DoubleLiteral):
        return e.text or repr(e.value)
    if isinstance(e, ast.ColumnRef):
        col = identifier_text(e.name)
        return f"{identifier_text(e.source)}.{col}" if e.source else col
    if isinstance(e, ast.LambdaVariable):
        return e.name
    if isinstance(e, ast.Dereference):
        return f"{t(e.base)}->{identifier_text(e.field_name)}"
    if isinstance(e, ast.Subscript):
        return f"{t(e.base)}[{t(e.index)}]"
    if isinstance(e, ast.IntervalUnit):
        return e.unit
    if isinstance(e, ast.LambdaFunction):
        params = e.params[0] if len(e.params) == 1 else "(" + ", ".join(e.params) + ")"
        return f"{params} => {t(e.body)}"
    if isinstance(e, ast.FunctionCall):
        return f"{e.name}({', '.join(t(a) for a in e.args)})"
    if isinstance(e, ast.ArithmeticUnary):
        return f"{e.op}{t(e.operand)}"
    if isinstance(e, (ast.ArithmeticBinary, ast.Comparison)):
        return f"({t(e.left)} {e.op} {t(e.right)})"
    if isinstance(e, ast.LogicalBinary):
        return f"({t(e.left)} {e.op} {t(e.right)})"
    if isinstance(e, ast.Not):
        return f"(NOT {t(e.operand)})"
    if isinstance(e, ast.IsNull):
        return f"({t(e.value)} IS NULL)"
    if isinstance(e, ast.IsNotNull):
        return f"({t(e.value)} IS NOT NULL)"
    if isinstance(e, ast.Between):
        return f"({t(e.value)} BETWEEN {t(e.lower)} AND {t(e.upper)})"
    if isinstance(e, ast.InList):
        return f"({t(e.value)} IN ({', '.join(t(i) for i in e.items)}))"
    if isinstance(e, ast.Like):
        esc = f" ESCAPE '{e.escape}'" if e.escape is not None else ""
        return f"({t(e.value)} LIKE {t(e.pattern)}{esc})"
    if isinstance(e, ast.SearchedCase):
        parts = ["(CASE"]
        parts += [f"WHEN {t(w.condition)} THEN {t(w.result)}" for w in e.whens]
        if e.default is not None:
            parts.append(f"ELSE {t(e.default)}")
        return " ".join(parts) + " END)"
    if isinstance(e, ast.SimpleCase):
        parts = [f"(CASE {t(e.operand)}"]
        parts += [f"WHEN {t(w.condition)} THEN {t(w.result)}" for w in e.whens]
        if e.default is not None:
            parts.append(f"ELSE {t(e.default)}")
        return " ".join(parts) + " END)"
    if isinstance(e, ast.Cast):
        return f"CAST({t(e.expression)} AS {_type_text(e.type)})"
    if isinstance(e, ast.AtTimeZone):
        return f"{t(e.value)} AT TIME ZONE '{e.zone}'"
    if isinstance(e, ast.CreateArray):
        return f"ARRAY[{', '.join(t(i) for i in e.items)}]"
    if isinstance(e, ast.CreateMap):
        return "MAP(" + ", ".join(f"{t(k)}:={t(v)}" for k, v in e.entries) + ")"
    if isinstance(e, ast.CreateStruct):
        return "STRUCT(" + ", ".join(f"{identifier_text(n)}:={t(v)}" for n, v in e.fields) + ")"
    return type(e).__name__


def _type_text(node: ast.TypeNode) -> str:
    if isinstance(node, ast.BuiltinType):
        return node.sql_type.sql()
    if isinstance(node, ast.CustomType):
        return node.name
    if isinstance(node, ast.ArrayType):
        return f"ARRAY<{_type_text(node.element)}>"
    if isinstance(node, ast.MapType):
        return f"MAP<{_type_text(node.key)}, {_type_text(node.value)}>"
    if isinstance(node, ast.StructType):
        return "STRUCT<" + ", ".join(f"`{n}` {_type_text(t)}" for n, t in node.fields) + ">"
    return type(node).__name__
