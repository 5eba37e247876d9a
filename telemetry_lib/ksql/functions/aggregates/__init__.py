"""Aggregate functions (UDAFs): signatures, result types and accumulators (reference §3.5).

Owns: :data:`AGGREGATES` (name -> :class:`AggregateDef`), :func:`resolve_aggregate`, which types
a call from its argument types and literal arguments (``TOPK(x, 3)``, ``LATEST_BY_OFFSET(x, 2,
false)``) with ksqlDB's wording, and the accumulator classes. Pure Python, no polars: an
accumulator is a plain picklable value (number, tuple, list, dict) so state stores can snapshot
it. API of a resolved :class:`Aggregate`::

    agg.init() -> acc                       # empty aggregate
    agg.add(acc, args: tuple) -> acc        # fold one input row (args: its argument values)
    agg.undo(acc, args: tuple) -> acc       # retract one row (table sources; table_capable only)
    agg.merge(a, b) -> acc                  # session-window merge (a is older than b)
    agg.result(acc) -> value                # the SQL value (python form of the polars dtype)
    agg.vector_kind -> str | None           # 'count', 'count_star', 'sum': a polars partial
    agg.combine(acc, partial) -> acc        # fold a vectorised partial of ``vector_kind``

ksqlDB quirks kept: SUM starts at 0 (never NULL) and INT/BIGINT sums wrap like Java; AVG keeps a
(sum, count) pair with a 32-bit sum for INT input and returns 0.0 with no input; STDDEV_SAMP returns
the sample variance (ksqlDB's documented quirk) while STDDEV_SAMPLE returns the deviation;
COUNT_DISTINCT is exact here (ksqlDB's HyperLogLog agrees for small cardinalities); HISTOGRAM
keeps at most 1000 distinct values; the ``ksql.functions.collect_list.limit`` /
``collect_set.limit`` caps apply when set.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from telemetry_lib.ksql.errors import AnalysisError, UnsupportedError
from telemetry_lib.ksql.types import (
    BIGINT,
    BOOLEAN,
    DOUBLE,
    STRING,
    BaseType,
    SqlArray,
    SqlDecimal,
    SqlMap,
    SqlStruct,
    SqlType,
)

__all__ = [
    "AGGREGATE_NAMES",
    "TABLE_CAPABLE",
    "Aggregate",
    "LiteralArg",
    "resolve_aggregate",
]

logger = logging.getLogger(__name__)

#: HISTOGRAM's distinct-value cap (ksqlDB's Histogram udaf LIMIT).
HISTOGRAM_LIMIT = 1000
#: Java's int / long ranges, for wrapping sums like the JVM does.
_INT_BITS = 32
_LONG_BITS = 64

#: Functions that implement ksqlDB's TableUdaf (undo): the only ones allowed on a TABLE source.
TABLE_CAPABLE: frozenset[str] = frozenset(
    {
        "COUNT",
        "SUM",
        "AVG",
        "COLLECT_LIST",
        "COLLECT_SET",
        "HISTOGRAM",
        "STDDEV_SAMP",
        "STDDEV_SAMPLE",
        "STDDEV_POP",
        "CORRELATION",
    }
)

_ORDERABLE = {
    BaseType.INTEGER,
    BaseType.BIGINT,
    BaseType.DOUBLE,
    BaseType.DECIMAL,
    BaseType.STRING,
    BaseType.BYTES,
    BaseType.DATE,
    BaseType.TIME,
    BaseType.TIMESTAMP,
}
_NUMERIC = {BaseType.INTEGER, BaseType.BIGINT, BaseType.DOUBLE}


@dataclass(frozen=True)
class LiteralArg:
    """A literal argument's value (``None`` when the argument is not a literal)."""

    value: object


def _wrap(value: int, bits: int) -> int:
    half = 1 << (bits - 1)
    return ((value + half) % (1 << bits)) - half


@dataclass
class Aggregate:
    """One resolved aggregate call: its name, input types, result type and accumulator logic."""

    name: str
    arg_types: tuple[SqlType, ...]
    result_type: SqlType
    init: Callable[[], Any]
    add: Callable[[Any, tuple[Any, ...]], Any]
    result: Callable[[Any], Any]
    undo: Callable[[Any, tuple[Any, ...]], Any] | None = None
    merge: Callable[[Any, Any], Any] | None = None
    vector_kind: str | None = None
    combine: Callable[[Any, Any], Any] | None = None
    #: ksqlDB's intermediate (state) type is a STRUCT/ARRAY that DELIMITED values cannot hold.
    complex_intermediate: bool = False
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def table_capable(self) -> bool:
        return self.name in TABLE_CAPABLE and self.undo is not None


