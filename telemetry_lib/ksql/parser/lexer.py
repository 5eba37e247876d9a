"""Lexer for ksqlDB's SQL dialect (the lexer rules of ``SqlBase.g4``), plus statement splitting.

Owns: ``Token``/``tokenize`` (hidden-channel tokens — whitespace, ``--`` and ``/* */``
comments — are dropped), the keyword tables (all keywords, the non-reserved ones usable as
identifiers), ANTLR-style display names used in ``Expecting {...}`` messages, and
``split_statements`` which cuts a script at top-level ``;`` (quotes and comments respected).

Rules mirrored from the grammar (matching is case-insensitive, like ksqlDB's
CaseInsensitiveStream; token text keeps the original case):

- longest match wins; on equal length the rule declared first wins (keywords before
  IDENTIFIER, INTEGER_VALUE before DIGIT_IDENTIFIER, FLOATING_POINT_VALUE before DIGIT_IDENTIFIER);
- ``IDENTIFIER: [A-Z_][A-Z0-9_@]*``; ``DIGIT_IDENTIFIER: [0-9][A-Z0-9_@]+``;
- ``STRING: '...'`` with ``''`` escapes; double-quoted and back-quoted identifiers with
  doubled-quote escapes; ``VARIABLE: ${IDENTIFIER}``;
- numbers: ``INTEGER_VALUE``, ``DECIMAL_VALUE`` (``1.5``, ``1.``, ``.5``), ``FLOATING_POINT_VALUE``
  (with an exponent);
- anything else is one ``UNRECOGNIZED`` character (the parser reports it). Typographic quotes
  (‘ ’ “ ”) are UNRECOGNIZED too; the parser gives them a dedicated, pointed message.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

__all__ = [
    "KEYWORDS",
    "NON_RESERVED",
    "RESERVED",
    "StatementSource",
    "TYPOGRAPHIC_QUOTES",
    "Token",
    "display_name",
    "expected_set",
    "is_reserved",
    "split_statements",
    "tokenize",
]

logger = logging.getLogger(__name__)

# Keyword tokens in SqlBase.g4's lexer declaration order (the order ANTLR numbers them, which
# is the order it lists them in "Expecting {...}"). PAUSE/RESUME come from newer grammars.
_KEYWORD_ORDER: tuple[str, ...] = (
    "EMIT",
    "CHANGES",
    "FINAL",
    "SELECT",
    "FROM",
    "AS",
    "ALL",
    "DISTINCT",
    "WHERE",
    "WITHIN",
    "WINDOW",
    "GROUP",
    "BY",
    "HAVING",
    "LIMIT",
    "AT",
    "OR",
    "AND",
    "IN",
    "NOT",
    "EXISTS",
    "BETWEEN",
    "LIKE",
    "ESCAPE",
    "IS",
    "NULL",
    "TRUE",
    "FALSE",
    "INTEGER",
    "DATE",
    "TIME",
    "TIMESTAMP",
    "INTERVAL",
    "YEAR",
    "MONTH",
    "DAY",
    "HOUR",
    "MINUTE",
    "SECOND",
    "MILLISECOND",
    "YEARS",
    "MONTHS",
    "DAYS",
    "HOURS",
    "MINUTES",
    "SECONDS",
    "MILLISECONDS",
    "ZONE",
    "TUMBLING",
    "HOPPING",
    "SIZE",
    "ADVANCE",
    "RETENTION",
    "GRACE",
    "PERIOD",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "JOIN",
    "FULL",
    "OUTER",
    "INNER",
    "LEFT",
    "RIGHT",
    "ON",
    "PARTITION",
    "STRUCT",
    "WITH",
    "VALUES",
    "CREATE",
    "TABLE",
    "TOPIC",
    "STREAM",
    "STREAMS",
    "INSERT",
    "DELETE",
    "INTO",
    "DESCRIBE",
    "EXTENDED",
    "PRINT",
    "EXPLAIN",
    "ANALYZE",
    "TYPE",
    "TYPES",
    "CAST",
    "SHOW",
    "LIST",
    "TABLES",
    "TOPICS",
    "QUERY",
    "QUERIES",
    "TERMINATE",
    "LOAD",
    "COLUMNS",
    "COLUMN",
    "PARTITIONS",
    "FUNCTIONS",
    "FUNCTION",
    "DROP",
    "TO",
    "RENAME",
    "ARRAY",
    "MAP",
    "SET",
    "DEFINE",
    "UNDEFINE",
    "RESET",
    "SESSION",
    "SAMPLE",
    "EXPORT",
    "CATALOG",
    "PROPERTIES",
    "BEGINNING",
    "UNSET",
    "RUN",
    "SCRIPT",
    "DECIMAL",
    "KEY",
    "CONNECTOR",
    "CONNECTORS",
    "SINK",
    "SOURCE",
    "NAMESPACE",
    "MATERIALIZED",
    "VIEW",
    "PRIMARY",
    "REPLACE",
    "ASSERT",
    "ADD",
    "ALTER",
    "VARIABLES",
    "PLUGINS",
    "HEADERS",
    "HEADER",
    "SYSTEM",
    "TIMEOUT",
    "SCHEMA",
    "SUBJECT",
    "ID",
    "PAUSE",
    "RESUME",
    "IF",
)
# 'STRING' is an implicit literal token of the grammar (typeParameter / nonReserved), not a
# lexer rule: it is a keyword usable as an identifier.
KEYWORDS: frozenset[str] = frozenset((*_KEYWORD_ORDER, "STRING"))

# SqlBase.g4's nonReserved rule: keywords that may still be used as identifiers.
NON_RESERVED: frozenset[str] = frozenset(
    {
        "SHOW",
        "TABLES",
        "COLUMNS",
        "COLUMN",
        "PARTITIONS",
        "FUNCTIONS",
        "FUNCTION",
        "SESSION",
        "STRUCT",
        "MAP",
        "ARRAY",
        "PARTITION",
        "INTEGER",
        "DATE",
        "TIME",
        "TIMESTAMP",
        "INTERVAL",
        "ZONE",
        "STRING",
        "YEAR",
        "MONTH",
        "DAY",
        "HOUR",
        "MINUTE",
        "SECOND",
        "EXPLAIN",
        "ANALYZE",
        "TYPE",
        "TYPES",
        "SET",
        "RESET",
        "IF",
        "SOURCE",
        "SINK",
        "PRIMARY",
        "KEY",
        "EMIT",
        "CHANGES",
        "FINAL",
        "ESCAPE",
        "REPLACE",
        "ASSERT",
        "ALTER",
        "ADD",
        "HEADER",
        "HEADERS",
        "GRACE",
        "PERIOD",
        "DEFINE",
        "UNDEFINE",
        "VARIABLES",
        "PLUGINS",
        "SYSTEM",
        "TIMEOUT",
        "SCHEMA",
        "SUBJECT",
        "ID",
        "PAUSE",
        "RESUME",
    }
)
RESERVED: frozenset[str] = KEYWORDS - NON_RESERVED

# Implicit literal tokens in the order they first appear in SqlBase.g4's parser rules
# (ANTLR numbers them before the lexer rules), then named operator/literal tokens in lexer
# order. Used only to order and spell "Expecting {...}" sets like ANTLR does.
_IMPLICIT_ORDER: tuple[str, ...] = (";", ",", "(", ")", ".", "[", "]", "STRING")
_OPERATOR_ORDER: tuple[str, ...] = (
    "=",
    "<>",
    "<",
    "<=",
    ">",
    ">=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "||",
    ":=",
    "->",
    "=>",
)
_VALUE_ORDER: tuple[str, ...] = (
    "STRING_LITERAL",
    "INTEGER_VALUE",
    "DECIMAL_VALUE",
    "FLOATING_POINT_VALUE",
    "IDENTIFIER",
    "DIGIT_IDENTIFIER",
    "QUOTED_IDENTIFIER",
    "BACKQUOTED_IDENTIFIER",
    "VARIABLE",
)
_TOKEN_RANK: dict[str, int] = {
    kind: rank
    for rank, kind in enumerate(
        ("EOF", *_IMPLICIT_ORDER, *_KEYWORD_ORDER, *_OPERATOR_ORDER, *_VALUE_ORDER)
    )
}
# ANTLR shows a token by its literal when it has one, else by its symbolic name.
_SYMBOLIC_NAMES: dict[str, str] = {
    "STRING_LITERAL": "STRING",
    "<>": "NEQ",
    "EOF": "<EOF>",
}

_SYMBOLS_2: frozenset[str] = frozenset({"<>", "!=", "<=", ">=", "||", ":=", "->", "=>"})
_SYMBOLS_1: frozenset[str] = frozenset("(),.;[]<>=+-*/%")
TYPOGRAPHIC_QUOTES: str = "\u2018\u2019\u201c\u201d"

# Compiled sub-rules of the lexer (the per-character work is done by the regex engine).
_WS_RE = re.compile(r"[ \r\n\t]+")
_WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_@]*")
_DIGIT_IDENTIFIER_RE = re.compile(r"[0-9][A-Za-z0-9_@]+")
_NUMBER_RE = re.compile(r"(?:[0-9]+(\.[0-9]*)?|(\.)[0-9]+)([eE][+-]?[0-9]+)?")
_QUOTED_RE: dict[str, re.Pattern[str]] = {
    q: re.compile(f"{q}[^{q}]*(?:{q}{q}[^{q}]*)*{q}") for q in ("'", '"', "`")
}
_QUOTED_KIND: dict[str, str] = {
    "'": "STRING_LITERAL",
    '"': "QUOTED_IDENTIFIER",
    "`": "BACKQUOTED_IDENTIFIER",
}
_VARIABLE_RE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_@]*\}")
_DIGITS = frozenset("0123456789")


class Token(NamedTuple):
    """One token. ``kind`` is the keyword (``"SELECT"``), the symbol (``"("``, ``"<>"``) or one
    of ``IDENTIFIER, DIGIT_IDENTIFIER, QUOTED_IDENTIFIER, BACKQUOTED_IDENTIFIER, STRING_LITERAL,
    INTEGER_VALUE, DECIMAL_VALUE, FLOATING_POINT_VALUE, VARIABLE, UNRECOGNIZED, EOF``.

    ``line`` is 1-based, ``column`` 1-based (ANTLR charPositionInLine + 1); ``start``/``end`` are
    offsets into the source text (end exclusive). A NamedTuple: immutable and cheap to build.
    """

    kind: str
    text: str
    line: int
    column: int
    start: int
    end: int

    @property
    def is_word(self) -> bool:
        """An unquoted word: a keyword or an IDENTIFIER."""
        return self.kind == "IDENTIFIER" or self.kind in KEYWORDS


def is_reserved(word: str) -> bool:
    """Whether ``word`` (any case) is a reserved keyword that must be quoted as an identifier."""
    return word.upper() in RESERVED


def display_name(kind: str) -> str:
    """How ANTLR names a token kind in messages: ``'SELECT'``, ``','``, ``INTEGER_VALUE``."""
    if kind in _SYMBOLIC_NAMES:
        return _SYMBOLIC_NAMES[kind]
    if kind in KEYWORDS or kind in _IMPLICIT_ORDER or kind in _OPERATOR_ORDER:
        return f"'{kind}'"
    return kind


def expected_set(kinds: set[str] | frozenset[str] | list[str] | tuple[str, ...]) -> str:
    """``{'a', 'b', NAME}`` in ANTLR's token-type order."""
    ordered = sorted(set(kinds), key=lambda k: (_TOKEN_RANK.get(k, 10_000), k))
    return "{" + ", ".join(display_name(k) for k in ordered) + "}"


