"""SQL types of the engine and ksqlDB's typing rules (reference §3).

Owns: the type objects (frozen, hashable), their canonical text forms, numeric widening,
arithmetic result types (including DECIMAL precision/scale), implicit-cast rules, and the
mapping to polars dtypes that every batch uses. No polars import at module level beyond the
dtype mapping helper, so the parser/analyzer stay polars-free (the helper imports lazily).

Internal representation of values in polars batches (the contract for functions, serde and
operators):

=============  ======================================================
SQL type       polars dtype
=============  ======================================================
BOOLEAN        Boolean
INTEGER        Int32
BIGINT         Int64
DOUBLE         Float64
DECIMAL(p,s)   Decimal(min(p, 38), s)
STRING         String
BYTES          Binary
DATE           Date
TIME           Time
TIMESTAMP      Datetime("ms")  (no zone; UTC wall clock)
ARRAY<T>       List(T)
MAP<K,V>       List(Struct({"key": K, "value": V}))  (polars has no map type)
STRUCT<...>    Struct({name: T, ...}) with field names as declared
=============  ======================================================
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "BIGINT",
    "BOOLEAN",
    "BYTES",
    "DATE",
    "DOUBLE",
    "INTEGER",
    "STRING",
    "TIME",
    "TIMESTAMP",
    "ArithmeticOp",
    "BaseType",
    "SqlArray",
    "SqlDecimal",
    "SqlMap",
    "SqlPrimitive",
    "SqlStruct",
    "SqlType",
    "arithmetic_result_type",
    "can_implicitly_cast",
    "common_type",
    "decimal_of",
    "is_numeric",
    "to_polars",
    "widen_numeric",
]

# polars' Decimal holds at most 38 digits; ksqlDB's SqlDecimal has no upper bound, but
# values beyond 38 digits never occur in practice and the conformance corpus stays below.
_POLARS_MAX_DECIMAL_PRECISION = 38


class BaseType(enum.Enum):
    """ksqlDB's SqlBaseType, in its declaration order."""

    BOOLEAN = "BOOLEAN"
    INTEGER = "INTEGER"
    BIGINT = "BIGINT"
    DECIMAL = "DECIMAL"
    DOUBLE = "DOUBLE"
    STRING = "STRING"
    BYTES = "BYTES"
    DATE = "DATE"
    TIME = "TIME"
    TIMESTAMP = "TIMESTAMP"
    ARRAY = "ARRAY"
    MAP = "MAP"
    STRUCT = "STRUCT"


class SqlType:
    """Base of all SQL types. Instances are immutable and compare by value."""

    base: BaseType

    def sql(self) -> str:
        """Text as written in DDL (``STRUCT<F INTEGER>``), the DESCRIBE/post-check form."""
        raise NotImplementedError

    def rest(self) -> str:
        """Text as in REST ``columnTypes`` (``DECIMAL(4, 2)``, ``STRUCT<`F` INTEGER>``)."""
        raise NotImplementedError

    def __str__(self) -> str:
        return self.sql()


@dataclass(frozen=True)
class SqlPrimitive(SqlType):
    base: BaseType

    def sql(self) -> str:
        return self.base.value

    def rest(self) -> str:
        return self.base.value


@dataclass(frozen=True)
class SqlDecimal(SqlType):
    precision: int
    scale: int
    base: BaseType = BaseType.DECIMAL

    def __post_init__(self) -> None:
        if self.precision < 1:
            raise ValueError(f"DECIMAL precision must be >= 1: DECIMAL({self.precision}, {self.scale})")
        if not 0 <= self.scale <= self.precision:
            raise ValueError(
                f"DECIMAL scale must be between 0 and precision: DECIMAL({self.precision}, {self.scale})"
            )

    def sql(self) -> str:
        return f"DECIMAL({self.precision}, {self.scale})"

    def rest(self) -> str:
        return f"DECIMAL({self.precision}, {self.scale})"


@dataclass(frozen=True)
class SqlArray(SqlType):
    element: SqlType
    base: BaseType = BaseType.ARRAY

    def sql(self) -> str:
        return f"ARRAY<{self.element.sql()}>"

    def rest(self) -> str:
        return f"ARRAY<{self.element.rest()}>"


