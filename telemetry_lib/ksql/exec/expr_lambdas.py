"""Higher-order functions evaluated on whole batches: lambdas that see outer columns, and REDUCE.

Owns :func:`lambda_by_explode` (TRANSFORM / FILTER on arrays and maps whose lambda body refers
to columns of the row, which polars' ``list.eval`` cannot see) and :func:`reduce_call` (REDUCE on
arrays and maps). Simple lambdas (no outer columns) are compiled to ``list.eval`` by
:mod:`telemetry_lib.ksql.exec.expressions`; these two run as one ``map_batches`` over the batch:

- explode: the collection is exploded next to the outer columns, the body is evaluated as an
  ordinary vectorised expression over the exploded rows, and the results are gathered back per
  row (``group_by`` on the row index) — no per-row Python;
- REDUCE: the fold runs position by position (element 1 of every row, then element 2, ...),
  each step one vectorised evaluation of the body over the whole batch.

An error inside a lambda body (e.g. arithmetic on a NULL element) fails the whole call for that
row, as the Java lambda throws out of the UDF.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import polars as pl

from telemetry_lib.ksql.analyzer.typed import TColumn, TLambda, TypedExpression, children_of
from telemetry_lib.ksql.types import SqlMap, SqlType, to_polars

__all__ = ["BodyCompiler", "lambda_by_explode", "outer_columns", "reduce_call"]

logger = logging.getLogger(__name__)

#: Compiles a lambda body with lambda variables bound to expressions: (value, failure or None).
BodyCompiler = Callable[[TypedExpression, dict[str, pl.Expr]], tuple[pl.Expr, pl.Expr | None]]

_ROW = "__lambda_row"
_COLL = "__lambda_coll"
_ELEM = "__lambda_elem"
_INIT = "__lambda_init"


def outer_columns(lambdas: Sequence[TypedExpression]) -> list[str]:
    """Field names of the row's columns a lambda body refers to."""
    found: list[str] = []
    stack = list(lambdas)
    while stack:
        node = stack.pop()
        if isinstance(node, TColumn) and node.field_name not in found:
            found.append(node.field_name)
        stack.extend(children_of(node))
    return found


def _bindings(lam: TLambda, is_map: bool, prefix: list[str]) -> dict[str, pl.Expr]:
    """Lambda parameters -> columns of the working frame (``prefix`` names come first)."""
    names = list(prefix)
    if is_map:
        names += [f"{_ELEM}_key", f"{_ELEM}_value"]
    else:
        names.append(_ELEM)
    return {p: pl.col(n) for p, n in zip(lam.params, names, strict=True)}


