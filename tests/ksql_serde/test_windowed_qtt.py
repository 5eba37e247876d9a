"""Windowed-key layout (reference §4.5) and the QTT-style python <-> bytes helpers."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest

from telemetry_lib.ksql.serde import (
    bytes_to_python,
    decode_windowed_key,
    decode_windowed_keys,
    deserialize,
    encode_windowed_key,
    encode_windowed_keys,
    python_to_bytes,
)
from telemetry_lib.ksql.types import BIGINT, BYTES, DOUBLE, INTEGER, STRING
from telemetry_lib.ksql.windows import WindowInfo, WindowType

TUMBLING = WindowInfo(WindowType.TUMBLING, 300_000)
SESSION = WindowInfo(WindowType.SESSION)


def test_time_window_key_is_inner_bytes_then_big_endian_start() -> None:
    key = encode_windowed_key(b"p1", 60_000, 0, TUMBLING)
    assert key.hex(" ") == "70 31 00 00 00 00 00 00 ea 60"
    assert decode_windowed_key(key, TUMBLING) == (b"p1", 60_000, 360_000)


def test_session_key_stores_end_then_start() -> None:
    key = encode_windowed_key(b"\x00\x00\x00\x07", 1_000, 10_009, SESSION)
    assert key == b"\x00\x00\x00\x07" + (10_009).to_bytes(8, "big") + (1_000).to_bytes(8, "big")
    assert decode_windowed_key(key, SESSION) == (b"\x00\x00\x00\x07", 1_000, 10_009)


def test_vectorised_codec_round_trips_and_flags_short_keys() -> None:
    keys = pl.Series([b"a", b"", None], dtype=pl.Binary)
    starts = pl.Series([0, 300_000, 600_000], dtype=pl.Int64)
    encoded = encode_windowed_keys(keys, starts, None, TUMBLING)
    assert encoded.to_list()[1] == (300_000).to_bytes(8, "big")
    assert encoded.to_list()[2] == (600_000).to_bytes(8, "big")  # null inner key: zero bytes
    decoded = decode_windowed_keys(
        pl.concat([encoded, pl.Series([b"\x01\x02"], dtype=pl.Binary)]), TUMBLING
    )
    assert decoded.keys.to_list() == [b"a", b"", b"", None]
    assert decoded.start.to_list() == [0, 300_000, 600_000, None]
    assert decoded.end.to_list() == [300_000, 600_000, 900_000, None]
    assert decoded.bad.to_list() == [False, False, False, True]
    sessions = encode_windowed_keys(keys[:1], starts[:1], pl.Series([42]), SESSION)
    back = decode_windowed_keys(sessions, SESSION)
    assert (back.keys.item(), back.start.item(), back.end.item()) == (b"a", 0, 42)
    with pytest.raises(ValueError, match="need the window end"):
        encode_windowed_keys(keys, starts, None, SESSION)


def test_inner_key_decodes_with_its_format() -> None:
    windowed = encode_windowed_key(b"\x00\x00\x00\x00\x00\x00\x00\x0a", 0, 0, TUMBLING)
    inner = decode_windowed_keys(pl.Series([windowed]), TUMBLING).keys
    assert deserialize("KAFKA", [("K", BIGINT)], inner).frame.get_column("K").to_list() == [10]


def test_python_bytes_helpers() -> None:
    cols = [("ID", INTEGER)]
    assert python_to_bytes("JSON", cols, {"ID": 1, "X": Decimal("1.50")}) == b'{"ID":1,"X":1.50}'
    assert bytes_to_python("JSON", cols, b'{"ID": 1, "X": 1.50}') == {"ID": 1, "X": Decimal("1.50")}
    assert python_to_bytes("DELIMITED", cols, "0,zero,0.0") == b"0,zero,0.0"
    assert bytes_to_python("DELIMITED", cols, b"a,b") == "a,b"
    assert python_to_bytes("KAFKA", [("K", BIGINT)], 0) == b"\x00" * 8
    assert bytes_to_python("KAFKA", [("K", BIGINT)], b"\x00" * 7 + b"\x05") == 5
    assert python_to_bytes("KAFKA", [("K", DOUBLE)], Decimal("1.5")) == b"\x3f\xf8" + b"\x00" * 6
    assert bytes_to_python("KAFKA", [("K", STRING)], b"foo") == "foo"
    assert bytes_to_python("KAFKA", [("K", BYTES)], b"\x01") == "AQ=="
    assert python_to_bytes("KAFKA", [("K", BYTES)], "AQ==") == b"\x01"
    assert python_to_bytes("JSON", cols, None) is None
    assert python_to_bytes("NONE", [], "x") is None
