"""Expression grammar of SqlBase.g4 (booleanExpression / predicate / valueExpression /
primaryExpression), parsed by precedence climbing.

Precedence, loosest first (ANTLR gives earlier alternatives of a left-recursive rule the
tighter binding, so this is the grammar's order reversed):

    OR  <  AND  <  NOT  <  predicate (comparison, [NOT] BETWEEN/IN/LIKE, IS [NOT] NULL,
    IS [NOT] DISTINCT FROM — at most one per operand)  <  ||  <  + -  <  * / %
    <  unary + -  <  AT TIME ZONE  <  postfix [i] and ->field  <  primary

Note ``||`` binds *looser* than ``+``: ``a || b + c`` is ``a || (b + c)``. A ``-`` directly
before a number is part of the literal (``number: MINUS? INTEGER_VALUE``), so ``-5`` is
``IntegerLiteral(-5)`` and ``-9223372036854775808`` is a valid BIGINT.
"""

from __future__ import annotations

import logging

from telemetry_lib.ksql.parser import ast
from telemetry_lib.ksql.parser.parser_base import TIME_UNITS, ParserBase

__all__ = ["ExpressionParser"]

logger = logging.getLogger(__name__)

# Binding power of the valueExpression binary operators (higher binds tighter).
_CONCAT_POWER = 1
_ADDITIVE_POWER = 2
_MULTIPLICATIVE_POWER = 3
_UNARY_POWER = 4
_BINARY_POWER: dict[str, int] = {
    "||": _CONCAT_POWER,
    "+": _ADDITIVE_POWER,
    "-": _ADDITIVE_POWER,
    "*": _MULTIPLICATIVE_POWER,
    "/": _MULTIPLICATIVE_POWER,
    "%": _MULTIPLICATIVE_POWER,
}
_COMPARISONS = ("=", "<>", "<", "<=", ">", ">=")

# windowUnit keywords that are reserved, so as a function argument they can only be a unit.
# The singular DAY/HOUR/MINUTE/SECOND are non-reserved: ANTLR resolves f(DAY) to a column.
_RESERVED_UNITS = frozenset({"MILLISECOND", "MILLISECONDS", "SECONDS", "MINUTES", "HOURS", "DAYS"})


