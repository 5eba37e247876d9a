"""TIMESTAMP_FORMAT parsing (Java DateTimeFormatter patterns) compiled to vectorised polars."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from telemetry_lib.ksql.exec.timestamps import java_pattern_regex, parse_with_pattern


def _epoch_ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).timestamp() * 1000)


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("yy-MM-dd HH:mm:ssX", "10-04-19 12:00:17Z", "2010-04-19T12:00:17+00:00"),
        ("yyyy-MM-dd'T'HH:mm:ssX", "2018-05-11T21:58:33Z", "2018-05-11T21:58:33+00:00"),
        ("yyyy-MM-dd'T'HH:mm:ss.SX", "2019-08-27T13:31:09.2+0000", "2019-08-27T13:31:09.200+00:00"),
        ("yyyy-MM-dd HH:mm:ss.SSS", "2020-02-29 23:59:59.999", "2020-02-29T23:59:59.999+00:00"),
        ("dd/MMM/yyyy hh:mm a", "03/Jan/2021 01:30 PM", "2021-01-03T13:30:00+00:00"),
        ("yyyy-MM-dd'T'HH:mm:ssXXX", "2021-06-01T10:00:00+02:00", "2021-06-01T10:00:00+02:00"),
    ],
)
def test_patterns_parse_like_java(pattern: str, value: str, expected: str) -> None:
    out = pl.select(parse_with_pattern(pl.lit(value), pattern)).item()
    assert out == _epoch_ms(expected)


def test_unparseable_and_null_values_give_null() -> None:
    frame = pl.DataFrame({"s": ["!!!!", None, "19-13-01 00:00:00Z"]})
    out = frame.select(parse_with_pattern(pl.col("s"), "yy-MM-dd HH:mm:ssX")).to_series()
    assert out.to_list() == [None, None, None]


def test_quoted_literals_and_escaped_quote() -> None:
    regex = java_pattern_regex("yyyy''MM'T'")
    assert regex == r"^(?P<y>-?\d{4,9})'(?P<M>\d{2})T$"


def test_unsupported_letter_is_rejected() -> None:
    with pytest.raises(ValueError, match="Unsupported pattern letter 'Q'"):
        java_pattern_regex("yyyy QQ")
