"""Typing rules shared by the expression analyzer: comparison validity and operand casts,
implicit conversions of typed expressions, NULL typing and nested-error guards (pure, no polars).

Owns the helpers :mod:`telemetry_lib.ksql.analyzer.expressions` applies while building the
typed tree; see that module's docstring for the rules they implement.
"""

from __future__ import annotations

import logging

from telemetry_lib.ksql.analyzer.expressions_coercion import (
    CoercionError,
    InvalidCoercion,
    can_coerce,
    coerce_literal_value,
)
from telemetry_lib.ksql.analyzer.expressions_text import expression_text
from telemetry_lib.ksql.analyzer.typed import TCast, TColumn, TGuard, TLiteral, TypedExpression
from telemetry_lib.ksql.errors import AnalysisError
from telemetry_lib.ksql.parser import ast_expressions as ast
from telemetry_lib.ksql.types import (
    BIGINT,
    DOUBLE,
    TIMESTAMP,
    BaseType,
    SqlArray,
    SqlMap,
    SqlStruct,
    SqlType,
    decimal_of,
    is_numeric,
    widen_numeric,
)

__all__ = [
    "base_name",
    "cast_to",
    "coercion_failure",
    "comparison_operands",
    "guard",
    "numeric_rank",
    "typed_null",
    "valid_comparison",
]

logger = logging.getLogger(__name__)

_EQUALITY_OPS = ("=", "<>", "IS DISTINCT FROM", "IS NOT DISTINCT FROM")
_TIME_BASES = (BaseType.DATE, BaseType.TIME, BaseType.TIMESTAMP)


def base_name(t: SqlType | None) -> str:
    return "NULL" if t is None else t.base.value


def numeric_rank(t: SqlType) -> int:
    return [BaseType.INTEGER, BaseType.BIGINT, BaseType.DECIMAL, BaseType.DOUBLE].index(t.base)


def coercion_failure(x: ast.Expression, source: SqlType, target: SqlType) -> CoercionError:
    return InvalidCoercion(
        f"operator does not exist: {target.sql()} = {source.sql()} ({expression_text(x)})\n"
        "Hint: You might need to add explicit type casts."
    )


def valid_comparison(left: SqlType, op: str, right: SqlType) -> bool:
    lb, rb = left.base, right.base
    if is_numeric(left):
        return is_numeric(right)
    if lb is BaseType.STRING:
        return rb is BaseType.STRING or rb in _TIME_BASES
    if lb in (BaseType.BOOLEAN, BaseType.ARRAY, BaseType.MAP, BaseType.STRUCT):
        return rb is lb and op in _EQUALITY_OPS
    if lb is BaseType.TIME:
        return rb in (BaseType.TIME, BaseType.STRING)
    if lb in (BaseType.DATE, BaseType.TIMESTAMP):
        return rb in (BaseType.DATE, BaseType.TIMESTAMP, BaseType.STRING)
    if lb is BaseType.BYTES:
        return rb is BaseType.BYTES
    return False


def comparison_operands(
    left: TypedExpression, right: TypedExpression
) -> tuple[TypedExpression, TypedExpression]:
    """Cast both operands of a valid comparison to the type they are compared as."""
    lt, rt = left.type, right.type
    assert lt is not None and rt is not None
    if lt == rt:
        return left, right
    if is_numeric(lt) and is_numeric(rt):
        if BaseType.DOUBLE in (lt.base, rt.base):
            return cast_to(left, DOUBLE), cast_to(right, DOUBLE)
        if BaseType.DECIMAL in (lt.base, rt.base):
            common = widen_numeric(decimal_of(lt), decimal_of(rt))
            return cast_to(left, common), cast_to(right, common)
        return cast_to(left, BIGINT), cast_to(right, BIGINT)
    if lt.base in _TIME_BASES or rt.base in _TIME_BASES:
        if BaseType.TIME in (lt.base, rt.base):
            target: SqlType = lt if lt.base is BaseType.TIME else rt
        elif BaseType.TIMESTAMP in (lt.base, rt.base) or (lt.base is BaseType.DATE) != (
            rt.base is BaseType.DATE
        ):
            target = (
                TIMESTAMP
                if BaseType.TIMESTAMP in (lt.base, rt.base)
                else (lt if lt.base is BaseType.DATE else rt)
            )
        else:
            target = lt
        return cast_to(left, target), cast_to(right, target)
    if isinstance(lt, (SqlArray, SqlMap, SqlStruct)):
        if can_coerce(rt, lt, literal=False):
            return left, cast_to(right, lt)
        if can_coerce(lt, rt, literal=False):
            return cast_to(left, rt), right
    return left, right


def cast_to(t: TypedExpression, target: SqlType) -> TypedExpression:
    """``t`` converted to ``target`` (literals are converted at analysis time)."""
    if t.type is None:
        return typed_null(t, target)
    if t.type == target:
        return t
    if isinstance(t, TLiteral):
        try:
            value = coerce_literal_value(t.value, t.type, target)
        except CoercionError as exc:
            raise AnalysisError(str(exc)) from None
        if not isinstance(value, str) or target.base is BaseType.STRING:
            return TLiteral(value, type=target, text=t.text)
    return TCast(t, type=target, text=t.text)


def typed_null(t: TypedExpression | None, target: SqlType) -> TypedExpression:
    if isinstance(t, TLiteral) and t.type is None:
        return TLiteral(None, type=target, text=t.text)
    assert t is not None
    return t


def guard(t: TypedExpression, label: str) -> TypedExpression:
    if isinstance(t, (TLiteral, TColumn, TGuard)):
        return t
    return TGuard(t, label=label, type=t.type, text=t.text)