@dataclass(frozen=True)
class SqlMap(SqlType):
    key: SqlType
    value: SqlType
    base: BaseType = BaseType.MAP

    def sql(self) -> str:
        return f"MAP<{self.key.sql()}, {self.value.sql()}>"

    def rest(self) -> str:
        return f"MAP<{self.key.rest()}, {self.value.rest()}>"


@dataclass(frozen=True)
class SqlStruct(SqlType):
    fields: tuple[tuple[str, SqlType], ...]
    base: BaseType = BaseType.STRUCT

    def field(self, name: str) -> SqlType | None:
        """The type of field ``name`` (exact match), or None."""
        for field_name, field_type in self.fields:
            if field_name == name:
                return field_type
        return None

    def sql(self) -> str:
        inner = ", ".join(f"`{n}` {t.sql()}" for n, t in self.fields)
        return f"STRUCT<{inner}>"

    def rest(self) -> str:
        inner = ", ".join(f"`{n}` {t.rest()}" for n, t in self.fields)
        return f"STRUCT<{inner}>"


BOOLEAN = SqlPrimitive(BaseType.BOOLEAN)
INTEGER = SqlPrimitive(BaseType.INTEGER)
BIGINT = SqlPrimitive(BaseType.BIGINT)
DOUBLE = SqlPrimitive(BaseType.DOUBLE)
STRING = SqlPrimitive(BaseType.STRING)
BYTES = SqlPrimitive(BaseType.BYTES)
DATE = SqlPrimitive(BaseType.DATE)
TIME = SqlPrimitive(BaseType.TIME)
TIMESTAMP = SqlPrimitive(BaseType.TIMESTAMP)

_NUMERIC_ORDER = {
    BaseType.INTEGER: 0,
    BaseType.BIGINT: 1,
    BaseType.DECIMAL: 2,
    BaseType.DOUBLE: 3,
}

ArithmeticOp = Literal["+", "-", "*", "/", "%"]


def is_numeric(t: SqlType) -> bool:
    """INTEGER, BIGINT, DECIMAL or DOUBLE."""
    return t.base in _NUMERIC_ORDER


def decimal_of(t: SqlType) -> SqlDecimal:
    """The DECIMAL an integer type converts to (INT -> DECIMAL(10,0), BIGINT -> DECIMAL(19,0))."""
    if isinstance(t, SqlDecimal):
        return t
    if t.base is BaseType.INTEGER:
        return SqlDecimal(10, 0)
    if t.base is BaseType.BIGINT:
        return SqlDecimal(19, 0)
    raise TypeError(f"{t.sql()} has no DECIMAL equivalent")


def widen_numeric(a: SqlType, b: SqlType) -> SqlType:
    """The wider of two numeric types (INTEGER < BIGINT < DECIMAL < DOUBLE)."""
    if not (is_numeric(a) and is_numeric(b)):
        raise TypeError(f"not numeric: {a.sql()}, {b.sql()}")
    if a.base is BaseType.DOUBLE or b.base is BaseType.DOUBLE:
        return DOUBLE
    if a.base is BaseType.DECIMAL or b.base is BaseType.DECIMAL:
        da, db = decimal_of(a), decimal_of(b)
        scale = max(da.scale, db.scale)
        integral = max(da.precision - da.scale, db.precision - db.scale)
        return SqlDecimal(integral + scale, scale)
    return a if _NUMERIC_ORDER[a.base] >= _NUMERIC_ORDER[b.base] else b


