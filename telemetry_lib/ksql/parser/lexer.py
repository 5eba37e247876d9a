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
from dataclasses import dataclass

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

_SYMBOLS_2: tuple[str, ...] = ("<>", "!=", "<=", ">=", "||", ":=", "->", "=>")
_SYMBOLS_1: str = "(),.;[]<>=+-*/%"
_WHITESPACE: str = " \r\n\t"
TYPOGRAPHIC_QUOTES: str = "\u2018\u2019\u201c\u201d"


@dataclass(frozen=True)
class Token:
    """One token. ``kind`` is the keyword (``"SELECT"``), the symbol (``"("``, ``"<>"``) or one
    of ``IDENTIFIER, DIGIT_IDENTIFIER, QUOTED_IDENTIFIER, BACKQUOTED_IDENTIFIER, STRING_LITERAL,
    INTEGER_VALUE, DECIMAL_VALUE, FLOATING_POINT_VALUE, VARIABLE, UNRECOGNIZED, EOF``.

    ``line`` is 1-based, ``column`` 1-based (ANTLR charPositionInLine + 1); ``start``/``end`` are
    offsets into the source text (end exclusive).
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


def _is_letter(c: str) -> bool:
    return ("A" <= c <= "Z") or ("a" <= c <= "z")


def _is_digit(c: str) -> bool:
    return "0" <= c <= "9"


def _is_ident_part(c: str) -> bool:
    return _is_letter(c) or _is_digit(c) or c == "_" or c == "@"


class _Scanner:
    """Cursor over the text that tracks line/column and produces raw tokens (hidden included)."""

    def __init__(self, text: str, *, line: int = 1, column: int = 1) -> None:
        self.text = text
        self.pos = 0
        self.line = line
        # A virtual start of line so that offset 0 is reported at ``column``.
        self.line_start = 1 - column

    def _advance_to(self, end: int) -> None:
        text = self.text
        newline = text.rfind("\n", self.pos, end)
        if newline >= 0:
            self.line += text.count("\n", self.pos, end)
            self.line_start = newline + 1
        self.pos = end

    def next_raw(self) -> tuple[str, int, int, int, int]:
        """(kind, start, end, line, column) of the next token; hidden kinds are WS/COMMENT."""
        text, pos = self.text, self.pos
        line, column = self.line, pos - self.line_start + 1
        n = len(text)
        if pos >= n:
            return ("EOF", pos, pos, line, column)
        kind, end = _match(text, pos, n)
        self._advance_to(end)
        return (kind, pos, end, line, column)


def _scan_quoted(text: str, pos: int, n: int, quote: str) -> int:
    """End offset of a quoted token starting at pos (doubled quote escapes), or -1."""
    i = pos + 1
    while i < n:
        c = text[i]
        if c == quote:
            if i + 1 < n and text[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    return -1


def _scan_number(text: str, pos: int, n: int) -> tuple[str, int]:
    """Longest numeric token at pos (kind, end) or ("", pos) if none."""
    i = pos
    while i < n and _is_digit(text[i]):
        i += 1
    int_digits = i - pos
    kind = "INTEGER_VALUE" if int_digits else ""
    end = i
    if i < n and text[i] == ".":
        j = i + 1
        while j < n and _is_digit(text[j]):
            j += 1
        frac_digits = j - i - 1
        if int_digits or frac_digits:
            kind, end, i = "DECIMAL_VALUE", j, j
    if kind and i < n and text[i] in "eE":
        j = i + 1
        if j < n and text[j] in "+-":
            j += 1
        k = j
        while k < n and _is_digit(text[k]):
            k += 1
        if k > j:
            kind, end = "FLOATING_POINT_VALUE", k
    return kind, end


def _match(text: str, pos: int, n: int) -> tuple[str, int]:
    c = text[pos]
    if c in _WHITESPACE:
        i = pos + 1
        while i < n and text[i] in _WHITESPACE:
            i += 1
        return ("WS", i)
    if c == "-" and text.startswith("--", pos) and pos + 2 < n:
        # SIMPLE_COMMENT / DIRECTIVE_COMMENT: '--' then at least one more char.
        end = text.find("\n", pos + 2)
        if end < 0:
            return ("COMMENT", n)
        return ("COMMENT", end + 1)
    if c == "/" and text.startswith("/*", pos):
        end = text.find("*/", pos + 2)
        if end >= 0:
            return ("COMMENT", end + 2)
    if c == "'":
        end = _scan_quoted(text, pos, n, "'")
        return ("STRING_LITERAL", end) if end > 0 else ("UNRECOGNIZED", pos + 1)
    if c == '"':
        end = _scan_quoted(text, pos, n, '"')
        return ("QUOTED_IDENTIFIER", end) if end > 0 else ("UNRECOGNIZED", pos + 1)
    if c == "`":
        end = _scan_quoted(text, pos, n, "`")
        return ("BACKQUOTED_IDENTIFIER", end) if end > 0 else ("UNRECOGNIZED", pos + 1)
    if _is_digit(c) or (c == "." and pos + 1 < n and _is_digit(text[pos + 1])):
        kind, end = _scan_number(text, pos, n)
        # DIGIT_IDENTIFIER wins only when strictly longer.
        if _is_digit(c):
            j = pos + 1
            while j < n and _is_ident_part(text[j]):
                j += 1
            if j - pos >= 2 and j > end:
                return ("DIGIT_IDENTIFIER", j)
        return (kind, end)
    if _is_letter(c) or c == "_":
        j = pos + 1
        while j < n and _is_ident_part(text[j]):
            j += 1
        word = text[pos:j].upper()
        return (word if word in KEYWORDS else "IDENTIFIER", j)
    if c == "$" and text.startswith("${", pos):
        j = pos + 2
        if j < n and (_is_letter(text[j]) or text[j] == "_"):
            k = j + 1
            while k < n and _is_ident_part(text[k]):
                k += 1
            if k < n and text[k] == "}":
                return ("VARIABLE", k + 1)
    two = text[pos : pos + 2]
    if two in _SYMBOLS_2:
        return ("<>" if two == "!=" else two, pos + 2)
    if c in _SYMBOLS_1:
        return (c, pos + 1)
    return ("UNRECOGNIZED", pos + 1)


def tokenize(text: str, *, line: int = 1, column: int = 1) -> list[Token]:
    """All visible tokens of ``text`` ending with an EOF token (never raises).

    ``line``/``column`` give the position of ``text[0]`` when ``text`` is a piece of a larger
    script, so that locations stay relative to the script.
    """
    scanner = _Scanner(text, line=line, column=column)
    tokens: list[Token] = []
    while True:
        kind, start, end, line, column = scanner.next_raw()
        if kind in ("WS", "COMMENT"):
            continue
        tokens.append(Token(kind, text[start:end], line, column, start, end))
        if kind == "EOF":
            return tokens


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
    scanner = _Scanner(text)
    out: list[StatementSource] = []
    first: tuple[int, int, int] | None = None  # start, line, column of current statement
    while True:
        kind, start, end, line, column = scanner.next_raw()
        if kind == "EOF":
            if first is not None:
                s, ln, c = first
                out.append(StatementSource(text[s:].rstrip(), s, ln, c))
            return out
        if kind in ("WS", "COMMENT"):
            continue
        if kind == ";":
            if first is not None:
                s, ln, c = first
                out.append(StatementSource(text[s:end], s, ln, c))
            first = None
            continue
        if first is None:
            first = (start, line, column)
