"""DELIMITED and KAFKA formats (reference §4.3): parsing, quoting, decimals, fixed-width bytes."""

from __future__ import annotations

import datetime as dt
import struct
from decimal import Decimal

import polars as pl
import pytest

from telemetry_lib.ksql.serde import SerdeOptions, deserialize, serialize
from telemetry_lib.ksql.serde.delimited import format_record, split_record
from telemetry_lib.ksql.types import (
    BIGINT,
    BOOLEAN,
    BYTES,
    DATE,
    DOUBLE,
    INTEGER,
    STRING,
    TIMESTAMP,
    SqlDecimal,
)


def _series(values: list[bytes | None]) -> pl.Series:
    return pl.Series(values, dtype=pl.Binary)


def test_split_record_follows_csv_rules() -> None:
    assert split_record("a,b", ",") == ["a", "b"]
    assert split_record('"a,b",c', ",") == ["a,b", "c"]
    assert split_record('"say ""hi""",', ",") == ['say "hi"', ""]
    assert split_record("x|y", "|") == ["x", "y"]
    assert split_record("first\nsecond", ",") == ["first"]  # only the first record counts
    assert split_record("", ",") is None


def test_decode_types_nulls_and_quoted_fields() -> None:
    cols = [
        ("ID", BIGINT),
        ("NAME", STRING),
        ("OK", BOOLEAN),
        ("R", DOUBLE),
        ("D", SqlDecimal(6, 3)),
        ("TS", TIMESTAMP),
        ("DAY", DATE),
    ]
    decoded = deserialize(
        "DELIMITED",
        cols,
        _series([b'"17",bob,TRUE,2.5,".5",1000,3', b"18,,yes,,,,", None]),
        options=SerdeOptions(topic="t"),
    )
    assert decoded.errors == ()
    assert decoded.frame.rows() == [
        (
            17,
            "bob",
            True,
            2.5,
            Decimal("0.500"),
            dt.datetime(1970, 1, 1, 0, 0, 1),
            dt.date(1970, 1, 4),
        ),
        (18, None, False, None, None, None, None),  # empty field = null; "yes" is not true
        (None,) * 7,
    ]
    assert decoded.null_payload.to_list() == [False, False, True]


def test_decode_errors_are_per_row() -> None:
    cols = [("A", INTEGER), ("B", SqlDecimal(3, 1))]
    decoded = deserialize(
        "DELIMITED",
        cols,
        _series([b"1,2.5", b"1", b"x,1.0", b"1,2.55", b"1,100.0"]),
        options=SerdeOptions(topic="t"),
    )
    assert [e.row for e in decoded.errors] == [1, 2, 3, 4]
    assert decoded.errors[0].cause == (
        "Column count mismatch on deserialization. topic: t, expected: 2, got: 1",
    )
    assert decoded.errors[0].message == (
        "Failed to deserialize value from topic: t. Error deserializing delimited"
    )
    assert "without rounding" in decoded.errors[2].cause[0]
    assert "as it would truncate left digits to 2" in decoded.errors[3].cause[0]
    assert decoded.frame.row(0) == (1, Decimal("2.5"))


def test_encode_quotes_minimally_and_keeps_decimal_scale() -> None:
    cols = [("D", SqlDecimal(10, 3)), ("S", STRING), ("N", INTEGER)]
    frame = pl.DataFrame(
        {
            "D": pl.Series([Decimal("-7.250"), Decimal("3.100"), None], dtype=pl.Decimal(10, 3)),
            "S": ["a,b", 'q"t', ""],
            "N": pl.Series([None, -4, 5], dtype=pl.Int32),
        }
    )
    out = serialize("DELIMITED", cols, frame).to_list()
    # A first field not starting with a letter or digit is quoted; later ones only when needed.
    assert out == [b'"-7.250","a,b",', b'3.100,"q""t",-4', b",,5"]


def test_encode_other_delimiters_and_types() -> None:
    cols = [("A", DOUBLE), ("B", BOOLEAN), ("C", BYTES), ("T", TIMESTAMP)]
    frame = pl.DataFrame(
        {
            "A": [1e10],
            "B": [False],
            "C": [b"\xff"],
            "T": pl.Series([dt.datetime(1970, 1, 1, 0, 0, 2)], dtype=pl.Datetime("ms")),
        }
    )
    out = serialize("DELIMITED", cols, frame, options=SerdeOptions(delimiter="\t"))
    assert out.to_list() == [b"1.0E10\tfalse\t/w==\t2000"]
    assert format_record(["x y ", "z"], " ") == '"x y " z'


def test_round_trip_delimited() -> None:
    cols = [("K", STRING), ("V", SqlDecimal(33, 16))]
    payloads = [b"abc,12345678987654321.2345678987654321", b'"",0']
    decoded = deserialize("DELIMITED", cols, _series(payloads))
    again = serialize("DELIMITED", cols, decoded.frame).to_list()
    assert again == [b"abc,12345678987654321.2345678987654321", b",0.0000000000000000"]


