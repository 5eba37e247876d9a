"""Overload resolution follows ksqlDB's UdfIndex rules and error texts."""

from __future__ import annotations

import pytest

from telemetry_lib.ksql.errors import AnalysisError
from telemetry_lib.ksql.functions.builtins import BUILTINS
from telemetry_lib.ksql.functions.registry import LambdaArg, UnitArg
from telemetry_lib.ksql.types import (
    BIGINT,
    DATE,
    DOUBLE,
    INTEGER,
    STRING,
    TIMESTAMP,
    SqlArray,
    SqlDecimal,
)


def test_exact_match_wins_over_implicit_casts() -> None:
    res = BUILTINS.resolve("ABS", [BIGINT])
    assert res.return_type == BIGINT
    assert res.param_types == (BIGINT,)


def test_integer_argument_is_widened_to_the_only_double_overload() -> None:
    res = BUILTINS.resolve("SQRT", [INTEGER])
    assert res.param_types == (DOUBLE,)
    assert res.return_type == DOUBLE


def test_mixed_integer_types_are_ambiguous_for_greatest() -> None:
    with pytest.raises(AnalysisError) as exc:
        BUILTINS.resolve("GREATEST", [INTEGER, BIGINT])
    assert (
        "Function 'greatest' cannot be resolved due to ambiguous method parameters "
        "(INTEGER, BIGINT)." in str(exc.value)
    )


def test_double_argument_makes_greatest_resolve_to_double() -> None:
    res = BUILTINS.resolve("GREATEST", [INTEGER, BIGINT, SqlDecimal(30, 18), DOUBLE, None])
    assert res.return_type == DOUBLE
    assert set(res.param_types) == {DOUBLE}


def test_all_null_arguments_are_ambiguous() -> None:
    with pytest.raises(AnalysisError, match=r"ambiguous method parameters \(null, null\)\."):
        BUILTINS.resolve("LEAST", [None, None])


def test_no_parameters_and_wrong_types_are_rejected_with_ksqldb_wording() -> None:
    with pytest.raises(
        AnalysisError, match=r"Function 'greatest' does not accept parameters \(\)\."
    ):
        BUILTINS.resolve("GREATEST", [])
    with pytest.raises(AnalysisError, match=r"does not accept parameters \(STRING, INTEGER\)\."):
        BUILTINS.resolve("GREATEST", [STRING, INTEGER])
    with pytest.raises(AnalysisError, match=r"Function 'COALESCE' does not accept parameters \(\)"):
        BUILTINS.resolve("COALESCE", [])


def test_string_converts_implicitly_to_timestamp() -> None:
    res = BUILTINS.resolve("GREATEST", [TIMESTAMP, None, STRING])
    assert res.return_type == TIMESTAMP
    assert res.param_types == (TIMESTAMP, TIMESTAMP, TIMESTAMP)


def test_generic_arguments_must_agree() -> None:
    assert BUILTINS.resolve("COALESCE", [INTEGER, None, INTEGER]).return_type == INTEGER
    with pytest.raises(AnalysisError, match="does not accept parameters"):
        BUILTINS.resolve("IFNULL", [INTEGER, STRING])


def test_decimal_rounding_result_types() -> None:
    assert BUILTINS.resolve("ROUND", [SqlDecimal(33, 16)]).return_type == SqlDecimal(17, 0)
    assert BUILTINS.resolve("ROUND", [SqlDecimal(33, 16), INTEGER]).return_type == SqlDecimal(
        33, 16
    )
    assert BUILTINS.resolve("ROUND", [DOUBLE]).return_type == BIGINT


def test_lambda_and_unit_arguments_match_only_their_parameters() -> None:
    res = BUILTINS.resolve("TRANSFORM", [SqlArray(INTEGER), LambdaArg(1)])
    assert res.bindings["T"] == INTEGER
    assert BUILTINS.resolve("DATEADD", [UnitArg("DAYS"), INTEGER, DATE]).return_type == DATE
    with pytest.raises(AnalysisError):
        BUILTINS.resolve("DATEADD", [INTEGER, INTEGER, DATE])


def test_unknown_function() -> None:
    with pytest.raises(AnalysisError, match="Can't find any functions with the name 'NOPE'"):
        BUILTINS.resolve("nope", [INTEGER])
