"""ksqlDB SQL front end: lexer, AST, parser, formatter, statement splitting, variables.

Public API::

    parse(text) -> list[Statement]                  # every ;-terminated statement, each with .text
    parse_statement(text) -> Statement              # exactly one statement
    parse_expression(text) -> Expression            # one expression (tools, tests)
    parse_type(text) -> TypeNode                    # one type
    split_statements(text) -> list[StatementSource] # raw statement texts (REST statementText)

Errors are ``telemetry_lib.ksql.errors.ParseError`` with ksqlDB's wording
(``line L:C: Syntax Error\\n<detail>\\nStatement: <text>``) and ``line``/``column`` set
(1-based, as ksqlDB prints them). AST nodes live in ``telemetry_lib.ksql.parser.ast``.
"""

from __future__ import annotations

from telemetry_lib.ksql.parser.lexer import StatementSource, split_statements
from telemetry_lib.ksql.parser.parser_statements import (
    parse,
    parse_expression,
    parse_statement,
    parse_type,
)

__all__ = [
    "StatementSource",
    "parse",
    "parse_expression",
    "parse_statement",
    "parse_type",
    "split_statements",
]