def test_kafka_fixed_width_values() -> None:
    assert deserialize(
        "KAFKA", [("V", INTEGER)], _series([struct.pack(">i", -5), None, b"\x00"])
    ).frame.get_column("V").to_list() == [-5, None, None]
    decoded = deserialize("KAFKA", [("V", BIGINT)], _series([b"\x00" * 7 + b"\x2a", b"\x01"]))
    assert decoded.frame.get_column("V").to_list() == [42, None]
    assert decoded.errors[0].row == 1
    assert decoded.errors[0].cause == ("Size of data received by LongDeserializer is not 8",)
    doubles = deserialize("KAFKA", [("V", DOUBLE)], _series([struct.pack(">d", 2.25)]))
    assert doubles.frame.get_column("V").to_list() == [2.25]


def test_kafka_strings_and_bytes() -> None:
    decoded = deserialize("KAFKA", [("K", STRING)], _series([b"p1", b"", b"\xff", None]))
    assert decoded.frame.get_column("K").to_list() == ["p1", "", "\ufffd", None]
    raw = deserialize("KAFKA", [("K", BYTES)], _series([b"\x00\x01"]))
    assert raw.frame.get_column("K").to_list() == [b"\x00\x01"]


@pytest.mark.parametrize(
    ("t", "value", "expected"),
    [
        (INTEGER, 1, b"\x00\x00\x00\x01"),
        (BIGINT, -1, b"\xff" * 8),
        (DOUBLE, 1.0, b"\x3f\xf0" + b"\x00" * 6),
        (STRING, "héllo", "héllo".encode()),
    ],
)
def test_kafka_encode(t, value, expected) -> None:  # type: ignore[no-untyped-def]
    frame = pl.DataFrame({"V": pl.Series([value, None])}).cast({"V": _dtype(t)})
    out = serialize("KAFKA", [("V", t)], frame, null_rows=pl.Series([False, True]))
    assert out.to_list() == [expected, None]


def _dtype(t):  # type: ignore[no-untyped-def]
    from telemetry_lib.ksql.types import to_polars

    return to_polars(t)


def test_zero_columns_keep_the_row_count() -> None:
    decoded = deserialize("KAFKA", [], _series([b"ignored", None]))
    assert decoded.frame.shape == (2, 0)
    assert decoded.null_payload.to_list() == [False, True]


@pytest.mark.parametrize("fmt", ["DELIMITED", "JSON", "KAFKA"])
def test_null_keys_are_written_as_kafka_nulls(fmt: str) -> None:
    frame = pl.DataFrame({"K": pl.Series(["a", None], dtype=pl.String)})
    out = serialize(fmt, [("K", STRING)], frame, options=SerdeOptions(is_key=True))
    assert out.to_list()[1] is None
    assert out.to_list()[0] in (b"a", b'"a"')


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (5e-324, "4.9E-324"),  # Java's two-digit minimum picks the closest decimal
        (1e10, "1.0E10"),
        (12345678.0, "1.2345678E7"),
        (1234567.0, "1234567.0"),
        (0.001, "0.001"),
        (1e-4, "1.0E-4"),
        (-0.0, "-0.0"),
        (1.7976931348623157e308, "1.7976931348623157E308"),
    ],
)
def test_doubles_are_written_as_java_prints_them(value: float, text: str) -> None:
    # Second field, so the first-field quoting rule (leading '-') does not apply.
    frame = pl.DataFrame({"A": pl.Series([1], dtype=pl.Int32), "D": [value]})
    out = serialize("DELIMITED", [("A", INTEGER), ("D", DOUBLE)], frame)
    assert out.to_list() == [b"1," + text.encode()]


_FIELDS = [
    "",
    "0",
    "-7",
    "+3",
    "12",
    "2147483648",
    "1.5",
    ".5",
    "1e3",
    "-2.50",
    "abc",
    "TRUE",
    "false",
    " 4",
    "4 ",
    '"q"',
    '"a,b"',
    "AQID",
    "99999999999999999999",
    "1.999",
    "NaN",
    "x y",
]
_DELIMITED_TYPES = [
    INTEGER,
    BIGINT,
    DOUBLE,
    STRING,
    BOOLEAN,
    SqlDecimal(5, 2),
    TIMESTAMP,
    DATE,
    BYTES,
]


@pytest.mark.parametrize("delimiter", [",", "|", "\t"])
def test_fuzz_vectorised_delimited_matches_exact_path(delimiter: str) -> None:
    import random

    from telemetry_lib.ksql.serde.codec import _frame
    from telemetry_lib.ksql.serde.delimited import decode_rows

    rng = random.Random(ord(delimiter))
    for _ in range(40):
        cols = [(f"C{i}", rng.choice(_DELIMITED_TYPES)) for i in range(rng.randint(1, 4))]
        payloads: list[bytes | None] = []
        for _ in range(rng.choice([5, 60, 200])):
            if rng.random() < 0.05:
                payloads.append(None)
                continue
            count = len(cols) if rng.random() < 0.9 else rng.randint(1, 5)
            record = delimiter.join(rng.choice(_FIELDS) for _ in range(count))
            payloads.append(record.encode())
        options = SerdeOptions(delimiter=delimiter, topic="t")
        fast = deserialize("DELIMITED", cols, _series(payloads), options=options)
        rows, errors = decode_rows(payloads, cols, options)
        assert _comparable(fast.frame.rows()) == _comparable(_frame(rows, cols).rows()), payloads
        assert [(e.row, e.cause) for e in fast.errors] == [(e.row, e.cause) for e in errors]


def _comparable(rows: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    """Rows with NaN replaced by a marker (NaN != NaN would fail an equal comparison)."""
    return [tuple("NaN" if v != v else v for v in row) for row in rows]
