"""AST -> canonical ksqlDB text.

Owns ``format_statement``, ``format_expression``, ``format_type`` and ``quote_identifier``.
The output is canonical, not pretty: upper-case keywords, one line per statement, every
binary/predicate expression parenthesised (as ksqlDB's ExpressionFormatter does), so that
``parse(format_statement(s)) == s`` for every statement ``s`` the parser produces.

Identifiers are written bare when they are a plain upper-case identifier
(``[A-Z_][A-Z0-9_@]*``) that is not a keyword; otherwise back-quoted (doubling back-quotes).
Even non-reserved keywords are quoted, because some of them are context-sensitive
(``ARRAY[``, ``MAP(``, ``EMIT CHANGES``, ``DESCRIBE TABLES``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from telemetry_lib.ksql.parser import ast
from telemetry_lib.ksql.parser.lexer import KEYWORDS
from telemetry_lib.ksql.types import SqlArray, SqlMap, SqlStruct, SqlType

__all__ = [
    "format_expression",
    "format_sql_type",
    "format_statement",
    "format_type",
    "quote_identifier",
]

logger = logging.getLogger(__name__)

_BARE_IDENTIFIER = re.compile(r"[A-Z_][A-Z0-9_@]*")
_JOIN_KEYWORDS: dict[str, str] = {
    "INNER": "INNER JOIN",
    "LEFT": "LEFT JOIN",
    "RIGHT": "RIGHT JOIN",
    "FULL": "FULL OUTER JOIN",
}


def quote_identifier(name: str) -> str:
    """``NAME`` when it needs no quoting, else ```` `name` ```` (back-quotes doubled)."""
    if _BARE_IDENTIFIER.fullmatch(name) and name not in KEYWORDS:
        return name
    return "`" + name.replace("`", "``") + "`"


def _string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# ------------------------------------------------------------------------------ types


def format_type(node: ast.TypeNode) -> str:
    """``INTEGER``, ``DECIMAL(4, 2)``, ``ARRAY<STRUCT<`A` INTEGER>>``, ``MY_TYPE``."""
    if isinstance(node, ast.BuiltinType):
        return format_sql_type(node.sql_type)
    if isinstance(node, ast.CustomType):
        return quote_identifier(node.name)
    if isinstance(node, ast.ArrayType):
        return f"ARRAY<{format_type(node.element)}>"
    if isinstance(node, ast.MapType):
        return f"MAP<{format_type(node.key)}, {format_type(node.value)}>"
    if isinstance(node, ast.StructType):
        inner = ", ".join(f"{quote_identifier(n)} {format_type(t)}" for n, t in node.fields)
        return f"STRUCT<{inner or ' '}>"
    raise TypeError(f"not a type node: {node!r}")


def format_sql_type(sql_type: SqlType) -> str:
    """DDL text of a ``SqlType`` that the parser reads back to the same type.

    Like ``SqlType.sql()`` but struct field names are quoted only when needed and an empty
    struct is written ``STRUCT< >`` (``STRUCT<>`` would lex as STRUCT followed by ``<>``).
    """
    if isinstance(sql_type, SqlArray):
        return f"ARRAY<{format_sql_type(sql_type.element)}>"
    if isinstance(sql_type, SqlMap):
        return f"MAP<{format_sql_type(sql_type.key)}, {format_sql_type(sql_type.value)}>"
    if isinstance(sql_type, SqlStruct):
        inner = ", ".join(f"{quote_identifier(n)} {format_sql_type(t)}" for n, t in sql_type.fields)
        return f"STRUCT<{inner or ' '}>"
    return sql_type.sql()


# ------------------------------------------------------------------------------ expressions


def format_expression(node: ast.Expression) -> str:
    """Canonical text of an expression (binary forms parenthesised)."""
    handler = _EXPRESSION_FORMATTERS.get(type(node))
    if handler is None:
        raise TypeError(f"cannot format expression node {type(node).__name__}")
    return handler(node)


def _double(node: ast.DoubleLiteral) -> str:
    if node.text:
        return node.text
    text = repr(node.value)
    return text if ("e" in text or "E" in text) else text + "E0"


def _unary(node: ast.ArithmeticUnary) -> str:
    operand = format_expression(node.operand)
    if operand[:1].isalpha() or operand[:1] in ("`", "_"):
        return f"{node.op}{operand}"
    return f"{node.op}({operand})"


def _function(node: ast.FunctionCall) -> str:
    if not node.args and node.name == "COUNT":
        return "COUNT(*)"
    args = ", ".join(format_expression(a) for a in node.args)
    return f"{quote_identifier(node.name)}({args})"


def _lambda(node: ast.LambdaFunction) -> str:
    params = [quote_identifier(p) for p in node.params]
    head = params[0] if len(params) == 1 else "(" + ", ".join(params) + ")"
    return f"{head} => {format_expression(node.body)}"


def _whens(whens: tuple[ast.WhenClause, ...], default: ast.Expression | None) -> str:
    parts = [
        f"WHEN {format_expression(w.condition)} THEN {format_expression(w.result)}" for w in whens
    ]
    if default is not None:
        parts.append(f"ELSE {format_expression(default)}")
    return " ".join(parts) + " END"


def _like(node: ast.Like) -> str:
    text = f"({format_expression(node.value)} LIKE {format_expression(node.pattern)}"
    if node.escape is not None:
        text += f" ESCAPE {_string(node.escape)}"
    return text + ")"


def _column(node: ast.ColumnRef) -> str:
    if node.source is None:
        return quote_identifier(node.name)
    return f"{quote_identifier(node.source)}.{quote_identifier(node.name)}"


_EXPRESSION_FORMATTERS: dict[type, Callable[[Any], str]] = {}


def _register() -> None:
    f = format_expression
    table: dict[type, Callable[[Any], str]] = {
        ast.NullLiteral: lambda n: "NULL",
        ast.BooleanLiteral: lambda n: "true" if n.value else "false",
        ast.StringLiteral: lambda n: _string(n.value),
        ast.IntegerLiteral: lambda n: str(n.value),
        ast.LongLiteral: lambda n: str(n.value),
        ast.DecimalLiteral: lambda n: n.text,
        ast.DoubleLiteral: _double,
        ast.ColumnRef: _column,
        ast.LambdaVariable: lambda n: quote_identifier(n.name),
        ast.Dereference: lambda n: f"{f(n.base)}->{quote_identifier(n.field_name)}",
        ast.Subscript: lambda n: f"{f(n.base)}[{f(n.index)}]",
        ast.IntervalUnit: lambda n: n.unit,
        ast.LambdaFunction: _lambda,
        ast.FunctionCall: _function,
        ast.ArithmeticUnary: _unary,
        ast.ArithmeticBinary: lambda n: f"({f(n.left)} {n.op} {f(n.right)})",
        ast.Comparison: lambda n: f"({f(n.left)} {n.op} {f(n.right)})",
        ast.LogicalBinary: lambda n: f"({f(n.left)} {n.op} {f(n.right)})",
        ast.Not: lambda n: f"(NOT {f(n.operand)})",
        ast.IsNull: lambda n: f"({f(n.value)} IS NULL)",
        ast.IsNotNull: lambda n: f"({f(n.value)} IS NOT NULL)",
        ast.Between: lambda n: f"({f(n.value)} BETWEEN {f(n.lower)} AND {f(n.upper)})",
        ast.InList: lambda n: f"({f(n.value)} IN ({', '.join(f(i) for i in n.items)}))",
        ast.Like: _like,
        ast.SearchedCase: lambda n: "CASE " + _whens(n.whens, n.default),
        ast.SimpleCase: lambda n: f"CASE {f(n.operand)} " + _whens(n.whens, n.default),
        ast.Cast: lambda n: f"CAST({f(n.expression)} AS {format_type(n.type)})",
        ast.AtTimeZone: lambda n: f"({f(n.value)} AT TIME ZONE {_string(n.zone)})",
        ast.CreateArray: lambda n: f"ARRAY[{', '.join(f(i) for i in n.items)}]",
        ast.CreateMap: lambda n: "MAP(" + ", ".join(f"{f(k)}:={f(v)}" for k, v in n.entries) + ")",
        ast.CreateStruct: lambda n: (
            "STRUCT(" + ", ".join(f"{quote_identifier(k)}:={f(v)}" for k, v in n.fields) + ")"
        ),
    }
    _EXPRESSION_FORMATTERS.update(table)


_register()


# ------------------------------------------------------------------------------ statements


def format_statement(node: ast.Statement) -> str:
    """Canonical one-line text of a statement, ending with ``;``."""
    return _statement(node) + ";"


def _duration(d: ast.Duration) -> str:
    return f"{d.value} {d.unit}"


def _properties(props: tuple[ast.Property, ...]) -> str:
    parts = []
    for p in props:
        bare = _BARE_IDENTIFIER.fullmatch(p.name) and p.name not in KEYWORDS
        name = p.name if bare else _string(p.name)
        parts.append(f"{name}={format_expression(p.value)}")
    return "(" + ", ".join(parts) + ")"


def _select_item(item: ast.SelectItem) -> str:
    if isinstance(item, ast.AllColumns):
        return "*" if item.source is None else f"{quote_identifier(item.source)}.*"
    if isinstance(item, ast.StructAll):
        return f"{format_expression(item.base)}->*"
    if isinstance(item, ast.SingleColumn):
        text = format_expression(item.expression)
        return text if item.alias is None else f"{text} AS {quote_identifier(item.alias)}"
    raise TypeError(f"not a select item: {item!r}")


def _aliased(rel: ast.AliasedRelation) -> str:
    text = quote_identifier(rel.name)
    return text if rel.alias is None else f"{text} AS {quote_identifier(rel.alias)}"


def _relation(rel: ast.Relation) -> str:
    if isinstance(rel, ast.AliasedRelation):
        return _aliased(rel)
    if isinstance(rel, ast.JoinRelation):
        parts = [_aliased(rel.left)]
        for j in rel.joins:
            text = f"{_JOIN_KEYWORDS[j.join_type]} {_aliased(j.relation)}"
            if j.within is not None:
                w = j.within
                if w.before == w.after:
                    text += f" WITHIN {_duration(w.before)}"
                else:
                    text += f" WITHIN ({_duration(w.before)}, {_duration(w.after)})"
                if w.grace is not None:
                    text += f" GRACE PERIOD {_duration(w.grace)}"
            text += f" ON {format_expression(j.criteria)}"
            parts.append(text)
        return " ".join(parts)
    raise TypeError(f"not a relation: {rel!r}")


def _window(w: ast.WindowExpression) -> str:
    if isinstance(w, ast.TumblingWindow):
        parts = [f"SIZE {_duration(w.size)}"]
        kind = "TUMBLING"
    elif isinstance(w, ast.HoppingWindow):
        parts = [f"SIZE {_duration(w.size)}", f"ADVANCE BY {_duration(w.advance)}"]
        kind = "HOPPING"
    elif isinstance(w, ast.SessionWindow):
        parts = [_duration(w.gap)]
        kind = "SESSION"
    else:
        raise TypeError(f"not a window: {w!r}")
    if w.retention is not None:
        parts.append(f"RETENTION {_duration(w.retention)}")
    if w.grace is not None:
        parts.append(f"GRACE PERIOD {_duration(w.grace)}")
    return f"{kind} ({', '.join(parts)})"


def _query(q: ast.Query) -> str:
    parts = ["SELECT " + ", ".join(_select_item(i) for i in q.select), "FROM " + _relation(q.from_)]
    if q.window is not None:
        parts.append("WINDOW " + _window(q.window))
    if q.where is not None:
        parts.append("WHERE " + format_expression(q.where))
    if q.group_by is not None:
        items = ", ".join(format_expression(e) for e in q.group_by)
        parts.append(f"GROUP BY {items}" if q.group_by else "GROUP BY ()")
    if q.partition_by is not None:
        items = ", ".join(format_expression(e) for e in q.partition_by)
        parts.append(f"PARTITION BY {items}" if q.partition_by else "PARTITION BY ()")
    if q.having is not None:
        parts.append("HAVING " + format_expression(q.having))
    if q.emit is not None:
        parts.append("EMIT " + q.emit)
    if q.limit is not None:
        parts.append(f"LIMIT {q.limit}")
    return " ".join(parts)


def _element(e: ast.TableElement) -> str:
    text = f"{quote_identifier(e.name)} {format_type(e.type)}"
    if e.constraint == "HEADER":
        return f"{text} HEADER({_string(e.header_key or '')})"
    if e.constraint is not None:
        return f"{text} {e.constraint}"
    return text


def _optional_id(keyword: str, query_id: str | None) -> str:
    return f"{keyword} {'ALL' if query_id is None else quote_identifier(query_id)}"


def _statement(node: ast.Statement) -> str:  # noqa: C901 - one branch per statement kind
    q = quote_identifier
    if isinstance(node, ast.Query):
        return _query(node)
    if isinstance(node, ast.CreateSource):
        text = "CREATE " + ("OR REPLACE " if node.or_replace else "")
        text += ("SOURCE " if node.is_source else "") + node.kind + " "
        text += ("IF NOT EXISTS " if node.if_not_exists else "") + q(node.name)
        if node.elements:
            text += " (" + ", ".join(_element(e) for e in node.elements) + ")"
        if node.properties:
            text += " WITH " + _properties(node.properties)
        return text
    if isinstance(node, ast.CreateAsSelect):
        text = "CREATE " + ("OR REPLACE " if node.or_replace else "") + node.kind + " "
        text += ("IF NOT EXISTS " if node.if_not_exists else "") + q(node.name)
        if node.properties:
            text += " WITH " + _properties(node.properties)
        return text + " AS " + _query(node.query)
    if isinstance(node, ast.InsertInto):
        text = f"INSERT INTO {q(node.target)}"
        if node.properties:
            text += " WITH " + _properties(node.properties)
        return text + " " + _query(node.query)
    if isinstance(node, ast.InsertValues):
        text = f"INSERT INTO {q(node.target)}"
        if node.columns:
            text += " (" + ", ".join(q(c) for c in node.columns) + ")"
        return text + " VALUES (" + ", ".join(format_expression(v) for v in node.values) + ")"
    if isinstance(node, ast.DropSource):
        text = f"DROP {node.kind} " + ("IF EXISTS " if node.if_exists else "") + q(node.name)
        return text + (" DELETE TOPIC" if node.delete_topic else "")
    if isinstance(node, ast.ListTopics):
        extended = " EXTENDED" if node.extended else ""
        return "SHOW " + ("ALL " if node.all else "") + "TOPICS" + extended
    simple_lists: dict[type, str] = {
        ast.ListStreams: "SHOW STREAMS",
        ast.ListTables: "SHOW TABLES",
        ast.ListQueries: "SHOW QUERIES",
        ast.DescribeStreams: "DESCRIBE STREAMS",
        ast.DescribeTables: "DESCRIBE TABLES",
    }
    if type(node) in simple_lists:
        return simple_lists[type(node)] + (" EXTENDED" if getattr(node, "extended", False) else "")
    fixed: dict[type, str] = {
        ast.ListProperties: "SHOW PROPERTIES",
        ast.ListFunctions: "SHOW FUNCTIONS",
        ast.ListTypes: "SHOW TYPES",
        ast.ListVariables: "SHOW VARIABLES",
        ast.ListConnectorPlugins: "SHOW CONNECTOR PLUGINS",
    }
    if type(node) in fixed:
        return fixed[type(node)]
    if isinstance(node, ast.ListConnectors):
        return "SHOW " + (f"{node.scope} " if node.scope else "") + "CONNECTORS"
    if isinstance(node, ast.DescribeSource):
        return f"DESCRIBE {q(node.name)}" + (" EXTENDED" if node.extended else "")
    if isinstance(node, ast.DescribeFunction):
        return f"DESCRIBE FUNCTION {q(node.name)}"
    if isinstance(node, ast.DescribeConnector):
        return f"DESCRIBE CONNECTOR {q(node.name)}"
    if isinstance(node, ast.Explain):
        if node.statement is not None:
            return "EXPLAIN " + _statement(node.statement)
        return f"EXPLAIN {q(node.query_id or '')}"
    if isinstance(node, ast.TerminateQuery):
        return _optional_id("TERMINATE", node.query_id)
    if isinstance(node, ast.PauseQuery):
        return _optional_id("PAUSE", node.query_id)
    if isinstance(node, ast.ResumeQuery):
        return _optional_id("RESUME", node.query_id)
    if isinstance(node, ast.SetProperty):
        return f"SET {_string(node.name)}={_string(node.value)}"
    if isinstance(node, ast.UnsetProperty):
        return f"UNSET {_string(node.name)}"
    if isinstance(node, ast.AlterSystemProperty):
        return f"ALTER SYSTEM {_string(node.name)}={_string(node.value)}"
    if isinstance(node, ast.DefineVariable):
        return f"DEFINE {node.name}={_string(node.value)}"
    if isinstance(node, ast.UndefineVariable):
        return f"UNDEFINE {node.name}"
    if isinstance(node, ast.PrintTopic):
        text = f"PRINT {_string(node.topic)}" + (" FROM BEGINNING" if node.from_beginning else "")
        if node.interval is not None:
            text += f" INTERVAL {node.interval}"
        return text + (f" LIMIT {node.limit}" if node.limit is not None else "")
    if isinstance(node, ast.RegisterType):
        exists = "IF NOT EXISTS " if node.if_not_exists else ""
        return f"CREATE TYPE {exists}{q(node.name)} AS {format_type(node.type)}"
    if isinstance(node, ast.DropType):
        return "DROP TYPE " + ("IF EXISTS " if node.if_exists else "") + q(node.name)
    if isinstance(node, ast.AlterSource):
        columns = ", ".join(f"ADD COLUMN {q(c.name)} {format_type(c.type)}" for c in node.columns)
        return f"ALTER {node.kind} {q(node.name)} {columns}"
    if isinstance(node, ast.CreateConnector):
        exists = "IF NOT EXISTS " if node.if_not_exists else ""
        return (
            f"CREATE {node.connector_type} CONNECTOR {exists}{q(node.name)} "
            f"WITH {_properties(node.properties)}"
        )
    if isinstance(node, ast.DropConnector):
        return "DROP CONNECTOR " + ("IF EXISTS " if node.if_exists else "") + q(node.name)
    raise TypeError(f"cannot format statement node {type(node).__name__}")
