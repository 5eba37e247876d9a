"""Timestamp extraction for sources and sinks with a TIMESTAMP column (reference §2.3, §5.1).

Owns: :func:`timestamp_expression` (a polars expression giving epoch milliseconds, null when the
value cannot be used) and :func:`java_pattern_regex`, which compiles a Java DateTimeFormatter
pattern (the TIMESTAMP_FORMAT property) into a regular expression so strings are parsed fully
vectorised with ``str.extract_groups`` — no per-row Python.

Supported pattern letters: ``y``/``u`` (4-digit, or ``yy`` = 2000 + yy as Java's reduced year),
``M``/``MM`` (number) and ``MMM`` (English abbreviation), ``d``, ``H``, ``h`` with ``a``, ``m``,
``s``, ``S...`` (fraction; its digits), ``X``/``x``/``Z`` (zone offsets; ``X`` also takes ``Z``),
quoted literals and punctuation. A pattern without a zone is read as UTC.
"""

from __future__ import annotations

import logging
import re

import polars as pl

from telemetry_lib.ksql.catalog import DataSource
from telemetry_lib.ksql.types import BaseType

__all__ = ["java_pattern_regex", "parse_with_pattern", "timestamp_expression", "validate_pattern"]

logger = logging.getLogger(__name__)

_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def validate_pattern(pattern: str) -> None:
    java_pattern_regex(pattern)


def java_pattern_regex(pattern: str) -> str:
    """Regex with named groups (y, yy, M, MMM, d, H, h, a, m, s, S, X) for a Java pattern."""
    out: list[str] = []
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "'":
            end = i + 1
            text = []
            while end < n:
                if pattern[end] == "'":
                    if end + 1 < n and pattern[end + 1] == "'":
                        text.append("'")
                        end += 2
                        continue
                    break
                text.append(pattern[end])
                end += 1
            if end == i + 1 and end < n and pattern[end] == "'":
                out.append("'")
                i = end + 1
                continue
            out.append(re.escape("".join(text)))
            i = end + 1
            continue
        if ch.isalpha():
            j = i
            while j < n and pattern[j] == ch:
                j += 1
            count = j - i
            out.append(_letter(ch, count))
            i = j
            continue
        out.append(re.escape(ch))
        i += 1
    return "^" + "".join(out) + "$"


def _letter(ch: str, count: int) -> str:
    if ch in "yu":
        return r"(?P<yy>\d{2})" if count == 2 else r"(?P<y>-?\d{4,9})"
    if ch == "M":
        if count >= 3:
            return "(?P<MMM>" + "|".join(_MONTHS) + ")[a-z]*"
        return r"(?P<M>\d{1,2})" if count == 1 else r"(?P<M>\d{2})"
    if ch == "d":
        return r"(?P<d>\d{1,2})" if count == 1 else r"(?P<d>\d{2})"
    if ch in "Hk":
        return r"(?P<H>\d{1,2})" if count == 1 else r"(?P<H>\d{2})"
    if ch in "hK":
        return r"(?P<h>\d{1,2})" if count == 1 else r"(?P<h>\d{2})"
    if ch == "a":
        return r"(?P<a>AM|PM|am|pm)"
    if ch == "m":
        return r"(?P<m>\d{1,2})" if count == 1 else r"(?P<m>\d{2})"
    if ch == "s":
        return r"(?P<s>\d{1,2})" if count == 1 else r"(?P<s>\d{2})"
    if ch in "Sn":
        return rf"(?P<S>\d{{{count}}})"
    if ch == "X":
        return r"(?P<X>Z|[+-]\d{2}(?::?\d{2})?)"
    if ch in "xZ":
        return r"(?P<X>[+-]\d{2}(?::?\d{2})?)"
    raise ValueError(f"Unsupported pattern letter '{ch}' in TIMESTAMP_FORMAT")