def _match(text: str, pos: int) -> tuple[str, int]:
    """Kind and end offset of the (longest, first-declared) token at ``pos``.

    Hidden tokens have kinds ``WS`` and ``COMMENT``.
    """
    c = text[pos]
    if c in " \r\n\t":
        m = _WS_RE.match(text, pos)
        assert m is not None
        return ("WS", m.end())
    if c == "-" and text.startswith("--", pos) and pos + 2 < len(text):
        # SIMPLE_COMMENT / DIRECTIVE_COMMENT: '--', one more char, then to the end of line.
        # Deliberate deviation: ANTLR lets that one char be the newline itself, so an empty
        # "--" line would swallow the next line; here a comment always ends at its newline.
        end = text.find("\n", pos + 2)
        return ("COMMENT", len(text) if end < 0 else end + 1)
    if c == "/" and text.startswith("/*", pos):
        end = text.find("*/", pos + 2)
        if end >= 0:
            return ("COMMENT", end + 2)
    if c in _QUOTED_KIND:
        m = _QUOTED_RE[c].match(text, pos)
        return (_QUOTED_KIND[c], m.end()) if m else ("UNRECOGNIZED", pos + 1)
    if c in _DIGITS or (c == "." and pos + 1 < len(text) and text[pos + 1] in _DIGITS):
        return _number(text, pos)
    m = _WORD_RE.match(text, pos)
    if m:
        word = m.group().upper()
        return (word if word in KEYWORDS else "IDENTIFIER", m.end())
    if c == "$":
        m = _VARIABLE_RE.match(text, pos)
        if m:
            return ("VARIABLE", m.end())
    two = text[pos : pos + 2]
    if two in _SYMBOLS_2:
        return ("<>" if two == "!=" else two, pos + 2)
    if c in _SYMBOLS_1:
        return (c, pos + 1)
    return ("UNRECOGNIZED", pos + 1)


