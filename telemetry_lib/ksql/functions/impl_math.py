"""Polars implementations of the math functions and of COALESCE / IFNULL / NULLIF.

Semantics follow the ksqlDB UDFs: NULL in -> NULL out; Java floating point (``SQRT(-1)`` is NaN,
``LN(0)`` is -Infinity); ``ROUND`` rounds halves toward +infinity (``ROUND(-1.5)`` = -1) and
``ROUND(DOUBLE)`` returns BIGINT; ``LOG(base, x)`` is NaN for a base <= 0 or 1 and for x < 0;
DECIMAL ``ABS/CEIL/FLOOR`` keep the declared scale; GREATEST/LEAST skip NULLs.
All vectorised (RANDOM draws one value per row with numpy).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from telemetry_lib.ksql.functions.decimal_ops import (
    from_unscaled,
    rescale,
    round_unscaled_half_up_to_inf,
    unscaled,
)
from telemetry_lib.ksql.functions.impl_base import Arg, ImplResult, implementation
from telemetry_lib.ksql.types import BaseType, SqlDecimal, SqlType, to_polars

__all__: list[str] = []

logger = logging.getLogger(__name__)

# Digits after the point kept when a double's text is parsed for exact decimal rounding
# (38-digit decimals leave 20 integral digits; larger doubles take the floating path).
_DOUBLE_PARSE_SCALE = 18


def _typed(expr: pl.Expr, t: SqlType) -> pl.Expr:
    return expr.cast(to_polars(t))


@implementation("coalesce")
def _coalesce(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return pl.coalesce([_typed(a.expr, rt) for a in args])


@implementation("nullif")
def _nullif(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    a, b = args
    # NULL when a is NULL or equals b: a non-NULL a that differs from b (a NULL b differs).
    # The argument appears twice (the compiler let-binds it when large).
    return pl.when(a.expr.ne_missing(b.expr)).then(_typed(a.expr, rt))


@implementation("identity")
def _identity(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return args[0].expr


@implementation("abs")
def _abs(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return args[0].expr.abs()


def _decimal_to_integral(arg: Arg, mode: str) -> pl.Expr:
    t = arg.type
    assert isinstance(t, SqlDecimal)
    u = unscaled(arg.expr)
    p = pl.lit(10**t.scale, dtype=pl.Int128)
    floor = u // p
    if mode == "floor":
        q = floor
    else:
        q = pl.when(u % p != 0).then(floor + 1).otherwise(floor)
    return from_unscaled(rescale(q, 0, t.scale), t)


@implementation("ceil")
def _ceil(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    a = args[0]
    if isinstance(a.type, SqlDecimal):
        return _decimal_to_integral(a, "ceil")
    if a.type is not None and a.type.base is BaseType.DOUBLE:
        return a.expr.ceil()
    return a.expr


@implementation("floor")
def _floor(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    a = args[0]
    if isinstance(a.type, SqlDecimal):
        return _decimal_to_integral(a, "floor")
    if a.type is not None and a.type.base is BaseType.DOUBLE:
        return a.expr.floor()
    return a.expr


@implementation("sign")
def _sign(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    e = args[0].expr
    return pl.when(e > 0).then(1).when(e < 0).then(-1).when(e.is_not_null()).then(0).cast(pl.Int32)


def _double_round(x: pl.Expr, places: pl.Expr | int) -> pl.Expr:
    factor = pl.lit(10.0).pow(places)
    return (x * factor + 0.5).floor() / factor


@implementation("round")
def _round(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    a = args[0]
    if isinstance(a.type, SqlDecimal):
        assert isinstance(rt, SqlDecimal)
        return from_unscaled(round_unscaled_half_up_to_inf(unscaled(a.expr), a.type.scale), rt)
    if a.type is not None and a.type.base is BaseType.DOUBLE:
        return (a.expr + 0.5).floor().cast(pl.Int64, strict=False)
    return a.expr.cast(pl.Int64)


@implementation("round_places")
def _round_places(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    a, n = args
    if isinstance(a.type, SqlDecimal):
        assert isinstance(rt, SqlDecimal)
        return _decimal_places(a, n, rt, _round_places_unscaled)
    if n.is_constant:
        if n.constant is None:
            return pl.lit(None, dtype=pl.Float64)
        return _double_round_exact(a.expr, int(n.constant))  # type: ignore[call-overload]
    return pl.when(n.expr.is_not_null()).then(_double_round(a.expr, n.expr))


def _double_round_exact(x: pl.Expr, places: int) -> pl.Expr:
    """ROUND(DOUBLE, places) as ksqlDB: round the double's decimal text (BigDecimal.valueOf)
    half toward +infinity, then back to the nearest double."""
    return _double_places_exact(x, places, round_unscaled_half_up_to_inf, _double_round)


def _double_places_exact(x: pl.Expr, places: int, fn: Any, fallback: Any) -> pl.Expr:
    """Round (``fn`` on unscaled decimals) a DOUBLE's exact decimal text to ``places``."""
    if places >= _DOUBLE_PARSE_SCALE:
        return x
    parsed = x.cast(pl.String).cast(pl.Decimal(38, _DOUBLE_PARSE_SCALE), strict=False)
    rounded = fn(unscaled(parsed), _DOUBLE_PARSE_SCALE - places)
    if places < 0:
        as_decimal = from_unscaled(rescale(rounded, 0, -places), SqlDecimal(38, 0))
    else:
        as_decimal = from_unscaled(rounded, SqlDecimal(38, places))
    exact = as_decimal.cast(pl.String).cast(pl.Float64)
    # Values too large for the decimal path (or NaN/Infinity) take the floating formula.
    result: pl.Expr = pl.when(parsed.is_null()).then(fallback(x, places)).otherwise(exact)
    return result


