"""The one place operators turn typed expressions into polars expressions.

Owns: :func:`compile_typed`, a thin adapter over
:func:`telemetry_lib.ksql.exec.expressions.compile_expression` returning the value expression and
an optional per-row error-message expression (null where the row computed fine), and
:func:`evaluate`, which runs a set of compiled expressions over a batch in one ``select``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import polars as pl

from telemetry_lib.ksql.analyzer.typed import TypedExpression

__all__ = ["Compiled", "compile_typed"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Compiled:
    """A typed expression as polars: ``value`` and ``error`` (String, null = no error) or None."""

    value: pl.Expr
    error: pl.Expr | None
    text: str


def compile_typed(typed: TypedExpression) -> Compiled:
    from telemetry_lib.ksql.exec.expressions import compile_expression

    compiled = compile_expression(typed)
    return Compiled(value=compiled.expr, error=compiled.error, text=typed.text)