def _number(text: str, pos: int) -> tuple[str, int]:
    m = _NUMBER_RE.match(text, pos)
    assert m is not None
    if m.group(3):
        kind = "FLOATING_POINT_VALUE"
    elif m.group(1) is not None or m.group(2):
        kind = "DECIMAL_VALUE"
    else:
        kind = "INTEGER_VALUE"
    end = m.end()
    # DIGIT_IDENTIFIER is declared after the numbers: it wins only when strictly longer.
    d = _DIGIT_IDENTIFIER_RE.match(text, pos)
    if d and d.end() > end:
        return ("DIGIT_IDENTIFIER", d.end())
    return (kind, end)


def _raw_tokens(text: str, line: int, column: int) -> Iterator[tuple[str, int, int, int, int]]:
    """(kind, start, end, line, column) of every token, hidden ones included, then EOF."""
    pos, n = 0, len(text)
    line_start = 1 - column  # a virtual line start so that offset 0 is at ``column``
    while pos < n:
        kind, end = _match(text, pos)
        yield (kind, pos, end, line, pos - line_start + 1)
        newlines = text.count("\n", pos, end)
        if newlines:
            line += newlines
            line_start = text.rfind("\n", pos, end) + 1
        pos = end
    yield ("EOF", n, n, line, n - line_start + 1)


