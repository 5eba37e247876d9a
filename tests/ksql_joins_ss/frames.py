"""Helpers of the J2 join tests: a JoinNode built by hand and batches in the join contract."""

from __future__ import annotations

from typing import Any

import polars as pl

from telemetry_lib.ksql.analyzer.typed import TColumn
from telemetry_lib.ksql.exec import batch as B
from telemetry_lib.ksql.plan.join import (
    JoinKeyColumn,
    JoinKind,
    JoinNode,
    JoinType,
    JoinWindow,
    join_key_field,
)
from telemetry_lib.ksql.plan.logical import LogicalNode
from telemetry_lib.ksql.runtime.io import RECORD_SCHEMA
from telemetry_lib.ksql.types import BIGINT

JK = join_key_field(0)
#: Stream-stream sides: a name and a number per record.
SS_LEFT = ("L_NAME", "L_N")
SS_RIGHT = ("R_NAME", "R_N")
#: Foreign-key sides: left (id, name, fk), right (id, name).
FK_LEFT = ("L_ID", "L_NAME", "L_FK")
FK_RIGHT = ("R_ID", "R_NAME")


def node(
    join_type: JoinType,
    *,
    kind: JoinKind = "stream-stream",
    within: JoinWindow | None = None,
    left_fields: tuple[str, ...] = SS_LEFT,
    right_fields: tuple[str, ...] = SS_RIGHT,
    left_primary_key: tuple[str, ...] = (),
) -> JoinNode:
    return JoinNode(
        left=LogicalNode(),
        right=LogicalNode(),
        kind=kind,
        join_type=join_type,
        left_key=(TColumn("L_KEY", type=BIGINT),),
        right_key=(TColumn("R_KEY", type=BIGINT),),
        within=within,
        key_columns=(JoinKeyColumn("ID", BIGINT),),
        left_fields=left_fields,
        right_fields=right_fields,
        left_primary_key=left_primary_key,
    )


def _dtype(name: str) -> pl.DataType:
    return pl.String() if name.endswith("NAME") else pl.Int64()


def frame(
    fields: tuple[str, ...],
    rows: list[tuple[Any, tuple[Any, ...] | None, int]],
    *,
    key_from: str | None = None,
) -> pl.DataFrame:
    """A batch: ``rows`` are (join key, values of ``fields`` or None for a null value, time).
    ``key_from``: take the join key from that field instead (table sides)."""
    data = {
        f: pl.Series(f, [None if v is None else v[i] for _, v, _ in rows], dtype=_dtype(f))
        for i, f in enumerate(fields)
    }
    out = pl.DataFrame(data)
    keys = (
        out.get_column(key_from)
        if key_from is not None
        else pl.Series(JK, [k for k, _, _ in rows], dtype=pl.Int64)
    )
    return out.with_columns(
        keys.alias(JK),
        pl.Series(B.ROWTIME, [t for _, _, t in rows], dtype=pl.Int64),
        pl.Series(B.NULL_VALUE, [v is None for _, v, _ in rows], dtype=pl.Boolean),
        pl.lit(False).alias(B.NULL_KEY),
        pl.Series(B.HEADERS, [[] for _ in rows], dtype=RECORD_SCHEMA["headers"]),
    )


def fk_left(rows: list[tuple[int, str | None, int | None, int]]) -> pl.DataFrame:
    """Left table changes: (id, name or None for a delete, foreign key, time)."""
    data = pl.DataFrame(
        {
            "L_ID": [r[0] for r in rows],
            "L_NAME": [r[1] for r in rows],
            "L_FK": [r[2] for r in rows],
        },
        schema={"L_ID": pl.Int64, "L_NAME": pl.String, "L_FK": pl.Int64},
    )
    return data.with_columns(
        pl.col("L_FK").alias(JK),
        pl.Series(B.ROWTIME, [r[3] for r in rows], dtype=pl.Int64),
        pl.Series(B.NULL_VALUE, [r[1] is None for r in rows], dtype=pl.Boolean),
        pl.lit(False).alias(B.NULL_KEY),
        pl.Series(B.HEADERS, [[] for _ in rows], dtype=RECORD_SCHEMA["headers"]),
    )


def fk_right(rows: list[tuple[int, str | None, int]]) -> pl.DataFrame:
    """Right table changes: (id, name or None for a delete, time)."""
    data = pl.DataFrame(
        {"R_ID": [r[0] for r in rows], "R_NAME": [r[1] for r in rows]},
        schema={"R_ID": pl.Int64, "R_NAME": pl.String},
    )
    return data.with_columns(
        pl.col("R_ID").alias(JK),
        pl.Series(B.ROWTIME, [r[2] for r in rows], dtype=pl.Int64),
        pl.Series(B.NULL_VALUE, [r[1] is None for r in rows], dtype=pl.Boolean),
        pl.lit(False).alias(B.NULL_KEY),
        pl.Series(B.HEADERS, [[] for _ in rows], dtype=RECORD_SCHEMA["headers"]),
    )


Row = tuple[Any, tuple[Any, ...], tuple[Any, ...], int, bool]


def rows_of(out: pl.DataFrame, left: tuple[str, ...], right: tuple[str, ...]) -> list[Row]:
    """(output key, left values, right values, ROWTIME, tombstone) per output row."""
    return [
        (
            r[JK],
            tuple(r[f] for f in left),
            tuple(r[f] for f in right),
            r[B.ROWTIME],
            r[B.NULL_VALUE],
        )
        for r in out.iter_rows(named=True)
    ]


def run(op: Any, steps: list[tuple[str, pl.DataFrame]]) -> list[Row]:
    """Feed (side, batch) steps through ``op.join_batch``; all output rows in order."""
    collected: list[Row] = []
    for side, batch in steps:
        op.remember_schema(side, batch)
        out = op.join_batch(side, batch)
        if out.height:
            collected += rows_of(out, op.node.left_fields, op.node.right_fields)
    return collected
