"""ksqlDB SQL front end: lexer, AST, parser, formatter, statement splitting, variables.

Public API::

    parse(text, *, line=1, column=1) -> list[Statement]  # every ;-terminated statement (.text set)
    parse_statement(text) -> Statement              # exactly one statement
    parse_expression(text) -> Expression            # one expression (tools, tests)
    parse_type(text) -> TypeNode                    # one type
    split_statements(text) -> list[StatementSource] # raw statement texts + their line/column
    substitute_variables(text, variables) -> str    # ${name} substitution (DEFINE values)
    parse_script(text, *, variables=None) -> (statements, variables_after)
    format_statement(stmt) / format_expression(expr) / format_type(t) -> canonical text
    quote_identifier(name) -> str                   # NAME or `name` as the formatter writes it
    mark_error(text, line, column) / explain_parse_error(err, text) -> caret display

Errors are ``telemetry_lib.ksql.errors.ParseError`` with ksqlDB's wording
(``line L:C: Syntax Error\\n<detail>\\nStatement: <text>``) and ``line``/``column`` set
(1-based, as ksqlDB prints them). To keep script-relative positions when parsing one piece
of a script, pass the piece's ``line``/``column`` (from ``split_statements``) to ``parse``.
AST nodes live in ``telemetry_lib.ksql.parser.ast``.
"""

from __future__ import annotations

from telemetry_lib.ksql.parser.diagnostics import explain_parse_error, mark_error
from telemetry_lib.ksql.parser.formatter import (
    format_expression,
    format_statement,
    format_type,
    quote_identifier,
)
from telemetry_lib.ksql.parser.lexer import StatementSource, split_statements
from telemetry_lib.ksql.parser.parser_statements import (
    parse,
    parse_expression,
    parse_statement,
    parse_type,
)
from telemetry_lib.ksql.parser.variables import parse_script, substitute_variables

__all__ = [
    "StatementSource",
    "explain_parse_error",
    "format_expression",
    "format_statement",
    "format_type",
    "mark_error",
    "parse",
    "parse_expression",
    "parse_script",
    "parse_statement",
    "parse_type",
    "quote_identifier",
    "split_statements",
    "substitute_variables",
]
