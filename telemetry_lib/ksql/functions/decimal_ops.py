"""DECIMAL arithmetic and rounding with ksqlDB's exact semantics, vectorised on polars Int128.

Owns: ``decimal_binary`` (``+ - * / %`` of two DECIMAL expressions into the result type chosen by
the analyzer) and the unscaled-integer helpers it uses. ksqlDB computes
``a.op(b, new MathContext(p, UNNECESSARY)).setScale(s)`` on BigDecimal, so a result that would
need rounding — a non-terminating quotient such as ``1.0 / 3`` — throws, and the row's expression
becomes NULL with a processing-log entry; division or remainder by zero does the same. Here the
operands are taken as unscaled Int128 values (``to_physical``), rescaled to a common scale, and
combined with Java's truncating division; results go back to ``Decimal(p, s)``.

Limits: results and intermediate values must fit in 38 digits (polars' Decimal/Int128); a row
whose exact result needs more digits gets NULL plus an error, like a BigDecimal overflow would
in a narrower type.
"""

from __future__ import annotations

import decimal
import logging

import polars as pl

from telemetry_lib.ksql.types import SqlDecimal

__all__ = [
    "decimal_binary",
    "from_unscaled",
    "rescale",
    "round_unscaled_half_up",
    "round_unscaled_half_up_to_inf",
    "to_decimal",
    "unscaled",
]

logger = logging.getLogger(__name__)

# polars' Decimal holds at most 38 digits.
_MAX_DIGITS = 38
# The operators decimal_binary computes.
_OPS = ("+", "-", "*", "/", "%")
# Field names of the operand and result structs inside decimal_binary's batch function.
_LEFT, _RIGHT, _VALUE, _FAIL = "l", "r", "value", "fail"


def unscaled(expr: pl.Expr) -> pl.Expr:
    """The unscaled Int128 value of a Decimal expression."""
    return expr.to_physical().cast(pl.Int128)


def from_unscaled(value: pl.Expr, target: SqlDecimal) -> pl.Expr:
    """Int128 unscaled ``value`` (in units of 10^-scale) as ``Decimal(p, s)``."""
    p = min(target.precision, _MAX_DIGITS)
    s = target.scale
    as_dec = value.cast(pl.Decimal(_MAX_DIGITS, 0))
    if s:
        as_dec = as_dec * pl.lit(decimal.Decimal(1).scaleb(-s), dtype=pl.Decimal(s + 1, s))
    return as_dec.cast(pl.Decimal(p, s), strict=False)


def rescale(value: pl.Expr, from_scale: int, to_scale: int) -> pl.Expr:
    """Multiply an unscaled value by 10^(to - from) (to >= from)."""
    if to_scale == from_scale:
        return value
    return value * pl.lit(10 ** (to_scale - from_scale), dtype=pl.Int128)