def arithmetic_result_type(op: ArithmeticOp, a: SqlType, b: SqlType) -> SqlType:
    """Result type of ``a op b`` for numeric operands (ksqlDB Operator.resultType).

    Raises TypeError for non-numeric operands; the analyzer turns that into ksqlDB's wording.
    """
    if not (is_numeric(a) and is_numeric(b)):
        raise TypeError(f"Unsupported arithmetic types. {a.sql()} {b.sql()}")
    if a.base is BaseType.DOUBLE or b.base is BaseType.DOUBLE:
        return DOUBLE
    if a.base is BaseType.DECIMAL or b.base is BaseType.DECIMAL:
        da, db = decimal_of(a), decimal_of(b)
        p1, s1, p2, s2 = da.precision, da.scale, db.precision, db.scale
        if op in ("+", "-"):
            scale = max(s1, s2)
            return SqlDecimal(scale + max(p1 - s1, p2 - s2) + 1, scale)
        if op == "*":
            return SqlDecimal(p1 + p2 + 1, s1 + s2)
        if op == "/":
            scale = max(6, s1 + p2 + 1)
            return SqlDecimal(p1 - s1 + s2 + scale, scale)
        scale = max(s1, s2)
        return SqlDecimal(min(p1 - s1, p2 - s2) + scale, scale)
    return widen_numeric(a, b)


def can_implicitly_cast(source: SqlType, target: SqlType) -> bool:
    """Whether a value of ``source`` may be used where ``target`` is expected without CAST.

    Numeric types widen (INTEGER -> BIGINT -> DECIMAL -> DOUBLE; a DECIMAL only into a
    DECIMAL that holds it, or DOUBLE); containers cast element-wise; everything else must match.
    """
    if source == target:
        return True
    if is_numeric(source) and is_numeric(target):
        if _NUMERIC_ORDER[source.base] > _NUMERIC_ORDER[target.base]:
            return False
        if isinstance(target, SqlDecimal):
            ds = decimal_of(source)
            return (
                ds.scale <= target.scale
                and ds.precision - ds.scale <= target.precision - target.scale
            )
        return True
    if isinstance(source, SqlArray) and isinstance(target, SqlArray):
        return can_implicitly_cast(source.element, target.element)
    if isinstance(source, SqlMap) and isinstance(target, SqlMap):
        return can_implicitly_cast(source.key, target.key) and can_implicitly_cast(
            source.value, target.value
        )
    if isinstance(source, SqlStruct) and isinstance(target, SqlStruct):
        if len(source.fields) != len(target.fields):
            return False
        return all(
            sn == tn and can_implicitly_cast(st, tt)
            for (sn, st), (tn, tt) in zip(source.fields, target.fields, strict=True)
        )
    return False


def common_type(types: list[SqlType | None]) -> SqlType | None:
    """The type every non-null entry converts to (CASE branches, COALESCE, IN lists).

    ``None`` entries stand for an untyped NULL literal. Returns None when all are None;
    raises TypeError when two entries have no common type.
    """
    result: SqlType | None = None
    for t in types:
        if t is None:
            continue
        if result is None:
            result = t
        elif result == t:
            continue
        elif is_numeric(result) and is_numeric(t):
            result = widen_numeric(result, t)
        elif can_implicitly_cast(t, result):
            continue
        elif can_implicitly_cast(result, t):
            result = t
        else:
            raise TypeError(f"no common type for {result.sql()} and {t.sql()}")
    return result


def to_polars(t: SqlType) -> pl.DataType:
    """The polars dtype that holds values of ``t`` in a batch (table in the module doc)."""
    import polars as pl

    if isinstance(t, SqlDecimal):
        return pl.Decimal(min(t.precision, _POLARS_MAX_DECIMAL_PRECISION), t.scale)
    if isinstance(t, SqlArray):
        return pl.List(to_polars(t.element))
    if isinstance(t, SqlMap):
        return pl.List(pl.Struct({"key": to_polars(t.key), "value": to_polars(t.value)}))
    if isinstance(t, SqlStruct):
        return pl.Struct({name: to_polars(ft) for name, ft in t.fields})
    simple: dict[BaseType, pl.DataType] = {
        BaseType.BOOLEAN: pl.Boolean(),
        BaseType.INTEGER: pl.Int32(),
        BaseType.BIGINT: pl.Int64(),
        BaseType.DOUBLE: pl.Float64(),
        BaseType.STRING: pl.String(),
        BaseType.BYTES: pl.Binary(),
        BaseType.DATE: pl.Date(),
        BaseType.TIME: pl.Time(),
        BaseType.TIMESTAMP: pl.Datetime("ms"),
    }
    return simple[t.base]