def _round_places_unscaled(u: pl.Expr, drop: int) -> pl.Expr:
    return round_unscaled_half_up_to_inf(u, drop)


def _trunc_places_unscaled(u: pl.Expr, drop: int) -> pl.Expr:
    if drop <= 0:
        return u
    p = pl.lit(10**drop, dtype=pl.Int128)
    q = u // p
    return pl.when(((u % p) != 0) & (u < 0)).then(q + 1).otherwise(q)


def _decimal_places(a: Arg, n: Arg, rt: SqlDecimal, fn: object) -> pl.Expr:
    """Round/truncate a DECIMAL to ``n`` places (n may be negative), keeping its scale."""
    t = a.type
    assert isinstance(t, SqlDecimal)
    u = unscaled(a.expr)
    if not n.is_constant:
        # Per-row places: evaluate each distinct places value (few in practice) and pick.
        branches: Any = None  # a polars when/then chain
        for places in range(-t.precision, t.scale + 1):
            v = _decimal_places_const(u, t, places, fn)
            branches = (
                pl.when(n.expr == places).then(v)
                if branches is None
                else branches.when(n.expr == places).then(v)
            )
        assert branches is not None
        big = pl.when(n.expr > t.scale).then(u)
        return from_unscaled(branches.otherwise(big), rt)
    if n.constant is None:
        return pl.lit(None, dtype=to_polars(rt))
    places = int(n.constant)  # type: ignore[call-overload]
    return from_unscaled(_decimal_places_const(u, t, places, fn), rt)


def _decimal_places_const(u: pl.Expr, t: SqlDecimal, places: int, fn: object) -> pl.Expr:
    drop = t.scale - places
    if drop <= 0:
        return u
    rounded = fn(u, drop)  # type: ignore[operator]
    return rescale(rounded, 0, drop)


