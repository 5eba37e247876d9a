"""DECIMAL arithmetic and rounding with ksqlDB's exact semantics, vectorised on polars Int128.

Owns: ``decimal_binary`` (``+ - * / %`` of two DECIMAL operands into the result type chosen by
the analyzer, as one polars expression: no Python callback) with its operand/result records
(``DecimalOperand``, ``DecimalResult``), and the unscaled-integer helpers it uses. ksqlDB computes
``a.op(b, new MathContext(p, UNNECESSARY)).setScale(s)`` on BigDecimal, so a result that would
need rounding — a non-terminating quotient such as ``1.0 / 3`` — throws, and the row's expression
becomes NULL with a processing-log entry; division or remainder by zero does the same. Here the
operands are taken as unscaled Int128 values (``to_physical``, or the Int128 a previous DECIMAL
operation computed, or a literal's constant), rescaled to a common scale and combined with
Int128 arithmetic (Java's truncating remainder; a quotient only where it is exact, so floor
division equals Java's); results go back to ``Decimal(p, s)``. ``+``/``-`` that cannot overflow
use polars' own exact Decimal addition.

Limits: results and intermediate values must fit in 38 digits (polars' Decimal/Int128); a row
whose exact result needs more digits gets NULL plus an error, like a BigDecimal overflow would
in a narrower type.
"""

from __future__ import annotations

import decimal
import logging
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from telemetry_lib.ksql.types import SqlDecimal