# ------------------------------------------------------------------------------- builders
def _count(star: bool) -> Aggregate:
    def add(acc: int, args: tuple[Any, ...]) -> int:
        return acc + 1 if star or args[0] is not None else acc

    def undo(acc: int, args: tuple[Any, ...]) -> int:
        return acc - 1 if star or args[0] is not None else acc

    return Aggregate(
        "COUNT",
        (),
        BIGINT,
        init=lambda: 0,
        add=add,
        result=lambda a: a,
        undo=undo,
        merge=lambda a, b: a + b,
        vector_kind="count_star" if star else "count",
        combine=lambda a, p: a + int(p),
    )


def _sum(t: SqlType) -> Aggregate:
    bits = (
        _INT_BITS if t.base is BaseType.INTEGER else _LONG_BITS if t.base is BaseType.BIGINT else 0
    )

    def fix(v: Any) -> Any:
        return _wrap(v, bits) if bits else v

    zero: Any = 0.0 if t.base is BaseType.DOUBLE else 0
    if isinstance(t, SqlDecimal):
        import decimal

        zero = decimal.Decimal(0).scaleb(-t.scale)

    def add(acc: Any, args: tuple[Any, ...]) -> Any:
        return acc if args[0] is None else fix(acc + args[0])

    def undo(acc: Any, args: tuple[Any, ...]) -> Any:
        return acc if args[0] is None else fix(acc - args[0])

    return Aggregate(
        "SUM",
        (t,),
        t,
        init=lambda: zero,
        add=add,
        result=lambda a: a,
        undo=undo,
        merge=lambda a, b: fix(a + b),
        vector_kind="sum" if bits or t.base is BaseType.DOUBLE else None,
        combine=lambda a, p: fix(a + p) if p is not None else a,
    )


def _sum_list(t: SqlType) -> Aggregate:
    """SUM over ARRAY<numeric>: the sum of every element of every row (ksqlDB's list sum)."""
    inner = _sum(t)

    def total(values: Any) -> Any:
        acc = inner.init()
        for v in values or ():
            acc = inner.add(acc, (v,))
        return acc

    def add(acc: Any, args: tuple[Any, ...]) -> Any:
        return inner.add(acc, (total(args[0]),)) if args[0] is not None else acc

    def undo(acc: Any, args: tuple[Any, ...]) -> Any:
        return inner.undo(acc, (total(args[0]),)) if args[0] is not None else acc  # type: ignore[misc]

    return Aggregate(
        "SUM",
        (SqlArray(t),),
        t,
        init=inner.init,
        add=add,
        result=lambda a: a,
        undo=undo,
        merge=inner.merge,
    )


def _avg(t: SqlType) -> Aggregate:
    bits = (
        _INT_BITS if t.base is BaseType.INTEGER else _LONG_BITS if t.base is BaseType.BIGINT else 0
    )

    def fix(v: Any) -> Any:
        return _wrap(v, bits) if bits else v

    def add(acc: tuple[Any, int], args: tuple[Any, ...]) -> tuple[Any, int]:
        v = args[0]
        return acc if v is None else (fix(acc[0] + v), acc[1] + 1)

    def undo(acc: tuple[Any, int], args: tuple[Any, ...]) -> tuple[Any, int]:
        v = args[0]
        return acc if v is None else (fix(acc[0] - v), acc[1] - 1)

    def result(acc: tuple[Any, int]) -> float:
        return 0.0 if acc[1] == 0 else float(acc[0]) / acc[1]

    return Aggregate(
        "AVG",
        (t,),
        DOUBLE,
        init=lambda: (0, 0),
        add=add,
        result=result,
        undo=undo,
        merge=lambda a, b: (fix(a[0] + b[0]), a[1] + b[1]),
        complex_intermediate=True,
    )


