"""The ``statement`` rule of SqlBase.g4 and the public parse entry points.

``parse(text)`` parses a script of ``;``-terminated statements into AST nodes (each with its
own ``text``); ``parse_statement`` expects exactly one; ``parse_expression`` / ``parse_type``
parse a lone expression or type (tools and tests). Statement kinds follow ksqlDB's grammar,
see ``ast_statements`` for the nodes.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from typing import Literal

from telemetry_lib.ksql.errors import ParseError
from telemetry_lib.ksql.parser import ast
from telemetry_lib.ksql.parser.formatter import format_expression
from telemetry_lib.ksql.parser.lexer import TYPOGRAPHIC_QUOTES, Token, tokenize
from telemetry_lib.ksql.parser.parser_base import STATEMENT_STARTS
from telemetry_lib.ksql.parser.parser_query import QueryParser

__all__ = ["parse", "parse_expression", "parse_statement", "parse_type"]

logger = logging.getLogger(__name__)

# Each parenthesised expression level costs about ten Python frames in the recursive descent;
# Python's default limit (1000) would stop at ~100 levels, which generated SQL can reach.
# Raised (never lowered: other threads may be parsing) to allow ~1000 levels.
_RECURSION_LIMIT = 12_000


class StatementParser(QueryParser):
    """Adds the statement rules; one instance parses one script."""

    def statements(self) -> list[ast.Statement]:
        self._check_typographic_quotes()
        out: list[ast.Statement] = []
        while not self.at("EOF"):
            if self.accept(";"):
                continue
            out.append(self.single_statement())
        return out

    def _check_typographic_quotes(self) -> None:
        """Fail early, pointing at it, on a character pasted from a word processor or chat:
        a typographic quote or a non-ASCII space (ksqlDB gives a generic syntax error)."""
        for index, token in enumerate(self.tokens):
            if token.kind == "UNRECOGNIZED" and (
                token.text in TYPOGRAPHIC_QUOTES or token.text.isspace()
            ):
                # Point the "Statement:" part at the statement holding the quote.
                starts = [
                    self.tokens[i + 1].start for i in range(index) if self.tokens[i].kind == ";"
                ]
                self.statement_start = starts[-1] if starts else self.tokens[0].start
                self.pos = index
                if token.text.isspace():
                    raise self.unicode_space_error(token)
                raise self.typographic_quote_error(token)

    def single_statement(self) -> ast.Statement:
        first = self.tok
        self.statement_start = first.start
        self.statement_first = first
        self.qualifiers = []
        self.source_names = set()
        statement = self.statement()
        end = self.expect(";")
        self.check_qualifiers()
        return dataclasses.replace(statement, text=self.text[first.start : end.end])

    # ------------------------------------------------------------ dispatch

    def statement(self) -> ast.Statement:
        token = self.tok
        kind = token.kind
        location = self.loc(token)
        if kind == "SELECT":
            return self.query()
        if kind in ("LIST", "SHOW"):
            self.advance()
            return self._list(location)
        if kind == "DESCRIBE":
            self.advance()
            return self._describe(location)
        if kind == "PRINT":
            self.advance()
            return self._print(location)
        if kind in ("TERMINATE", "PAUSE", "RESUME"):
            self.advance()
            query_id = None if self.accept("ALL") else self.identifier()
            if kind == "TERMINATE":
                return ast.TerminateQuery(query_id, loc=location)
            if kind == "PAUSE":
                return ast.PauseQuery(query_id, loc=location)
            return ast.ResumeQuery(query_id, loc=location)
        if kind == "SET":
            self.advance()
            name = self._string_or_variable()
            self.expect("=")
            return ast.SetProperty(name, self._string_or_variable(), loc=location)
        if kind == "UNSET":
            self.advance()
            return ast.UnsetProperty(self._string_or_variable(), loc=location)
        if kind == "ALTER":
            self.advance()
            return self._alter(location)
        if kind == "DEFINE":
            self.advance()
            name = self._variable_name()
            self.expect("=")
            value = self.expect("STRING_LITERAL")
            return ast.DefineVariable(name, _unquote(value.text), loc=location)
        if kind == "UNDEFINE":
            self.advance()
            return ast.UndefineVariable(self._variable_name(), loc=location)
        if kind == "CREATE":
            self.advance()
            return self._create(location)
        if kind == "INSERT":
            self.advance()
            return self._insert(location)
        if kind == "DROP":
            self.advance()
            return self._drop(location)
        if kind == "EXPLAIN":
            self.advance()
            if self.tok.kind in STATEMENT_STARTS and self.peek().kind != ";":
                inner_first = self.tok
                inner = self.statement()
                end = self.tokens[self.pos - 1].end
                inner = dataclasses.replace(inner, text=self.text[inner_first.start : end])
                return ast.Explain(statement=inner, loc=location)
            return ast.Explain(query_id=self.identifier(), loc=location)
        raise self.no_viable(token)

    # ------------------------------------------------------------ SHOW / LIST / DESCRIBE

    def _list(self, location: ast.Loc) -> ast.Statement:
        token = self.tok
        kind = token.kind
        if self.accept("PROPERTIES"):
            return ast.ListProperties(loc=location)
        if kind in ("ALL", "TOPICS"):
            all_topics = self.accept("ALL") is not None
            self.expect("TOPICS")
            return ast.ListTopics(all_topics, self.accept("EXTENDED") is not None, loc=location)
        if self.accept("STREAMS"):
            return ast.ListStreams(self.accept("EXTENDED") is not None, loc=location)
        if self.accept("TABLES"):
            return ast.ListTables(self.accept("EXTENDED") is not None, loc=location)
        if self.accept("QUERIES"):
            return ast.ListQueries(self.accept("EXTENDED") is not None, loc=location)
        if self.accept("FUNCTIONS"):
            return ast.ListFunctions(loc=location)
        if self.accept("TYPES"):
            return ast.ListTypes(loc=location)
        if self.accept("VARIABLES"):
            return ast.ListVariables(loc=location)
        if kind in ("SOURCE", "SINK", "CONNECTORS"):
            scope: Literal["SOURCE", "SINK"] | None = None
            if kind != "CONNECTORS":
                scope = "SOURCE" if self.advance().kind == "SOURCE" else "SINK"
            self.expect("CONNECTORS")
            return ast.ListConnectors(scope, loc=location)
        if self.accept("CONNECTOR"):
            self.expect("PLUGINS")
            return ast.ListConnectorPlugins(loc=location)
        raise self.no_viable(token)

    def _describe(self, location: ast.Loc) -> ast.Statement:
        token = self.tok
        if self.accept("STREAMS"):
            return ast.DescribeStreams(self.accept("EXTENDED") is not None, loc=location)
        if token.kind == "TABLES":
            # ksqlDB: an unquoted TABLES is DESCRIBE TABLES, a quoted one a source name.
            self.advance()
            return ast.DescribeTables(self.accept("EXTENDED") is not None, loc=location)
        if token.kind == "FUNCTION" and self.at_identifier(self.peek()):
            self.advance()
            return ast.DescribeFunction(self.identifier(), loc=location)
        if self.accept("CONNECTOR"):
            return ast.DescribeConnector(self.identifier(), loc=location)
        name = self.source_name()
        return ast.DescribeSource(name, self.accept("EXTENDED") is not None, loc=location)

    def _print(self, location: ast.Loc) -> ast.Statement:
        token = self.tok
        if token.kind == "STRING_LITERAL":
            self.advance()
            topic = _unquote(token.text)
        elif token.kind in ("QUOTED_IDENTIFIER", "BACKQUOTED_IDENTIFIER"):
            topic = self.identifier()
        elif self.at_identifier():
            self.advance()
            topic = token.text  # getIdentifierText(caseSensitive=true): case as written
        else:
            raise self.no_viable(token)
        from_beginning = False
        if self.accept("FROM"):
            self.expect("BEGINNING")
            from_beginning = True
        interval = None
        if self.accept("INTERVAL", "SAMPLE"):
            interval = self.integer_number("INTERVAL")
        limit = self.integer_number("LIMIT") if self.accept("LIMIT") else None
        return ast.PrintTopic(topic, from_beginning, interval, limit, loc=location)

    # ------------------------------------------------------------ SET / DEFINE / ALTER

    def _string_or_variable(self) -> str:
        token = self.tok
        if token.kind == "STRING_LITERAL":
            self.advance()
            return _unquote(token.text)
        if token.kind == "VARIABLE":
            raise self.undefined_variable(token)
        raise self.mismatch({"STRING_LITERAL", "VARIABLE"})

    def _variable_name(self) -> str:
        token = self.tok
        # variableName is IDENTIFIER, but SyntaxErrorValidator also lets keywords through.
        if token.kind == "IDENTIFIER" or (token.is_word and token.kind != "IDENTIFIER"):
            self.advance()
            return token.text
        raise self.no_viable(token)

    def _alter(self, location: ast.Loc) -> ast.Statement:
        if self.accept("SYSTEM"):
            name_token = self.expect("STRING_LITERAL")
            self.expect("=")
            value_token = self.expect("STRING_LITERAL")
            return ast.AlterSystemProperty(
                _unquote(name_token.text), _unquote(value_token.text), loc=location
            )
        kind_token = self.tok
        if kind_token.kind not in ("STREAM", "TABLE"):
            raise self.no_viable(kind_token)
        self.advance()
        name = self.source_name()
        columns = [self._alter_option()]
        while self.accept(","):
            columns.append(self._alter_option())
        return ast.AlterSource(kind_token.kind, name, tuple(columns), loc=location)  # type: ignore[arg-type]

    def _alter_option(self) -> ast.AlterColumn:
        token = self.expect("ADD")
        self.accept("COLUMN")
        name = self.identifier()
        return ast.AlterColumn(name, self.type_(), loc=self.loc(token))

    # ------------------------------------------------------------ CREATE

    def _if_not_exists(self) -> bool:
        if self.at("IF"):
            self.advance()
            self.expect("NOT")
            self.expect("EXISTS")
            return True
        return False

    def _if_exists(self) -> bool:
        if self.at("IF"):
            self.advance()
            self.expect("EXISTS")
            return True
        return False

    def _create(self, location: ast.Loc) -> ast.Statement:
        or_replace = False
        if self.accept("OR"):
            self.expect("REPLACE")
            or_replace = True
        token = self.tok
        if not or_replace and token.kind in ("SOURCE", "SINK") and self.peek().kind == "CONNECTOR":
            self.advance()
            self.advance()
            if_not_exists = self._if_not_exists()
            name = self.identifier()
            self.expect("WITH")
            return ast.CreateConnector(
                name,
                "SOURCE" if token.kind == "SOURCE" else "SINK",
                self._properties(),
                if_not_exists,
                loc=location,
            )
        if not or_replace and token.kind == "TYPE":
            self.advance()
            if_not_exists = self._if_not_exists()
            name = self.identifier()
            self.expect("AS")
            return ast.RegisterType(name, self.type_(), if_not_exists, loc=location)
        is_source = self.accept("SOURCE") is not None
        kind_token = self.tok
        if kind_token.kind not in ("STREAM", "TABLE"):
            if is_source:
                raise self.mismatch({"STREAM", "TABLE"})
            raise self.no_viable(kind_token)
        self.advance()
        if_not_exists = self._if_not_exists()
        name = self.source_name()
        elements: tuple[ast.TableElement, ...] = ()
        if self.at("("):
            elements = self._table_elements()
        properties: tuple[ast.Property, ...] = ()
        has_with = False
        if self.accept("WITH"):
            has_with = True
            properties = self._properties()
        if self.at("AS") and not elements and not is_source:
            self.advance()
            query = self.query()
            if kind_token.kind == "STREAM":
                return ast.CreateStreamAsSelect(
                    name, query, properties, or_replace, if_not_exists, loc=location
                )
            return ast.CreateTableAsSelect(
                name, query, properties, or_replace, if_not_exists, loc=location
            )
        if self.at("AS"):
            raise self.mismatch({";"} if has_with else {";", "WITH"})
        cls = ast.CreateStream if kind_token.kind == "STREAM" else ast.CreateTable
        return cls(name, elements, properties, or_replace, if_not_exists, is_source, loc=location)

    def _table_elements(self) -> tuple[ast.TableElement, ...]:
        self.expect("(")
        elements = [self._table_element()]
        while self.accept(","):
            elements.append(self._table_element())
        self.expect(")", expected={",", ")"})
        return tuple(elements)

    def _table_element(self) -> ast.TableElement:
        token = self.tok
        name = self.identifier()
        column_type = self.type_()
        location = self.loc(token)
        if self.accept("PRIMARY"):
            self.expect("KEY")
            return ast.TableElement(name, column_type, "PRIMARY KEY", loc=location)
        if self.accept("KEY"):
            return ast.TableElement(name, column_type, "KEY", loc=location)
        if self.accept("HEADERS"):
            return ast.TableElement(name, column_type, "HEADERS", loc=location)
        if self.accept("HEADER"):
            self.expect("(")
            key = self.expect("STRING_LITERAL")
            self.expect(")")
            return ast.TableElement(name, column_type, "HEADER", _unquote(key.text), loc=location)
        return ast.TableElement(name, column_type, loc=location)

    def _properties(self) -> tuple[ast.Property, ...]:
        self.expect("(")
        properties = [self._property()]
        while self.accept(","):
            properties.append(self._property())
        self.expect(")", expected={",", ")"})
        seen: dict[str, ast.Property] = {}
        for prop in properties:
            first = seen.setdefault(prop.name, prop)
            if first is not prop:
                # ksqlDB collects WITH properties in a Guava ImmutableMap, which rejects this.
                raise self.prepare_error(
                    f"Multiple entries with same key: {prop.name}={format_expression(prop.value)}"
                    f" and {first.name}={format_expression(first.value)}",
                    at=prop.loc,
                )
        return tuple(properties)

    def _property(self) -> ast.Property:
        token = self.tok
        if token.kind == "STRING_LITERAL":
            self.advance()
            name = _unquote(token.text)
        else:
            name = self.identifier()
        self.expect("=")
        value_token = self.tok
        value: ast.Literal_
        if value_token.kind == "STRING_LITERAL":
            self.advance()
            value = ast.StringLiteral(_unquote(value_token.text), loc=self.loc(value_token))
        elif value_token.kind == "NULL":
            self.advance()
            value = ast.NullLiteral(loc=self.loc(value_token))
        elif value_token.kind in ("TRUE", "FALSE"):
            self.advance()
            value = ast.BooleanLiteral(value_token.kind == "TRUE", loc=self.loc(value_token))
        elif value_token.kind == "VARIABLE":
            raise self.undefined_variable(value_token)
        elif self.at_number():
            value = self.number_literal()
        else:
            raise self.no_viable(value_token)
        return ast.Property(name, value, loc=self.loc(token))

    # ------------------------------------------------------------ INSERT / DROP

    def _insert(self, location: ast.Loc) -> ast.Statement:
        self.expect("INTO")
        target = self.source_name()
        if self.at("WITH") or self.at("SELECT"):
            properties: tuple[ast.Property, ...] = ()
            if self.accept("WITH"):
                properties = self._properties()
            return ast.InsertInto(target, self.query(), properties, loc=location)
        columns: list[str] = []
        if self.accept("("):
            columns.append(self.identifier())
            while self.accept(","):
                columns.append(self.identifier())
            self.expect(")", expected={",", ")"})
        elif not self.at("VALUES"):
            raise self.mismatch({"(", "SELECT", "WITH", "VALUES"})
        self.expect("VALUES")
        self.expect("(")
        values: list[ast.Expression] = []
        if not self.at(")"):
            values.append(self.value_expression())
            while self.accept(","):
                values.append(self.value_expression())
        self.expect(")", expected={",", ")"} if values else None)
        return ast.InsertValues(target, tuple(columns), tuple(values), loc=location)

    def _drop(self, location: ast.Loc) -> ast.Statement:
        token = self.tok
        if token.kind in ("STREAM", "TABLE"):
            self.advance()
            if_exists = self._if_exists()
            name = self.source_name()
            delete_topic = False
            if self.accept("DELETE"):
                self.expect("TOPIC")
                delete_topic = True
            cls = ast.DropStream if token.kind == "STREAM" else ast.DropTable
            return cls(name, if_exists, delete_topic, loc=location)
        if self.accept("CONNECTOR"):
            if_exists = self._if_exists()
            return ast.DropConnector(self.identifier(), if_exists, loc=location)
        if self.accept("TYPE"):
            if_exists = self._if_exists()
            return ast.DropType(self.identifier(), if_exists, loc=location)
        raise self.no_viable(token)


def _unquote(text: str) -> str:
    return text[1:-1].replace("''", "'")


def _parser(text: str, *, line: int = 1, column: int = 1) -> StatementParser:
    tokens: list[Token] = tokenize(text, line=line, column=column)
    return StatementParser(text, tokens)


def parse(text: str, *, line: int = 1, column: int = 1) -> list[ast.Statement]:
    """Parse every ``;``-terminated statement of ``text``.

    ``line``/``column`` locate ``text[0]`` inside a larger script (so error positions and
    node locations stay script-relative). Raises ``ParseError`` with ksqlDB's wording.
    """
    if sys.getrecursionlimit() < _RECURSION_LIMIT:
        sys.setrecursionlimit(_RECURSION_LIMIT)
    parser = _parser(text, line=line, column=column)
    try:
        return parser.statements()
    except RecursionError:
        # ksqlDB's AstBuilder reports a StackOverflowError with this message.
        token = parser.tok
        raise ParseError(
            "Error processing statement: Statement is too large to parse. This may be caused "
            "by having too many nested expressions in the statement.",
            line=token.line,
            column=token.column,
            statement_text=text,
        ) from None


def parse_statement(text: str) -> ast.Statement:
    """Parse exactly one statement (its trailing ``;`` is required, as in ksqlDB)."""
    statements = parse(text)
    if len(statements) != 1:
        raise ParseError(
            f"Expected exactly one statement, found {len(statements)}: {text!r}",
            statement_text=text,
        )
    return statements[0]


def parse_expression(text: str) -> ast.Expression:
    """Parse one expression (``singleExpression: expression EOF``)."""
    parser = _parser(text)
    expression = parser.expression()
    parser.expect("EOF")
    return expression


def parse_type(text: str) -> ast.TypeNode:
    """Parse one type (``INT``, ``ARRAY<STRUCT<A INT>>``, a custom type name)."""
    parser = _parser(text)
    node = parser.type_()
    parser.expect("EOF")
    return node
