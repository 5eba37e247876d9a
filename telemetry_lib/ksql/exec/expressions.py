"""Compilation of typed expressions into polars expressions, with per-row error detection.

Owns :class:`CompiledExpression` and :func:`compile_expression`; also :func:`evaluate` (a
convenience for tests and tools). Operators apply the compiled expressions to their batches.

API::

    compiled = compile_expression(typed)        # typed: analyzer.typed.TypedExpression
    compiled.expr    # pl.Expr over the batch's field names: the value, NULL where the row failed
    compiled.error   # pl.Expr (String) or None: the row's first error message, else null
    compiled.type    # SqlType | None
    frame.select(value=compiled.expr, error=compiled.error)   # what an operator does

A constant expression (no column reference) compiles to a length-1 polars expression, as polars
literals are: select it together with full-length columns, or use ``with_columns``, to get one
value per row (``evaluate`` does the latter).

Error model (ksqlDB's generated Java code): an evaluation error anywhere in the expression
(integer division by zero, arithmetic or logic on a NULL operand — Java unboxing —, a DECIMAL
result needing rounding, a failing function) makes the whole expression NULL for that row and
writes a RECORD_PROCESSING_ERROR; except inside a nested-error boundary (a CAST, a function
argument that is itself a call or a dereference, an ARRAY/MAP/STRUCT constructor element),
where only that sub-expression becomes NULL (still logged). CASE branches and the right side
of AND/OR are lazy: their errors count only on rows where they are evaluated. The caller
writes one processing-log record per row whose ``error`` is non-null (message in
``errorMessage``) and keeps the row with the NULL value.

Shared sub-expressions: polars evaluates (and plans) an expression tree as written, so a
sub-expression used in several places (a DECIMAL operand, NULLIF's argument, a CASE condition, a
failure that also gates a value) is let-bound once it is more than a few nodes: it becomes a
field of one struct built stage by stage (``struct.with_fields``, read back with ``pl.field``),
and ``expr``/``error`` are evaluated inside that struct (see ``_Lets``). Values of
sub-expressions are only meaningful on rows where they did not fail: a failure always reaches
the top (which nulls the value) or a nested-error boundary (which nulls it there).

Semantics implemented here: INTEGER/BIGINT wrap on overflow and ``/``, ``%`` truncate toward
zero like Java (polars floors); DOUBLE ``%`` is Java's fmod; DECIMAL via
:mod:`~telemetry_lib.ksql.functions.decimal_ops`; STRING ``+`` is Java concatenation (a NULL
operand prints ``null``); comparisons are two-valued (NULL operand -> false) except
``IS [NOT] DISTINCT FROM``; LIKE with ``%``/``_`` and an optional escape; arrays are 1-based
with negative indexes from the end (out of range -> NULL).
"""

from __future__ import annotations

import decimal
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import polars as pl

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
from telemetry_lib.ksql.errors import InternalError, UnsupportedError
from telemetry_lib.ksql.exec.expr_cast import cast_expr, exact_decimal_unscaled, wrap_int32
from telemetry_lib.ksql.exec.expr_lambdas import lambda_by_explode, outer_columns, reduce_call
from telemetry_lib.ksql.exec.expr_literals import literal_expr
from telemetry_lib.ksql.functions.decimal_ops import DecimalOperand, decimal_binary
from telemetry_lib.ksql.functions.impl_base import NOT_CONSTANT, Arg, get_impl
from telemetry_lib.ksql.types import BaseType, SqlDecimal, SqlMap, SqlType, to_polars

__all__ = ["CompiledExpression", "compile_expression", "evaluate"]

logger = logging.getLogger(__name__)