def _minmax(name: str, t: SqlType) -> Aggregate:
    better = (lambda a, b: b < a) if name == "MIN" else (lambda a, b: b > a)

    def add(acc: Any, args: tuple[Any, ...]) -> Any:
        v = args[0]
        if v is None:
            return acc
        if acc is None:
            return v
        if isinstance(v, float) and math.isnan(v):
            return acc
        return v if better(acc, v) else acc

    return Aggregate(
        name,
        (t,),
        t,
        init=lambda: None,
        add=add,
        result=lambda a: a,
        merge=lambda a, b: add(a, (b,)),
    )


def _count_distinct(t: SqlType) -> Aggregate:
    def add(acc: frozenset[Any], args: tuple[Any, ...]) -> frozenset[Any]:
        v = _hashable(args[0])
        return acc if v is None or v in acc else acc | {v}

    return Aggregate(
        "COUNT_DISTINCT",
        (t,),
        BIGINT,
        init=frozenset,
        add=add,
        result=len,
        merge=lambda a, b: a | b,
    )


def _hashable(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _hashable(x)) for k, x in v.items()))
    return v


def _collect(name: str, t: SqlType, limit: int | None) -> Aggregate:
    distinct = name == "COLLECT_SET"
    is_map = isinstance(t, SqlMap)

    def ident(v: Any) -> Any:
        if is_map and isinstance(v, list):
            return tuple(sorted((_hashable(e.get("key")), _hashable(e.get("value"))) for e in v))
        return _hashable(v)

    def add(acc: tuple[Any, ...], args: tuple[Any, ...]) -> tuple[Any, ...]:
        v = args[0]
        if limit is not None and len(acc) >= limit:
            return acc
        if distinct and any(ident(x) == ident(v) for x in acc):
            return acc
        return acc + (v,)

    def undo(acc: tuple[Any, ...], args: tuple[Any, ...]) -> tuple[Any, ...]:
        v = _hashable(args[0])
        for i, x in enumerate(acc):
            if _hashable(x) == v:
                return acc[:i] + acc[i + 1 :]
        return acc

    def merge(a: tuple[Any, ...], b: tuple[Any, ...]) -> tuple[Any, ...]:
        for v in b:
            a = add(a, (v,))
        return a

    return Aggregate(
        name,
        (t,),
        SqlArray(t),
        init=tuple,
        add=add,
        result=list,
        undo=undo,
        merge=merge,
        complex_intermediate=True,
    )


def _histogram(t: SqlType) -> Aggregate:
    def add(acc: tuple[tuple[str, int], ...], args: tuple[Any, ...]) -> tuple[tuple[str, int], ...]:
        v = args[0]
        if v is None:
            return acc
        d = dict(acc)
        if v in d:
            d[v] += 1
        elif len(d) < HISTOGRAM_LIMIT:
            d[v] = 1
        return tuple(d.items())

    def undo(
        acc: tuple[tuple[str, int], ...], args: tuple[Any, ...]
    ) -> tuple[tuple[str, int], ...]:
        v = args[0]
        d = dict(acc)
        if v in d:
            d[v] -= 1
            if d[v] <= 0:
                del d[v]
        return tuple(d.items())

    def merge(
        a: tuple[tuple[str, int], ...], b: tuple[tuple[str, int], ...]
    ) -> tuple[tuple[str, int], ...]:
        d = dict(a)
        for k, n in b:
            if k in d:
                d[k] += n
            elif len(d) < HISTOGRAM_LIMIT:
                d[k] = n
        return tuple(d.items())

    return Aggregate(
        "HISTOGRAM",
        (t,),
        SqlMap(STRING, BIGINT),
        init=tuple,
        add=add,
        result=lambda a: [{"key": k, "value": n} for k, n in a],
        undo=undo,
        merge=merge,
        complex_intermediate=True,
    )


