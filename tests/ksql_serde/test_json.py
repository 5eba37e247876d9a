"""JSON serde: ksqlDB's matching and coercions (reference §4.2), the vectorised path against the
exact one, and the bytes written."""

from __future__ import annotations

import datetime as dt
import json
import random
from decimal import Decimal
from typing import Any

import polars as pl
import pytest

from telemetry_lib.ksql.serde import SerdeOptions, deserialize, serialize
from telemetry_lib.ksql.serde.json_exact import decode_rows
from telemetry_lib.ksql.serde.json_fast import decode_fast
from telemetry_lib.ksql.types import (
    BIGINT,
    BOOLEAN,
    BYTES,
    DATE,
    DOUBLE,
    INTEGER,
    STRING,
    TIME,
    TIMESTAMP,
    SqlArray,
    SqlDecimal,
    SqlMap,
    SqlStruct,
    SqlType,
)

VALUE = SerdeOptions(topic="t")
UNWRAPPED = SerdeOptions(wrap_single_value=False, topic="t")
KEY = SerdeOptions(is_key=True, topic="t")


def _decode(cols: list[tuple[str, SqlType]], payloads: list[Any], options: SerdeOptions = VALUE):
    raw = [p.encode() if isinstance(p, str) else p for p in payloads]
    return deserialize("JSON", cols, pl.Series(raw, dtype=pl.Binary), options=options)


def test_case_insensitive_matching_and_coercions() -> None:
    cols = [("PLAYER_ID", STRING), ("KILLS", INTEGER), ("SCORE", BIGINT), ("RATIO", DOUBLE)]
    decoded = _decode(
        cols,
        [
            '{"player_id": "p1", "kills": 3, "score": 10, "ratio": 0.5}',
            '{"Player_Id": "p2", "KILLS": "7", "score": "12", "ratio": "1.25"}',
            '{"PLAYER_ID": 5, "kills": 1.7, "score": -2.9, "ratio": 2}',
            '{"other": 1}',
        ],
    )
    assert decoded.errors == ()
    assert decoded.frame.rows() == [
        ("p1", 3, 10, 0.5),
        ("p2", 7, 12, 1.25),
        ("5", 1, -2, 2.0),  # JSON 1.7 into INT truncates; -2.9 into BIGINT truncates toward 0
        (None, None, None, None),
    ]
    assert decoded.frame.schema == pl.Schema(
        {"PLAYER_ID": pl.String, "KILLS": pl.Int32, "SCORE": pl.Int64, "RATIO": pl.Float64}
    )
    assert decoded.null_payload.to_list() == [False] * 4


def test_quoted_column_matches_only_its_exact_spelling() -> None:
    decoded = _decode([("myCol", INTEGER)], ['{"myCol": 1}', '{"MYCOL": 2}', '{"mycol": 3}'])
    assert decoded.frame.get_column("myCol").to_list() == [1, None, None]


def test_last_case_duplicate_wins_and_exact_match_first() -> None:
    decoded = _decode(
        [("ID", INTEGER)],
        ['{"id": 1, "Id": 2}', '{"ID": 5, "id": 6}', '{"ID": null, "id": 6}'],
    )
    assert decoded.frame.get_column("ID").to_list() == [2, 5, None]


def test_boolean_only_from_json_booleans() -> None:
    decoded = _decode([("B", BOOLEAN)], ['{"b": true}', '{"b": "true"}', '{"b": 1}', '{"b": null}'])
    assert decoded.frame.get_column("B").to_list() == [True, None, None, None]
    assert [e.row for e in decoded.errors] == [1, 2]
    assert decoded.errors[0].message == (
        "Failed to deserialize value from topic: t. Can't convert type. sourceType: TextNode, "
        "requiredType: BOOLEAN, path: $.B"
    )
    assert "sourceType: IntNode" in decoded.errors[1].message


def test_strings_from_any_json() -> None:
    decoded = _decode(
        [("S", STRING)],
        ['{"s": true}', '{"s": 1.50}', '{"s": {"a": 1, "b": [1, 2]}}', '{"s": ["a", 1, null]}'],
    )
    assert decoded.frame.get_column("S").to_list() == [
        "true",
        "1.50",  # exact decimal text, as Jackson keeps it
        '{"a":1,"b":[1,2]}',
        "[a, 1, null]",
    ]