# Messages of Java exceptions ksqlDB would log for these failures.
_NPE = "java.lang.NullPointerException: a NULL operand was evaluated"
_DIV_ZERO = "java.lang.ArithmeticException: / by zero"
_LIKE_TRAILING_ESCAPE = "LIKE pattern must not end with escape character"
# The regex metacharacters escaped when a LIKE pattern becomes a regex.
_REGEX_META = re.compile(r"([.^$*+?()\[\]{}|\\])")
# Let-bound sub-expressions are fields of one struct named with this prefix (see _Lets).
_LET_PREFIX = "__ksql_let_"
_LET_OUT = _LET_PREFIX + "out"
_LET_REF = re.compile(r'field\(\["(' + _LET_PREFIX + r'\d+)"\]\)')
# A sub-expression whose polars text is at most this long (a column, a cast or null check of
# one, a literal) is repeated where it is used: a struct stage costs more planning (~50 us)
# than repeating a few nodes. Longer ones that are used more than once are let-bound.
_SHARE_MIN_TEXT = 200
# Digits of the Python decimal context that scales a DECIMAL literal (exact for any 38 digits).
_EXACT_DIGITS = 100


@dataclass(frozen=True)
class CompiledExpression:
    """A typed expression compiled to polars (see module doc)."""

    expr: pl.Expr
    error: pl.Expr | None
    type: SqlType | None
    text: str = ""


@dataclass(frozen=True)
class _Fail:
    """An unhandled failure: (condition, message) parts in evaluation order; on a row, the first
    part whose condition holds names the error. A part with condition None is an opaque message
    expression (null where fine). Kept as parts so the whole failure becomes one when/then chain:
    ``pl.coalesce`` of the parts costs polars ~100 us more planning per batch."""

    parts: tuple[tuple[pl.Expr | None, pl.Expr], ...]

    def gated(self, condition: pl.Expr | None) -> _Fail:
        """Only on rows where ``condition`` holds (lazy evaluation; None: every row)."""
        if condition is None:
            return self
        return _Fail(tuple((condition & _holds(c, m), m) for c, m in self.parts))

    def expr(self) -> pl.Expr:
        """The failure as one String expression (null where the row computed fine)."""
        (c, m), *rest = self.parts
        if c is None and not rest:
            return m
        chain: Any = pl.when(_holds(c, m)).then(m)  # a when/then chain
        for c, m in rest:
            chain = chain.when(_holds(c, m)).then(m)
        return chain


def _holds(condition: pl.Expr | None, message: pl.Expr) -> pl.Expr:
    # A when/then chain stops at the first true condition even if its message is null: an
    # opaque message's condition is that it is not null.
    return message.is_not_null() if condition is None else condition


def _fails(*fails: _Fail | pl.Expr | None) -> _Fail | None:
    """The failures in evaluation order as one (a pl.Expr is an opaque message expression)."""
    parts: list[tuple[pl.Expr | None, pl.Expr]] = []
    for f in fails:
        if f is None:
            continue
        parts += f.parts if isinstance(f, _Fail) else [(None, f)]
    return _Fail(tuple(parts)) if parts else None


def _gate_fail(fail: _Fail | None, condition: pl.Expr | None) -> _Fail | None:
    return None if fail is None else fail.gated(condition)


@dataclass(frozen=True)
class _C:
    """Compilation state of a sub-expression: value, unhandled failure, handled (logged) errors."""

    value: pl.Expr
    fail: _Fail | None = None
    logged: _Fail | None = None
    # A DECIMAL value computed unscaled: that Int128 (a parent DECIMAL operation uses it
    # instead of converting the value back).
    raw: pl.Expr | None = None
    # The value is never NULL (a comparison, IS NULL, a non-NULL literal...): the checks for a
    # NULL operand (Java's unboxing) are left out.
    non_null: bool = False


def compile_expression(typed: TypedExpression) -> CompiledExpression:
    """Compile ``typed`` (see module doc for the error model)."""
    compiler = _Compiler({})
    c = compiler.compile(typed)
    value = c.value
    fail = c.fail.expr() if c.fail is not None else None
    if fail is not None:
        value = pl.when(fail.is_null()).then(value)
    if typed.type is not None:
        value = value.cast(to_polars(typed.type), strict=False) if _needs_cast(typed) else value
    errors = _fails(c.fail, c.logged)
    error = errors.expr() if errors is not None else None
    lets = compiler.lets
    return CompiledExpression(
        lets.close(value), None if error is None else lets.close(error), typed.type, typed.text
    )