def _trunc_div(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    q = a // b
    return pl.when(((a % b) != 0) & ((a < 0) != (b < 0))).then(q + 1).otherwise(q)


def _java_rem(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    r = a % b
    return pl.when((r != 0) & ((a < 0) != (b < 0))).then(r - b).otherwise(r)


def decimal_binary(
    op: str, left: pl.Expr, right: pl.Expr, lt: SqlDecimal, rt: SqlDecimal, result: SqlDecimal
) -> tuple[pl.Expr, pl.Expr]:
    """``left op right`` as ``result``; returns (value, failure-message expression).

    The arithmetic refers to each operand many times (rescaling, truncation, checks); written
    inline, an operand that is itself a DECIMAL expression would be copied into every place, and
    nested operations grow the expression exponentially (polars does not share them). So the
    operands are evaluated once and handed, as a struct, to one batch function that runs the
    arithmetic over plain columns; value and failure come back as the fields of one struct.
    """
    if op not in _OPS:
        raise ValueError(f"not a DECIMAL operator: {op}")
    value_dtype = pl.Decimal(min(result.precision, _MAX_DIGITS), result.scale)
    value, fail = _decimal_binary_inline(op, pl.col(_LEFT), pl.col(_RIGHT), lt, rt, result)
    # The last (operands, result) pair: a parent expression refers to this value and to its
    # failure in several places, and polars calls the function for each; the result is a pure
    # function of the operands, so an equal input reuses it.
    last: list[tuple[pl.Series, pl.Series]] = []

    def run(operands: pl.Series) -> pl.Series:
        cached = last[0] if last else None
        if cached is not None and cached[0].equals(operands, check_dtypes=True, null_equal=True):
            return cached[1].alias(operands.name)
        frame = operands.struct.unnest()
        out = frame.select(
            pl.struct(value.alias(_VALUE), fail.alias(_FAIL)).alias(operands.name)
        ).to_series()
        last[:] = [(operands, out)]
        return out

    call = pl.struct(left.alias(_LEFT), right.alias(_RIGHT)).map_batches(
        run,
        return_dtype=pl.Struct({_VALUE: value_dtype, _FAIL: pl.String()}),
        # Row-wise, but marked otherwise so polars hands over whole columns instead of
        # calling once per chunk (each call has a fixed cost).
        is_elementwise=False,
    )
    return call.struct.field(_VALUE), call.struct.field(_FAIL)


def _decimal_binary_inline(
    op: str, left: pl.Expr, right: pl.Expr, lt: SqlDecimal, rt: SqlDecimal, result: SqlDecimal
) -> tuple[pl.Expr, pl.Expr]:
    """:func:`decimal_binary` as one polars expression (operands referenced several times)."""
    a, b = unscaled(left), unscaled(right)
    limit = pl.lit(10 ** min(result.precision, _MAX_DIGITS), dtype=pl.Int128)
    fail: pl.Expr
    if op in ("+", "-"):
        s = result.scale
        a2, b2 = rescale(a, lt.scale, s), rescale(b, rt.scale, s)
        raw = a2 + b2 if op == "+" else a2 - b2
        fail = pl.when(raw.abs() >= limit).then(pl.lit("Numeric field overflow"))
    elif op == "*":
        raw = a * b  # scale lt.scale + rt.scale == result.scale
        fail = pl.when(raw.abs() >= limit).then(pl.lit("Numeric field overflow"))
    elif op == "/":
        # value = (a / 10^s1) / (b / 10^s2) in units of 10^-S  =>  a * 10^(S - s1 + s2) / b
        shift = result.scale - lt.scale + rt.scale
        num = rescale(a, 0, shift) if shift >= 0 else a
        den = b if shift >= 0 else rescale(b, 0, -shift)
        safe_den = pl.when(den == 0).then(pl.lit(1, dtype=pl.Int128)).otherwise(den)
        raw = _trunc_div(num, safe_den)
        inexact = (num % safe_den) != 0
        fail = (
            pl.when(den == 0)
            .then(pl.lit("Division by zero"))
            .when(inexact)
            .then(pl.lit("Rounding necessary"))
            .when(raw.abs() >= limit)
            .then(pl.lit("Numeric field overflow"))
        )
    elif op == "%":
        s = result.scale
        a2, b2 = rescale(a, lt.scale, s), rescale(b, rt.scale, s)
        safe = pl.when(b2 == 0).then(pl.lit(1, dtype=pl.Int128)).otherwise(b2)
        raw = _java_rem(a2, safe)
        fail = pl.when(b2 == 0).then(pl.lit("Division undefined"))
    else:
        raise ValueError(f"not a DECIMAL operator: {op}")
    value = pl.when(fail.is_null()).then(from_unscaled(raw, result))
    return value, fail


def round_unscaled_half_up(value: pl.Expr, drop_digits: int) -> pl.Expr:
    """Divide an unscaled Int128 value by 10^drop_digits rounding HALF_UP (away from zero on .5)."""
    if drop_digits <= 0:
        return rescale(value, 0, -drop_digits)
    p = pl.lit(10**drop_digits, dtype=pl.Int128)
    q = _trunc_div(value, p)
    r = value - q * p
    bump = (r.abs() * 2) >= p
    return pl.when(bump & (value < 0)).then(q - 1).when(bump).then(q + 1).otherwise(q)


def round_unscaled_half_up_to_inf(value: pl.Expr, drop_digits: int) -> pl.Expr:
    """Like :func:`round_unscaled_half_up` but halves go toward +infinity (ksqlDB's ROUND)."""
    if drop_digits <= 0:
        return rescale(value, 0, -drop_digits)
    p = pl.lit(10**drop_digits, dtype=pl.Int128)
    f = value // p  # floor
    r = value - f * p  # 0 <= r < p
    return pl.when(r * 2 >= p).then(f + 1).otherwise(f)


def to_decimal(expr: pl.Expr, source_scale: int, target: SqlDecimal) -> tuple[pl.Expr, pl.Expr]:
    """A Decimal expression of scale ``source_scale`` as ``target``: HALF_UP rounding, and a
    failure message where the value needs more than ``target.precision`` digits."""
    raw = round_unscaled_half_up(unscaled(expr), source_scale - target.scale)
    limit = pl.lit(10 ** min(target.precision, _MAX_DIGITS), dtype=pl.Int128)
    fail = pl.when(raw.abs() >= limit).then(
        pl.lit(f"Numeric field overflow: value does not fit in {target.sql()}")
    )
    return pl.when(fail.is_null()).then(from_unscaled(raw, target)), fail