__all__ = [
    "DecimalOperand",
    "DecimalResult",
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


def unscaled(expr: pl.Expr) -> pl.Expr:
    """The unscaled Int128 value of a Decimal expression."""
    return expr.to_physical().cast(pl.Int128)


def from_unscaled(value: pl.Expr, target: SqlDecimal) -> pl.Expr:
    """Int128 unscaled ``value`` (in units of 10^-scale) as ``Decimal(p, s)``."""
    p = min(target.precision, _MAX_DIGITS)
    s = target.scale
    # Not strict: a value past 38 digits (an overflowed row, already failing) becomes NULL
    # instead of raising for the whole batch.
    as_dec = value.cast(pl.Decimal(_MAX_DIGITS, 0), strict=False)
    if s:
        as_dec = as_dec * pl.lit(decimal.Decimal(1).scaleb(-s), dtype=pl.Decimal(s + 1, s))
    return as_dec.cast(pl.Decimal(p, s), strict=False)


def rescale(value: pl.Expr, from_scale: int, to_scale: int) -> pl.Expr:
    """Multiply an unscaled value by 10^(to - from) (to >= from)."""
    if to_scale == from_scale:
        return value
    return value * pl.lit(10 ** (to_scale - from_scale), dtype=pl.Int128)


def _java_rem(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    r = a % b
    return pl.when((r != 0) & ((a < 0) != (b < 0))).then(r - b).otherwise(r)


@dataclass(frozen=True)
class DecimalOperand:
    """One operand of :func:`decimal_binary`.

    ``value`` is the Decimal expression of SQL type ``type``; ``raw``, when known, the same
    number as its unscaled Int128 (cheaper than ``unscaled(value)`` when the operand was itself
    computed unscaled); ``constant``, for a literal, its unscaled integer (None for a NULL)."""

    value: pl.Expr
    type: SqlDecimal
    raw: pl.Expr | None = None
    constant: int | None = None

    def unscaled(self) -> pl.Expr:
        if self.constant is not None:
            return pl.lit(self.constant, dtype=pl.Int128)
        return self.raw if self.raw is not None else unscaled(self.value)

    def max_unscaled(self) -> int:
        """The largest magnitude the unscaled operand can have."""
        if self.constant is not None:
            return abs(self.constant)
        return 10**self.type.precision - 1


@dataclass(frozen=True)
class DecimalResult:
    """What :func:`decimal_binary` computes: ``value`` (Decimal), ``raw`` (its unscaled Int128,
    None when computed natively) and ``fails``: (condition, message) pairs in order, the first
    whose condition holds on a row being that row's error (empty: the operation cannot fail)."""

    value: pl.Expr
    raw: pl.Expr | None
    fails: tuple[tuple[pl.Expr, str], ...]


def decimal_binary(
    op: str, left: DecimalOperand, right: DecimalOperand, result: SqlDecimal
) -> DecimalResult:
    """``left op right`` as ``result``.

    One polars expression (no Python callback). Each operand is referred to several times
    (rescaling, remainder and quotient), so the caller passes cheap expressions: a column, a
    literal, or a let-bound field (see exec/expressions.py), never a large tree.

    The value is only meaningful where no failure holds: the caller nulls it on failing rows
    (a failure always reaches the expression's top or a nested-error boundary, which do).
    Checks that cannot fire for the operand types are left out: an overflow check when the
    largest operands of their precisions (or the literal's value) cannot overflow the result
    (a DECIMAL value never holds more digits than its type: casts into a Decimal dtype check
    the precision).
    """
    if op not in _OPS:
        raise ValueError(f"not a DECIMAL operator: {op}")
    lt, rt = left.type, right.type
    p = min(result.precision, _MAX_DIGITS)
    limit = 10**p
    max_a, max_b = left.max_unscaled(), right.max_unscaled()
    if op in ("+", "-"):
        s = result.scale
        bound = max_a * 10 ** (s - lt.scale) + max_b * 10 ** (s - rt.scale)
        if bound < limit and s == max(lt.scale, rt.scale):
            # polars adds Decimals exactly at the larger scale: no unscaled round trip.
            native = left.value + right.value if op == "+" else left.value - right.value
            return DecimalResult(native.cast(pl.Decimal(p, s), strict=False), None, ())
        a2, b2 = rescale(left.unscaled(), lt.scale, s), rescale(right.unscaled(), rt.scale, s)
        raw = a2 + b2 if op == "+" else a2 - b2
        fails: tuple[tuple[pl.Expr, str], ...] = _overflow(raw, limit) if bound >= limit else ()
        return DecimalResult(from_unscaled(raw, result), raw, fails)
    a, b = left.unscaled(), right.unscaled()
    if op == "*":
        raw = a * b  # scale lt.scale + rt.scale == result.scale
        fails = _overflow(raw, limit) if max_a * max_b >= limit else ()
        return DecimalResult(from_unscaled(raw, result), raw, fails)
    if op == "/":
        # value = (a / 10^s1) / (b / 10^s2) in units of 10^-S  =>  a * 10^(S - s1 + s2) / b
        shift = result.scale - lt.scale + rt.scale
        num = rescale(a, 0, shift) if shift >= 0 else a
        den = b if shift >= 0 else rescale(b, 0, -shift)
        bound = max_a * 10**shift if shift >= 0 else max_a // 10**-shift
        # Integer division by zero is null in polars (no error), and the zero check comes first.
        # Where the remainder is zero the floor quotient is the truncated (Java) one; other rows
        # fail ("Rounding necessary") and their value is not used.
        raw = num // den
        fails = (den == 0, "Division by zero"), ((num % den) != 0, "Rounding necessary")
        if bound >= limit:
            fails += _overflow(raw, limit)
        return DecimalResult(from_unscaled(raw, result), raw, fails)
    s = result.scale
    a2, b2 = rescale(a, lt.scale, s), rescale(b, rt.scale, s)
    # A zero divisor: polars' remainder is null there (no error), and the row fails anyway.
    raw = _java_rem(a2, b2)
    return DecimalResult(from_unscaled(raw, result), raw, ((b2 == 0, "Division undefined"),))


def _same(expr: pl.Expr) -> pl.Expr:
    return expr


def _overflow(raw: pl.Expr, limit: int) -> tuple[tuple[pl.Expr, str]]:
    return ((raw.abs() >= pl.lit(limit, dtype=pl.Int128), "Numeric field overflow"),)


def round_unscaled_half_up(value: pl.Expr, drop_digits: int) -> pl.Expr:
    """Divide an unscaled Int128 value by 10^drop_digits rounding HALF_UP (away from zero on .5).

    ``(|v| + p/2) // p`` with the sign of ``v`` (p = 10^drop_digits is even): ``value`` appears
    twice. Values of 38 digits leave room in Int128 for the added half."""
    if drop_digits <= 0:
        return rescale(value, 0, -drop_digits)
    p = 10**drop_digits
    magnitude = (value.abs() + pl.lit(p // 2, dtype=pl.Int128)) // pl.lit(p, dtype=pl.Int128)
    # (polars has no unary minus for Int128)
    return pl.when(value < 0).then(pl.lit(0, dtype=pl.Int128) - magnitude).otherwise(magnitude)


def round_unscaled_half_up_to_inf(value: pl.Expr, drop_digits: int) -> pl.Expr:
    """Like :func:`round_unscaled_half_up` but halves go toward +infinity (ksqlDB's ROUND):
    ``floor((v + p/2) / p)``."""
    if drop_digits <= 0:
        return rescale(value, 0, -drop_digits)
    p = 10**drop_digits
    return (value + pl.lit(p // 2, dtype=pl.Int128)) // pl.lit(p, dtype=pl.Int128)


def to_decimal(
    expr: pl.Expr,
    source_scale: int,
    target: SqlDecimal,
    *,
    share: Callable[[pl.Expr], pl.Expr] | None = None,
) -> tuple[pl.Expr, pl.Expr]:
    """A Decimal expression of scale ``source_scale`` as ``target``: HALF_UP rounding, and a
    failure message where the value needs more than ``target.precision`` digits. ``share``
    (the expression compiler's let-binding) is applied to the values referred to repeatedly."""
    bind = share if share is not None else _same
    drop = source_scale - target.scale
    u = unscaled(expr)
    raw = bind(round_unscaled_half_up(bind(u) if drop > 0 else u, drop))
    limit = pl.lit(10 ** min(target.precision, _MAX_DIGITS), dtype=pl.Int128)
    fail = pl.when(raw.abs() >= limit).then(
        pl.lit(f"Numeric field overflow: value does not fit in {target.sql()}")
    )
    return pl.when(fail.is_null()).then(from_unscaled(raw, target)), fail
