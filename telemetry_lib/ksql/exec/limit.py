"""Limit operator (LIMIT n in a persistent query, ksqlDB's QueryLimitNode).

Owns: :class:`LimitOperator`, which lets the first ``limit`` rows of the query's lifetime through
and drops every later row. Its only state is the count of rows passed so far.
"""

from __future__ import annotations

import logging

import polars as pl

from telemetry_lib.ksql.exec.operator import Emit, ExecContext, Operator

__all__ = ["LimitOperator"]

logger = logging.getLogger(__name__)


class LimitOperator(Operator):
    step = "LimitClause"

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.passed = 0

    def describe(self) -> str:
        return f"LimitOperator[{self.limit}]"

    def process_batch(self, batch: pl.DataFrame, ctx: ExecContext, out: Emit) -> None:
        remaining = self.limit - self.passed
        if remaining <= 0:
            return
        taken = batch.head(remaining)
        self.passed += taken.height
        out(taken)
