"""Evaluation of compiled expressions on small frames, against ksqlDB's (Java's) semantics."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl

from telemetry_lib.ksql.types import (
    BOOLEAN,
    DOUBLE,
    INTEGER,
    STRING,
    SqlArray,
    SqlDecimal,
    SqlMap,
    SqlStruct,
)

from .conftest import run


def _ints(**cols: list[int | None]) -> pl.DataFrame:
    return pl.DataFrame({k: pl.Series(v, dtype=pl.Int32) for k, v in cols.items()})


def test_integer_division_truncates_toward_zero_and_modulo_takes_dividend_sign() -> None:
    frame = _ints(A=[7, -7, 7, -7], B=[2, 2, -2, -2])
    cols = {"A": INTEGER, "B": INTEGER}
    assert run("A / B", frame, cols)[0] == [3, -3, -3, 3]
    assert run("A % B", frame, cols)[0] == [1, -1, 1, -1]


def test_integer_overflow_wraps_like_java() -> None:
    frame = _ints(A=[2147483647, -2147483648])
    assert run("A + 1", frame, {"A": INTEGER})[0] == [-2147483648, -2147483647]
    assert run("A * 2", frame, {"A": INTEGER})[0] == [-2, 0]


def test_division_by_zero_nulls_the_whole_expression_and_reports_an_error() -> None:
    frame = _ints(A=[6, 6], B=[3, 0])
    values, errors = run("IFNULL(A / B, -1)", frame, {"A": INTEGER, "B": INTEGER})
    assert values == [2, None]
    assert errors[0] is None and errors[1] is not None and "/ by zero" in errors[1]


def test_null_operand_in_arithmetic_is_an_error_but_null_literal_compare_is_false() -> None:
    frame = _ints(A=[None, 1])
    values, errors = run("COALESCE(A + 1, 0)", frame, {"A": INTEGER})
    assert values == [None, 2]
    assert errors[0] is not None and errors[1] is None
    assert run("A = 1", frame, {"A": INTEGER})[0] == [False, True]
    assert run("NOT (A = 1)", frame, {"A": INTEGER})[0] == [True, False]


def test_case_branches_are_lazy() -> None:
    frame = _ints(A=[6, 6], B=[0, 3])
    values, errors = run(
        "CASE WHEN B = 0 THEN -1 ELSE A / B END", frame, {"A": INTEGER, "B": INTEGER}
    )
    assert values == [-1, 2]
    assert errors == [None, None]


def test_errors_inside_a_cast_only_null_the_cast() -> None:
    frame = pl.DataFrame({"S": ["12", "x"]})
    values, errors = run("IFNULL(CAST(S AS INT), -1)", frame, {"S": STRING})
    assert values == [12, -1]
    assert errors[0] is None and errors[1] is not None


def test_decimal_arithmetic_is_exact_or_null() -> None:
    dec = pl.Decimal(4, 2)
    frame = pl.DataFrame(
        {
            "A": pl.Series(
                [Decimal("10.10"), Decimal("10.10"), Decimal("10.10"), Decimal("1.00")], dtype=dec
            ),
            "B": pl.Series(
                [Decimal("2.00"), Decimal("-2.00"), Decimal("0.00"), Decimal("3.00")], dtype=dec
            ),
        }
    )
    cols = {"A": SqlDecimal(4, 2), "B": SqlDecimal(4, 2)}
    # 10.10/2 = 5.05 exactly; x/0 fails; 1/3 does not terminate, which BigDecimal with
    # RoundingMode.UNNECESSARY rejects.
    div, div_errors = run("A / B", frame, cols)
    assert div == [Decimal("5.05"), Decimal("-5.05"), None, None]
    assert div_errors[0] is None and div_errors[2] is not None and div_errors[3] is not None
    assert run("A % B", frame, cols)[0][:2] == [Decimal("0.10"), Decimal("0.10")]
    assert run("A - B", frame, cols)[0][0] == Decimal("8.10")
    assert run("A * B", frame, cols)[0][1] == Decimal("-20.2")


def test_string_concatenation_with_plus_prints_null_like_java() -> None:
    frame = pl.DataFrame({"S": ["s1", None]})
    assert run("'prefix-' + S + '-postfix'", frame, {"S": STRING})[0] == [
        "prefix-s1-postfix",
        "prefix-null-postfix",
    ]
    assert run("CONCAT(S, NULL, 'x')", frame, {"S": STRING})[0] == ["s1x", "x"]


def test_comparisons_and_distinct() -> None:
    frame = _ints(A=[1, 1, None, None], B=[1, 2, 1, None])
    cols = {"A": INTEGER, "B": INTEGER}
    assert run("A = B", frame, cols)[0] == [True, False, False, False]
    assert run("A <> B", frame, cols)[0] == [False, True, False, False]
    assert run("A IS DISTINCT FROM B", frame, cols)[0] == [False, True, True, False]
    assert run("A IS NOT DISTINCT FROM B", frame, cols)[0] == [True, False, False, True]


def test_between_in_and_like() -> None:
    frame = _ints(A=[1, 2, 4, None])
    assert run("A BETWEEN 2 AND 4", frame, {"A": INTEGER})[0] == [False, True, True, False]
    assert run("A IN (1, 4)", frame, {"A": INTEGER})[0] == [True, False, True, False]
    assert run("A NOT IN (1, 4)", frame, {"A": INTEGER})[0] == [False, True, False, True]
    words = pl.DataFrame({"S": ["foo", "bar", "f.o", "100%"], "P": ["f_o", "f_o", "f.o", "100!%"]})
    assert run("S LIKE 'f%'", words, {"S": STRING})[0] == [True, False, True, False]
    assert run("S LIKE P", words, {"S": STRING, "P": STRING})[0] == [True, False, True, False]
    assert run("S LIKE '100!%' ESCAPE '!'", words, {"S": STRING})[0] == [False, False, False, True]


def test_subscripts_and_dereference() -> None:
    frame = pl.DataFrame(
        {
            "A": pl.Series([[10, 20, 30], None], dtype=pl.List(pl.Int32)),
            "M": [[{"key": "a", "value": 1}], None],
            "ST": [{"ID": 5}, None],
        }
    )
    cols = {
        "A": SqlArray(INTEGER),
        "M": SqlMap(STRING, INTEGER),
        "ST": SqlStruct((("ID", INTEGER),)),
    }
    assert run("A[1]", frame, cols)[0] == [10, None]
    assert run("A[-1]", frame, cols)[0] == [30, None]
    assert run("A[4]", frame, cols)[0] == [None, None]
    assert run("M['a']", frame, cols)[0] == [1, None]
    assert run("M['b']", frame, cols)[0] == [None, None]
    assert run("ST->ID", frame, cols)[0] == [5, None]


def test_constructors_and_collection_casts() -> None:
    frame = _ints(A=[1])
    assert run("ARRAY[A, 2]", frame, {"A": INTEGER})[0] == [[1, 2]]
    assert run("CAST(ARRAY[A, 3] AS STRING)", frame, {"A": INTEGER})[0] == ["[1, 3]"]
    assert run("CAST(MAP('this' := A) AS STRING)", frame, {"A": INTEGER})[0] == ["{this=1}"]
    assert run("STRUCT(X := A)", frame, {"A": INTEGER})[0] == [{"X": 1}]


def test_casts_follow_java_conversions() -> None:
    frame = pl.DataFrame({"D": [1.9, -1.9], "S": ["0.99", "0.05"], "B": [" TRUE ", "nope"]})
    cols = {"D": DOUBLE, "S": STRING, "B": STRING}
    assert run("CAST(D AS INT)", frame, cols)[0] == [1, -1]
    assert run("CAST(S AS DECIMAL(2, 1))", frame, cols)[0] == [Decimal("1.0"), Decimal("0.1")]
    assert run("CAST(B AS BOOLEAN)", frame, cols)[0] == [True, False]
    assert run("CAST(2147483648 AS INT)", frame, cols)[0] == [-2147483648, -2147483648]
    values, errors = run("CAST(10 AS DECIMAL(2, 1))", frame, cols)
    assert values == [None, None] and errors[0] is not None


def test_math_functions() -> None:
    frame = pl.DataFrame({"V": [1.5, -1.5, 1.2, -1.7]})
    cols = {"V": DOUBLE}
    # ROUND rounds halves toward positive infinity.
    assert run("ROUND(V)", frame, cols)[0] == [2, -1, 1, -2]
    assert run("FLOOR(V)", frame, cols)[0] == [1.0, -2.0, 1.0, -2.0]
    assert run("CEIL(V)", frame, cols)[0] == [2.0, -1.0, 2.0, -1.0]
    assert run("ABS(V)", frame, cols)[0] == [1.5, 1.5, 1.2, 1.7]
    assert run("SIGN(V)", frame, cols)[0] == [1, -1, 1, -1]
    logs = run("LOG(15, 0)", frame, cols)[0][0]
    assert logs == float("-inf")
    assert run("GREATEST(V, 0.0e0)", frame, cols)[0] == [1.5, 0.0, 1.2, 0.0]


def test_decimal_rounding_keeps_or_drops_scale() -> None:
    frame = pl.DataFrame(
        {"V": pl.Series([Decimal("1.25"), Decimal("-1.25")], dtype=pl.Decimal(4, 2))}
    )
    cols = {"V": SqlDecimal(4, 2)}
    assert run("ROUND(V)", frame, cols)[0] == [Decimal("1"), Decimal("-1")]
    assert run("ROUND(V, 1)", frame, cols)[0] == [Decimal("1.30"), Decimal("-1.20")]
    assert run("FLOOR(V)", frame, cols)[0] == [Decimal("1.00"), Decimal("-2.00")]


def test_string_functions() -> None:
    frame = pl.DataFrame({"S": ["some_string", "short", " \t trim me \t"]})
    cols = {"S": STRING}
    assert run("SUBSTRING(S, 6)", frame, cols)[0][:2] == ["string", ""]
    assert run("SUBSTRING(S, 2, 5)", frame, cols)[0][:2] == ["ome_s", "hort"]
    assert run("TRIM(S)", frame, cols)[0][2] == "trim me"
    assert run("UCASE(S)", frame, cols)[0][1] == "SHORT"
    assert run("LEN(S)", frame, cols)[0][:2] == [11, 5]
    assert run("SPLIT(S, '_')", frame, cols)[0][0] == ["some", "string"]
    assert run("INSTR(S, 'str')", frame, cols)[0][:2] == [6, 0]
    assert run("LPAD(S, 7, 'ab')", frame, cols)[0][1] == "abshort"
    assert run("CONCAT_WS('-', S, NULL, 'x')", frame, cols)[0][1] == "short-x"
    assert run("CONCAT_WS(NULL, S)", frame, cols)[0][1] is None
    assert run("MASK('Ab1-')", frame, cols)[0][0] == "Xxn-"


def test_date_time_functions() -> None:
    frame = pl.DataFrame({"MS": [1526075913000]})
    cols = {"MS": INTEGER.__class__(INTEGER.base.__class__.BIGINT)}
    la = "TIMESTAMPTOSTRING(MS, 'yyyy-MM-dd HH:mm:ss zzz', 'America/Los_Angeles')"
    assert run(la, frame, cols)[0] == ["2018-05-11 14:58:33 PDT"]
    assert run("TIMESTAMPTOSTRING(MS, 'yyyy-MM-dd''T''HH:mm')", frame, cols)[0] == [
        "2018-05-11T21:58"
    ]
    assert run("FORMAT_TIMESTAMP(FROM_UNIXTIME(MS), 'dd/MM/yyyy HH:mm:ss.SSS')", frame, cols)[
        0
    ] == ["11/05/2018 21:58:33.000"]
    assert run("STRINGTOTIMESTAMP('2018-05-11 21:58:33', 'yyyy-MM-dd HH:mm:ss')", frame, cols)[
        0
    ] == [1526075913000]
    assert run("PARSE_DATE('2022-02-02', 'yyyy-MM-dd')", frame, cols)[0] == [dt.date(2022, 2, 2)]
    values, errors = run("PARSE_DATE('2004', 'yyyy-MM-dd')", frame, cols)
    assert values == [None] and errors[0] is not None
    assert run("DATEADD(DAYS, 3, PARSE_DATE('2022-02-27', 'yyyy-MM-dd'))", frame, cols)[0] == [
        dt.date(2022, 3, 2)
    ]
    assert run("GREATEST(FROM_UNIXTIME(MS), '2022-06-14')", frame, cols)[0] == [
        dt.datetime(2022, 6, 14)
    ]


def test_lambdas() -> None:
    frame = pl.DataFrame({"A": pl.Series([[1, 2, 3], None], dtype=pl.List(pl.Int32))})
    cols = {"A": SqlArray(INTEGER)}
    assert run("TRANSFORM(A, x => x * 10)", frame, cols)[0] == [[10, 20, 30], None]
    assert run("FILTER(A, x => x > 1)", frame, cols)[0] == [[2, 3], None]


def test_boolean_logic_on_null_is_an_error_like_java_unboxing() -> None:
    frame = pl.DataFrame({"B": [None, False, True]}, schema={"B": pl.Boolean})
    values, errors = run("B AND true", frame, {"B": BOOLEAN})
    assert values == [None, False, True]
    assert errors[0] is not None and errors[1] is None and errors[2] is None
    # false AND <anything> short-circuits: the right side is never evaluated.
    values, errors = run("B AND (1 / 0 = 1)", frame, {"B": BOOLEAN})
    assert values[1] is False and errors[1] is None and errors[2] is not None


def test_instr_and_initcap_match_the_documented_examples() -> None:
    frame = pl.DataFrame({"S": ["CORPORATE FLOOR"]})
    cols = {"S": STRING}
    # Examples from ksqlDB's scalar-functions documentation.
    assert run("INSTR(S, 'OR')", frame, cols)[0] == [2]
    assert run("INSTR(S, 'OR', 3)", frame, cols)[0] == [5]
    assert run("INSTR(S, 'OR', 3, 2)", frame, cols)[0] == [14]
    assert run("INSTR(S, 'OR', -3, 2)", frame, cols)[0] == [2]
    assert run("INSTR(S, 'MISSING')", frame, cols)[0] == [0]
    assert run("INITCAP('the quick  BROWN fox')", frame, cols)[0] == ["The Quick  Brown Fox"]


def test_long_or_chains_compile_to_a_linear_expression() -> None:
    # ksqlDB issue #1784: a WHERE with dozens of ORs. Each operand must appear once in the
    # value expression, or the polars expression tree grows exponentially with the depth.
    frame = pl.DataFrame({"F": ["0x10", "0x31", "zz", None]})
    ors = " OR ".join(f"F = '0x{n:X}'" for n in range(0x10, 0x32))
    assert run(ors, frame, {"F": STRING})[0] == [True, True, False, False]


def test_lambdas_can_read_outer_columns_and_reduce_folds() -> None:
    frame = pl.DataFrame(
        {
            "A": pl.Series([[1, 2, 3], None, []], dtype=pl.List(pl.Int32)),
            "N": pl.Series([10, 20, 30], dtype=pl.Int32),
        }
    )
    cols = {"A": SqlArray(INTEGER), "N": INTEGER}
    assert run("TRANSFORM(A, x => x + N)", frame, cols)[0] == [[11, 12, 13], None, []]
    assert run("FILTER(A, x => x * 10 > N)", frame, cols)[0] == [[2, 3], None, []]
    # REDUCE folds left to right from the initial state; an empty array gives the state.
    assert run("REDUCE(A, 0, (s, x) => s * 10 + x)", frame, cols)[0] == [123, None, 0]
    assert run("REDUCE(A, N, (s, x) => s + x)", frame, cols)[0] == [16, None, 30]
    maps = pl.DataFrame({"M": [[{"key": "a", "value": 1}, {"key": "b", "value": 2}]]})
    assert run("REDUCE(M, 0, (s, k, v) => s + v)", maps, {"M": SqlMap(STRING, INTEGER)})[0] == [3]


def test_constant_arguments_of_non_vectorised_functions_broadcast() -> None:
    frame = _ints(A=[1, 2])
    assert run("CHR(65)", frame, {"A": INTEGER})[0] == ["A", "A"]
    assert run("CAST(ARRAY[1, 3] AS STRING)", frame, {"A": INTEGER})[0] == ["[1, 3]", "[1, 3]"]
    assert run("LPAD('ab', 5, 'xy')", frame, {"A": INTEGER})[0] == ["xyxab", "xyxab"]


def test_more_collection_and_string_functions() -> None:
    frame = _ints(N=[1, 3])
    cols = {"N": INTEGER}
    assert run("ELT(N, 'a', 'b')", frame, cols)[0] == ["a", None]
    assert run("FIELD('b', 'a', 'b')", frame, cols)[0] == [2, 2]
    assert run("GENERATE_SERIES(1, N)", frame, cols)[0] == [[1], [1, 2, 3]]
    assert run("GENERATE_SERIES(5, 1)", frame, cols)[0][0] == [5, 4, 3, 2, 1]
    assert run("ARRAY_UNION(ARRAY[1, 2], ARRAY[2, 3])", frame, cols)[0][0] == [1, 2, 3]
    assert run("SPLIT_TO_MAP('a=1;b=2', ';', '=')['b']", frame, cols)[0] == ["2", "2"]
    # Haversine with the mean Earth radius (6371 km): one degree of longitude on the equator.
    (km,) = run("GEO_DISTANCE(0.0, 0.0, 0.0, 1.0)", frame.head(1), cols)[0]
    assert abs(km - 6371.0 * 3.141592653589793 / 180) < 1e-9


def test_current_time_is_read_per_evaluation_not_at_compile_time() -> None:
    import time

    from telemetry_lib.ksql.exec.expressions import compile_expression, evaluate

    from .conftest import typed_of

    compiled = compile_expression(typed_of("UNIX_TIMESTAMP()"))
    before = int(time.time() * 1000)
    values, _ = evaluate(_ints(A=[1, 2]), compiled)
    after = int(time.time() * 1000)
    assert values.n_unique() == 1
    assert before <= values[0] <= after


def test_to_json_string_uses_the_json_serde_rules() -> None:
    frame = _ints(A=[1, None])
    cols = {"A": INTEGER}
    assert run("TO_JSON_STRING(A)", frame, cols)[0] == ["1", "null"]
    assert run("TO_JSON_STRING(STRUCT(X := A, Y := 'q'))", frame, cols)[0] == [
        '{"X":1,"Y":"q"}',
        '{"X":null,"Y":"q"}',
    ]


def test_like_on_null_is_an_evaluation_error_so_not_like_does_not_pass_it() -> None:
    frame = pl.DataFrame({"S": ["foo", None, "a\nb"]})
    values, errors = run("S NOT LIKE 'f%'", frame, {"S": STRING})
    assert values == [False, None, True]
    assert errors[0] is None and errors[1] is not None
    # '%' does not cross a line break (Java regex without DOTALL).
    assert run("S LIKE 'a%b'", frame, {"S": STRING})[0] == [False, None, False]
    values, errors = run("S LIKE 'x!' ESCAPE '!'", frame, {"S": STRING})
    assert values == [None, None, None]
    assert errors[0] == "LIKE pattern must not end with escape character"


def test_a_null_case_condition_that_is_reached_is_an_error() -> None:
    frame = pl.DataFrame({"B": [True, None, False]}, schema={"B": pl.Boolean})
    values, errors = run("CASE WHEN B THEN 1 ELSE 0 END", frame, {"B": BOOLEAN})
    assert values == [1, None, 0]
    assert errors[0] is None and errors[1] is not None and errors[2] is None
    # Not reached: the first branch already matched.
    values, errors = run("CASE WHEN true THEN 1 WHEN B THEN 2 END", frame, {"B": BOOLEAN})
    assert values == [1, 1, 1] and errors == [None, None, None]


def test_json_records_and_items_return_json_text() -> None:
    frame = pl.DataFrame({"J": ['{"a": 1.50, "b": [1, "x"]}', '[1, {"k": true}]', "not json"]})
    cols = {"J": STRING}
    assert run("JSON_RECORDS(J)['b']", frame, cols)[0] == ['[1,"x"]', None, None]
    assert run("JSON_RECORDS(J)['a']", frame, cols)[0] == ["1.50", None, None]
    assert run("JSON_ITEMS(J)", frame, cols)[0] == [None, ["1", '{"k":true}'], None]
