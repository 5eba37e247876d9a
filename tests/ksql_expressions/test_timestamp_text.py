"""Timestamp literals in comparisons: ISO-8601 text with optional parts, as ksqlDB parses them."""

from __future__ import annotations

import datetime as dt

import pytest

from telemetry_lib.ksql.analyzer.expressions_coercion import CoercionError, parse_timestamp_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020-02-22", dt.datetime(2020, 2, 22)),
        ("2020-02-22T23:45", dt.datetime(2020, 2, 22, 23, 45)),
        ("2017-11-17T04:53:45.123", dt.datetime(2017, 11, 17, 4, 53, 45, 123000)),
        ("2020-02-22T23:45:00+01:00", dt.datetime(2020, 2, 22, 22, 45)),
        # hour 24 with nothing but zeros after it is the next midnight (Java's resolver)
        ("2020-02-24T24", dt.datetime(2020, 2, 25)),
        ("2020-02-28T24:00:00.000", dt.datetime(2020, 2, 29)),
        ("2020-12-31T24:00Z", dt.datetime(2021, 1, 1)),
        ("2020-02-24T24+02:00", dt.datetime(2020, 2, 24, 22)),
    ],
)
def test_timestamp_text_parses_like_ksqldb(text: str, expected: dt.datetime) -> None:
    assert parse_timestamp_text(text) == expected


@pytest.mark.parametrize("text", ["2020-02-24T24:01", "2020-02-24T25", "20-02-24", "yesterday"])
def test_bad_timestamp_text_names_the_format(text: str) -> None:
    with pytest.raises(CoercionError, match="Required format is"):
        parse_timestamp_text(text)