def test_temporal_decimal_and_bytes() -> None:
    cols = [
        ("TS", TIMESTAMP),
        ("D", DATE),
        ("T", TIME),
        ("DEC", SqlDecimal(4, 2)),
        ("B", BYTES),
    ]
    decoded = _decode(
        cols,
        [
            '{"ts": 1700000000123, "d": 19000, "t": 3723004, "dec": 10.1, "b": "AQID"}',
            '{"ts": "1000", "d": "1", "t": "1", "dec": "1.5", "b": null}',
            '{"dec": 123.4}',
        ],
    )
    assert decoded.frame.row(0) == (
        dt.datetime(2023, 11, 14, 22, 13, 20, 123000),
        dt.date(2022, 1, 8),
        dt.time(1, 2, 3, 4000),
        Decimal("10.10"),
        b"\x01\x02\x03",
    )
    assert decoded.frame.row(1)[:4] == (
        dt.datetime(1970, 1, 1, 0, 0, 1),
        dt.date(1970, 1, 2),
        dt.time(0, 0, 0, 1000),
        Decimal("1.50"),
    )
    assert [e.row for e in decoded.errors] == [2]
    assert (
        "Cannot fit decimal '123.4' into DECIMAL(4, 2) as it would truncate left digits to 2"
        in (decoded.errors[0].message)
    )


def test_nested_struct_array_and_map() -> None:
    cols = [
        ("S", SqlStruct((("A", INTEGER), ("B", SqlArray(STRING))))),
        ("M", SqlMap(STRING, INTEGER)),
    ]
    decoded = _decode(cols, ['{"s": {"a": "3", "b": [1, "x"]}, "m": {"k": 1, "K": null}}'])
    assert decoded.errors == ()
    assert decoded.frame.row(0) == (
        {"A": 3, "B": ["1", "x"]},
        [{"key": "k", "value": 1}, {"key": "K", "value": None}],
    )


def test_unwrapped_values_and_keys() -> None:
    decoded = _decode([("V", INTEGER)], ["10", None, "null", '{"V": 1}'], UNWRAPPED)
    assert decoded.frame.get_column("V").to_list() == [10, None, None, None]
    assert decoded.null_payload.to_list() == [False, True, True, False]
    assert [e.row for e in decoded.errors] == [3]
    # A single key column is never wrapped; several become an object.
    key = _decode([("K", STRING)], ['"p1"', None], KEY)
    assert key.frame.get_column("K").to_list() == ["p1", None]
    multi = _decode([("K1", STRING), ("K2", INTEGER)], ['{"k1": "a", "K2": 2}'], KEY)
    assert multi.frame.row(0) == ("a", 2)
    struct_key = _decode([("K", SqlStruct((("F", DOUBLE),)))], ['{"f": 45.67}'], KEY)
    assert struct_key.frame.row(0) == ({"F": 45.67},)


def test_null_payload_is_distinct_from_all_null_columns() -> None:
    decoded = _decode([("A", INTEGER), ("B", STRING)], [None, "{}", "null"])
    assert decoded.frame.rows() == [(None, None)] * 3
    assert decoded.null_payload.to_list() == [True, False, True]


def test_invalid_json_is_a_row_error_not_a_batch_error() -> None:
    payloads = ['{"a": 1}'] * 300 + ["{not json"] + ['{"a": 2}'] * 300 + ["[1, 2]"]
    decoded = _decode([("A", INTEGER)], payloads)
    assert [e.row for e in decoded.errors] == [300, 601]
    assert decoded.frame.get_column("A").to_list() == [1] * 300 + [None] + [2] * 300 + [None]
    assert decoded.errors[1].message.endswith(
        "Can't convert type. sourceType: ArrayNode, requiredType: STRUCT<`A` INTEGER>, path: $"
    )


_CLEAN = {
    "int": lambda rng: rng.randint(-1000, 1000),
    "str": lambda rng: rng.choice(["p1", "x y", "", "kill"]),
    "dbl": lambda rng: rng.choice([rng.random(), 3, -0.0]),
    "dec": lambda rng: rng.choice([1.5, "2.25", 10, 99.99]),
    "bool": lambda rng: rng.choice([True, False]),
    "ts": lambda rng: 1_700_000_000_000 + rng.randint(0, 10**6),
    "struct": lambda rng: {"f": rng.choice([1, None]), "g": rng.choice(["a", "b"])},
}
_TRICKY = {
    "int": [str(42), 2.5, True, 2**40, "1.5", [1]],
    "str": [12, 1.5, "1.50", "12", {"a": 1}, ["a", 2], True, 1e20],
    "dbl": ["4.5", "abc", 1e20, False],
    "dec": [123.456, "x", 1e-2, 12345678.25],
    "bool": ["true", 0],
    "ts": ["12", 5.5],
    "struct": [{"F": "2", "G": 3}, {"f": 1, "F": 2}, "text", [1]],
}