def evaluate(frame: pl.DataFrame, compiled: CompiledExpression) -> tuple[pl.Series, pl.Series]:
    """Evaluate on ``frame``: (values, error messages) as Series of ``len(frame)``."""
    error = compiled.error if compiled.error is not None else pl.lit(None, dtype=pl.String)
    # with_columns broadcasts constant (length-1) expressions to the frame's height.
    out = frame.with_columns(compiled.expr.alias("__value"), error.cast(pl.String).alias("__error"))
    return out["__value"].alias("value"), out["__error"].alias("error")


def _needs_cast(typed: TypedExpression) -> bool:
    return not isinstance(typed, TColumn)


def _operand(c: _C, node: TypedExpression, t: SqlDecimal) -> DecimalOperand:
    constant = None
    if isinstance(node, TLiteral) and node.value is not None:
        with decimal.localcontext() as ctx:
            ctx.prec = _EXACT_DIGITS
            scaled = decimal.Decimal(str(node.value)).scaleb(t.scale)
        if scaled == scaled.to_integral_value():
            constant = int(scaled)
    return DecimalOperand(c.value, t, c.raw, constant)


def _null_operand(*operands: _C) -> _Fail | None:
    """Java's NullPointerException where an operand is NULL (checks only those that can be).

    A DECIMAL computed unscaled is NULL where its Int128 is (the conversion back nulls only
    rows that overflowed, and those failed already)."""
    checks = [
        (c.raw if c.raw is not None else c.value).is_null() for c in operands if not c.non_null
    ]
    if not checks:
        return None
    condition = checks[0]
    for check in checks[1:]:
        condition = condition | check
    return _msg(condition, _NPE)


def _msg(condition: pl.Expr, message: str) -> _Fail:
    return _Fail(((condition, pl.lit(message)),))


class _Lets:
    """Sub-expressions evaluated once: fields of a struct built stage by stage.

    polars evaluates an expression tree as written (an eager select does no common
    sub-expression elimination), so a sub-expression referred to in several places — operands
    of DECIMAL arithmetic, NULLIF's argument, a CASE condition, a failure that also gates the
    value — would be computed (and planned) once per reference, and nested ones multiply.
    :meth:`share` turns such a sub-expression into a field of one struct: stage 0 is
    ``pl.struct(...)`` over batch columns, stage k adds (``struct.with_fields``) the fields
    that read fields of earlier stages with ``pl.field``; :meth:`close` wraps a final expression
    in that struct. Independent fields share a stage: planning grows with the number of stages.
    """

    def __init__(self, *, enabled: bool) -> None:
        # Off inside list.eval lambda bodies (pl.element() context: no struct to read from).
        self.enabled = enabled
        self._stages: list[list[pl.Expr]] = []
        self._levels: dict[str, int] = {}

    def share(self, expr: pl.Expr) -> pl.Expr:
        """``expr``, or a reference to it as a let-bound field when it is worth binding."""
        if not self.enabled:
            return expr
        text = str(expr)
        if len(text) <= _SHARE_MIN_TEXT:
            return expr
        refs = _LET_REF.findall(text)
        if not refs and "col(" not in text:
            # No column: a constant (length 1) or a per-row generator (pl.len()); the first
            # stage must have the batch's length, so these are not bound.
            return expr
        level = 1 + max(self._levels[r] for r in refs) if refs else 0
        name = f"{_LET_PREFIX}{len(self._levels)}"
        self._levels[name] = level
        while len(self._stages) <= level:
            self._stages.append([])
        self._stages[level].append(expr.alias(name))
        return pl.field(name)

    def share_c(self, c: _C) -> _C:
        """``c`` with its value let-bound (see :meth:`share`)."""
        value = self.share(c.value)
        raw = self.share(c.raw) if c.raw is not None else None
        if value is c.value and raw is c.raw:
            return c
        return replace(c, value=value, raw=raw)

    def close(self, expr: pl.Expr) -> pl.Expr:
        """``expr`` evaluated inside the let struct (``expr`` itself when nothing is bound)."""
        if not self._stages:
            return expr
        chain = pl.struct(self._stages[0])
        for stage in self._stages[1:]:
            chain = chain.struct.with_fields(stage)
        return chain.struct.with_fields(expr.alias(_LET_OUT)).struct.field(_LET_OUT)