class ExpressionParser(ParserBase):
    """Adds the expression rules to the parser core."""

    def __init__(self, text: str, tokens: list) -> None:  # type: ignore[type-arg]
        super().__init__(text, tokens)
        self.lambda_params: set[str] = set()
        # Qualifiers seen in ``src.col`` / ``src.*`` (checked against the FROM clause).
        self.qualifiers: list[tuple[str, ast.Loc]] = []

    # ------------------------------------------------------------ booleanExpression

    def expression(self) -> ast.Expression:
        return self._or()

    def _or(self) -> ast.Expression:
        left = self._and()
        while self.at("OR"):
            token = self.advance()
            right = self._and()
            left = ast.LogicalBinary("OR", left, right, loc=self.loc(token))
        return left

    def _and(self) -> ast.Expression:
        left = self._not()
        while self.at("AND"):
            token = self.advance()
            right = self._not()
            left = ast.LogicalBinary("AND", left, right, loc=self.loc(token))
        return left

    def _not(self) -> ast.Expression:
        if self.at("NOT"):
            token = self.advance()
            return ast.Not(self._not(), loc=self.loc(token))
        return self._predicated()

    def _predicated(self) -> ast.Expression:
        value = self.value_expression()
        token = self.tok
        kind = token.kind
        location = self.loc(token)
        if kind in _COMPARISONS:
            self.advance()
            right = self.value_expression()
            return ast.Comparison(kind, value, right, loc=location)  # type: ignore[arg-type]
        negated = False
        if kind == "NOT" and self.peek().kind in ("BETWEEN", "IN", "LIKE"):
            self.advance()
            negated = True
            kind = self.tok.kind
        result: ast.Expression
        if kind == "BETWEEN":
            self.advance()
            lower = self.value_expression()
            self.expect("AND")
            upper = self.value_expression()
            result = ast.Between(value, lower, upper, loc=location)
        elif kind == "IN":
            self.advance()
            self.expect("(")
            items = [self.expression()]
            while self.accept(","):
                items.append(self.expression())
            self.expect(")", expected={",", ")"})
            result = ast.InList(value, tuple(items), loc=location)
        elif kind == "LIKE":
            self.advance()
            pattern = self.value_expression()
            escape: str | None = None
            if self.accept("ESCAPE"):
                escape_token = self.expect("STRING_LITERAL")
                escape = escape_token.text[1:-1].replace("''", "'")
                if len(escape) != 1:
                    raise self.prepare_error(
                        f"{self.loc(escape_token)}: Expected single character escape but got: "
                        f"{escape}",
                        at=escape_token,
                    )
            result = ast.Like(value, pattern, escape, loc=location)
        elif kind == "IS":
            self.advance()
            is_not = self.accept("NOT") is not None
            if self.accept("NULL"):
                return (ast.IsNotNull if is_not else ast.IsNull)(value, loc=location)
            if self.at("DISTINCT"):
                self.advance()
                self.expect("FROM")
                right = self.value_expression()
                distinct: ast.Expression = ast.Comparison(
                    "IS DISTINCT FROM", value, right, loc=location
                )
                return ast.Not(distinct, loc=location) if is_not else distinct
            raise self.mismatch({"NULL", "DISTINCT"} if is_not else {"NOT", "NULL", "DISTINCT"})
        else:
            return value
        return ast.Not(result, loc=location) if negated else result

    # ------------------------------------------------------------ valueExpression

    def value_expression(self, min_power: int = 0) -> ast.Expression:
        left = self._unary()
        while True:
            kind = self.tok.kind
            power = _BINARY_POWER.get(kind)
            if power is None or power <= min_power:
                return left
            token = self.advance()
            right = self.value_expression(power)
            location = self.loc(token)
            if kind == "||":
                left = ast.FunctionCall("CONCAT", (left, right), loc=location)
            else:
                left = ast.ArithmeticBinary(kind, left, right, loc=location)  # type: ignore[arg-type]

    def _unary(self) -> ast.Expression:
        token = self.tok
        if token.kind in ("-", "+") and not (token.kind == "-" and self.at_number()):
            self.advance()
            operand = self._unary()
            operand = self._at_time_zone(operand)
            return ast.ArithmeticUnary(token.kind, operand, loc=self.loc(token))  # type: ignore[arg-type]
        return self._at_time_zone(self.primary())

    def _at_time_zone(self, value: ast.Expression) -> ast.Expression:
        while self.at("AT"):
            token = self.advance()
            self.expect("TIME")
            self.expect("ZONE")
            zone = self.expect("STRING_LITERAL")
            value = ast.AtTimeZone(value, _unquote(zone.text), loc=self.loc(token))
        return value

    # ------------------------------------------------------------ primaryExpression

    def primary(self, *, allow_struct_all: bool = False) -> ast.Expression:
        base = self._primary_base()
        while True:
            if self.at("["):
                token = self.advance()
                index = self.value_expression()
                self.expect("]")
                base = ast.Subscript(base, index, loc=self.loc(token))
            elif self.at("->"):
                if self.peek().kind == "*":
                    if allow_struct_all:
                        return base
                    raise self.no_viable(self.peek())
                token = self.advance()
                name = self.identifier()
                base = ast.Dereference(base, name, loc=self.loc(token))
            else:
                return base

    def _primary_base(self) -> ast.Expression:
        token = self.tok
        kind = token.kind
        location = self.loc(token)
        if kind == "NULL":
            self.advance()
            return ast.NullLiteral(loc=location)
        if kind in ("TRUE", "FALSE"):
            self.advance()
            return ast.BooleanLiteral(kind == "TRUE", loc=location)
        if kind == "STRING_LITERAL":
            self.advance()
            return ast.StringLiteral(_unquote(token.text), loc=location)
        if self.at_number():
            return self.number_literal()
        if kind == "VARIABLE":
            raise self.undefined_variable(token)
        if kind == "(":
            self.advance()
            inner = self.expression()
            self.expect(")")
            return inner
        if kind == "CASE":
            return self._case()
        if kind == "CAST":
            self.advance()
            self.expect("(")
            value = self.expression()
            self.expect("AS")
            target = self.type_()
            self.expect(")")
            return ast.Cast(value, target, loc=location)
        nxt = self.peek().kind
        if kind == "ARRAY" and nxt == "[":
            self.advance()
            self.advance()
            items: list[ast.Expression] = []
            if not self.at("]"):
                items.append(self.expression())
                while self.accept(","):
                    items.append(self.expression())
            self.expect("]", expected={",", "]"} if items else None)
            return ast.CreateArray(tuple(items), loc=location)
        if kind == "MAP" and nxt == "(":
            self.advance()
            self.advance()
            entries: list[tuple[ast.Expression, ast.Expression]] = []
            if not self.at(")"):
                while True:
                    key = self.expression()
                    self.expect(":=")
                    entries.append((key, self.expression()))
                    if not self.accept(","):
                        break
            self.expect(")", expected={",", ")"} if entries else None)
            return ast.CreateMap(tuple(entries), loc=location)
        if kind == "STRUCT" and nxt == "(":
            self.advance()
            self.advance()
            fields: list[tuple[str, ast.Expression]] = []
            if not self.at(")"):
                while True:
                    name = self.identifier()
                    self.expect(":=")
                    fields.append((name, self.expression()))
                    if not self.accept(","):
                        break
            self.expect(")", expected={",", ")"} if fields else None)
            return ast.CreateStruct(tuple(fields), loc=location)
        if self.at_identifier(token):
            name = self.identifier()
            if self.at("("):
                return self._function_call(name, location)
            if self.at("STRING_LITERAL"):
                # typeConstructor: only DECIMAL is known to ksqlDB, and DECIMAL is reserved, so
                # every reachable form is an unknown type.
                raise self.prepare_error(f"Unknown type: {name}, location:{location}", at=location)
            if self.at(".") and self.at_identifier(self.peek()):
                self.advance()
                column = self.identifier()
                self.qualifiers.append((name, location))
                return ast.ColumnRef(column, name, loc=location)
            if name in self.lambda_params:
                return ast.LambdaVariable(name, loc=location)
            return ast.ColumnRef(name, loc=location)
        raise self.no_viable(token)

    def _case(self) -> ast.Expression:
        token = self.advance()
        location = self.loc(token)
        operand: ast.Expression | None = None
        if not self.at("WHEN"):
            operand = self.value_expression()
        whens: list[ast.WhenClause] = []
        while self.at("WHEN"):
            when_token = self.advance()
            condition = self.expression()
            self.expect("THEN")
            result = self.expression()
            whens.append(ast.WhenClause(condition, result, loc=self.loc(when_token)))
        if not whens:
            raise self.mismatch({"WHEN"})
        default = self.expression() if self.accept("ELSE") else None
        self.expect("END", expected={"WHEN", "ELSE", "END"} if default is None else {"END"})
        if operand is None:
            return ast.SearchedCase(tuple(whens), default, loc=location)
        return ast.SimpleCase(operand, tuple(whens), default, loc=location)

    def _function_call(self, name: str, location: ast.Loc) -> ast.Expression:
        self.expect("(")
        args: list[ast.Expression] = []
        if self.at("*") and self.peek().kind == ")":
            self.advance()
            self.advance()
            return ast.FunctionCall(name, (), loc=location)
        if not self.at(")"):
            seen_lambda = False
            while True:
                lam = self._try_lambda()
                if lam is not None:
                    seen_lambda = True
                    args.append(lam)
                elif seen_lambda:
                    raise self.no_viable()
                else:
                    args.append(self._function_argument())
                if not self.accept(","):
                    break
        self.expect(")", expected={",", ")"} if args else None)
        return ast.FunctionCall(name, tuple(args), loc=location)

    def _function_argument(self) -> ast.Expression:
        token = self.tok
        if token.kind in _RESERVED_UNITS:
            self.advance()
            return ast.IntervalUnit(TIME_UNITS[token.kind], loc=self.loc(token))
        return self.expression()

    def _try_lambda(self) -> ast.LambdaFunction | None:
        """``x => e`` or ``(x, y) => e`` when the tokens ahead form a lambda head."""
        start = self.pos
        token = self.tok
        params: list[str] = []
        if self.at_identifier() and self.peek().kind == "=>":
            params.append(self.identifier())
        elif self.at("("):
            self.advance()
            while self.at_identifier():
                params.append(self.identifier())
                if not self.accept(","):
                    break
            if not (params and self.at(")") and self.peek().kind == "=>"):
                self.pos = start
                return None
            self.advance()
        else:
            return None
        self.expect("=>")
        saved = set(self.lambda_params)
        self.lambda_params.update(params)
        try:
            body = self.expression()
        finally:
            self.lambda_params = saved
        return ast.LambdaFunction(tuple(params), body, loc=self.loc(token))


def _unquote(text: str) -> str:
    return text[1:-1].replace("''", "'")