def _random_value(rng: random.Random, kind: str, tricky: float) -> Any:
    pick = rng.random()
    if pick < 0.05:
        return None
    if pick < 0.05 + tricky:
        return rng.choice(_TRICKY[kind])
    return _CLEAN[kind](rng)


@pytest.mark.parametrize("tricky", [0.0005, 0.3])
def test_vectorised_path_agrees_with_exact_path(tricky: float) -> None:
    rng = random.Random(7)
    cols = [
        ("I", INTEGER),
        ("S", STRING),
        ("D", DOUBLE),
        ("DEC", SqlDecimal(5, 2)),
        ("B", BOOLEAN),
        ("TS", TIMESTAMP),
        ("ST", SqlStruct((("F", INTEGER), ("G", STRING)))),
    ]
    kinds = ["int", "str", "dbl", "dec", "bool", "ts", "struct"]
    # Mixing the exact spelling with another one in a batch is legal but sends rows where the
    # exact key is absent to the exact path; only the "tricky" batch does it.
    exact_mix = ["i", "I"] if tricky > 0.01 else ["i"]
    spellings = {
        "I": exact_mix,
        "S": ["s", "S"] if tricky > 0.01 else ["s"],
        "D": ["d"],
        "DEC": ["dec", "Dec"],
        "B": ["b"],
        "TS": ["ts"],
        "ST": ["st", "sT"],
    }
    payloads: list[bytes | None] = []
    for n in range(3000):
        if n % 997 == 0:
            payloads.append(None)
            continue
        doc = {}
        for (name, _), kind in zip(cols, kinds, strict=True):
            if rng.random() < 0.9:
                doc[rng.choice(spellings[name])] = _random_value(rng, kind, tricky)
        payloads.append(json.dumps(doc).encode())
    payloads[2500] = b'{"Ts": 1, "nEw_spelling": 1}'  # a spelling only seen late in the batch
    fast = deserialize("JSON", cols, pl.Series(payloads, dtype=pl.Binary), options=VALUE)
    rows, errors = decode_rows(payloads, cols, VALUE)
    expected = [
        tuple(None for _ in cols) if r is None else tuple(_polars_form(v) for v in r) for r in rows
    ]
    assert fast.frame.rows() == expected
    assert [e.row for e in fast.errors] == [e.row for e in errors]
    assert [e.message for e in fast.errors] == [e.message for e in errors]
    assert fast.null_payload.to_list() == [p is None or p == b"null" for p in payloads]
    if tricky < 0.01:  # clean data: the vectorised reader must have decoded most rows itself
        handled = decode_fast(pl.Series(payloads, dtype=pl.Binary), cols, wrapped=True)
        assert handled.exact.mean() < 0.2


def _polars_form(value: Any) -> Any:
    return value


def test_serialize_values_as_ksqldb_writes_them() -> None:
    cols = [
        ("DEC", SqlDecimal(4, 2)),
        ("TS", TIMESTAMP),
        ("D", DATE),
        ("T", TIME),
        ("B", BYTES),
        ("A", SqlArray(SqlDecimal(3, 1))),
        ("S", SqlStruct((("X", STRING),))),
    ]
    frame = pl.DataFrame(
        {
            "DEC": pl.Series([Decimal("1.50"), None], dtype=pl.Decimal(4, 2)),
            "TS": pl.Series([dt.datetime(1970, 1, 1, 0, 1), None], dtype=pl.Datetime("ms")),
            "D": pl.Series([dt.date(1970, 1, 11), None], dtype=pl.Date),
            "T": pl.Series([dt.time(0, 0, 2), None], dtype=pl.Time),
            "B": pl.Series([b"\x01\x02\x03", None], dtype=pl.Binary),
            "A": pl.Series([[Decimal("-0.5")], None], dtype=pl.List(pl.Decimal(3, 1))),
            "S": pl.Series([{"X": 'q"é'}, None], dtype=pl.Struct({"X": pl.String})),
        }
    )
    out = serialize("JSON", cols, frame, options=VALUE).to_list()
    assert out[0] == (
        b'{"DEC":1.50,"TS":60000,"D":10,"T":2000,"B":"AQID","A":[-0.5],'
        + '"S":{"X":"q\\"é"}}'.encode()
    )
    assert out[1] == b'{"DEC":null,"TS":null,"D":null,"T":null,"B":null,"A":null,"S":null}'


