"""Constants of any SQL type as polars literal expressions.

Owns :func:`literal_expr`: the Python value of a typed literal (see
:class:`~telemetry_lib.ksql.analyzer.typed.TLiteral`) as a ``pl.lit`` of the type's polars dtype
(types.py's mapping), including DECIMAL, date/time, ARRAY, MAP (list of key/value structs) and
STRUCT values. An untyped NULL becomes a Null-typed literal.
"""

from __future__ import annotations

import logging

import polars as pl

from telemetry_lib.ksql.types import SqlMap, SqlType, to_polars

__all__ = ["literal_expr"]

logger = logging.getLogger(__name__)


def literal_expr(value: object, t: SqlType | None) -> pl.Expr:
    """``value`` of SQL type ``t`` as a polars literal."""
    if t is None:
        return pl.lit(None)
    dtype = to_polars(t)
    if value is None:
        return pl.lit(None, dtype=dtype)
    if isinstance(t, SqlMap) and isinstance(value, list):
        value = [{"key": k, "value": v} for k, v in value]
    if isinstance(value, (list, dict)):
        return pl.lit(pl.Series("", [value], dtype=dtype)).first()
    return pl.lit(value, dtype=dtype)