@implementation("trunc")
def _trunc(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    a = args[0]
    if isinstance(a.type, SqlDecimal):
        assert isinstance(rt, SqlDecimal)
        return from_unscaled(_trunc_places_unscaled(unscaled(a.expr), a.type.scale), rt)
    if a.type is not None and a.type.base is BaseType.DOUBLE:
        return a.expr.cast(pl.Int64, strict=False)
    return a.expr.cast(pl.Int64)


@implementation("trunc_places")
def _trunc_places(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    a, n = args
    if isinstance(a.type, SqlDecimal):
        assert isinstance(rt, SqlDecimal)
        return _decimal_places(a, n, rt, _trunc_places_unscaled)
    if n.is_constant:
        if n.constant is None:
            return pl.lit(None, dtype=pl.Float64)
        places = int(n.constant)  # type: ignore[call-overload]
        return _double_places_exact(a.expr, places, _trunc_places_unscaled, _double_trunc)
    return pl.when(n.expr.is_not_null()).then(_double_trunc(a.expr, n.expr))


def _double_trunc(x: pl.Expr, places: pl.Expr | int) -> pl.Expr:
    factor = pl.lit(10.0).pow(places)
    scaled = x * factor
    return pl.when(scaled >= 0).then(scaled.floor()).otherwise(scaled.ceil()) / factor


def _unary(key: str, fn: str) -> None:
    @implementation(key)
    def _impl(args: Sequence[Arg], rt: SqlType) -> ImplResult:
        result: pl.Expr = getattr(args[0].expr.cast(pl.Float64), fn)()
        return result


for _key, _fn in (
    ("sqrt", "sqrt"),
    ("cbrt", "cbrt"),
    ("exp", "exp"),
    ("sin", "sin"),
    ("cos", "cos"),
    ("tan", "tan"),
    ("asin", "arcsin"),
    ("acos", "arccos"),
    ("atan", "arctan"),
    ("cot", "cot"),
    ("sinh", "sinh"),
    ("cosh", "cosh"),
    ("tanh", "tanh"),
    ("degrees", "degrees"),
    ("radians", "radians"),
):
    _unary(_key, _fn)


@implementation("ln")
def _ln(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    x = args[0].expr
    return pl.when(x < 0).then(float("nan")).otherwise(x.log())


@implementation("log_base")
def _log_base(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    base, x = args[0].expr, args[1].expr
    nan = (base <= 0) | (base == 1) | (x < 0)
    return pl.when(nan).then(float("nan")).otherwise(x.log() / base.log())


@implementation("power")
def _power(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return args[0].expr.pow(args[1].expr)


@implementation("atan2")
def _atan2(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return pl.arctan2(args[0].expr, args[1].expr)


@implementation("pi")
def _pi(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return pl.lit(math.pi, dtype=pl.Float64)


@implementation("random")
def _random(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    # One independent uniform [0, 1) draw per row (numpy, vectorised).
    return pl.int_range(pl.len()).map_batches(
        lambda s: pl.Series(_RNG.random(len(s)), dtype=pl.Float64), return_dtype=pl.Float64
    )


def _extreme(args: Sequence[Arg], rt: SqlType, *, largest: bool) -> pl.Expr:
    exprs = [_typed(a.expr, rt) for a in args]
    return pl.max_horizontal(exprs) if largest else pl.min_horizontal(exprs)


@implementation("greatest")
def _greatest(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return _extreme(args, rt, largest=True)


@implementation("least")
def _least(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return _extreme(args, rt, largest=False)


# RANDOM()'s generator, seeded from the OS like Java's Math.random.
_RNG = np.random.default_rng()

# ksqlDB's GEO_DISTANCE: mean Earth radius in kilometres, and in miles for unit 'mi'/'miles'.
_EARTH_RADIUS_KM = 6371.0
_EARTH_RADIUS_MILES = 3959.0


@implementation("geo_distance")
def _geo_distance(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    lat1, lon1, lat2, lon2 = (a.expr.cast(pl.Float64).radians() for a in args[:4])
    radius: pl.Expr = pl.lit(_EARTH_RADIUS_KM)
    if len(args) > 4:
        unit = args[4].expr.str.to_lowercase()
        radius = (
            pl.when(unit.is_in(["mi", "miles"]))
            .then(pl.lit(_EARTH_RADIUS_MILES))
            .when(unit.is_in(["km", "kilometers", "kilometres"]))
            .then(pl.lit(_EARTH_RADIUS_KM))
        )
    # Haversine formula.
    a = (((lat2 - lat1) / 2).sin() ** 2) + lat1.cos() * lat2.cos() * (
        ((lon2 - lon1) / 2).sin() ** 2
    )
    distance: pl.Expr = 2 * radius * a.sqrt().arcsin()
    return distance
