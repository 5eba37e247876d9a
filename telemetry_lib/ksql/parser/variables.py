"""``DEFINE``/``${var}`` variable substitution and script parsing with variables.

Owns ``substitute_variables`` (text substitution before parsing, as ksqlDB's
VariableSubstitutor does) and ``parse_script`` (split a script, substitute each statement
with the variables defined so far, parse it, and apply its DEFINE/UNDEFINE).

ksqlDB's rules, mirrored here:

- a reference is ``${name}``; names are ``[A-Za-z_][A-Za-z0-9_@]*`` and case-insensitive;
- references are replaced where they stand as a token (``replicas = ${replicas}``) and inside
  string literals (``value_format = '${format}'``); comments and quoted identifiers are left
  alone; ``$${name}`` escapes a reference (it becomes the text ``${name}``);
- a reference to an undefined variable is left as is, and the parser then rejects it with
  ``Illegal argument at Line: L, Col: C. ...``;
- DEFINE values arrive unquoted (``DEFINE x = 'abc'`` gives ``abc``); inside a string literal
  a value's single quotes are doubled so the literal stays well-formed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from telemetry_lib.ksql.parser import ast
from telemetry_lib.ksql.parser.lexer import split_statements, tokenize
from telemetry_lib.ksql.parser.parser_statements import parse

__all__ = ["parse_script", "substitute_variables"]

logger = logging.getLogger(__name__)

# A reference inside a string literal, optionally escaped by a second '$'.
_REFERENCE = re.compile(r"(\$?)\$\{([A-Za-z_][A-Za-z0-9_@]*)\}")


def _lookup(variables: Mapping[str, str], name: str) -> str | None:
    if name in variables:
        return variables[name]
    upper = name.upper()
    for key, value in variables.items():
        if key.upper() == upper:
            return value
    return None


def substitute_variables(text: str, variables: Mapping[str, str]) -> str:
    """``text`` with every defined ``${name}`` replaced by its value (see module doc)."""
    if "${" not in text:
        return text
    out: list[str] = []
    last = 0
    tokens = tokenize(text)
    for index, token in enumerate(tokens):
        if token.kind == "VARIABLE":
            previous = tokens[index - 1] if index else None
            escaped = (
                previous is not None
                and previous.kind == "UNRECOGNIZED"
                and previous.text == "$"
                and previous.end == token.start
            )
            if escaped:
                out.append(text[last : token.start - 1])
                out.append(token.text)
                last = token.end
                continue
            value = _lookup(variables, token.text[2:-1])
            if value is not None:
                out.append(text[last : token.start])
                out.append(value)
                last = token.end
        elif token.kind == "STRING_LITERAL" and "${" in token.text:
            out.append(text[last : token.start])
            out.append(_substitute_in_string(token.text, variables))
            last = token.end
    out.append(text[last:])
    return "".join(out)


def _substitute_in_string(literal: str, variables: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(1):
            return match.group(0)[1:]
        value = _lookup(variables, match.group(2))
        return match.group(0) if value is None else value.replace("'", "''")

    return _REFERENCE.sub(replace, literal)


def parse_script(
    text: str,
    *,
    variables: Mapping[str, str] | None = None,
    substitution: bool = True,
) -> tuple[list[ast.Statement], dict[str, str]]:
    """Parse a script statement by statement, applying DEFINE/UNDEFINE as they come.

    Returns the statements (each ``text`` is the substituted statement text) and the
    variables in force after the last statement (a new dict; ``variables`` is not changed).
    Locations stay relative to ``text`` when a statement needs no substitution.
    ``substitution=False`` mirrors ``ksql.variable.substitution.enable=false``.
    """
    current: dict[str, str] = dict(variables or {})
    out: list[ast.Statement] = []
    for piece in split_statements(text):
        source = substitute_variables(piece.text, current) if substitution else piece.text
        for statement in parse(source, line=piece.line, column=piece.column):
            if isinstance(statement, ast.DefineVariable):
                for key in [k for k in current if k.upper() == statement.name.upper()]:
                    del current[key]
                current[statement.name] = statement.value
            elif isinstance(statement, ast.UndefineVariable):
                for key in [k for k in current if k.upper() == statement.name.upper()]:
                    del current[key]
            out.append(statement)
    return out, current
