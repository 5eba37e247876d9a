"""The ``query`` rule of SqlBase.g4: SELECT items, FROM relation with joins, WINDOW, WHERE,
GROUP BY, PARTITION BY, HAVING, EMIT and LIMIT, in the grammar's fixed clause order.

Also checks, as ksqlDB's AstBuilder does while building the AST, that every ``src.col`` /
``src.*`` qualifier names a source or alias of the statement.
"""

from __future__ import annotations

import logging

from telemetry_lib.ksql.errors import ParseError
from telemetry_lib.ksql.parser import ast
from telemetry_lib.ksql.parser.parser_expressions import ExpressionParser

__all__ = ["QueryParser"]

logger = logging.getLogger(__name__)

_JOIN_STARTS = ("JOIN", "INNER", "FULL", "LEFT", "RIGHT")
# Non-reserved keywords that start a clause after a relation or select item; they are not
# taken as an alias when the next token continues that clause (ANTLR decides by lookahead).
_CLAUSE_PAIRS = {"EMIT": ("CHANGES", "FINAL"), "PARTITION": ("BY",)}


class QueryParser(ExpressionParser):
    """Adds the query rule (and its clauses) to the expression parser."""

    def __init__(self, text: str, tokens: list) -> None:  # type: ignore[type-arg]
        super().__init__(text, tokens)
        self.source_names: set[str] = set()

    def query(self) -> ast.Query:
        start = self.expect("SELECT")
        location = self.loc(start)
        items = [self._select_item()]
        while self.accept(","):
            items.append(self._select_item())
        self.expect("FROM", expected={",", "FROM"})
        relation = self._relation()
        window = self._window() if self.accept("WINDOW") else None
        where = self.expression() if self.accept("WHERE") else None
        group_by = None
        if self.accept("GROUP"):
            self.expect("BY")
            group_by = self._expression_list()
        partition_by = None
        if self.at("PARTITION") and self.peek().kind == "BY":
            self.advance()
            self.advance()
            partition_by = self._expression_list()
        having = self.expression() if self.accept("HAVING") else None
        emit: ast.EmitMode | None = None
        if self.at("EMIT") and self.peek().kind in ("CHANGES", "FINAL"):
            self.advance()
            emit = "CHANGES" if self.advance().kind == "CHANGES" else "FINAL"
        elif self.at("EMIT"):
            self.advance()
            raise self.mismatch({"CHANGES", "FINAL"})
        limit = self.integer_number("LIMIT") if self.accept("LIMIT") else None
        end = self.tokens[self.pos - 1].end
        return ast.Query(
            tuple(items),
            relation,
            window,
            where,
            group_by,
            partition_by,
            having,
            emit,
            limit,
            loc=location,
            text=self.text[start.start : end],
        )

    # ------------------------------------------------------------ select items

    def _select_item(self) -> ast.SelectItem:
        token = self.tok
        location = self.loc(token)
        if self.accept("*"):
            return ast.AllColumns(loc=location)
        if self.at_identifier() and self.peek().kind == "." and self.peek(2).kind == "*":
            source = self.identifier()
            self.advance()
            self.advance()
            self.qualifiers.append((source, location))
            return ast.AllColumns(source, loc=location)
        # base->* : try a primary expression first, fall back to a full expression.
        start = self.pos
        try:
            base = self.primary(allow_struct_all=True)
            if self.at("->") and self.peek().kind == "*":
                self.advance()
                self.advance()
                return ast.StructAll(base, loc=location)
        except ParseError:
            pass
        self.pos = start
        expression = self.expression()
        alias: str | None = None
        if self.accept("AS"):
            alias = self.identifier()
        elif self.at_identifier() and not self._starts_clause():
            alias = self.identifier()
        return ast.SingleColumn(expression, alias, loc=location)

    def _starts_clause(self) -> bool:
        follow = _CLAUSE_PAIRS.get(self.tok.kind)
        return follow is not None and self.peek().kind in follow

    # ------------------------------------------------------------ relations

    def _aliased_relation(self) -> ast.AliasedRelation:
        token = self.tok
        name = self.source_name()
        self.source_names.add(name)
        alias: str | None = None
        if self.accept("AS"):
            alias = self.source_name()
        elif self.at_identifier() and not self._starts_clause():
            alias = self.source_name()
        if alias is not None:
            self.source_names.add(alias)
        return ast.AliasedRelation(name, alias, loc=self.loc(token))

    def _relation(self) -> ast.Relation:
        left = self._aliased_relation()
        joins: list[ast.JoinedSource] = []
        while self.at(*_JOIN_STARTS):
            joins.append(self._joined_source())
        if not joins:
            return left
        return ast.JoinRelation(left, tuple(joins), loc=left.loc)

    def _joined_source(self) -> ast.JoinedSource:
        token = self.tok
        join_type: ast.JoinType = "INNER"
        if self.accept("INNER"):
            join_type = "INNER"
        elif self.accept("FULL"):
            join_type = "FULL"
            self.accept("OUTER")
        elif self.accept("LEFT"):
            join_type = "LEFT"
            self.accept("OUTER")
        elif self.accept("RIGHT"):
            join_type = "RIGHT"
            self.accept("OUTER")
        self.expect("JOIN", expected={"JOIN", "OUTER"} if join_type != "INNER" else {"JOIN"})
        relation = self._aliased_relation()
        within = self._within() if self.at("WITHIN") else None
        self.expect("ON", expected={"ON", "WITHIN"} if within is None else {"ON"})
        criteria = self.expression()
        return ast.JoinedSource(join_type, relation, criteria, within, loc=self.loc(token))

    def _within(self) -> ast.WithinExpression:
        token = self.expect("WITHIN")
        if self.accept("("):
            before = self.duration()
            self.expect(",")
            after = self.duration()
            self.expect(")")
            single = False
        else:
            before = after = self.duration()
            single = True
        grace = self._grace() if self.at("GRACE") else None
        return ast.WithinExpression(before, after, grace, single, loc=self.loc(token))

    def _grace(self) -> ast.Duration:
        self.expect("GRACE")
        self.expect("PERIOD")
        return self.duration()

    # ------------------------------------------------------------ windows

    def _window(self) -> ast.WindowExpression:
        if self.at("IDENTIFIER") and self.peek().kind in ("TUMBLING", "HOPPING", "SESSION"):
            self.advance()  # window name: accepted and ignored, as in ksqlDB
        token = self.tok
        location = self.loc(token)
        if self.accept("TUMBLING"):
            self.expect("(")
            self.expect("SIZE")
            size = self.duration()
            retention, grace = self._window_options()
            return ast.TumblingWindow(size, retention=retention, grace=grace, loc=location)
        if self.accept("HOPPING"):
            self.expect("(")
            self.expect("SIZE")
            size = self.duration()
            self.expect(",")
            self.expect("ADVANCE")
            self.expect("BY")
            advance = self.duration()
            retention, grace = self._window_options()
            return ast.HoppingWindow(size, advance, retention=retention, grace=grace, loc=location)
        if self.accept("SESSION"):
            self.expect("(")
            gap = self.duration()
            retention, grace = self._window_options()
            return ast.SessionWindow(gap, retention=retention, grace=grace, loc=location)
        raise self.no_viable(token)

    def _window_options(self) -> tuple[ast.Duration | None, ast.Duration | None]:
        retention: ast.Duration | None = None
        grace: ast.Duration | None = None
        if self.at(",") and self.peek().kind == "RETENTION":
            self.advance()
            self.advance()
            retention = self.duration()
        if self.at(",") and self.peek().kind == "GRACE":
            self.advance()
            grace = self._grace()
        if self.at(","):
            self.advance()
            raise self.mismatch({"GRACE"} if retention is not None else {"RETENTION", "GRACE"})
        self.expect(")", expected={",", ")"})
        return retention, grace

    # ------------------------------------------------------------ GROUP BY / PARTITION BY

    def _expression_list(self) -> tuple[ast.Expression, ...]:
        """``valueExpression (',' valueExpression)* | '(' (valueExpression (',' ...)*)? ')'``."""
        if self.at("("):
            start = self.pos
            try:
                return self._value_list()
            except ParseError as first_error:
                self.pos = start
                self.advance()
                items: list[ast.Expression] = []
                try:
                    if not self.at(")"):
                        items.append(self.value_expression())
                        while self.accept(","):
                            items.append(self.value_expression())
                    self.expect(")", expected={",", ")"} if items else {")"})
                except ParseError:
                    raise first_error from None
                return tuple(items)
        return self._value_list()

    def _value_list(self) -> tuple[ast.Expression, ...]:
        items = [self.value_expression()]
        while self.accept(","):
            items.append(self.value_expression())
        return tuple(items)

    # ------------------------------------------------------------ qualifier check

    def check_qualifiers(self) -> None:
        """Every ``src.`` qualifier must name a source or alias of the statement (AstBuilder)."""
        for name, location in self.qualifiers:
            if name not in self.source_names:
                raise self.prepare_error(
                    f"'{name}' is not a valid stream/table name or alias.", at=location
                )
