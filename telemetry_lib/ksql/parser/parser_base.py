"""Parser core: token cursor, ksqlDB-style syntax errors, identifiers, numbers, durations, types.

Why hand-written (recursive descent + precedence climbing) rather than lark: ksqlDB's error
messages are ANTLR's, reworded by ksqlDB (``Expecting {...}``, ``missing ')' at ','``,
``Syntax error at or near 'X' ...``, the reserved-keyword message); they depend on *where* in
the grammar the parser stands and which tokens it expected there. A hand-written parser knows
that at every point and can reproduce ANTLR's recovery decisions (single-token deletion ->
"extraneous input", single-token insertion -> "missing", else mismatch), while a generic
Earley/LALR library would only report its own view of the failing state. It is also faster
on the long CSAS statements the engine parses, and keeps source locations exact.

Error message shape (``telemetry_lib.ksql.errors.ParseError``), as ksqlDB's ParseFailedException:

    line L:C: Syntax Error
    <detail>
    Statement: <statement text>

``C`` is 1-based. Errors found while building the AST (bad numeric literal, unknown
qualifier, ...) read ``Failed to prepare statement: <detail>`` as in ksqlDB, where a located
detail uses ksqlDB's doubly-incremented column (``line 2:40`` for a literal at 1-based column 39).
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterable

import telemetry_lib.ksql.types as t
from telemetry_lib.ksql.errors import ParseError
from telemetry_lib.ksql.parser import ast
from telemetry_lib.ksql.parser.lexer import (
    NON_RESERVED,
    RESERVED,
    TYPOGRAPHIC_QUOTES,
    Token,
    expected_set,
)

__all__ = ["STATEMENT_STARTS", "TIME_UNITS", "ParserBase"]

logger = logging.getLogger(__name__)

# windowUnit tokens -> canonical plural unit (ksqlDB's WindowExpression.getWindowUnit).
TIME_UNITS: dict[str, ast.TimeUnit] = {
    "MILLISECOND": "MILLISECONDS",
    "MILLISECONDS": "MILLISECONDS",
    "SECOND": "SECONDS",
    "SECONDS": "SECONDS",
    "MINUTE": "MINUTES",
    "MINUTES": "MINUTES",
    "HOUR": "HOURS",
    "HOURS": "HOURS",
    "DAY": "DAYS",
    "DAYS": "DAYS",
}

# Built-in type names usable as ``baseType`` (SqlTypeParser); anything else is a custom type.
_BASE_TYPES: dict[str, t.SqlType] = {
    "BOOLEAN": t.BOOLEAN,
    "INT": t.INTEGER,
    "INTEGER": t.INTEGER,
    "BIGINT": t.BIGINT,
    "DOUBLE": t.DOUBLE,
    "STRING": t.STRING,
    "VARCHAR": t.STRING,
    "BYTES": t.BYTES,
    "DATE": t.DATE,
    "TIME": t.TIME,
    "TIMESTAMP": t.TIMESTAMP,
}

# Token kinds that can start an identifier (besides non-reserved keywords).
_IDENTIFIER_KINDS = frozenset(
    {"IDENTIFIER", "QUOTED_IDENTIFIER", "BACKQUOTED_IDENTIFIER", "DIGIT_IDENTIFIER", "VARIABLE"}
)

# Tokens that commonly follow a closing token (``)``, ``]``, ``>``, END, ...). Used to mimic
# ANTLR's single-token insertion ("missing ')' at ','") without a full FOLLOW-set analysis.
_FOLLOWS_CLOSER = frozenset(
    {
        ",",
        ")",
        "]",
        ";",
        ">",
        "=",
        "<>",
        "<",
        "<=",
        ">=",
        "+",
        "-",
        "*",
        "/",
        "%",
        "||",
        "->",
        "[",
        "AND",
        "OR",
        "FROM",
        "WHERE",
        "GROUP",
        "PARTITION",
        "HAVING",
        "EMIT",
        "LIMIT",
        "WINDOW",
        "THEN",
        "ELSE",
        "END",
        "WHEN",
        "AS",
        "IS",
        "NOT",
        "BETWEEN",
        "IN",
        "LIKE",
        "AT",
        "ON",
        "JOIN",
        "INNER",
        "LEFT",
        "RIGHT",
        "FULL",
        "WITHIN",
        "WITH",
        "KEY",
        "PRIMARY",
        "HEADERS",
        "HEADER",
        "ESCAPE",
        "EOF",
    }
)

#: First tokens of the statement alternatives (statement starts after ';', EXPLAIN <statement>).
STATEMENT_STARTS = frozenset(
    {
        "SELECT",
        "LIST",
        "SHOW",
        "DESCRIBE",
        "PRINT",
        "TERMINATE",
        "SET",
        "ALTER",
        "UNSET",
        "DEFINE",
        "UNDEFINE",
        "CREATE",
        "INSERT",
        "DROP",
        "EXPLAIN",
        "PAUSE",
        "RESUME",
    }
)

# After a statement's ';' comes the end of the script or another statement.
_FOLLOWS_SEMICOLON = STATEMENT_STARTS | {"EOF", ";"}

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class ParserBase:
    """Token cursor and shared sub-grammars; the expression and statement parsers extend it."""

    def __init__(self, text: str, tokens: list[Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.pos = 0
        # Start of the statement being parsed (for "Statement: ..." and default locations).
        self.statement_start = 0
        self.statement_first: Token = tokens[0]

    # ---------------------------------------------------------------- cursor

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def peek(self, offset: int = 1) -> Token:
        i = min(self.pos + offset, len(self.tokens) - 1)
        return self.tokens[i]

    def at(self, *kinds: str) -> bool:
        return self.tok.kind in kinds

    def advance(self) -> Token:
        token = self.tokens[self.pos]
        if token.kind != "EOF":
            self.pos += 1
        return token

    def accept(self, *kinds: str) -> Token | None:
        if self.tok.kind in kinds:
            return self.advance()
        return None

    def expect(
        self,
        kind: str,
        *,
        expected: Iterable[str] | None = None,
        follow: Iterable[str] | None = None,
    ) -> Token:
        """Consume a ``kind`` token or raise ANTLR's error for a failed ``match``.

        ``expected`` is the full set ANTLR would expect here (default: just ``kind``);
        ``follow`` lists tokens that may come right after ``kind`` (for "missing X at Y").
        """
        if self.tok.kind == kind:
            return self.advance()
        raise self.mismatch(
            set(expected) if expected is not None else {kind},
            follow=follow if follow is not None else _default_follow(kind),
        )

    def loc(self, token: Token | None = None) -> ast.Loc:
        token = token or self.tok
        return ast.Loc(token.line, token.column)

    # ---------------------------------------------------------------- errors

    def statement_text(self) -> str:
        """Text of the current statement so far up to its ';' (or the end)."""
        end = len(self.text)
        for token in self.tokens[self.pos :]:
            if token.kind in (";", "EOF"):
                end = token.end
                break
        return self.text[self.statement_start : end].strip()

    def syntax_error(self, token: Token, detail: str, *, hint: str | None = None) -> ParseError:
        statement = self.statement_text()
        message = (
            f"line {token.line}:{token.column}: Syntax Error\n{detail}\nStatement: {statement}"
        )
        return ParseError(
            message, line=token.line, column=token.column, statement_text=statement, hint=hint
        )

    def prepare_error(
        self, detail: str, *, at: Token | ast.Loc | None = None, located: bool = False
    ) -> ParseError:
        """ksqlDB's "Failed to prepare statement: ..." (errors raised while building the AST).

        ``at`` sets the error's line/column (default: the statement's first token). With
        ``located``, the detail is prefixed by ksqlDB's located form ``line L:C:``, whose column
        is the 1-based column plus one (ksqlDB's ParsingException adds one to an already
        1-based NodeLocation).
        """
        statement = self.statement_text()
        where = at if at is not None else self.statement_first
        line, column = where.line, where.column
        text = f"line {line}:{column + 1}: {detail}" if located else detail
        return ParseError(
            f"Failed to prepare statement: {text}\nStatement: {statement}",
            line=line,
            column=column,
            statement_text=statement,
        )

    def _token_display(self, token: Token) -> str:
        if token.kind == "EOF":
            return "'<EOF>'"
        return "'" + token.text.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") + "'"

    def typographic_quote_error(self, token: Token) -> ParseError:
        straight = "'" if token.text in "\u2018\u2019" else '"'
        return self.syntax_error(
            token,
            f"Unexpected character {token.text!r} at line {token.line}:{token.column}: "
            f"typographic quotes (\u2018 \u2019 \u201c \u201d) are not quotes in ksqlDB. "
            f"Use a straight quote instead: ' for strings, ` or \" for identifiers "
            f"(replace {token.text} with {straight}).",
            hint="retype the quotes as straight quotes; editors and chat tools often curl them",
        )

    def unicode_space_error(self, token: Token) -> ParseError:
        code = f"U+{ord(token.text):04X}"
        name = unicodedata.name(token.text, "SPACE")
        return self.syntax_error(
            token,
            f"Unexpected character {code} ({name}) at line {token.line}:{token.column}: "
            f"only plain spaces, tabs and newlines separate words in ksqlDB. "
            f"Replace it with a plain space.",
            hint="retype the spaces; copy-paste from web pages often brings non-breaking spaces",
        )

    def no_viable(self, token: Token | None = None) -> ParseError:
        """ANTLR NoViableAlt: no alternative of a rule can start with this token."""
        token = token or self.tok
        if token.text and token.text in TYPOGRAPHIC_QUOTES and token.kind == "UNRECOGNIZED":
            return self.typographic_quote_error(token)
        shown = "<EOF>" if token.kind == "EOF" else token.text
        return self.syntax_error(
            token, f"Syntax error at or near '{shown}' at line {token.line}:{token.column}"
        )

    def mismatch(self, expected: set[str], *, follow: Iterable[str] = ()) -> ParseError:
        """ANTLR's recoverInline reporting: extraneous input, missing token, or mismatch."""
        token = self.tok
        if token.kind == "UNRECOGNIZED" and token.text in TYPOGRAPHIC_QUOTES:
            return self.typographic_quote_error(token)
        if token.kind != "EOF" and self.peek().kind in expected:
            if token.kind in RESERVED:
                return self.reserved_keyword_error(token)
            return self.syntax_error(
                token,
                f"extraneous input {self._token_display(token)} expecting {expected_set(expected)}",
            )
        if token.kind in set(follow) and len(expected) >= 1:
            return self.syntax_error(
                token,
                f"missing {expected_set(expected) if len(expected) > 1 else _single(expected)} "
                f"at {self._token_display(token)}",
            )
        return self.syntax_error(token, f"Expecting {expected_set(expected)}")

    def reserved_keyword_error(self, token: Token) -> ParseError:
        name = token.text
        return self.syntax_error(
            token,
            f'"{name}" is a reserved keyword and it can\'t be used as an identifier. '
            f"You can use it as an identifier by escaping it as '{name}' ",
            hint=f"quote it with back-quotes: `{name.upper()}`",
        )

    # ---------------------------------------------------------------- identifiers

    def at_identifier(self, token: Token | None = None) -> bool:
        token = token or self.tok
        return token.kind in _IDENTIFIER_KINDS or token.kind in NON_RESERVED

    def identifier(self) -> str:
        """An identifier, normalised (unquoted upper-cased; quoted verbatim)."""
        token = self.tok
        if token.kind in ("IDENTIFIER", "DIGIT_IDENTIFIER") or token.kind in NON_RESERVED:
            self.advance()
            return token.text.upper()
        if token.kind == "QUOTED_IDENTIFIER":
            self.advance()
            return token.text[1:-1].replace('""', '"')
        if token.kind == "BACKQUOTED_IDENTIFIER":
            self.advance()
            return token.text[1:-1].replace("``", "`")
        if token.kind == "VARIABLE":
            raise self.undefined_variable(token)
        if token.kind in RESERVED:
            raise self.reserved_keyword_error(token)
        raise self.no_viable(token)

    def undefined_variable(self, token: Token) -> ParseError:
        """A ``${name}`` left after substitution: the variable is not defined."""
        name = token.text[2:-1]
        statement = self.statement_text()
        return ParseError(
            f"Illegal argument at Line: {token.line}, Col: {token.column}. Got: '{token.text}'. "
            f"The variable '{name}' is not defined: run DEFINE {name} = '<value>'; first "
            f"(or pass it in the session variables).\nStatement: {statement}",
            line=token.line,
            column=token.column,
            statement_text=statement,
        )

    def source_name(self) -> str:
        """A stream/table name: an identifier restricted to ``[a-zA-Z0-9_-]`` (ParserUtil)."""
        token = self.tok
        name = self.identifier()
        if not all(c.isascii() and (c.isalnum() or c in "_-") for c in name):
            statement = self.statement_text()
            raise ParseError(
                f"Illegal argument at Line: {token.line}, Col: {token.column}. "
                f"Source names may only contain "
                f"alphanumeric values, '_' or '-'. Got: '{name}'\nStatement: {statement}",
                line=token.line,
                column=token.column,
                statement_text=statement,
            )
        return name

    # ---------------------------------------------------------------- numbers

    def at_number(self) -> bool:
        kinds = ("INTEGER_VALUE", "DECIMAL_VALUE", "FLOATING_POINT_VALUE")
        return self.tok.kind in kinds or (self.tok.kind == "-" and self.peek().kind in kinds)

    def number_literal(self) -> ast.Literal_:
        """``MINUS? (INTEGER_VALUE | DECIMAL_VALUE | FLOATING_POINT_VALUE)`` as a literal node."""
        start = self.tok
        negative = self.accept("-") is not None
        token = self.tok
        if token.kind not in ("INTEGER_VALUE", "DECIMAL_VALUE", "FLOATING_POINT_VALUE"):
            raise self.no_viable(token)
        self.advance()
        text = ("-" if negative else "") + token.text
        location = self.loc(start)
        if token.kind == "INTEGER_VALUE":
            value = int(text)
            if not _INT64_MIN <= value <= _INT64_MAX:
                raise self.prepare_error(f"Invalid numeric literal: {text}", at=start, located=True)
            if _INT32_MIN <= value <= _INT32_MAX:
                return ast.IntegerLiteral(value, text, loc=location)
            return ast.LongLiteral(value, text, loc=location)
        if token.kind == "DECIMAL_VALUE":
            return ast.DecimalLiteral(text, loc=location)
        value_f = float(text)
        if value_f in (float("inf"), float("-inf")):
            raise self.prepare_error(f"Number overflows DOUBLE: {text}", at=start, located=True)
        return ast.DoubleLiteral(value_f, text, loc=location)

    def integer_number(self, context: str) -> int:
        """A ``number`` that must be an INT literal (LIMIT, INTERVAL: processIntegerNumber)."""
        start = self.tok
        literal = self.number_literal()
        if not isinstance(literal, ast.IntegerLiteral):
            raise self.prepare_error(f"Value must be integer for command: {context}", at=start)
        return literal.value

    def long_number(self) -> int:
        """A ``number`` parsed with Java's Long.parseLong (window sizes, WITHIN, GRACE)."""
        start = self.tok
        if not self.at_number():
            raise self.no_viable(start)
        literal = self.number_literal()
        if isinstance(literal, (ast.IntegerLiteral, ast.LongLiteral)):
            return literal.value
        text = (
            literal.text
            if isinstance(literal, ast.DecimalLiteral)
            else getattr(literal, "text", "")
        )
        raise self.prepare_error(f'For input string: "{text}"', at=start)

    # ---------------------------------------------------------------- durations

    def time_unit(self) -> ast.TimeUnit:
        token = self.tok
        unit = TIME_UNITS.get(token.kind)
        if unit is None:
            raise self.mismatch(set(TIME_UNITS))
        self.advance()
        return unit

    def duration(self) -> ast.Duration:
        """``number windowUnit``."""
        start = self.tok
        value = self.long_number()
        unit = self.time_unit()
        return ast.Duration(value, unit, loc=self.loc(start))

    # ---------------------------------------------------------------- types

    def type_(self) -> ast.TypeNode:
        """``type`` of SqlBase.g4, collapsed to ``BuiltinType`` when it has no custom names."""
        node = self._type_raw()
        return ast.type_node_of(node)

    def _type_raw(self) -> ast.TypeNode:
        start = self.tok
        location = self.loc(start)
        node: ast.TypeNode
        if start.kind == "ARRAY" and self.peek().kind == "<":
            self.advance()
            self.advance()
            element = self._type_raw()
            self.expect(">")
            node = ast.ArrayType(element, loc=location)
        elif start.kind == "MAP" and self.peek().kind == "<":
            self.advance()
            self.advance()
            key = self._type_raw()
            self.expect(",")
            value = self._type_raw()
            self.expect(">")
            node = ast.MapType(key, value, loc=location)
        elif start.kind == "STRUCT" and self.peek().kind == "<":
            self.advance()
            self.advance()
            fields: list[tuple[str, ast.TypeNode]] = []
            if not self.at(">"):
                while True:
                    name = self.identifier()
                    fields.append((name, self._type_raw()))
                    if not self.accept(","):
                        break
            self.expect(">", expected={",", ">"} if fields else {">"})
            node = ast.StructType(tuple(fields), loc=location)
        elif start.kind == "DECIMAL":
            self.advance()
            self.expect("(")
            precision = self._type_int()
            self.expect(",")
            scale = self._type_int()
            self.expect(")")
            try:
                node = ast.BuiltinType(t.SqlDecimal(precision, scale), loc=location)
            except ValueError as exc:
                raise self.prepare_error(str(exc), at=start) from None
        elif self.at_identifier(start) and start.kind != "VARIABLE":
            name = self.identifier()
            if self.accept("("):
                while True:
                    if self.tok.kind not in ("STRING", "INTEGER_VALUE"):
                        raise self.mismatch({"STRING", "INTEGER_VALUE"}, follow=(",", ")"))
                    self.advance()
                    if not self.accept(","):
                        break
                self.expect(")", expected={",", ")"})
            builtin = _BASE_TYPES.get(name)
            node = (
                ast.BuiltinType(builtin, loc=location)
                if builtin
                else ast.CustomType(name, loc=location)
            )
        else:
            raise self.no_viable(start)
        # Legacy postfix form ``type ARRAY``.
        while self.at("ARRAY") and self.peek().kind != "<":
            self.advance()
            node = ast.ArrayType(node, loc=location)
        return node

    def _type_int(self) -> int:
        token = self.tok
        if not self.at_number():
            raise self.no_viable(token)
        literal = self.number_literal()
        if not isinstance(literal, ast.IntegerLiteral):
            raise self.prepare_error(f'For input string: "{token.text}"', at=token)
        return literal.value


def _default_follow(kind: str) -> frozenset[str]:
    """Tokens that may follow ``kind`` when ANTLR checks for a single missing token."""
    if kind in (")", "]", ">", "END"):
        return _FOLLOWS_CLOSER
    if kind == ";":
        return _FOLLOWS_SEMICOLON
    return frozenset()


def _single(expected: set[str]) -> str:
    (only,) = expected
    return expected_set({only})[1:-1]