def test_serialize_unwrapped_null_rows_and_maps() -> None:
    frame = pl.DataFrame({"V": pl.Series([1.5, None, 2.0])})
    out = serialize(
        "JSON",
        [("V", DOUBLE)],
        frame,
        options=UNWRAPPED,
        null_rows=pl.Series([False, False, True]),
    )
    assert out.to_list() == [b"1.5", None, None]  # an unwrapped null is a Kafka null, as in ksqlDB
    maps = pl.DataFrame(
        {
            "M": pl.Series(
                [[{"key": "a", "value": 1}]],
                dtype=pl.List(pl.Struct({"key": pl.String, "value": pl.Int32})),
            )
        }
    )
    assert serialize("JSON", [("M", SqlMap(STRING, INTEGER))], maps).to_list() == [b'{"M":{"a":1}}']


@pytest.mark.parametrize("payload", ['{"v": [1, 2]}', '{"V": "x"}'])
def test_round_trip_through_serialize(payload: str) -> None:
    cols = [("V", SqlArray(STRING))]
    decoded = _decode(cols, [payload])
    again = deserialize("JSON", cols, serialize("JSON", cols, decoded.frame), options=VALUE)
    assert again.frame.equals(decoded.frame)


def test_malformed_utf8_is_a_row_error() -> None:
    decoded = _decode([("A", STRING)], [b'{"a": "ok"}', b'{"a": "\xff"}'])
    assert decoded.frame.get_column("A").to_list() == ["ok", None]
    assert [e.row for e in decoded.errors] == [1]


_FUZZ_VALUES: list[Any] = [
    1,
    -3,
    2.5,
    "7",
    "x",
    True,
    None,
    [1, 2],
    {"a": 1},
    {"A": "2", "b": [1], "a": 3},
    [{"a": 1}, {"A": 2}],
    "1.50",
    1e3,
    1000.0,
    "",
    "-0",
    [None],
    {},
    2**40,
]
_FUZZ_TYPES: list[SqlType] = [
    INTEGER,
    BIGINT,
    DOUBLE,
    STRING,
    BOOLEAN,
    SqlDecimal(6, 2),
    TIMESTAMP,
    DATE,
    TIME,
    BYTES,
    SqlArray(INTEGER),
    SqlArray(SqlStruct((("A", INTEGER),))),
    SqlStruct((("A", STRING), ("B", SqlArray(STRING)))),
]


@pytest.mark.parametrize("wrapped", [True, False])
def test_fuzz_vectorised_path_matches_exact_path(wrapped: bool) -> None:
    rng = random.Random(11 if wrapped else 12)
    spellings = {"X": ["x", "X"], "Y": ["y", "Y", "yY"], "Zq": ["Zq", "ZQ", "zq"]}
    for _ in range(40):
        names = ["X", "Y", "Zq"] if wrapped else ["V"]
        cols = [(n, rng.choice(_FUZZ_TYPES)) for n in names]
        clean = rng.random() < 0.5
        values = _FUZZ_VALUES[:2] if clean else _FUZZ_VALUES
        payloads: list[bytes | None] = []
        for _ in range(rng.choice([5, 80, 200])):
            if wrapped:
                doc = {
                    rng.choice(spellings[n][:1] if clean else spellings[n]): rng.choice(values)
                    for n in names
                    if rng.random() < 0.8
                }
                payloads.append(json.dumps(doc).encode())
            else:
                payloads.append(json.dumps(rng.choice(values)).encode())
        options = VALUE if wrapped else UNWRAPPED
        fast = deserialize("JSON", cols, pl.Series(payloads, dtype=pl.Binary), options=options)
        rows, errors = decode_rows(payloads, cols, options)
        expected = [tuple(None for _ in cols) if r is None else tuple(r) for r in rows]
        assert fast.frame.rows() == expected, (cols, payloads)
        assert [e.row for e in fast.errors] == [e.row for e in errors]


def test_non_finite_doubles_are_quoted_like_jackson_and_read_back() -> None:
    frame = pl.DataFrame({"R": [float("nan"), float("-inf"), 0.25]})
    out = serialize("JSON", [("R", DOUBLE)], frame, options=VALUE)
    assert out.to_list() == [b'{"R":"NaN"}', b'{"R":"-Infinity"}', b'{"R":0.25}']
    back = deserialize("JSON", [("R", DOUBLE)], out, options=VALUE).frame.get_column("R")
    assert back.is_nan().to_list()[0] and back.to_list()[1:] == [float("-inf"), 0.25]
