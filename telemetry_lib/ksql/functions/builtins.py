"""The built-in scalar functions: every signature, return type and implementation key (pure).

Owns: :data:`BUILTINS`, the :class:`~telemetry_lib.ksql.functions.registry.FunctionRegistry` of
ksqlDB's built-in scalar functions as this engine implements them. Each row gives the overloads
as ksqlDB declares them (so overload resolution, ambiguity and error texts match), the return
type (a pattern, or a rule for DECIMAL results) and the implementation key looked up in
``functions/impl_*.py`` (polars). Names in messages use ksqlDB's spelling (mostly lower case).

Not implemented (no signature registered, so a query using them gets ksqlDB's
``Can't find any functions with the name`` error): JSON_CONCAT, ENTRIES, aggregate and table
functions (engine II).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from telemetry_lib.ksql.functions.registry import (
    FunctionRegistry,
    FunctionSignature,
    parse_ptype,
)
from telemetry_lib.ksql.types import (
    BOOLEAN,
    STRING,
    SqlArray,
    SqlDecimal,
    SqlType,
    widen_numeric,
)

__all__ = ["BUILTINS", "build_registry"]

logger = logging.getLogger(__name__)

_NUMERIC = ("INTEGER", "BIGINT", "DOUBLE", "DECIMAL")
_COMPARABLE = (
    "INTEGER",
    "BIGINT",
    "DOUBLE",
    "DECIMAL",
    "STRING",
    "BYTES",
    "DATE",
    "TIME",
    "TIMESTAMP",
)


def _same_as_first(args: Sequence[SqlType | None], _b: Mapping[str, SqlType]) -> SqlType:
    first = args[0]
    assert first is not None
    return first


def _round_decimal(args: Sequence[SqlType | None], _b: Mapping[str, SqlType]) -> SqlType:
    t = args[0]
    assert isinstance(t, SqlDecimal)
    # ksqlDB: ROUND/TRUNC of DECIMAL(p, s) without places is DECIMAL(p - s, 0).
    return SqlDecimal(max(t.precision - t.scale, 1), 0)


def _widest_decimal(args: Sequence[SqlType | None], _b: Mapping[str, SqlType]) -> SqlType:
    result: SqlType | None = None
    for t in args:
        if t is None:
            continue
        d = t if isinstance(t, SqlDecimal) else widen_numeric(t, SqlDecimal(1, 0))
        result = d if result is None else widen_numeric(result, d)
    assert result is not None
    return result


def build_registry() -> FunctionRegistry:
    """A fresh registry holding every built-in scalar function."""
    reg = FunctionRegistry()

    def add(
        name: str,
        params: Sequence[str],
        returns: str | object,
        impl: str,
        *,
        variadic: bool = False,
        display: str | None = None,
    ) -> None:
        ret = parse_ptype(returns) if isinstance(returns, str) else returns
        reg.register(
            FunctionSignature(
                name=name.upper(),
                params=tuple(parse_ptype(p) for p in params),
                returns=ret,  # type: ignore[arg-type]
                impl=impl,
                variadic=variadic,
            ),
            display=display,
        )

    # ---- conditional ------------------------------------------------------------------
    add("COALESCE", ["T", "T"], "T", "coalesce", variadic=True, display="COALESCE")
    add("IFNULL", ["T", "T"], "T", "coalesce", display="IFNULL")
    add("NULLIF", ["T", "T"], "T", "nullif", display="NULLIF")

    # ---- math -------------------------------------------------------------------------
    for t in ("INTEGER", "BIGINT", "DOUBLE"):
        add("ABS", [t], t, "abs")
        add("CEIL", [t], t, "ceil")
        add("FLOOR", [t], t, "floor")
        add("SIGN", [t], "INTEGER", "sign")
    add("ABS", ["DECIMAL"], _same_as_first, "abs")
    add("CEIL", ["DECIMAL"], _same_as_first, "ceil")
    add("FLOOR", ["DECIMAL"], _same_as_first, "floor")
    add("SIGN", ["DECIMAL"], "INTEGER", "sign")
    add("ROUND", ["INTEGER"], "BIGINT", "round")
    add("ROUND", ["BIGINT"], "BIGINT", "round")
    add("ROUND", ["DOUBLE"], "BIGINT", "round")
    add("ROUND", ["DOUBLE", "INTEGER"], "DOUBLE", "round_places")
    add("ROUND", ["DECIMAL"], _round_decimal, "round")
    add("ROUND", ["DECIMAL", "INTEGER"], _same_as_first, "round_places")
    add("TRUNC", ["INTEGER"], "BIGINT", "trunc")
    add("TRUNC", ["BIGINT"], "BIGINT", "trunc")
    add("TRUNC", ["DOUBLE"], "BIGINT", "trunc")
    add("TRUNC", ["DOUBLE", "INTEGER"], "DOUBLE", "trunc_places")
    add("TRUNC", ["DECIMAL"], _round_decimal, "trunc")
    add("TRUNC", ["DECIMAL", "INTEGER"], _same_as_first, "trunc_places")
    for fn in (
        "SQRT",
        "CBRT",
        "EXP",
        "LN",
        "SIN",
        "COS",
        "TAN",
        "ASIN",
        "ACOS",
        "ATAN",
        "COT",
        "SINH",
        "COSH",
        "TANH",
        "DEGREES",
        "RADIANS",
    ):
        add(fn, ["DOUBLE"], "DOUBLE", fn.lower())
    add("LOG", ["DOUBLE"], "DOUBLE", "ln")
    add("LOG", ["DOUBLE", "DOUBLE"], "DOUBLE", "log_base")
    add("POWER", ["DOUBLE", "DOUBLE"], "DOUBLE", "power")
    add("ATAN2", ["DOUBLE", "DOUBLE"], "DOUBLE", "atan2")
    add("PI", [], "DOUBLE", "pi")
    add("RANDOM", [], "DOUBLE", "random")
    add("GEO_DISTANCE", ["DOUBLE", "DOUBLE", "DOUBLE", "DOUBLE"], "DOUBLE", "geo_distance")
    add(
        "GEO_DISTANCE", ["DOUBLE", "DOUBLE", "DOUBLE", "DOUBLE", "STRING"], "DOUBLE", "geo_distance"
    )
    for t in _COMPARABLE:
        if t == "DECIMAL":
            add("GREATEST", [t, t], _widest_decimal, "greatest", variadic=True)
            add("LEAST", [t, t], _widest_decimal, "least", variadic=True)
        else:
            add("GREATEST", [t, t], t, "greatest", variadic=True)
            add("LEAST", [t, t], t, "least", variadic=True)

    # ---- strings ----------------------------------------------------------------------
    add("LCASE", ["STRING"], "STRING", "lcase")
    add("UCASE", ["STRING"], "STRING", "ucase")
    add("TRIM", ["STRING"], "STRING", "trim")
    add("LTRIM", ["STRING"], "STRING", "ltrim")
    add("RTRIM", ["STRING"], "STRING", "rtrim")
    add("INITCAP", ["STRING"], "STRING", "initcap")
    add("LEN", ["STRING"], "INTEGER", "len")
    add("LEN", ["BYTES"], "INTEGER", "len_bytes")
    add("SUBSTRING", ["STRING", "INTEGER"], "STRING", "substring")
    add("SUBSTRING", ["STRING", "INTEGER", "INTEGER"], "STRING", "substring")
    add("SUBSTRING", ["BYTES", "INTEGER"], "BYTES", "substring_bytes")
    add("SUBSTRING", ["BYTES", "INTEGER", "INTEGER"], "BYTES", "substring_bytes")
    add("CONCAT", ["STRING"], "STRING", "concat", variadic=True)
    add("CONCAT", ["BYTES"], "BYTES", "concat_bytes", variadic=True)
    add("CONCAT_WS", ["STRING", "STRING"], "STRING", "concat_ws", variadic=True)
    add("ELT", ["INTEGER", "STRING"], "STRING", "elt", variadic=True)
    add("FIELD", ["STRING", "STRING"], "INTEGER", "field", variadic=True)
    add("REPLACE", ["STRING", "STRING", "STRING"], "STRING", "replace")
    add("INSTR", ["STRING", "STRING"], "INTEGER", "instr")
    add("INSTR", ["STRING", "STRING", "INTEGER"], "INTEGER", "instr")
    add("INSTR", ["STRING", "STRING", "INTEGER", "INTEGER"], "INTEGER", "instr")
    add("LPAD", ["STRING", "INTEGER", "STRING"], "STRING", "lpad")
    add("RPAD", ["STRING", "INTEGER", "STRING"], "STRING", "rpad")
    add("SPLIT", ["STRING", "STRING"], "ARRAY<STRING>", "split")
    add("REGEXP_EXTRACT", ["STRING", "STRING"], "STRING", "regexp_extract")
    add("REGEXP_EXTRACT", ["STRING", "STRING", "INTEGER"], "STRING", "regexp_extract")
    add("REGEXP_EXTRACT_ALL", ["STRING", "STRING"], "ARRAY<STRING>", "regexp_extract_all")
    add(
        "REGEXP_EXTRACT_ALL", ["STRING", "STRING", "INTEGER"], "ARRAY<STRING>", "regexp_extract_all"
    )
    add("REGEXP_REPLACE", ["STRING", "STRING", "STRING"], "STRING", "regexp_replace")
    add("REGEXP_SPLIT_TO_ARRAY", ["STRING", "STRING"], "ARRAY<STRING>", "regexp_split")
    add("MASK", ["STRING"], "STRING", "mask")
    add("MASK", ["STRING", "STRING", "STRING", "STRING", "STRING"], "STRING", "mask")
    add("MASK_KEEP_LEFT", ["STRING", "INTEGER"], "STRING", "mask_keep_left")
    add("MASK_KEEP_RIGHT", ["STRING", "INTEGER"], "STRING", "mask_keep_right")
    add("MASK_LEFT", ["STRING", "INTEGER"], "STRING", "mask_left")
    add("MASK_RIGHT", ["STRING", "INTEGER"], "STRING", "mask_right")
    add("CHR", ["INTEGER"], "STRING", "chr")
    add("CHR", ["STRING"], "STRING", "chr_string")
    add("UUID", [], "STRING", "uuid")
    add("MD5", ["STRING"], "STRING", "md5")
    add("TO_BYTES", ["STRING", "STRING"], "BYTES", "to_bytes")
    add("FROM_BYTES", ["BYTES", "STRING"], "STRING", "from_bytes")
    add("ENCODE", ["STRING", "STRING", "STRING"], "STRING", "encode")
    add("EXTRACTJSONFIELD", ["STRING", "STRING"], "STRING", "extractjsonfield")
    add("IS_JSON_STRING", ["STRING"], "BOOLEAN", "is_json_string")
    add("JSON_ARRAY_LENGTH", ["STRING"], "INTEGER", "json_array_length")
    add("JSON_KEYS", ["STRING"], "ARRAY<STRING>", "json_keys")
    add("TO_JSON_STRING", ["ANY"], "STRING", "to_json_string")
    add("JSON_RECORDS", ["STRING"], "MAP<STRING, STRING>", "json_records")
    add("JSON_ITEMS", ["STRING"], "ARRAY<STRING>", "json_items")

    # ---- date and time ----------------------------------------------------------------
    add("TIMESTAMPTOSTRING", ["BIGINT", "STRING"], "STRING", "timestamptostring")
    add("TIMESTAMPTOSTRING", ["BIGINT", "STRING", "STRING"], "STRING", "timestamptostring")
    add("STRINGTOTIMESTAMP", ["STRING", "STRING"], "BIGINT", "stringtotimestamp")
    add("STRINGTOTIMESTAMP", ["STRING", "STRING", "STRING"], "BIGINT", "stringtotimestamp")
    add("FORMAT_TIMESTAMP", ["TIMESTAMP", "STRING"], "STRING", "format_timestamp")
    add("FORMAT_TIMESTAMP", ["TIMESTAMP", "STRING", "STRING"], "STRING", "format_timestamp")
    add("PARSE_TIMESTAMP", ["STRING", "STRING"], "TIMESTAMP", "parse_timestamp")
    add("PARSE_TIMESTAMP", ["STRING", "STRING", "STRING"], "TIMESTAMP", "parse_timestamp")
    add("FORMAT_DATE", ["DATE", "STRING"], "STRING", "format_date")
    add("PARSE_DATE", ["STRING", "STRING"], "DATE", "parse_date")
    add("FORMAT_TIME", ["TIME", "STRING"], "STRING", "format_time")
    add("PARSE_TIME", ["STRING", "STRING"], "TIME", "parse_time")
    add("FROM_UNIXTIME", ["BIGINT"], "TIMESTAMP", "from_unixtime")
    add("UNIX_TIMESTAMP", [], "BIGINT", "unix_timestamp_now")
    add("UNIX_TIMESTAMP", ["TIMESTAMP"], "BIGINT", "unix_timestamp")
    add("UNIX_DATE", [], "INTEGER", "unix_date_now")
    add("UNIX_DATE", ["DATE"], "INTEGER", "unix_date")
    add("FROM_DAYS", ["INTEGER"], "DATE", "from_days")
    add("DATEADD", ["INTERVALUNIT", "INTEGER", "DATE"], "DATE", "dateadd")
    add("DATESUB", ["INTERVALUNIT", "INTEGER", "DATE"], "DATE", "datesub")
    add("TIMEADD", ["INTERVALUNIT", "INTEGER", "TIME"], "TIME", "timeadd")
    add("TIMESUB", ["INTERVALUNIT", "INTEGER", "TIME"], "TIME", "timesub")
    add("TIMESTAMPADD", ["INTERVALUNIT", "BIGINT", "TIMESTAMP"], "TIMESTAMP", "timestampadd")
    add("TIMESTAMPSUB", ["INTERVALUNIT", "BIGINT", "TIMESTAMP"], "TIMESTAMP", "timestampsub")
    add("CONVERT_TZ", ["TIMESTAMP", "STRING", "STRING"], "TIMESTAMP", "convert_tz")

    # ---- collections ------------------------------------------------------------------
    add("ARRAY_LENGTH", ["ARRAY<T>"], "INTEGER", "array_length")
    add("ARRAY_CONTAINS", ["ARRAY<T>", "T"], "BOOLEAN", "array_contains")
    add("ARRAY_MIN", ["ARRAY<T>"], "T", "array_min")
    add("ARRAY_MAX", ["ARRAY<T>"], "T", "array_max")
    add("ARRAY_DISTINCT", ["ARRAY<T>"], "ARRAY<T>", "array_distinct")
    add("ARRAY_SORT", ["ARRAY<T>"], "ARRAY<T>", "array_sort")
    add("ARRAY_SORT", ["ARRAY<T>", "STRING"], "ARRAY<T>", "array_sort")
    add("ARRAY_REMOVE", ["ARRAY<T>", "T"], "ARRAY<T>", "array_remove")
    add("ARRAY_CONCAT", ["ARRAY<T>", "ARRAY<T>"], "ARRAY<T>", "array_concat")
    add("ARRAY_JOIN", ["ARRAY<T>"], "STRING", "array_join")
    add("ARRAY_JOIN", ["ARRAY<T>", "STRING"], "STRING", "array_join")
    add("MAP_KEYS", ["MAP<K, V>"], "ARRAY<K>", "map_keys")
    add("MAP_VALUES", ["MAP<K, V>"], "ARRAY<V>", "map_values")
    add("AS_VALUE", ["T"], "T", "identity")
    add("ARRAY_EXCEPT", ["ARRAY<T>", "ARRAY<T>"], "ARRAY<T>", "array_except")
    add("ARRAY_INTERSECT", ["ARRAY<T>", "ARRAY<T>"], "ARRAY<T>", "array_intersect")
    add("ARRAY_UNION", ["ARRAY<T>", "ARRAY<T>"], "ARRAY<T>", "array_union")
    add("GENERATE_SERIES", ["INTEGER", "INTEGER"], "ARRAY<INTEGER>", "generate_series")
    add("GENERATE_SERIES", ["INTEGER", "INTEGER", "INTEGER"], "ARRAY<INTEGER>", "generate_series")
    add("GENERATE_SERIES", ["BIGINT", "BIGINT"], "ARRAY<BIGINT>", "generate_series")
    add("GENERATE_SERIES", ["BIGINT", "BIGINT", "INTEGER"], "ARRAY<BIGINT>", "generate_series")
    add("SPLIT_TO_MAP", ["STRING", "STRING", "STRING"], "MAP<STRING, STRING>", "split_to_map")

    # ---- higher-order (lambda) functions; implemented by the expression compiler ---------
    add("TRANSFORM", ["ARRAY<T>", "LAMBDA(T)->U"], "ARRAY<U>", "lambda_transform_array")
    add("FILTER", ["ARRAY<T>", "LAMBDA(T)->BOOLEAN"], "ARRAY<T>", "lambda_filter_array")
    add("FILTER", ["MAP<K, V>", "LAMBDA(K, V)->BOOLEAN"], "MAP<K, V>", "lambda_filter_map")
    add(
        "TRANSFORM",
        ["MAP<K, V>", "LAMBDA(K, V)->A", "LAMBDA(K, V)->B"],
        "MAP<A, B>",
        "lambda_transform_map",
    )
    add("REDUCE", ["ARRAY<T>", "S", "LAMBDA(S, T)->S"], "S", "lambda_reduce")
    add("REDUCE", ["MAP<K, V>", "S", "LAMBDA(S, K, V)->S"], "S", "lambda_reduce")
    return reg


BUILTINS = build_registry()

# Types used by the analyzer when it needs them by name (kept here so the table is self-contained).
_ = (BOOLEAN, STRING, SqlArray)
