"""Polars implementations of the ARRAY and MAP functions (a MAP is a list of key/value structs).

Semantics follow the ksqlDB UDFs: NULL collection -> NULL; ``ARRAY_MIN/MAX`` ignore NULL
elements; ``ARRAY_SORT`` puts NULLs last and takes ``'ASC'``/``'DESC'``; ``ARRAY_JOIN`` uses
``,`` by default and writes NULL elements as ``null``. All vectorised with ``list.*``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import polars as pl

from telemetry_lib.ksql.functions.impl_base import Arg, ImplResult, implementation
from telemetry_lib.ksql.types import SqlType

__all__: list[str] = []

logger = logging.getLogger(__name__)

# ksqlDB ARRAY_JOIN's default delimiter.
_DEFAULT_JOIN = ","


@implementation("array_length")
def _array_length(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return args[0].expr.list.len().cast(pl.Int32)


@implementation("array_contains")
def _array_contains(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    arr, value = args
    return (
        pl.when(arr.expr.is_null())
        .then(False)
        .otherwise(arr.expr.list.contains(value.expr, nulls_equal=True))
    )


@implementation("array_min")
def _array_min(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return args[0].expr.list.min()


@implementation("array_max")
def _array_max(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return args[0].expr.list.max()


@implementation("array_distinct")
def _array_distinct(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return args[0].expr.list.unique(maintain_order=True)


@implementation("array_sort")
def _array_sort(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    descending = False
    if len(args) > 1 and args[1].is_constant and isinstance(args[1].constant, str):
        descending = args[1].constant.upper() == "DESC"
    return args[0].expr.list.sort(descending=descending, nulls_last=True)


@implementation("array_remove")
def _array_remove(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    arr, value = args
    return arr.expr.list.filter(pl.element().ne_missing(value.expr))


@implementation("array_concat")
def _array_concat(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    a, b = args
    both_null = a.expr.is_null() & b.expr.is_null()
    return pl.when(both_null).then(None).otherwise(pl.concat_list([a.expr, b.expr]))


@implementation("array_join")
def _array_join(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    sep = args[1].expr if len(args) > 1 else pl.lit(_DEFAULT_JOIN)
    return args[0].expr.list.eval(pl.element().cast(pl.String).fill_null("null")).list.join(sep)


@implementation("map_keys")
def _map_keys(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return args[0].expr.list.eval(pl.element().struct.field("key"))


@implementation("map_values")
def _map_values(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return args[0].expr.list.eval(pl.element().struct.field("value"))


@implementation("array_except")
def _array_except(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    a, b = args
    kept = a.expr.list.unique(maintain_order=True).list.set_difference(b.expr)
    return pl.when(a.expr.is_null() | b.expr.is_null()).then(None).otherwise(kept)


@implementation("array_intersect")
def _array_intersect(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    a, b = args
    both = a.expr.list.set_intersection(b.expr)
    return pl.when(a.expr.is_null() | b.expr.is_null()).then(None).otherwise(both)


@implementation("array_union")
def _array_union(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    a, b = args
    either = a.expr.list.set_union(b.expr)
    return pl.when(a.expr.is_null() | b.expr.is_null()).then(None).otherwise(either)


@implementation("generate_series")
def _generate_series(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    start, end = args[0].expr, args[1].expr
    step = args[2].expr if len(args) > 2 else pl.when(end >= start).then(1).otherwise(-1)
    dtype = (
        pl.Int64 if args[0].type is not None and args[0].type.base.value == "BIGINT" else pl.Int32
    )
    # The end is inclusive, so the exclusive bound goes one step further.
    series = pl.int_ranges(start, end + step.sign(), step, dtype=dtype)
    fail = pl.when(step == 0).then(pl.lit("GENERATE_SERIES step cannot be zero"))
    return series, fail
