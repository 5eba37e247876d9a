"""Helpers shared by the expression tests: type + compile + evaluate an expression on a frame."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl
import pytest

from telemetry_lib.ksql.analyzer.expressions import type_expression
from telemetry_lib.ksql.analyzer.scope import Scope
from telemetry_lib.ksql.analyzer.typed import TypedExpression
from telemetry_lib.ksql.exec.expressions import compile_expression, evaluate
from telemetry_lib.ksql.parser import parse_expression
from telemetry_lib.ksql.types import SqlType


def typed_of(
    sql: str, columns: Mapping[str, SqlType] | None = None, *, context: str = "SELECT"
) -> TypedExpression:
    scope = Scope.of(*[(None, name, t) for name, t in (columns or {}).items()])
    return type_expression(parse_expression(sql), scope, context=context)


def run(
    sql: str, frame: pl.DataFrame, columns: Mapping[str, SqlType]
) -> tuple[list[object], list[object]]:
    """Values and error messages of ``sql`` evaluated on ``frame``."""
    values, errors = evaluate(frame, compile_expression(typed_of(sql, columns)))
    return values.to_list(), errors.to_list()


def one_row() -> pl.DataFrame:
    return pl.DataFrame({"_": [0]})


@pytest.fixture
def single() -> pl.DataFrame:
    return one_row()
