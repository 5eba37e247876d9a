"""Typing of expressions: result types (DECIMAL precision/scale), casts, ksqlDB's errors."""

from __future__ import annotations

import pytest

from telemetry_lib.ksql.analyzer.expressions import type_predicate
from telemetry_lib.ksql.analyzer.scope import Scope
from telemetry_lib.ksql.errors import AnalysisError
from telemetry_lib.ksql.parser import parse_expression
from telemetry_lib.ksql.types import (
    BIGINT,
    BOOLEAN,
    DOUBLE,
    INTEGER,
    STRING,
    SqlArray,
    SqlDecimal,
    SqlMap,
    SqlStruct,
)

from .conftest import typed_of

COLS = {
    "I": INTEGER,
    "L": BIGINT,
    "D": DOUBLE,
    "DEC": SqlDecimal(4, 2),
    "S": STRING,
    "B": BOOLEAN,
    "A": SqlArray(INTEGER),
    "M": SqlMap(STRING, INTEGER),
    "ST": SqlStruct((("ID", INTEGER),)),
}


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("1", INTEGER),
        ("3000000000", BIGINT),
        ("2.345", SqlDecimal(4, 3)),
        ("0.5", SqlDecimal(2, 1)),
        ("1.5E2", DOUBLE),
        ("I + I", INTEGER),
        ("I / I", INTEGER),
        ("I + L", BIGINT),
        ("I * D", DOUBLE),
        ("DEC + D", DOUBLE),
        # DECIMAL(4,2) op DECIMAL(4,2): + -> (5,2), * -> (9,4), / -> (11,7), % -> (4,2)
        ("DEC + DEC", SqlDecimal(5, 2)),
        ("DEC * DEC", SqlDecimal(9, 4)),
        ("DEC / DEC", SqlDecimal(11, 7)),
        ("DEC % DEC", SqlDecimal(4, 2)),
        # INT is DECIMAL(10,0): (4,2)+(10,0) -> scale 2, integral max(2,10) + 1 -> (13,2)
        ("DEC + I", SqlDecimal(13, 2)),
        ("S + 'x'", STRING),
        ("A[1]", INTEGER),
        ("M['k']", INTEGER),
        ("ST->ID", INTEGER),
        ("CASE WHEN B THEN I END", INTEGER),
        ("CAST(I AS DECIMAL(5, 1))", SqlDecimal(5, 1)),
        ("ARRAY[1, 2.5]", SqlArray(SqlDecimal(11, 1))),
        ("MAP('a' := 1)", SqlMap(STRING, INTEGER)),
        ("STRUCT(X := S)", SqlStruct((("X", STRING),))),
        ("I BETWEEN 1 AND 2", BOOLEAN),
        ("S LIKE 'a%'", BOOLEAN),
    ],
)
def test_result_types(sql: str, expected: object) -> None:
    assert typed_of(sql, COLS).type == expected


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("A < A", "Cannot compare A (ARRAY<INTEGER>) to A (ARRAY<INTEGER>) with LESS_THAN."),
        (
            "M > M",
            "Cannot compare M (MAP<STRING, INTEGER>) to M (MAP<STRING, INTEGER>) "
            "with GREATER_THAN.",
        ),
        (
            "ST < ST",
            "Cannot compare ST (STRUCT<`ID` INTEGER>) to ST (STRUCT<`ID` INTEGER>) with LESS_THAN.",
        ),
        ("L > '100'", "Cannot compare L (BIGINT) to '100' (STRING) with GREATER_THAN."),
        ("NULL <> NULL", "Comparison with NULL not supported: NULL <> NULL"),
        (
            "CASE WHEN B THEN NULL ELSE NULL END",
            "Invalid Case expression. All case branches have NULL type",
        ),
        (
            "CASE WHEN B THEN 1 ELSE 'x' END",
            "Type for the default clause should be the same as for 'THEN' clauses.",
        ),
        (
            "GREATEST(I, L)",
            "Function 'greatest' cannot be resolved due to ambiguous method parameters "
            "(INTEGER, BIGINT).",
        ),
        ("BOB + 1", "SELECT column 'BOB' cannot be resolved."),
        (
            "CAST(S AS STRUCT<F0 STRING>)",
            "Invalid Select: Cast of STRING to STRUCT<`F0` STRING> is not supported",
        ),
        ("I IN (10, true)", "operator does not exist: INTEGER = BOOLEAN (true)"),
        ("I IN (10, 'ten')", 'invalid input syntax for type INTEGER: "ten".'),
        ("B IN (true, 'maybe')", 'invalid input syntax for type BOOLEAN: "maybe".'),
        ("ARRAY[]", "Array constructor cannot be empty."),
        ("ST->NOPE", "Could not find field 'NOPE' in 'ST'."),
        ("S - S", "Unsupported arithmetic types. STRING STRING"),
    ],
)
def test_errors(sql: str, message: str) -> None:
    with pytest.raises(AnalysisError) as exc:
        typed_of(sql, COLS)
    assert message in str(exc.value)


def test_where_clause_errors_carry_clause_name_and_predicate_prefix() -> None:
    with pytest.raises(AnalysisError, match="WHERE column 'BOB' cannot be resolved."):
        typed_of("ABS(BOB) < 10", COLS, context="WHERE")
    with pytest.raises(
        AnalysisError, match=r"Invalid Predicate: operator does not exist: INTEGER = STRING \(S\)"
    ):
        typed_of("I IN (10, S)", COLS, context="WHERE")


def test_predicate_must_be_boolean() -> None:
    scope = Scope.of((None, "I", INTEGER))
    with pytest.raises(AnalysisError) as exc:
        type_predicate(parse_expression("RANDOM() + 1.5"), scope)
    assert (
        "Type error in WHERE expression: Should evaluate to boolean but is "
        "(RANDOM() + 1.5) (DOUBLE) instead." in str(exc.value)
    )


def test_in_list_widens_to_a_common_type_and_converts_string_literals() -> None:
    typed = typed_of("I IN (1, '2147483648')", COLS)
    # '2147483648' does not fit an INT, so the comparison happens as BIGINT.
    assert typed.value.type == BIGINT  # type: ignore[attr-defined]
    assert [item.value for item in typed.items] == [1, 2147483648]  # type: ignore[attr-defined]


def test_qualified_and_ambiguous_columns() -> None:
    scope = Scope.of(("L", "K", INTEGER, "L_K"), ("R", "K", STRING, "R_K"))
    from telemetry_lib.ksql.analyzer.expressions import type_expression

    assert type_expression(parse_expression("R.K"), scope).type == STRING
    with pytest.raises(AnalysisError, match="Column 'K' is ambiguous"):
        type_expression(parse_expression("K"), scope)


def test_rowtime_compared_with_iso_text_becomes_millis() -> None:
    typed = typed_of("ROWTIME > '1970-01-01T00:00:01'", {"ROWTIME": BIGINT})
    assert typed.right.value == 1000  # type: ignore[attr-defined]
