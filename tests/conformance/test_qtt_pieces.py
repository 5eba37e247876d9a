"""Unit tests of the QTT runner's pure pieces: loading and variants, the harness serdes,
ksqlDB's record comparator, expected-exception matching, schema text, Kafka's partitioner."""

from __future__ import annotations

import json
import struct
from decimal import Decimal
from pathlib import Path

import pytest

from telemetry_lib.ksql.driver import kafka_partition, murmur2
from telemetry_lib.ksql.errors import KsqlStatementError, ParseError, StreamsError
from telemetry_lib.ksql.qtt.checks import (
    ExpectedColumn,
    check_exception,
    java_type_matches,
    parse_schema_text,
)
from telemetry_lib.ksql.qtt.model import ExpectedException, load_file, parse_json_text
from telemetry_lib.ksql.qtt.records import (
    SerdeInfo,
    decode_key,
    decode_value,
    encode_key,
    encode_value,
    matches,
)
from telemetry_lib.ksql.qtt.runner import unsupported_reason
from telemetry_lib.ksql.types import (
    BIGINT,
    DOUBLE,
    INTEGER,
    STRING,
    SqlArray,
    SqlDecimal,
    SqlMap,
    SqlStruct,
)

_FMT_STMT = "CREATE STREAM S (A INT) WITH (kafka_topic='t', value_format='{FORMAT}');"


def _write(tmp_path: Path, name: str, tests: list[dict]) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"tests": tests}))
    return path


# -- Kafka's partitioner ------------------------------------------------------------------------


def test_murmur2_matches_kafkas_reference_values() -> None:
    # Values from Kafka's UtilsTest.testMurmur2.
    cases = {
        b"21": -973932308,
        b"foobar": -790332482,
        b"a-little-bit-long-string": -985981536,
        b"a-little-bit-longer-string": -1486304829,
        b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
        b"abc": 479470107,
    }
    hashes = murmur2(list(cases))
    assert [int(h) for h in hashes] == list(cases.values())


def test_kafka_partition_is_positive_hash_modulo_and_null_key_goes_to_zero() -> None:
    parts = kafka_partition([b"21", None, b"abc"], 4)
    # toPositive(-973932308) = -973932308 & 0x7fffffff = 1173551340 -> % 4 = 0
    assert list(parts) == [(-973932308 & 0x7FFFFFFF) % 4, 0, 479470107 % 4]


# -- loading and variants -----------------------------------------------------------------------


def test_format_and_config_variants_are_named_like_ksqldb(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "demo.json",
        [
            {
                "name": "t",
                "format": ["JSON", "DELIMITED"],
                "config": ["true", "false"],
                "properties": {"ksql.x": "{CONFIG}"},
                "statements": [_FMT_STMT],
                "inputs": [{"topic": "t", "value": {"A": 1}}],
            },
            {"name": "off", "enabled": False, "statements": ["x"], "inputs": []},
        ],
    )
    qtt = load_file(path)
    names = [c.name for c in qtt.cases]
    assert names == [
        "t - JSON - ksql.x=true",
        "t - JSON - ksql.x=false",
        "t - DELIMITED - ksql.x=true",
        "t - DELIMITED - ksql.x=false",
    ]
    assert qtt.cases[2].statements[0].endswith("value_format='DELIMITED');")
    assert qtt.cases[1].properties == {"ksql.x": "false"}
    assert qtt.invalid == ()