def tokenize(text: str, *, line: int = 1, column: int = 1) -> list[Token]:
    """All visible tokens of ``text`` ending with an EOF token (never raises).

    ``line``/``column`` give the position of ``text[0]`` when ``text`` is a piece of a larger
    script, so that locations stay relative to the script.
    """
    return [
        Token(kind, text[start:end], ln, col, start, end)
        for kind, start, end, ln, col in _raw_tokens(text, line, column)
        if kind != "WS" and kind != "COMMENT"
    ]


@dataclass(frozen=True)
class StatementSource:
    """One statement of a script: its text (up to and including ``;`` when present), the
    offset where it starts in the script, and the line/column (1-based) of that start."""

    text: str
    start: int
    line: int
    column: int


def split_statements(text: str) -> list[StatementSource]:
    """Cut ``text`` at top-level ``;`` (not inside quotes or comments).

    Each piece starts at its first token (leading whitespace/comments skipped) and ends with
    its ``;``; a trailing piece without ``;`` is returned too (the parser then reports the
    missing ``;``). Empty pieces (``;;``) are skipped.
    """
    out: list[StatementSource] = []
    first: tuple[int, int, int] | None = None  # start, line, column of current statement
    for kind, start, end, line, column in _raw_tokens(text, 1, 1):
        if kind in ("WS", "COMMENT"):
            continue
        if kind == "EOF":
            if first is not None:
                s, ln, c = first
                out.append(StatementSource(text[s:].rstrip(), s, ln, c))
            break
        if kind == ";":
            if first is not None:
                s, ln, c = first
                out.append(StatementSource(text[s:end], s, ln, c))
            first = None
        elif first is None:
            first = (start, line, column)
    return out