def _stddev(name: str, t: SqlType) -> Aggregate:
    # (count, sum, m2) with Welford-free sums: ksqlDB keeps count, sum and m2 the same way.
    def add(acc: tuple[int, float, float], args: tuple[Any, ...]) -> tuple[int, float, float]:
        v = args[0]
        if v is None:
            return acc
        n, s, m2 = acc
        x = float(v)
        if n == 0:
            return (1, x, 0.0)
        new_n, new_s = n + 1, s + x
        m2 += (new_n * x - new_s) ** 2 / (new_n * n)
        return (new_n, new_s, m2)

    def undo(acc: tuple[int, float, float], args: tuple[Any, ...]) -> tuple[int, float, float]:
        v = args[0]
        if v is None:
            return acc
        n, s, m2 = acc
        x = float(v)
        if n <= 1:
            return (0, 0.0, 0.0)
        new_n, new_s = n - 1, s - x
        m2 -= (n * x - s) ** 2 / (new_n * n)
        return (new_n, new_s, m2)

    def merge(a: tuple[int, float, float], b: tuple[int, float, float]) -> tuple[int, float, float]:
        if a[0] == 0:
            return b
        if b[0] == 0:
            return a
        n = a[0] + b[0]
        delta = b[1] / b[0] - a[1] / a[0]
        return (n, a[1] + b[1], a[2] + b[2] + delta * delta * a[0] * b[0] / n)

    def result(acc: tuple[int, float, float]) -> float:
        n, _, m2 = acc
        if name == "STDDEV_POP":
            return 0.0 if n == 0 else math.sqrt(m2 / n)
        if n < 2:
            return 0.0
        variance = m2 / (n - 1)
        return variance if name == "STDDEV_SAMP" else math.sqrt(variance)

    return Aggregate(
        name,
        (t,),
        DOUBLE,
        init=lambda: (0, 0.0, 0.0),
        add=add,
        result=result,
        undo=undo,
        merge=merge,
        complex_intermediate=True,
    )


def _topk(t: SqlType, others: tuple[SqlType, ...], k: int, distinct: bool) -> Aggregate:
    name = "TOPKDISTINCT" if distinct else "TOPK"

    def key(item: Any) -> Any:
        return item[0]

    def add(acc: tuple[Any, ...], args: tuple[Any, ...]) -> tuple[Any, ...]:
        v = args[0]
        if v is None:
            return acc
        if distinct and any(x[0] == v for x in acc):
            return acc
        items = sorted(acc + (tuple(args),), key=key, reverse=True)
        return tuple(items[:k])

    def merge(a: tuple[Any, ...], b: tuple[Any, ...]) -> tuple[Any, ...]:
        for item in b:
            a = add(a, item)
        return a

    if others:
        fields = (("sort_col", t),) + tuple((f"col{i}", o) for i, o in enumerate(others))
        result_type: SqlType = SqlArray(SqlStruct(fields))

        def result(acc: tuple[Any, ...]) -> list[Any]:
            return [{f: v for (f, _), v in zip(fields, item, strict=True)} for item in acc]
    else:
        result_type = SqlArray(t)

        def result(acc: tuple[Any, ...]) -> list[Any]:
            return [item[0] for item in acc]

    return Aggregate(
        name,
        (t, *others),
        result_type,
        init=tuple,
        add=add,
        result=result,
        merge=merge,
        complex_intermediate=True,
    )


def _by_offset(name: str, t: SqlType, n: int | None, ignore_nulls: bool) -> Aggregate:
    latest = name == "LATEST_BY_OFFSET"
    keep = n if n is not None else 1

    def add(acc: tuple[Any, ...], args: tuple[Any, ...]) -> tuple[Any, ...]:
        v = args[0]
        if v is None and ignore_nulls:
            return acc
        if latest:
            return (acc + (v,))[-keep:]
        return acc if len(acc) >= keep else acc + (v,)

    def merge(a: tuple[Any, ...], b: tuple[Any, ...]) -> tuple[Any, ...]:
        for v in b:
            a = add(a, (v,))
        return a

    if n is None:
        result_type: SqlType = t

        def result(acc: tuple[Any, ...]) -> Any:
            return acc[-1] if acc else None
    else:
        result_type = SqlArray(t)

        def result(acc: tuple[Any, ...]) -> Any:
            return list(acc)

    return Aggregate(
        name,
        (t,),
        result_type,
        init=tuple,
        add=add,
        result=result,
        merge=merge,
        complex_intermediate=True,
    )


# ------------------------------------------------------------------------------- resolution
AGGREGATE_NAMES: frozenset[str] = frozenset(
    {
        "COUNT",
        "SUM",
        "AVG",
        "MIN",
        "MAX",
        "COUNT_DISTINCT",
        "TOPK",
        "TOPKDISTINCT",
        "LATEST_BY_OFFSET",
        "EARLIEST_BY_OFFSET",
        "COLLECT_LIST",
        "COLLECT_SET",
        "HISTOGRAM",
        "STDDEV_SAMP",
        "STDDEV_SAMPLE",
        "STDDEV_POP",
        "CORRELATION",
        "ATTR",
    }
)
#: ksqlDB aggregates recognised but not built here: a query using one is reported unsupported.
_NOT_BUILT = frozenset({"CORRELATION", "ATTR"})