class _Compiler:
    def __init__(self, lambda_vars: dict[str, pl.Expr], *, columns_allowed: bool = False) -> None:
        self.lambda_vars = lambda_vars
        # Inside list.eval (lambda_vars bound to pl.element()) no batch column is visible; the
        # frame-level lambda evaluation (expr_lambdas) binds variables to columns and allows them.
        self.columns_allowed = columns_allowed or not lambda_vars
        self.lets = _Lets(enabled=not lambda_vars)
        self.share = self.lets.share

    def compile(self, node: TypedExpression) -> _C:
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            raise InternalError(f"cannot compile {type(node).__name__}")
        result: _C = method(node)
        return result

    def _children(self, *nodes: TypedExpression) -> tuple[list[_C], _Fail | None, _Fail | None]:
        """The compiled nodes (values let-bound when large: parents refer to them repeatedly),
        their first unhandled failure and their first logged error."""
        cs = [self.lets.share_c(self.compile(n)) for n in nodes]
        return cs, _fails(*(c.fail for c in cs)), _fails(*(c.logged for c in cs))

    def _shared(self, node: TypedExpression) -> _C:
        return self.lets.share_c(self.compile(node))

    # ------------------------------------------------------------------ leaves
    def _TColumn(self, node: TColumn) -> _C:
        if not self.columns_allowed:
            raise InternalError("a lambda body with outer columns must use expr_lambdas")
        return _C(pl.col(node.field_name))

    def _TLiteral(self, node: TLiteral) -> _C:
        return _C(literal_expr(node.value, node.type), non_null=node.value is not None)

    def _TLambdaVar(self, node: TLambdaVar) -> _C:
        try:
            return _C(self.lambda_vars[node.name])
        except KeyError:
            raise InternalError(f"lambda variable {node.name} is not bound") from None

    # ------------------------------------------------------------------ arithmetic
    def _TArithmetic(self, node: TArithmetic) -> _C:
        (left, right), fail, logged = self._children(node.left, node.right)
        lt, rt, t = node.left.type, node.right.type, node.type
        assert lt is not None and rt is not None and t is not None
        a, b = left.value, right.value
        if t.base is BaseType.STRING:
            value = pl.concat_str([a.fill_null("null"), b.fill_null("null")])
            return _C(value, fail, logged)
        # A DECIMAL computed unscaled is NULL where its Int128 is (the conversion back nulls
        # only rows that overflowed, and those failed already).
        null_operand = _null_operand(left, right)
        if isinstance(t, SqlDecimal):
            assert isinstance(lt, SqlDecimal) and isinstance(rt, SqlDecimal)
            res = decimal_binary(
                node.op, _operand(left, node.left, lt), _operand(right, node.right, rt), t
            )
            dec_fail = _Fail(tuple((c, pl.lit(m)) for c, m in res.fails)) if res.fails else None
            return _C(res.value, _fails(fail, null_operand, dec_fail), logged, res.raw)
        if t.base is BaseType.DOUBLE:
            value = self._double_op(node.op, a, b)
            return _C(value, _fails(fail, null_operand), logged)
        value, op_fail = self._integer_op(node.op, a, b, t)
        return _C(value, _fails(fail, null_operand, op_fail), logged)

    @staticmethod
    def _double_op(op: str, a: pl.Expr, b: pl.Expr) -> pl.Expr:
        a, b = a.cast(pl.Float64), b.cast(pl.Float64)
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return a / b
        # Java's % on doubles: the sign of the dividend (fmod).
        r = a.abs() % b.abs()
        return pl.when(a < 0).then(-r).otherwise(r)

    @staticmethod
    def _integer_op(op: str, a: pl.Expr, b: pl.Expr, t: SqlType) -> tuple[pl.Expr, _Fail | None]:
        dtype = to_polars(t)
        a, b = a.cast(dtype), b.cast(dtype)
        if op == "+":
            return a + b, None
        if op == "-":
            return a - b, None
        if op == "*":
            return a * b, None
        zero = _msg(b == 0, _DIV_ZERO)
        safe = pl.when(b == 0).then(pl.lit(1, dtype=dtype)).otherwise(b)
        if op == "/":
            q = a // safe
            value = pl.when(((a % safe) != 0) & ((a < 0) != (safe < 0))).then(q + 1).otherwise(q)
            return value.cast(dtype), zero
        r = a % safe
        value = pl.when((r != 0) & ((a < 0) != (safe < 0))).then(r - safe).otherwise(r)
        return value.cast(dtype), zero

    def _TNegate(self, node: TNegate) -> _C:
        c = self._shared(node.operand)
        t = node.type
        assert t is not None
        if isinstance(t, SqlDecimal):
            value = (-c.value).cast(to_polars(t))
        else:
            value = (
                (pl.lit(0, dtype=to_polars(t)) - c.value).cast(to_polars(t))
                if t.base is not BaseType.DOUBLE
                else -c.value
            )
        return _C(value, _fails(c.fail, _null_operand(c)), c.logged)

    # ------------------------------------------------------------------ predicates
    def _TComparison(self, node: TComparison) -> _C:
        (left, right), fail, logged = self._children(node.left, node.right)
        a, b = left.value, right.value
        lt = node.left.type
        if isinstance(lt, SqlMap):
            a, b = a.list.sort(), b.list.sort()
        op = node.op
        if op == "IS DISTINCT FROM":
            return _C(a.ne_missing(b), fail, logged, non_null=True)
        if op == "IS NOT DISTINCT FROM":
            return _C(a.eq_missing(b), fail, logged, non_null=True)
        ops = {
            "=": a == b,
            "<>": a != b,
            "<": a < b,
            "<=": a <= b,
            ">": a > b,
            ">=": a >= b,
        }
        return _C(ops[op].fill_null(False), fail, logged, non_null=True)

    def _TLogical(self, node: TLogical) -> _C:
        left = self._shared(node.left)
        right = self._shared(node.right)
        a, b = left.value, right.value
        # The value references each operand once (Kleene logic): nesting many AND/OR must not
        # grow the expression exponentially. Rows where Java would throw (a NULL operand that is
        # evaluated) differ from Kleene only where ``npe`` marks them, and those become NULL.
        if node.op == "AND":
            evaluated_right = a if left.non_null else a.fill_null(False)
            value = a & b
        else:
            evaluated_right = ~a if left.non_null else ~a.fill_null(True)
            value = a | b
        nulls = [] if left.non_null else [a.is_null()]
        if not right.non_null:
            nulls.append(evaluated_right & b.is_null())
        npe = _msg(nulls[0] | nulls[1] if len(nulls) == 2 else nulls[0], _NPE) if nulls else None
        fail = _fails(left.fail, _gate_fail(right.fail, evaluated_right), npe)
        logged = _fails(left.logged, _gate_fail(right.logged, evaluated_right))
        return _C(value, fail, logged, non_null=left.non_null and right.non_null)

    def _TNot(self, node: TNot) -> _C:
        c = self._shared(node.operand)
        return _C(~c.value, _fails(c.fail, _null_operand(c)), c.logged, non_null=c.non_null)

    def _TIsNull(self, node: TIsNull) -> _C:
        c = self.compile(node.operand)
        value = c.value.is_not_null() if node.negated else c.value.is_null()
        return _C(value, c.fail, c.logged, non_null=True)

    def _TLike(self, node: TLike) -> _C:
        (value, pattern), fail, logged = self._children(node.value, node.pattern)
        # ksqlDB's LikeEvaluator throws on a NULL value or pattern (an evaluation error, so the
        # expression is NULL: ``x NOT LIKE 'a%'`` does not pass a NULL x).
        npe = _msg(value.value.is_null() | pattern.value.is_null(), _NPE)
        if isinstance(node.pattern, TLiteral) and node.pattern.value is not None:
            text = str(node.pattern.value)
            if _ends_with_escape(text, node.escape):
                bad = _msg(value.value.is_not_null(), _LIKE_TRAILING_ESCAPE)
                return _C(pl.lit(None, dtype=pl.Boolean), _fails(fail, npe, bad), logged)
            matched = value.value.str.contains(like_to_regex(text, node.escape))
        else:
            matched = value.value.str.contains(_like_regex_expr(pattern.value, node.escape))
        return _C(matched, _fails(fail, npe), logged)

    def _TIn(self, node: TIn) -> _C:
        cs, fail, logged = self._children(node.value, *node.items)
        v = cs[0].value
        if isinstance(node.value.type, SqlMap):
            v = v.list.sort()
        hits = []
        for c, item in zip(cs[1:], node.items, strict=True):
            other = c.value.list.sort() if isinstance(item.type, SqlMap) else c.value
            hits.append((v == other).fill_null(False))
        value = pl.any_horizontal(hits) if hits else pl.lit(False)
        return _C(value, fail, logged, non_null=True)

    # ------------------------------------------------------------------ CASE / CAST / guards
    def _TCase(self, node: TCase) -> _C:
        t = node.type
        dtype = to_polars(t) if t is not None else None
        fails: list[_Fail | None] = []
        logs: list[_Fail | None] = []
        # Rows that reach the current WHEN (None: all of them, the first WHEN).
        reached: pl.Expr | None = None
        chain: Any = None  # a polars when/then chain
        for cond, result in node.whens:
            cc, rc = self._shared(cond), self.compile(result)
            fails.append(_gate_fail(cc.fail, reached))
            if not cc.non_null:
                # SearchedCaseFunction unboxes each reached condition: a NULL one throws.
                null_cond = cc.value.is_null()
                fails.append(_msg(null_cond if reached is None else reached & null_cond, _NPE))
            logs.append(_gate_fail(cc.logged, reached))
            cond_value = cc.value if cc.non_null else cc.value.fill_null(False)
            taken = cond_value if reached is None else reached & cond_value
            fails.append(_gate_fail(rc.fail, taken))
            logs.append(_gate_fail(rc.logged, taken))
            rv = rc.value.cast(dtype) if dtype is not None else rc.value
            chain = (
                pl.when(cond_value).then(rv) if chain is None else chain.when(cond_value).then(rv)
            )
            reached = self.share(~cond_value if reached is None else reached & ~cond_value)
        assert chain is not None
        if node.default is not None:
            dc = self.compile(node.default)
            fails.append(_gate_fail(dc.fail, reached))
            logs.append(_gate_fail(dc.logged, reached))
            dv = dc.value.cast(dtype) if dtype is not None else dc.value
            value = chain.otherwise(dv)
        else:
            value = chain.otherwise(pl.lit(None, dtype=dtype))
        return _C(value, _fails(*fails), _fails(*logs))

    def _TCast(self, node: TCast) -> _C:
        c = self._shared(node.operand)
        source, target = node.operand.type, node.type
        assert source is not None and target is not None
        value, cast_fail = cast_expr(c.value, source, target, share=self.share)
        raw = None
        if isinstance(target, SqlDecimal):
            raw = exact_decimal_unscaled(c.value, c.raw, source, target)
        return _C(value, _fails(c.fail, cast_fail), c.logged, raw)

    def _TGuard(self, node: TGuard) -> _C:
        c = self.compile(node.operand)
        if c.fail is None:
            return c
        # The failure gates the value and becomes the logged message: referred to twice.
        fail = self.share(c.fail.expr())
        value = pl.when(fail.is_null()).then(c.value)
        label = pl.lit(f"Error processing {node.label}: ")
        logged = _Fail(((fail.is_not_null(), pl.concat_str([label, fail])),))
        return _C(value, None, _fails(logged, c.logged))

    # ------------------------------------------------------------------ functions
    def _TCall(self, node: TCall) -> _C:
        if node.impl.startswith("lambda_"):
            return self._lambda_call(node)
        cs, fail, logged = self._children(*node.args)
        args = [
            Arg(c.value, a.type, a.value if isinstance(a, TLiteral) else NOT_CONSTANT)
            for c, a in zip(cs, node.args, strict=True)
        ]
        assert node.type is not None
        result = get_impl(node.impl)(args, node.type)
        fn_fail: pl.Expr | None
        if isinstance(result, tuple):
            value, fn_fail = result
        else:
            value, fn_fail = result, None
        if fn_fail is not None:
            fn_fail = pl.concat_str([pl.lit(f"Error in {node.name}: "), fn_fail])
        return _C(value, _fails(fail, fn_fail), logged)

    def _compile_body(
        self, body: TypedExpression, bound: dict[str, pl.Expr]
    ) -> tuple[pl.Expr, pl.Expr | None]:
        inner = _Compiler({**self.lambda_vars, **bound}, columns_allowed=True).compile(body)
        errors = _fails(inner.fail, inner.logged)
        return inner.value, errors.expr() if errors is not None else None

    def _lambda_call(self, node: TCall) -> _C:
        if self.lambda_vars:
            raise UnsupportedError(f"{node.name} with a lambda inside another lambda's body")
        collection, *lambdas = node.args
        c = self.compile(collection)
        fail, logged = c.fail, c.logged
        assert node.type is not None and collection.type is not None
        typed_lambdas = [lam for lam in lambdas if isinstance(lam, TLambda)]
        if node.impl == "lambda_reduce":
            init_c = self.compile(lambdas[0])
            value, red_fail = reduce_call(
                c.value,
                collection.type,
                init_c.value,
                typed_lambdas[0],
                node.type,
                self._compile_body,
            )
            return _C(value, _fails(fail, init_c.fail, red_fail), _fails(logged, init_c.logged))
        if outer_columns(typed_lambdas):
            value, lam_fail = lambda_by_explode(
                node.impl, c.value, collection.type, typed_lambdas, node.type, self._compile_body
            )
            return _C(value, _fails(fail, lam_fail), logged)
        bodies = []
        for lam in lambdas:
            assert isinstance(lam, TLambda)
            if len(lam.params) == 1:
                bound = {lam.params[0]: pl.element()}
            else:
                bound = {
                    lam.params[0]: pl.element().struct.field("key"),
                    lam.params[1]: pl.element().struct.field("value"),
                }
            inner = _Compiler({**self.lambda_vars, **bound}).compile(lam.body)
            body_value = inner.value
            if inner.fail is not None:
                # An error inside the lambda fails the whole call for that row.
                failed_any = c.value.list.eval(inner.fail.expr().is_not_null()).list.any()
                fail = _fails(
                    fail, _msg(failed_any.fill_null(False), f"Error in lambda of {node.name}")
                )
            bodies.append(body_value)
        coll = c.value
        if node.impl == "lambda_transform_array":
            value = coll.list.eval(bodies[0])
        elif node.impl == "lambda_filter_array":
            value = coll.list.eval(pl.element().filter(bodies[0].fill_null(False)))
        elif node.impl == "lambda_filter_map":
            value = coll.list.eval(pl.element().filter(bodies[0].fill_null(False)))
        elif node.impl == "lambda_transform_map":
            value = coll.list.eval(pl.struct(bodies[0].alias("key"), bodies[1].alias("value")))
        else:
            raise InternalError(f"unknown lambda function implementation {node.impl}")
        return _C(value, fail, logged)

    # ------------------------------------------------------------------ structured
    def _TSubscript(self, node: TSubscript) -> _C:
        (base, index), fail, logged = self._children(node.base, node.index)
        if isinstance(node.base.type, SqlMap):
            if not isinstance(node.index, TLiteral):
                return _C(_map_lookup_rowwise(base.value, index.value, node), fail, logged)
            key = literal_expr(node.index.value, node.index.type)
            matches = base.value.list.eval(
                pl.element().filter(pl.element().struct.field("key") == key).struct.field("value")
            )
            return _C(matches.list.last(), fail, logged)
        i = index.value.cast(pl.Int64)
        position = pl.when(i > 0).then(i - 1).when(i < 0).then(i)
        # Java unboxes the index ((int) idx) when the array is not null: a NULL index throws.
        npe = _msg(base.value.is_not_null() & i.is_null(), _NPE)
        return _C(base.value.list.get(position, null_on_oob=True), _fails(fail, npe), logged)

    def _TDereference(self, node: TDereference) -> _C:
        c = self.compile(node.base)
        return _C(c.value.struct.field(node.field_name), c.fail, c.logged)

    def _TCreateArray(self, node: TCreateArray) -> _C:
        cs, fail, logged = self._children(*node.items)
        assert node.type is not None
        el = to_polars(node.type).inner  # type: ignore[attr-defined]
        return _C(pl.concat_list([c.value.cast(el) for c in cs]), fail, logged)

    def _TCreateMap(self, node: TCreateMap) -> _C:
        flat = [x for kv in node.entries for x in kv]
        cs, fail, logged = self._children(*flat)
        t = node.type
        assert isinstance(t, SqlMap)
        kd, vd = to_polars(t.key), to_polars(t.value)
        entries = [
            pl.struct(cs[i].value.cast(kd).alias("key"), cs[i + 1].value.cast(vd).alias("value"))
            for i in range(0, len(cs), 2)
        ]
        return _C(pl.concat_list(entries), fail, logged)

    def _TCreateStruct(self, node: TCreateStruct) -> _C:
        cs, fail, logged = self._children(*(v for _, v in node.fields))
        fields = [
            c.value.cast(to_polars(v.type)).alias(n) if v.type is not None else c.value.alias(n)
            for c, (n, v) in zip(cs, node.fields, strict=True)
        ]
        return _C(pl.struct(fields), fail, logged)

    def _TLambda(self, node: TLambda) -> _C:
        raise InternalError("a lambda is compiled by the function call that takes it")