def test_invalid_test_is_reported_not_raised(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.json", [{"name": "no io", "statements": ["x"]}])
    qtt = load_file(path)
    assert qtt.cases == ()
    assert qtt.invalid[0][0] == "no io"
    assert "no inputs, outputs or expectedException" in qtt.invalid[0][1]


def test_json_with_comments_and_trailing_commas_and_exact_decimals() -> None:
    text = '{"tests": [ // a comment\n {"v": 1.10, "s": "a // not a comment",}, ]}'
    data = parse_json_text(text)
    assert data["tests"][0]["s"] == "a // not a comment"
    value = data["tests"][0]["v"]
    assert isinstance(value, Decimal) and str(value) == "1.10"


# -- unsupported decisions ------------------------------------------------------------------------


def test_schema_registry_and_rest_tests_are_unsupported(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "rest-x.json",
        [{"name": "r", "statements": ["SELECT 1;"], "responses": []}],
    )
    # rest- files run over HTTP (qtt/rest_runner.py): not unsupported up front any more
    assert unsupported_reason(load_file(path).cases[0]) is None
    path = _write(
        tmp_path,
        "y.json",
        [
            {
                "name": "a",
                "format": ["AVRO", "JSON"],
                "statements": [_FMT_STMT],
                "inputs": [{"topic": "t", "value": {"A": 1}}],
            },
            {
                "name": "b",
                "statements": [_FMT_STMT.replace("value_format='{FORMAT}'", "format='protobuf'")],
                "inputs": [{"topic": "t", "value": {"A": 1}}],
            },
        ],
    )
    reasons = [unsupported_reason(c) for c in load_file(path).cases]
    assert reasons == ["schema registry formats", None, "schema registry formats"]


# -- harness serdes -------------------------------------------------------------------------------


def test_kafka_format_follows_the_column_type() -> None:
    assert encode_value(7, SerdeInfo("KAFKA", (INTEGER,))) == struct.pack(">i", 7)
    assert encode_value(7, SerdeInfo("KAFKA", (BIGINT,))) == struct.pack(">q", 7)
    assert encode_value(Decimal("1.5"), SerdeInfo("KAFKA", (DOUBLE,))) == struct.pack(">d", 1.5)
    assert decode_value(struct.pack(">q", -3), SerdeInfo("KAFKA", (BIGINT,))) == -3
    assert encode_value(None, SerdeInfo("KAFKA", (INTEGER,))) is None


def test_json_keeps_exact_decimals_both_ways() -> None:
    info = SerdeInfo("JSON", ())
    assert encode_value({"A": Decimal("1.10"), "B": [1, None]}, info) == b'{"A":1.10,"B":[1,null]}'
    decoded = decode_value(b'{"A": 1.10}', info)
    assert str(decoded["A"]) == "1.10"
    # Compared by exact value, or by value and scale in ksqlDB's exact mode.
    assert matches(decoded["A"], Decimal("1.1000"))
    assert matches(decoded["A"], "1.1") and matches(decoded["A"], 1) is False
    assert not matches(decoded["A"], Decimal("1.1000"), scale_sensitive=True)
    assert matches(decoded["A"], Decimal("1.10"), scale_sensitive=True)


def test_windowed_keys_use_kafka_streams_layout() -> None:
    tumbling = SerdeInfo("KAFKA", (STRING,), window_type="TUMBLING", window_size_ms=1000)
    data = encode_key("p1", tumbling, window=(60000, 61000))
    assert data == b"p1" + bytes.fromhex("000000000000EA60")
    assert decode_key(data, tumbling) == ("p1", (60000, 61000, "TIME"))
    session = SerdeInfo("KAFKA", (INTEGER,), window_type="SESSION")
    data = encode_key(5, session, window=(10, 20))
    assert data == struct.pack(">i", 5) + struct.pack(">q", 20) + struct.pack(">q", 10)
    assert decode_key(data, session) == (5, (10, 20, "SESSION"))


# -- ExpectedRecordComparator ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actual", "expected", "result"),
    [
        ({"A": 1}, {"a": 1}, True),  # expected name also matches its upper-case form
        ({"A": 1, "B": None}, {"A": 1}, False),  # field counts must agree
        ({"A": None}, {"A": None}, True),
        (Decimal("1.0"), Decimal("1.0"), True),
        (Decimal("1.0"), Decimal("1.00"), False),  # BigDecimal equality includes the scale
        (Decimal("1.0"), 1, False),  # an integer expectation needs an integral actual
        (Decimal("10"), 10, True),
        (1, Decimal("1.5"), True),  # Java compares ints with expected.intValue()
        (1.5, Decimal("1.5"), True),
        (Decimal("2.50"), "2.50", True),
        ("x", "x", True),
        (True, True, True),
        (1, True, False),
        ([1, 2], [1, 2], True),
        ([1, 2], [2, 1], False),
        (None, None, True),
        (0, None, False),
    ],
)
def test_comparator_follows_ksqldb(actual: object, expected: object, result: bool) -> None:
    assert matches(actual, expected, scale_sensitive=True) is result


@pytest.mark.parametrize(
    ("actual", "expected", "result"),
    [
        (Decimal("10.0000"), Decimal("10.0"), True),
        (Decimal("3.4"), "3.40", True),
        (Decimal("1000000000000.0"), 1000000000000, True),
        (Decimal("1.5"), 1, False),
        (Decimal("0.30000000000000004"), Decimal("0.3"), False),
        ({"A": Decimal("2.50")}, {"a": Decimal("2.5")}, True),
    ],
)
def test_numbers_compare_by_exact_value_by_default(
    actual: object, expected: object, result: bool
) -> None:
    assert matches(actual, expected) is result


# -- expected exceptions --------------------------------------------------------------------------


def test_exception_type_is_an_instanceof_test_and_message_a_substring() -> None:
    exc = ParseError("line 1:5: Syntax Error")
    assert check_exception(exc, ExpectedException(type=exc.ksql_type, message="Syntax")) is None
    # ParseFailedException is a KsqlStatementException is a KsqlException.
    assert java_type_matches(exc.ksql_type, "io.confluent.ksql.util.KsqlException")
    base = ExpectedException("io.confluent.ksql.util.KsqlException", None)
    assert check_exception(exc, base) is None
    reason = check_exception(KsqlStatementError("boom"), ExpectedException(exc.ksql_type, None))
    assert reason is not None and "ParseFailedException" in reason
    reason = check_exception(exc, ExpectedException(None, "other text"))
    assert reason is not None and "other text" in reason


def test_exception_cause_is_checked() -> None:
    try:
        try:
            raise ValueError("Numeric field overflow")
        except ValueError as inner:
            raise StreamsError("Exception caught in process") from inner
    except StreamsError as exc:
        caught = exc
    expected = ExpectedException(
        type="org.apache.kafka.streams.errors.StreamsException",
        message="Exception caught in process",
        cause="io.confluent.ksql.function.KsqlFunctionException",
        cause_message="Numeric field overflow",
    )
    reason = check_exception(caught, expected)
    assert reason is not None and "KsqlFunctionException" in reason


# -- schema text ----------------------------------------------------------------------------------


def test_schema_text_parses_keys_first_with_types() -> None:
    cols = parse_schema_text(
        "NAME STRING, `id` BIGINT KEY, D DECIMAL(2, 1), "
        "M MAP<STRING, ARRAY<INT>>, S STRUCT<`a` INTEGER, B VARCHAR>"
    )
    assert cols == [
        ExpectedColumn("id", BIGINT, "KEY"),
        ExpectedColumn("NAME", STRING, "VALUE"),
        ExpectedColumn("D", SqlDecimal(2, 1), "VALUE"),
        ExpectedColumn("M", SqlMap(STRING, SqlArray(INTEGER)), "VALUE"),
        ExpectedColumn("S", SqlStruct((("a", INTEGER), ("B", STRING))), "VALUE"),
    ]