def parse_with_pattern(expr: pl.Expr, pattern: str) -> pl.Expr:
    """Epoch milliseconds (Int64) of strings in ``pattern``; null when a string does not match."""
    regex = java_pattern_regex(pattern)
    groups = set(re.compile(regex).groupindex)
    parts = expr.str.extract_groups(regex)

    def field(name: str) -> pl.Expr:
        return parts.struct.field(name)

    def number(name: str, default: int) -> pl.Expr:
        if name in groups:
            return field(name).cast(pl.Int64, strict=False)
        return pl.lit(default, dtype=pl.Int64)

    if "yy" in groups:
        year = number("yy", 0) + 2000
    else:
        year = number("y", 1970)
    if "MMM" in groups:
        month = field("MMM").replace_strict(
            {m: i + 1 for i, m in enumerate(_MONTHS)}, default=None, return_dtype=pl.Int64
        )
    else:
        month = number("M", 1)
    day = number("d", 1)
    if "h" in groups:
        hour = number("h", 0) % 12
        if "a" in groups:
            hour = hour + pl.when(field("a").str.to_uppercase() == "PM").then(12).otherwise(0)
    else:
        hour = number("H", 0)
    minute = number("m", 0)
    second = number("s", 0)
    if "S" in groups:
        millis = field("S").str.slice(0, 3).str.pad_end(3, "0").cast(pl.Int64, strict=False)
    else:
        millis = pl.lit(0, dtype=pl.Int64)
    if "X" in groups:
        zone = field("X")
        digits = zone.str.replace_all(":", "")
        sign = pl.when(digits.str.slice(0, 1) == "-").then(-1).otherwise(1)
        zh = digits.str.slice(1, 2).cast(pl.Int64, strict=False).fill_null(0)
        zm = digits.str.slice(3, 2).cast(pl.Int64, strict=False).fill_null(0)
        offset_ms = pl.when(zone == "Z").then(0).otherwise(sign * (zh * 3_600_000 + zm * 60_000))
    else:
        offset_ms = pl.lit(0, dtype=pl.Int64)
    valid = (
        month.is_between(1, 12)
        & day.is_between(1, 31)
        & hour.is_between(0, 23)
        & minute.is_between(0, 59)
        & second.is_between(0, 59)
    )
    days = _days_from_civil(year, month.clip(1, 12), day)
    epoch = days * 86_400_000 + hour * 3_600_000 + minute * 60_000 + second * 1000 + millis
    return pl.when(valid).then(epoch - offset_ms).otherwise(None).cast(pl.Int64)


def _days_from_civil(year: pl.Expr, month: pl.Expr, day: pl.Expr) -> pl.Expr:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm), vectorised."""
    y = year - (month <= 2).cast(pl.Int64)
    era = pl.when(y >= 0).then(y).otherwise(y - 399) // 400
    yoe = y - era * 400
    mp = (month + 9) % 12
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def timestamp_expression(
    source: DataSource | None,
    column: str | None,
    fmt: str | None,
    *,
    field: str | None = None,
    base: BaseType | None = None,
) -> pl.Expr:
    """Epoch-ms expression for a TIMESTAMP column (BIGINT, TIMESTAMP, or STRING with ``fmt``).

    ``field`` is the batch field holding the column (defaults to the column name); ``base`` its
    type when ``source`` is not given (sinks).
    """
    if column is None:
        raise ValueError("timestamp_expression needs a column")
    name = field or column
    if base is None:
        assert source is not None
        col = source.column(column)
        assert col is not None
        base = col.type.base
    expr = pl.col(name)
    if base is BaseType.TIMESTAMP:
        return expr.dt.epoch("ms").cast(pl.Int64)
    if base is BaseType.STRING:
        if fmt is None:
            raise ValueError(f"STRING timestamp column {column} needs TIMESTAMP_FORMAT")
        return parse_with_pattern(expr, fmt)
    return expr.cast(pl.Int64)