def _no_overload(name: str, types: Sequence[SqlType | None]) -> AnalysisError:
    shown = ", ".join(t.sql() if t is not None else "null" for t in types)
    return AnalysisError(
        f"Function '{name}' does not accept parameters ({shown}).",
        hint=f"see DESCRIBE FUNCTION {name} for the accepted argument types",
    )


def _int_literal(name: str, arg: LiteralArg | None, what: str) -> int:
    if arg is None or not isinstance(arg.value, int) or isinstance(arg.value, bool):
        raise AnalysisError(f"Function '{name}' expects a literal integer {what}.")
    return arg.value


def resolve_aggregate(
    name: str,
    arg_types: Sequence[SqlType | None],
    literals: Sequence[LiteralArg | None],
    *,
    config: Mapping[str, object] | None = None,
) -> tuple[Aggregate, int]:
    """The aggregate for ``name(args)`` and how many leading arguments are per-row inputs
    (the rest are literal parameters such as TOPK's k). Raises AnalysisError as ksqlDB does."""
    config = config or {}
    if name in _NOT_BUILT:
        raise UnsupportedError(f"aggregate function {name}")
    n = len(arg_types)
    first = arg_types[0] if n else None
    if name == "COUNT":
        return _count(star=n == 0), min(n, 1)
    if n == 0:
        raise _no_overload(name, arg_types)
    if first is None:
        raise AnalysisError(
            "Can't infer a type of null. Please explicitly cast it to a required type, "
            "e.g. CAST(null AS VARCHAR)."
        )
    base = first.base
    if name == "SUM" and n == 1 and (base in _NUMERIC or base is BaseType.DECIMAL):
        return _sum(first), 1
    if name == "SUM" and n == 1 and isinstance(first, SqlArray) and first.element.base in _NUMERIC:
        return _sum_list(first.element), 1
    if name == "AVG" and n == 1 and (base in _NUMERIC or base is BaseType.DECIMAL):
        return _avg(first), 1
    if name in ("MIN", "MAX") and n == 1 and base in _ORDERABLE:
        return _minmax(name, first), 1
    if name == "COUNT_DISTINCT" and n == 1:
        return _count_distinct(first), 1
    if name in ("COLLECT_LIST", "COLLECT_SET") and n == 1:
        raw = config.get(f"ksql.functions.{name.lower()}.limit")
        limit = int(str(raw)) if raw is not None else None
        return _collect(name, first, limit), 1
    if name == "HISTOGRAM" and n == 1 and base is BaseType.STRING:
        return _histogram(first), 1
    if name in ("STDDEV_SAMP", "STDDEV_SAMPLE", "STDDEV_POP") and n == 1 and base in _NUMERIC:
        return _stddev(name, first), 1
    if name in ("TOPK", "TOPKDISTINCT") and n >= 2 and base in _ORDERABLE:
        k = _int_literal(name, literals[-1], "k")
        others = tuple(t for t in arg_types[1:-1] if t is not None)
        if name == "TOPKDISTINCT" and others:
            raise _no_overload(name, arg_types)
        return _topk(first, others, k, name == "TOPKDISTINCT"), n - 1
    if name in ("LATEST_BY_OFFSET", "EARLIEST_BY_OFFSET") and n <= 3:
        count: int | None = None
        ignore = True
        rest = list(zip(arg_types[1:], literals[1:], strict=True))
        if (
            rest
            and rest[0][0] is not None
            and rest[0][0].base in (BaseType.INTEGER, BaseType.BIGINT)
        ):
            count = _int_literal(name, rest[0][1], "n")
            rest = rest[1:]
        if rest:
            t, lit = rest[0]
            if t is None or t != BOOLEAN or lit is None or not isinstance(lit.value, bool):
                raise _no_overload(name, arg_types)
            ignore = lit.value
            rest = rest[1:]
        if rest:
            raise _no_overload(name, arg_types)
        return _by_offset(name, first, count, ignore), 1
    raise _no_overload(name, arg_types)
