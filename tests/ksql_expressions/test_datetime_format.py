"""Java DateTimeFormatter patterns translate to chrono formats with the same output."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from telemetry_lib.ksql.errors import AnalysisError
from telemetry_lib.ksql.functions.datetime_format import java_to_chrono


@pytest.mark.parametrize(
    ("java", "expected"),
    [
        # Expected texts are what java.time.format.DateTimeFormatter prints for
        # 2018-05-11T21:58:33.045 (a Friday).
        ("yyyy-MM-dd HH:mm:ss", "2018-05-11 21:58:33"),
        ("yyyy-MM-dd'T'HH:mm:ss.SSS", "2018-05-11T21:58:33.045"),
        ("dd/MM/yy h:mm a", "11/05/18 9:58 PM"),
        ("EEE, d MMM yyyy", "Fri, 11 May 2018"),
        ("EEEE MMMM", "Friday May"),
        ("'it''s' HH'h'", "it's 21h"),
        ("D", "131"),
        ("100% yyyy", "100% 2018"),
    ],
)
def test_patterns_format_like_java(java: str, expected: str) -> None:
    ts = pl.Series([dt.datetime(2018, 5, 11, 21, 58, 33, 45000)])
    assert ts.dt.strftime(java_to_chrono(java)).item() == expected


def test_unknown_pattern_letter_is_rejected() -> None:
    with pytest.raises(AnalysisError, match="Unsupported letter 'Q'"):
        java_to_chrono("yyyy QQ")


def test_parse_patterns_accept_java_lenient_offsets_and_fractions() -> None:
    texts = pl.Series(["2019-08-27T13:31:09.2+0000", "2018-05-11T21:58:33.25Z"])
    fmt = java_to_chrono("yyyy-MM-dd'T'HH:mm:ss.SX", parse=True)
    parsed = texts.str.to_datetime(fmt, time_unit="ms").dt.epoch("ms").to_list()
    # Epoch millis of 2019-08-27T13:31:09.200Z and 2018-05-11T21:58:33.250Z.
    assert parsed == [1566912669200, 1526075913250]
