"""Constant Series: one value repeated ``n`` times, built without a polars query.

Owns :func:`constant`. ``pl.repeat(value, n, eager=True)`` runs a one-expression query (plan,
optimise, collect): ~0.1 ms whatever ``n``, and the engine builds several such columns for every
batch (error columns, null keys, the processing log's record columns, read masks). Repeating
the one element of a one-row Series (``new_from_index``) gives the same Series in a few
microseconds.
"""

from __future__ import annotations

import logging

import polars as pl
from polars._typing import PolarsDataType, PythonLiteral

__all__ = ["constant"]

logger = logging.getLogger(__name__)

# pl.repeat(..., eager=True) names its result "literal"; callers that keep the name see the same.
_DEFAULT_NAME = "literal"


def constant(
    value: PythonLiteral | None, n: int, dtype: PolarsDataType, *, name: str = _DEFAULT_NAME
) -> pl.Series:
    """``value`` repeated ``n`` times as a Series of ``dtype`` (like ``pl.repeat(..., eager=True)``)."""
    return pl.Series(name, [value], dtype=dtype).new_from_index(0, n)
