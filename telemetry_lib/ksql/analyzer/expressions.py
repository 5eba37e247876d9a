"""Typing of AST expressions: name resolution, type rules, implicit casts, ksqlDB's error wording.

Owns :func:`type_expression` (AST expression + :class:`~telemetry_lib.ksql.analyzer.scope.Scope`
+ function registry -> :class:`~telemetry_lib.ksql.analyzer.typed.TypedExpression`) and
:func:`type_predicate` (the same, requiring BOOLEAN, with ksqlDB's ``Type error in WHERE
expression`` message). No polars here.

API::

    type_expression(expr, scope, registry=BUILTINS, *, context="SELECT",
                    type_lookup=None) -> TypedExpression
    type_predicate(expr, scope, registry=BUILTINS, *, context="WHERE", ...) -> TypedExpression

``context`` names the clause (``SELECT``, ``WHERE``, ``GROUP BY``, ``PARTITION BY``, ``HAVING``,
...); it appears in errors (``WHERE column 'BOB' cannot be resolved.``). ``type_lookup`` resolves
custom type names in CAST (name -> SqlType or None). Errors are
:class:`~telemetry_lib.ksql.errors.AnalysisError` (ksqlDB's KsqlStatementException).

Rules (ksqlDB's ExpressionTypeManager, Operator, ComparisonUtil, CoercionUtil, SqlToJavaVisitor):

- Literals: ``1`` INTEGER, ``3000000000`` BIGINT, ``1.50`` DECIMAL(3,2), ``1e3`` DOUBLE,
  NULL untyped.
- Arithmetic: numeric widening INTEGER < BIGINT < DECIMAL < DOUBLE, DECIMAL precision/scale per
  :func:`telemetry_lib.ksql.types.arithmetic_result_type`; STRING ``+`` STRING concatenates.
- Comparisons: numbers with numbers, STRING with STRING or date/time (the string is parsed),
  DATE/TIMESTAMP with each other, BOOLEAN/ARRAY/MAP/STRUCT only with ``=``/``<>``/DISTINCT.
  A NULL literal operand is rejected (``Comparison with NULL not supported``).
- CASE branches must have one type (NULL branches allowed, all-NULL rejected); simple CASE is
  rewritten to searched CASE with ``=``.
- IN lists, ARRAY and MAP constructors coerce to a common type; string literals are parsed
  into numbers/booleans/dates where the common type needs it.
- Function calls resolve through the registry; arguments are cast to the chosen parameter types.
- Nested error boundaries (:class:`TGuard`) wrap CASTs, function arguments that are calls or
  struct dereferences, and constructor elements, as ksqlDB's ``evaluateOrReturnNull``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from telemetry_lib.ksql.analyzer.expressions_coercion import (
    CoercionError,
    InvalidCoercion,
    can_cast,
    can_coerce,
    coerce_literal_value,
    parse_boolean_lax,
    parse_timestamp_text,
    string_numeric_type,
)
from telemetry_lib.ksql.analyzer.expressions_rules import (
    base_name,
    cast_to,
    coercion_failure,
    comparison_operands,
    guard,
    numeric_rank,
    typed_null,
    valid_comparison,
)
from telemetry_lib.ksql.analyzer.expressions_text import expression_text
from telemetry_lib.ksql.analyzer.scope import Scope
from telemetry_lib.ksql.analyzer.typed import (
    TArithmetic,
    TCall,
    TCase,
    TCast,
    TColumn,
    TComparison,
    TCreateArray,
    TCreateMap,
    TCreateStruct,
    TDereference,
    TGuard,
    TIn,
    TIsNull,
    TLambda,
    TLambdaVar,
    TLike,
    TLiteral,
    TLogical,
    TNegate,
    TNot,
    TSubscript,
    TypedExpression,
)
from telemetry_lib.ksql.errors import AnalysisError, InternalError, UnsupportedError
from telemetry_lib.ksql.functions.builtins import BUILTINS
from telemetry_lib.ksql.functions.registry import (
    FunctionRegistry,
    LambdaArg,
    PLambda,
    UnitArg,
    return_type,
    substitute,
)
from telemetry_lib.ksql.parser import ast_expressions as ast
from telemetry_lib.ksql.types import (
    BIGINT,
    BOOLEAN,
    DOUBLE,
    INTEGER,
    STRING,
    BaseType,
    SqlArray,
    SqlDecimal,
    SqlMap,
    SqlStruct,
    SqlType,
    arithmetic_result_type,
    decimal_of,
    is_numeric,
    widen_numeric,
)

__all__ = ["type_expression", "type_predicate"]

logger = logging.getLogger(__name__)

# ksqlDB's ComparisonExpression.Type names, used in "Cannot compare ... with X." messages.
_COMPARISON_NAMES = {
    "=": "EQUAL",
    "<>": "NOT_EQUAL",
    "<": "LESS_THAN",
    "<=": "LESS_THAN_OR_EQUAL",
    ">": "GREATER_THAN",
    ">=": "GREATER_THAN_OR_EQUAL",
    "IS DISTINCT FROM": "IS_DISTINCT_FROM",
    "IS NOT DISTINCT FROM": "IS_NOT_DISTINCT_FROM",
}
_EQUALITY_OPS = ("=", "<>", "IS DISTINCT FROM", "IS NOT DISTINCT FROM")
_TIME_BASES = (BaseType.DATE, BaseType.TIME, BaseType.TIMESTAMP)
# Pseudo columns holding epoch millis that ksqlDB lets you compare with ISO-8601 text.
_TIMESTAMP_PSEUDO_COLUMNS = ("ROWTIME", "WINDOWSTART", "WINDOWEND")
# ksqlDB prefixes errors found while generating code with the clause they come from.
_CODEGEN_PREFIX = {
    "WHERE": "Invalid Predicate: ",
    "HAVING": "Invalid Predicate: ",
    "SELECT": "Invalid Select: ",
}
_EPOCH = dt.datetime(1970, 1, 1)
# polars' Decimal holds at most 38 digits, so no DECIMAL result may have a larger scale.
_MAX_DECIMAL_SCALE = 38

TypeLookup = Callable[[str], SqlType | None]


def type_expression(
    expr: ast.Expression,
    scope: Scope,
    registry: FunctionRegistry = BUILTINS,
    *,
    context: str = "SELECT",
    type_lookup: TypeLookup | None = None,
) -> TypedExpression:
    """The typed tree of ``expr`` in ``scope`` (see module doc); raises AnalysisError."""
    return _Typer(scope, registry, context, type_lookup or (lambda _name: None)).visit(expr, {})


def type_predicate(
    expr: ast.Expression,
    scope: Scope,
    registry: FunctionRegistry = BUILTINS,
    *,
    context: str = "WHERE",
    type_lookup: TypeLookup | None = None,
) -> TypedExpression:
    """Like :func:`type_expression` but the result must be BOOLEAN (or a NULL literal)."""
    typed = type_expression(expr, scope, registry, context=context, type_lookup=type_lookup)
    if typed.type is not None and typed.type != BOOLEAN:
        raise AnalysisError(
            f"Type error in {context} expression: Should evaluate to boolean but is "
            f"{expression_text(expr)} ({typed.type.sql()}) instead.",
            hint=f"make the {context} clause a condition, e.g. a comparison",
        )
    return typed


class _Typer:
    def __init__(
        self, scope: Scope, registry: FunctionRegistry, context: str, type_lookup: TypeLookup
    ) -> None:
        self.scope = scope
        self.registry = registry
        self.context = context
        self.type_lookup = type_lookup

    # ---------------------------------------------------------------- dispatch
    def visit(self, e: ast.Expression, lam: Mapping[str, SqlType]) -> TypedExpression:
        method = getattr(self, "_" + type(e).__name__, None)
        if method is None:
            raise UnsupportedError(f"expression {type(e).__name__}")
        typed: TypedExpression = method(e, lam)
        if not typed.text:
            typed = replace(typed, text=expression_text(e))
        return typed

    def _codegen_error(self, message: str) -> AnalysisError:
        return AnalysisError(_CODEGEN_PREFIX.get(self.context, "") + message)

    # ---------------------------------------------------------------- leaves
    def _NullLiteral(self, e: ast.NullLiteral, lam: Mapping[str, SqlType]) -> TypedExpression:
        return TLiteral(None, type=None)

    def _BooleanLiteral(self, e: ast.BooleanLiteral, lam: Mapping[str, SqlType]) -> TypedExpression:
        return TLiteral(e.value, type=BOOLEAN)

    def _StringLiteral(self, e: ast.StringLiteral, lam: Mapping[str, SqlType]) -> TypedExpression:
        return TLiteral(e.value, type=STRING)

    def _IntegerLiteral(self, e: ast.IntegerLiteral, lam: Mapping[str, SqlType]) -> TypedExpression:
        return TLiteral(e.value, type=INTEGER)

    def _LongLiteral(self, e: ast.LongLiteral, lam: Mapping[str, SqlType]) -> TypedExpression:
        return TLiteral(e.value, type=BIGINT)

    def _DecimalLiteral(self, e: ast.DecimalLiteral, lam: Mapping[str, SqlType]) -> TypedExpression:
        return TLiteral(e.value, type=SqlDecimal(e.precision, e.scale))

    def _DoubleLiteral(self, e: ast.DoubleLiteral, lam: Mapping[str, SqlType]) -> TypedExpression:
        return TLiteral(float(e.value), type=DOUBLE)

    def _ColumnRef(self, e: ast.ColumnRef, lam: Mapping[str, SqlType]) -> TypedExpression:
        if e.source is None and e.name in lam:
            return TLambdaVar(e.name, type=lam[e.name])
        col = self.scope.resolve(e.name, e.source, context=self.context)
        return TColumn(col.field_name, type=col.type)

    def _LambdaVariable(self, e: ast.LambdaVariable, lam: Mapping[str, SqlType]) -> TypedExpression:
        if e.name not in lam:
            raise AnalysisError(f"Lambda variable '{e.name}' is not defined here.")
        return TLambdaVar(e.name, type=lam[e.name])

    def _IntervalUnit(self, e: ast.IntervalUnit, lam: Mapping[str, SqlType]) -> TypedExpression:
        return TLiteral(e.unit, type=None, text=e.unit)

    # ---------------------------------------------------------------- operators
    def _ArithmeticUnary(
        self, e: ast.ArithmeticUnary, lam: Mapping[str, SqlType]
    ) -> TypedExpression:
        operand = self.visit(e.operand, lam)
        if operand.type is None or not is_numeric(operand.type):
            shown = "null" if operand.type is None else operand.type.sql()
            raise AnalysisError(
                f"Error processing expression: {expression_text(e)}. "
                f"Unary {e.op} needs a numeric operand, found {shown}."
            )
        if e.op == "+":
            return replace(operand, text=expression_text(e))
        return TNegate(operand, type=operand.type)

    def _ArithmeticBinary(
        self, e: ast.ArithmeticBinary, lam: Mapping[str, SqlType]
    ) -> TypedExpression:
        left, right = self.visit(e.left, lam), self.visit(e.right, lam)
        lt, rt = left.type, right.type
        if lt is None or rt is None:  # an untyped NULL operand (ksqlDB's wording)
            shown = ["null" if t is None else t.sql() for t in (lt, rt)]
            raise AnalysisError(
                f"Error processing expression: {expression_text(e)}. "
                f"Arithmetic on types {shown[0]} and {shown[1]} are not supported."
            )
        if lt.base is BaseType.STRING and rt.base is BaseType.STRING and e.op == "+":
            return TArithmetic("+", left, right, type=STRING)
        try:
            result = arithmetic_result_type(e.op, lt, rt)
        except TypeError:
            raise AnalysisError(
                f"Error processing expression: {expression_text(e)}. "
                f"Unsupported arithmetic types. {lt.base.value} {rt.base.value}"
            ) from None
        if isinstance(result, SqlDecimal):
            if result.scale > _MAX_DECIMAL_SCALE:
                raise UnsupportedError(
                    f"DECIMAL arithmetic with a result scale above {_MAX_DECIMAL_SCALE}: "
                    f"{expression_text(e)} would be {result.sql()}"
                )
            left = cast_to(left, decimal_of(lt))
            right = cast_to(right, decimal_of(rt))
        else:
            left, right = cast_to(left, result), cast_to(right, result)
        return TArithmetic(e.op, left, right, type=result)

    def _Comparison(self, e: ast.Comparison, lam: Mapping[str, SqlType]) -> TypedExpression:
        left_ast, right_ast = self._rewrite_pseudo_timestamp(e.left, e.right)
        right_ast, left_ast2 = self._rewrite_pseudo_timestamp(right_ast, left_ast)
        left, right = self.visit(left_ast2, lam), self.visit(right_ast, lam)
        return self._compare(e.op, left, right, e.left, e.right, expression_text(e))

    def _rewrite_pseudo_timestamp(
        self, column: ast.Expression, other: ast.Expression
    ) -> tuple[ast.Expression, ast.Expression]:
        """``ROWTIME > '2017-11-17T04:53:45'``: ISO text compared with a millis pseudo column."""
        if (
            isinstance(column, ast.ColumnRef)
            and column.name in _TIMESTAMP_PSEUDO_COLUMNS
            and isinstance(other, ast.StringLiteral)
        ):
            try:
                ts = parse_timestamp_text(other.value)
            except CoercionError as exc:
                raise AnalysisError(str(exc)) from None
            millis = (ts - _EPOCH) // dt.timedelta(milliseconds=1)
            return column, ast.LongLiteral(millis, text=str(millis), loc=other.loc)
        return column, other

    def _compare(
        self,
        op: str,
        left: TypedExpression,
        right: TypedExpression,
        left_ast: ast.Expression,
        right_ast: ast.Expression,
        text: str,
    ) -> TypedExpression:
        lt, rt = left.type, right.type
        name = _COMPARISON_NAMES[op]
        if lt is None or rt is None:
            raise AnalysisError(
                "Comparison with NULL not supported: "
                f"{base_name(lt)} {op} {base_name(rt)}\n"
                "Use 'IS NULL' or 'IS NOT NULL' instead."
            )
        if not valid_comparison(lt, op, rt):
            raise AnalysisError(
                f"Cannot compare {expression_text(left_ast)} ({lt.sql()}) to "
                f"{expression_text(right_ast)} ({rt.sql()}) with {name}."
            )
        left, right = comparison_operands(left, right)
        return TComparison(op, left, right, type=BOOLEAN, text=text)  # type: ignore[arg-type]

    def _LogicalBinary(self, e: ast.LogicalBinary, lam: Mapping[str, SqlType]) -> TypedExpression:
        left, right = self.visit(e.left, lam), self.visit(e.right, lam)
        for side, node in ((left, e.left), (right, e.right)):
            if side.type is not None and side.type != BOOLEAN:
                raise AnalysisError(
                    f"Type error in {e.op}: {expression_text(node)} ({side.type.sql()}) "
                    "should evaluate to boolean."
                )
        return TLogical(e.op, typed_null(left, BOOLEAN), typed_null(right, BOOLEAN), type=BOOLEAN)

    def _Not(self, e: ast.Not, lam: Mapping[str, SqlType]) -> TypedExpression:
        operand = self.visit(e.operand, lam)
        if operand.type is not None and operand.type != BOOLEAN:
            raise AnalysisError(
                f"Type error in NOT: {expression_text(e.operand)} ({operand.type.sql()}) "
                "should evaluate to boolean."
            )
        return TNot(typed_null(operand, BOOLEAN), type=BOOLEAN)

    def _IsNull(self, e: ast.IsNull, lam: Mapping[str, SqlType]) -> TypedExpression:
        return TIsNull(self.visit(e.value, lam), negated=False, type=BOOLEAN)

    def _IsNotNull(self, e: ast.IsNotNull, lam: Mapping[str, SqlType]) -> TypedExpression:
        return TIsNull(self.visit(e.value, lam), negated=True, type=BOOLEAN)

    def _Between(self, e: ast.Between, lam: Mapping[str, SqlType]) -> TypedExpression:
        value = self.visit(e.value, lam)
        lower, upper = self.visit(e.lower, lam), self.visit(e.upper, lam)
        ge = self._compare(">=", value, lower, e.value, e.lower, "")
        le = self._compare("<=", value, upper, e.value, e.upper, "")
        return TLogical("AND", ge, le, type=BOOLEAN)

    def _Like(self, e: ast.Like, lam: Mapping[str, SqlType]) -> TypedExpression:
        value, pattern = self.visit(e.value, lam), self.visit(e.pattern, lam)
        for side, node in ((value, e.value), (pattern, e.pattern)):
            if side.type is not None and side.type != STRING:
                raise AnalysisError(
                    f"Cannot use LIKE on {expression_text(node)} ({side.type.sql()}): "
                    "LIKE needs STRING operands."
                )
        return TLike(typed_null(value, STRING), typed_null(pattern, STRING), e.escape, type=BOOLEAN)

    def _InList(self, e: ast.InList, lam: Mapping[str, SqlType]) -> TypedExpression:
        exprs = [e.value, *[i for i in e.items if not isinstance(i, ast.NullLiteral)]]
        typed = [self.visit(x, lam) for x in exprs]
        try:
            common, converted = self._coerce_list(exprs, typed, lam)
        except CoercionError as exc:
            raise self._codegen_error(str(exc)) from None
        if common is None:
            return TLiteral(False, type=BOOLEAN)
        return TIn(converted[0], tuple(converted[1:]), type=BOOLEAN)

    # ---------------------------------------------------------------- CASE / CAST
    def _SimpleCase(self, e: ast.SimpleCase, lam: Mapping[str, SqlType]) -> TypedExpression:
        whens = tuple(
            ast.WhenClause(
                ast.Comparison("=", e.operand, w.condition, loc=w.loc), w.result, loc=w.loc
            )
            for w in e.whens
        )
        return self._SearchedCase(ast.SearchedCase(whens, e.default, loc=e.loc), lam)

    def _SearchedCase(self, e: ast.SearchedCase, lam: Mapping[str, SqlType]) -> TypedExpression:
        whens: list[tuple[TypedExpression, TypedExpression]] = []
        result_type: SqlType | None = None
        for w in e.whens:
            cond = self.visit(w.condition, lam)
            if cond.type is not None and cond.type != BOOLEAN:
                raise AnalysisError(
                    "WHEN operand type should be boolean.\n"
                    f"Type for '{expression_text(w.condition)}' is {cond.type.sql()}"
                )
            result = self.visit(w.result, lam)
            if result.type is not None:
                if result_type is None:
                    result_type = result.type
                elif result.type != result_type:
                    raise AnalysisError(
                        "Invalid Case expression. Type for all 'THEN' clauses should be the same.\n"
                        f"THEN expression 'WHEN {expression_text(w.condition)} THEN "
                        f"{expression_text(w.result)}' has type: {result.type.sql()}.\n"
                        f"Previous THEN expression(s) type: {result_type.sql()}."
                    )
            whens.append((typed_null(cond, BOOLEAN), result))
        default = self.visit(e.default, lam) if e.default is not None else None
        if default is not None and default.type is not None:
            if result_type is not None and default.type != result_type:
                raise AnalysisError(
                    "Invalid Case expression. Type for the default clause should be the same as "
                    f"for 'THEN' clauses.\nTHEN type: {result_type.sql()}.\n"
                    f"DEFAULT type: {default.type.sql()}."
                )
            result_type = default.type
        if result_type is None:
            raise AnalysisError("Invalid Case expression. All case branches have NULL type")
        typed_whens = tuple((c, typed_null(r, result_type)) for c, r in whens)
        typed_default = typed_null(default, result_type) if default is not None else None
        return TCase(typed_whens, typed_default, type=result_type)

    def _Cast(self, e: ast.Cast, lam: Mapping[str, SqlType]) -> TypedExpression:
        try:
            target = ast.resolve_type(e.type, self.type_lookup)
        except LookupError as exc:
            raise AnalysisError(f"Unknown type: {exc.args[0]}") from None
        operand = self.visit(e.expression, lam)
        if operand.type is None:
            return TLiteral(None, type=target)
        if not can_cast(operand.type, target):
            raise self._codegen_error(
                f"Cast of {operand.type.sql()} to {target.sql()} is not supported"
            )
        if operand.type == target:
            return operand
        return TGuard(TCast(operand, type=target), label=target.sql(), type=target)

    def _AtTimeZone(self, e: ast.AtTimeZone, lam: Mapping[str, SqlType]) -> TypedExpression:
        raise UnsupportedError("AT TIME ZONE")

    # ---------------------------------------------------------------- structured
    def _Subscript(self, e: ast.Subscript, lam: Mapping[str, SqlType]) -> TypedExpression:
        base = self.visit(e.base, lam)
        index = self.visit(e.index, lam)
        bt = base.type
        if isinstance(bt, SqlArray):
            if index.type is not None and index.type.base not in (
                BaseType.INTEGER,
                BaseType.BIGINT,
            ):
                raise AnalysisError(
                    "Array index must be an INTEGER: "
                    f"{expression_text(e.index)} ({index.type.sql()})"
                )
            return TSubscript(base, cast_to(typed_null(index, INTEGER), INTEGER), type=bt.element)
        if isinstance(bt, SqlMap):
            key = typed_null(index, bt.key)
            if key.type != bt.key and key.type is not None:
                if not (is_numeric(key.type) and is_numeric(bt.key)):
                    raise AnalysisError(
                        f"Map key type mismatch: {expression_text(e.index)} ({key.type.sql()}) "
                        f"for a map with {bt.key.sql()} keys"
                    )
                key = cast_to(key, bt.key)
            return TSubscript(base, key, type=bt.value)
        hint = ""
        if isinstance(bt, SqlStruct):
            hint = (
                " Use the dereference operator for STRUCTS: "
                f"{expression_text(e.base)}->'{expression_text(e.index)}'"
            )
        shown = "null" if bt is None else bt.sql()
        raise AnalysisError(
            f"Subscript expression ({expression_text(e)}) do not apply to {shown}.{hint}"
        )

    def _Dereference(self, e: ast.Dereference, lam: Mapping[str, SqlType]) -> TypedExpression:
        base = self.visit(e.base, lam)
        if not isinstance(base.type, SqlStruct):
            shown = "null" if base.type is None else base.type.sql()
            raise AnalysisError(f"Expected STRUCT type, got: {shown}")
        ft = base.type.field(e.field_name)
        if ft is None:
            raise AnalysisError(
                f"Could not find field '{e.field_name}' in '{expression_text(e.base)}'.",
                hint="fields: " + ", ".join(n for n, _ in base.type.fields),
            )
        return TDereference(base, e.field_name, type=ft)

    def _CreateArray(self, e: ast.CreateArray, lam: Mapping[str, SqlType]) -> TypedExpression:
        if not e.items:
            raise AnalysisError(
                "Array constructor cannot be empty. Please supply at least one element "
                "(see https://github.com/confluentinc/ksql/issues/4239)."
            )
        typed = [self.visit(x, lam) for x in e.items]
        try:
            common, converted = self._coerce_list(list(e.items), typed, lam)
        except CoercionError as exc:
            raise self._codegen_error(str(exc)) from None
        if common is None:
            raise AnalysisError(
                "Cannot construct an array with all NULL elements "
                "(see https://github.com/confluentinc/ksql/issues/4239). As a workaround, you may "
                "cast a NULL value to the desired type."
            )
        items = tuple(guard(typed_null(c, common), "array item") for c in converted)
        return TCreateArray(items, type=SqlArray(common))

    def _CreateMap(self, e: ast.CreateMap, lam: Mapping[str, SqlType]) -> TypedExpression:
        if not e.entries:
            raise AnalysisError(
                "Map constructor cannot be empty. Please supply at least one key value pair "
                "(see https://github.com/confluentinc/ksql/issues/4239)."
            )
        keys = [k for k, _ in e.entries]
        values = [v for _, v in e.entries]
        try:
            kt, kc = self._coerce_list(keys, [self.visit(k, lam) for k in keys], lam)
            vt, vc = self._coerce_list(values, [self.visit(v, lam) for v in values], lam)
        except CoercionError as exc:
            raise self._codegen_error(str(exc)) from None
        if kt is None:
            raise AnalysisError(
                "Cannot construct a map with all NULL keys "
                "(see https://github.com/confluentinc/ksql/issues/4239). As a workaround, you may "
                "cast a NULL key to the desired type."
            )
        if vt is None:
            raise AnalysisError(
                "Cannot construct a map with all NULL values "
                "(see https://github.com/confluentinc/ksql/issues/4239). As a workaround, you may "
                "cast a NULL value to the desired type."
            )
        entries = tuple(
            (guard(typed_null(k, kt), "map key"), guard(typed_null(v, vt), "map value"))
            for k, v in zip(kc, vc, strict=True)
        )
        return TCreateMap(entries, type=SqlMap(kt, vt))

    def _CreateStruct(self, e: ast.CreateStruct, lam: Mapping[str, SqlType]) -> TypedExpression:
        fields: list[tuple[str, TypedExpression]] = []
        types: list[tuple[str, SqlType]] = []
        for name, value in e.fields:
            typed = self.visit(value, lam)
            if typed.type is None:
                raise AnalysisError(
                    f"Cannot infer the type of STRUCT field {name} from a NULL literal; "
                    f"use CAST(NULL AS <type>)."
                )
            fields.append((name, guard(typed, "struct field")))
            types.append((name, typed.type))
        return TCreateStruct(tuple(fields), type=SqlStruct(tuple(types)))

    # ---------------------------------------------------------------- functions
    def _FunctionCall(self, e: ast.FunctionCall, lam: Mapping[str, SqlType]) -> TypedExpression:
        if not self.registry.is_function(e.name):
            raise AnalysisError(
                f"Can't find any functions with the name '{e.name}'",
                hint="SHOW FUNCTIONS lists the available functions",
            )
        typed_args: list[TypedExpression | None] = []
        arg_kinds: list[SqlType | None | LambdaArg | UnitArg] = []
        for a in e.args:
            if isinstance(a, ast.LambdaFunction):
                typed_args.append(None)
                arg_kinds.append(LambdaArg(len(a.params)))
            elif isinstance(a, ast.IntervalUnit):
                typed_args.append(self.visit(a, lam))
                arg_kinds.append(UnitArg(a.unit))
            else:
                t = self.visit(a, lam)
                typed_args.append(t)
                arg_kinds.append(t.type)
        res = self.registry.resolve(e.name, arg_kinds)
        sig = res.signature
        bindings = dict(res.bindings)
        final_args: list[TypedExpression] = []
        for i, (a, targ) in enumerate(zip(e.args, typed_args, strict=True)):
            param = sig.param_for(i)
            if isinstance(a, ast.LambdaFunction):
                assert isinstance(param, PLambda)
                param_types = []
                for p in param.inputs:
                    pt = substitute(p, bindings)
                    if pt is None:
                        raise AnalysisError(
                            f"Cannot infer the lambda parameter types of {e.name}: "
                            "its collection argument is NULL."
                        )
                    param_types.append(pt)
                inner = dict(lam)
                inner.update(zip(a.params, param_types, strict=True))
                body = self.visit(a.body, inner)
                if body.type is None:
                    raise AnalysisError(f"The lambda body of {e.name} is an untyped NULL.")
                from telemetry_lib.ksql.functions.registry import _bind  # local: private helper

                if not _bind(param.result, body.type, bindings):
                    raise AnalysisError(
                        f"Function '{self.registry.display.get(e.name.upper(), e.name)}' lambda "
                        f"returns {body.type.sql()}, expected {param.result.text()}."
                    )
                final_args.append(
                    TLambda(
                        tuple(a.params),
                        tuple(param_types),
                        body,
                        type=body.type,
                        text=expression_text(a),
                    )
                )
                continue
            assert targ is not None
            target = res.param_types[i]
            converted = targ
            if target is not None:
                converted = typed_null(targ, target) if targ.type is None else cast_to(targ, target)
                if isinstance(converted, TCast):
                    # convertArgument adds a CAST node: a nested-error boundary in ksqlDB.
                    converted = guard(converted, target.sql())
            if isinstance(a, (ast.FunctionCall, ast.Dereference)):
                converted = guard(
                    converted, a.name if isinstance(a, ast.FunctionCall) else a.field_name
                )
            final_args.append(converted)
        arg_types = [x.type for x in final_args]
        ret = return_type(sig, arg_types, bindings)
        if ret is None:
            raise AnalysisError(f"Cannot infer the return type of {e.name}{tuple(arg_types)}.")
        return TCall(e.name.upper(), sig.impl, tuple(final_args), type=ret)

    def _LambdaFunction(self, e: ast.LambdaFunction, lam: Mapping[str, SqlType]) -> TypedExpression:
        raise AnalysisError(f"A lambda can only be a function argument: {expression_text(e)}")

    # ---------------------------------------------------------------- coercion of lists
    def _coerce_list(
        self,
        exprs: Sequence[ast.Expression],
        typed: Sequence[TypedExpression],
        lam: Mapping[str, SqlType],
    ) -> tuple[SqlType | None, list[TypedExpression]]:
        common: SqlType | None = None
        for x, t in zip(exprs, typed, strict=True):
            common = self._common(x, t, common, lam)
        if common is None:
            return None, list(typed)
        out: list[TypedExpression] = []
        for t in typed:
            if t.type is None or t.type == common:
                out.append(typed_null(t, common))
            elif isinstance(t, TLiteral):
                out.append(
                    TLiteral(
                        coerce_literal_value(t.value, t.type, common), type=common, text=t.text
                    )
                )
            else:
                # ksqlDB wraps such elements in a CAST node, which is a nested-error boundary.
                out.append(guard(TCast(t, type=common, text=t.text), common.sql()))
        return common, out

    def _common(
        self,
        x: ast.Expression,
        t: TypedExpression,
        common: SqlType | None,
        lam: Mapping[str, SqlType],
    ) -> SqlType | None:
        if common is None:
            return t.type
        if t.type is None:
            return common
        if isinstance(x, (ast.CreateArray, ast.CreateMap, ast.CreateStruct)):
            try:
                return self._common_constructor(x, t, common, lam)
            except InvalidCoercion:
                raise coercion_failure(x, t.type, common) from None
        return self._common_simple(x, t, common)

    def _common_constructor(
        self,
        x: ast.Expression,
        t: TypedExpression,
        common: SqlType,
        lam: Mapping[str, SqlType],
    ) -> SqlType:
        assert t.type is not None
        if isinstance(x, ast.CreateArray):
            if not isinstance(common, SqlArray):
                raise coercion_failure(x, t.type, common)
            el = self._structured_common(common.element, x.items, lam)
            return SqlArray(el)
        if isinstance(x, ast.CreateMap):
            if not isinstance(common, SqlMap):
                raise coercion_failure(x, t.type, common)
            k = self._structured_common(common.key, [k for k, _ in x.entries], lam)
            v = self._structured_common(common.value, [v for _, v in x.entries], lam)
            return SqlMap(k, v)
        if isinstance(x, ast.CreateStruct):
            if not isinstance(common, SqlStruct):
                raise coercion_failure(x, t.type, common)
            names = [n for n, _ in x.fields] + [
                n for n, _ in common.fields if n not in dict(x.fields)
            ]
            fields: list[tuple[str, SqlType]] = []
            for name in names:
                src = dict(x.fields).get(name)
                target = common.field(name)
                if src is None:
                    assert target is not None
                    fields.append((name, target))
                    continue
                st = self.visit(src, lam)
                if target is None:
                    if st.type is None:
                        raise CoercionError(f"Cannot infer the type of STRUCT field {name}.")
                    fields.append((name, st.type))
                else:
                    resolved = self._common(src, st, target, lam)
                    fields.append((name, resolved or target))
            return SqlStruct(tuple(fields))
        raise InternalError(f"not a constructor: {type(x).__name__}")

    def _common_simple(self, x: ast.Expression, t: TypedExpression, common: SqlType) -> SqlType:
        assert t.type is not None
        if isinstance(x, ast.StringLiteral) and is_numeric(common):
            try:
                source = string_numeric_type(x.value)
            except (ValueError, ArithmeticError):
                raise CoercionError(
                    f'invalid input syntax for type {common.base.value}: "{x.value}".'
                ) from None
            if source.base is BaseType.DOUBLE or common.base is BaseType.DOUBLE:
                return DOUBLE
            if source.base is BaseType.DECIMAL or common.base is BaseType.DECIMAL:
                return widen_numeric(decimal_of(source), decimal_of(common))
            return common if numeric_rank(source) <= numeric_rank(common) else source
        if isinstance(x, ast.StringLiteral) and common.base is BaseType.BOOLEAN:
            if parse_boolean_lax(x.value) is None:
                raise CoercionError(f'invalid input syntax for type BOOLEAN: "{x.value}".')
            return common
        literal = isinstance(x, ast.Literal_)
        found = can_coerce(t.type, common, literal=literal) or can_coerce(
            common, t.type, literal=literal
        )
        if found is None:
            raise coercion_failure(x, t.type, common)
        return found

    def _structured_common(
        self, target: SqlType, items: Sequence[ast.Expression], lam: Mapping[str, SqlType]
    ) -> SqlType:
        common: SqlType | None = target
        for item in items:
            common = self._common(item, self.visit(item, lam), common, lam)
        return common or target