def like_to_regex(pattern: str, escape: str | None) -> str:
    """SQL LIKE pattern -> anchored regex (``%`` any run, ``_`` one character)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if escape is not None and ch == escape and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
        i += 1
    # Java's Pattern without DOTALL: '.' does not match a line break.
    return "^(?:" + "".join(out) + ")$"


def _like_regex_expr(pattern: pl.Expr, escape: str | None) -> pl.Expr:
    """A per-row LIKE pattern column turned into regexes with polars string operations."""
    p = pattern
    if escape is not None:
        # Protect escaped characters with private-use placeholders before translating.
        p = p.str.replace_all(re.escape(escape) + "%", "\ue000", literal=False)
        p = p.str.replace_all(re.escape(escape) + "_", "\ue001", literal=False)
        p = p.str.replace_all(re.escape(escape + escape), "\ue002", literal=False)
    p = p.str.replace_all(r"([.^$*+?()\[\]{}|\\])", r"\$1")
    p = p.str.replace_all("%", ".*", literal=True).str.replace_all("_", ".", literal=True)
    if escape is not None:
        p = p.str.replace_all("\ue000", "%", literal=True).str.replace_all(
            "\ue001", "_", literal=True
        )
        p = p.str.replace_all("\ue002", re.escape(escape), literal=True)
    return pl.concat_str([pl.lit("^(?:"), p, pl.lit(")$")])


def _ends_with_escape(pattern: str, escape: str | None) -> bool:
    """Whether ``pattern`` ends with an escape character that escapes nothing."""
    if escape is None:
        return False
    escaped = False
    for ch in pattern:
        escaped = False if escaped else ch == escape
    return escaped


def _map_lookup_rowwise(base: pl.Expr, key: pl.Expr, node: TSubscript) -> pl.Expr:
    # Not vectorised: polars cannot look up a per-row key inside list.eval; per-row Python.
    assert node.type is not None
    dtype = to_polars(node.type)

    def run(s: pl.Series) -> pl.Series:
        out = []
        for row in s.to_list():
            entries, k = row["m"], row["k"]
            found = None
            if entries is not None and k is not None:
                for e in entries:
                    if e["key"] == k:
                        found = e["value"]
            out.append(found)
        return pl.Series(out, dtype=dtype)

    return pl.struct(base.alias("m"), key.alias("k")).map_batches(
        run, return_dtype=dtype, is_elementwise=True
    )


_ = (Sequence, wrap_int32)