def lambda_by_explode(
    impl: str,
    coll: pl.Expr,
    coll_type: SqlType,
    lambdas: Sequence[TLambda],
    result_type: SqlType,
    compile_body: BodyCompiler,
) -> tuple[pl.Expr, pl.Expr]:
    """TRANSFORM / FILTER with lambda bodies that read outer columns: (value, failure)."""
    is_map = isinstance(coll_type, SqlMap)
    outer = outer_columns(lambdas)
    bodies = [compile_body(lam.body, _bindings(lam, is_map, [])) for lam in lambdas]
    result_dtype = to_polars(result_type)
    packed = pl.struct([coll.alias(_COLL), *[pl.col(c) for c in outer]])
    out_dtype = pl.Struct({"value": result_dtype, "failed": pl.Boolean()})

    def run(s: pl.Series) -> pl.Series:
        frame = s.struct.unnest().with_row_index(_ROW)
        lengths = frame.get_column(_COLL).list.len()
        exploded = frame.filter(lengths > 0).explode(_COLL)
        if is_map:
            exploded = exploded.with_columns(
                pl.col(_COLL).struct.field("key").alias(f"{_ELEM}_key"),
                pl.col(_COLL).struct.field("value").alias(f"{_ELEM}_value"),
            )
        else:
            exploded = exploded.with_columns(pl.col(_COLL).alias(_ELEM))
        failed = pl.lit(False)
        for _, fail in bodies:
            if fail is not None:
                failed = failed | fail.is_not_null()
        evaluated = exploded.with_columns(
            *[b.alias(f"__body{i}") for i, (b, _) in enumerate(bodies)],
            failed.alias("__failed"),
        )
        if impl in ("lambda_filter_array", "lambda_filter_map"):
            element = pl.col(_COLL).filter(pl.col("__body0").fill_null(False))
        elif impl == "lambda_transform_array":
            element = pl.col("__body0")
        else:
            element = pl.struct(pl.col("__body0").alias("key"), pl.col("__body1").alias("value"))
        gathered = evaluated.group_by(_ROW, maintain_order=True).agg(
            element.alias("value"), pl.col("__failed").any().alias("failed")
        )
        joined = frame.select(_ROW, pl.col(_COLL)).join(gathered, on=_ROW, how="left")
        value = (
            pl.when(pl.col(_COLL).is_null())
            .then(None)
            .when(pl.col(_COLL).list.len() == 0)
            .then(pl.lit([], dtype=result_dtype))
            .otherwise(pl.col("value").cast(result_dtype))
        )
        result = joined.select(
            pl.struct(value.alias("value"), pl.col("failed").fill_null(False)).alias("r")
        )
        return result.get_column("r")

    out = packed.map_batches(run, return_dtype=out_dtype, is_elementwise=True)
    failure = pl.when(out.struct.field("failed")).then(pl.lit("Error in lambda function"))
    return out.struct.field("value"), failure


def reduce_call(
    coll: pl.Expr,
    coll_type: SqlType,
    init: pl.Expr,
    lam: TLambda,
    result_type: SqlType,
    compile_body: BodyCompiler,
) -> tuple[pl.Expr, pl.Expr]:
    """REDUCE(collection, initial, (state, element[s]) => body): (value, failure)."""
    is_map = isinstance(coll_type, SqlMap)
    outer = outer_columns([lam])
    state_col = "__lambda_state"
    body, fail = compile_body(lam.body, _bindings(lam, is_map, [state_col]))
    result_dtype = to_polars(result_type)
    packed = pl.struct([coll.alias(_COLL), init.alias(_INIT), *[pl.col(c) for c in outer]])
    out_dtype = pl.Struct({"value": result_dtype, "failed": pl.Boolean()})

    def run(s: pl.Series) -> pl.Series:
        frame = s.struct.unnest()
        lengths = frame.get_column(_COLL).list.len().fill_null(0)
        longest = int(lengths.max() or 0)  # type: ignore[arg-type]
        frame = frame.with_columns(
            pl.col(_INIT).cast(result_dtype).alias(state_col), pl.lit(False).alias("__failed")
        )
        for position in range(longest):
            element = pl.col(_COLL).list.get(position, null_on_oob=True)
            if is_map:
                step = frame.with_columns(
                    element.struct.field("key").alias(f"{_ELEM}_key"),
                    element.struct.field("value").alias(f"{_ELEM}_value"),
                )
            else:
                step = frame.with_columns(element.alias(_ELEM))
            present = pl.col(_COLL).list.len() > position
            step_failed = fail.is_not_null() if fail is not None else pl.lit(False)
            frame = step.select(
                *[pl.col(c) for c in frame.columns if c not in (state_col, "__failed")],
                pl.when(present)
                .then(body.cast(result_dtype))
                .otherwise(pl.col(state_col))
                .alias(state_col),
                (pl.col("__failed") | (present & step_failed).fill_null(False)).alias("__failed"),
            )
        value = pl.when(pl.col(_COLL).is_null()).then(None).otherwise(pl.col(state_col))
        return frame.select(
            pl.struct(value.alias("value"), pl.col("__failed").alias("failed")).alias("r")
        ).get_column("r")

    out = packed.map_batches(run, return_dtype=out_dtype, is_elementwise=True)
    failure = pl.when(out.struct.field("failed")).then(pl.lit("Error in REDUCE lambda"))
    return out.struct.field("value"), failure
