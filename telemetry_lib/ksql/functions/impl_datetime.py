"""Polars implementations of the date and time functions.

TIMESTAMP values are ``Datetime("ms")`` holding UTC wall-clock time. Formatting and parsing use
Java DateTimeFormatter patterns (translated by
:mod:`telemetry_lib.ksql.functions.datetime_format`). Zones: ``FORMAT_TIMESTAMP`` and
``PARSE_TIMESTAMP`` default to UTC (ksqlDB: GMT); ``TIMESTAMPTOSTRING`` without a zone uses
ksqlDB's *server default zone*, which this engine fixes to UTC (documented deviation: a ksqlDB
server running in another zone would print local time). A text that does not parse is a
function failure: NULL plus a processing-log entry, as the ksqlDB UDF throws.

Format/parse patterns and zones must be constants for the vectorised path; non-constant ones
fall back to evaluating each distinct pattern separately (documented, rare).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence

import polars as pl

from telemetry_lib.ksql.functions.datetime_format import java_to_chrono
from telemetry_lib.ksql.functions.impl_base import Arg, ImplResult, implementation
from telemetry_lib.ksql.types import SqlType, to_polars

__all__: list[str] = []

logger = logging.getLogger(__name__)

_UTC = "UTC"
_EPOCH_DAY = dt.date(1970, 1, 1)
_NANOS_PER_DAY = 86_400_000_000_000
_UNIT_KWARGS = {
    "MILLISECONDS": "milliseconds",
    "SECONDS": "seconds",
    "MINUTES": "minutes",
    "HOURS": "hours",
    "DAYS": "days",
}


def _const(a: Arg | None) -> str | None:
    if a is None:
        return None
    if not a.is_constant:
        raise _NotConstant()
    return a.constant if isinstance(a.constant, str) else None


class _NotConstant(Exception):
    pass


def _null(rt: SqlType) -> pl.Expr:
    return pl.lit(None, dtype=to_polars(rt))


def _format(ts: pl.Expr, fmt: Arg, tz: Arg | None, rt: SqlType) -> ImplResult:
    try:
        pattern = _const(fmt)
        zone = _const(tz) if tz is not None else _UTC
    except _NotConstant:
        return _per_pattern(ts, fmt, tz, rt, parse=False)
    if pattern is None or zone is None:
        return _null(rt)
    local = ts.dt.replace_time_zone(_UTC).dt.convert_time_zone(zone)
    return local.dt.strftime(java_to_chrono(pattern))


def _parse(text: pl.Expr, fmt: Arg, tz: Arg | None, rt: SqlType) -> ImplResult:
    try:
        pattern = _const(fmt)
        zone = _const(tz) if tz is not None else _UTC
    except _NotConstant:
        return _per_pattern(text, fmt, tz, rt, parse=True)
    if pattern is None or zone is None:
        return _null(rt)
    chrono = java_to_chrono(pattern, parse=True)
    has_zone = any(z in chrono for z in ("%z", "%:z", "%#z", "%Z"))
    # Java's DateTimeFormatter.parse(text, ParsePosition) as ksqlDB calls it ignores text after
    # the pattern ("2003-12-24-01-01" parses with yyyy-MM-dd); exact=False allows that.
    parsed = pl.coalesce(
        text.str.to_datetime(chrono, strict=False, time_unit="ms"),
        text.str.to_datetime(chrono, strict=False, time_unit="ms", exact=False),
    )
    if has_zone:
        parsed = parsed.dt.convert_time_zone(_UTC).dt.replace_time_zone(None)
    elif zone != _UTC:
        parsed = (
            parsed.dt.replace_time_zone(zone).dt.convert_time_zone(_UTC).dt.replace_time_zone(None)
        )
    fail = pl.when(text.is_not_null() & parsed.is_null()).then(
        pl.lit(f"Failed to parse timestamp with pattern '{pattern}'")
    )
    return parsed, fail


def _per_pattern(
    value: pl.Expr, fmt: Arg, tz: Arg | None, rt: SqlType, *, parse: bool
) -> ImplResult:
    # Not vectorised over patterns: rows are evaluated per distinct (pattern, zone) pair.
    names = ["v", "f", "z"]
    packed = pl.struct(
        value.alias("v"),
        fmt.expr.alias("f"),
        (tz.expr if tz is not None else pl.lit(_UTC)).alias("z"),
    )
    dtype = to_polars(rt)

    def run(s: pl.Series) -> pl.Series:
        frame = s.struct.unnest()
        out = pl.Series("r", [None] * len(frame), dtype=dtype)
        for (f, z), _group in frame.with_row_index("i").group_by(["f", "z"]):
            if f is None or z is None:
                continue
            idx = _group["i"]
            sub = _group.select("v")
            fmt_arg = Arg(pl.lit(f), None, f)
            tz_arg = Arg(pl.lit(z), None, z)
            res = (_parse if parse else _format)(pl.col("v"), fmt_arg, tz_arg, rt)
            expr = res[0] if isinstance(res, tuple) else res
            vals = sub.select(expr.alias("r"))["r"]
            out = out.scatter(idx, vals)
        return out

    del names
    return packed.map_batches(run, return_dtype=dtype, is_elementwise=True)


@implementation("timestamptostring")
def _timestamptostring(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    ts = pl.from_epoch(args[0].expr, time_unit="ms")
    return _format(ts, args[1], args[2] if len(args) > 2 else None, rt)


@implementation("format_timestamp")
def _format_timestamp(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return _format(args[0].expr, args[1], args[2] if len(args) > 2 else None, rt)


@implementation("stringtotimestamp")
def _stringtotimestamp(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    res = _parse(args[0].expr, args[1], args[2] if len(args) > 2 else None, to_sql_timestamp())
    if isinstance(res, tuple):
        return res[0].dt.epoch("ms"), res[1]
    return res.dt.epoch("ms")


def to_sql_timestamp() -> SqlType:
    from telemetry_lib.ksql.types import TIMESTAMP

    return TIMESTAMP


@implementation("parse_timestamp")
def _parse_timestamp(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return _parse(args[0].expr, args[1], args[2] if len(args) > 2 else None, rt)


@implementation("format_date")
def _format_date(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return _format(args[0].expr.cast(pl.Datetime("ms")), args[1], None, rt)


@implementation("parse_date")
def _parse_date(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    res = _parse(args[0].expr, args[1], None, to_sql_timestamp())
    if isinstance(res, tuple):
        return res[0].dt.date(), res[1]
    return res.dt.date()


@implementation("format_time")
def _format_time(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    ts = pl.lit(dt.date(1970, 1, 1)).dt.combine(args[0].expr)
    return _format(ts.cast(pl.Datetime("ms")), args[1], None, rt)


@implementation("parse_time")
def _parse_time(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    text, fmt = args
    pattern = fmt.constant if fmt.is_constant and isinstance(fmt.constant, str) else None
    if pattern is None:
        return _null(rt)
    parsed = text.expr.str.to_time(java_to_chrono(pattern, parse=True), strict=False)
    fail = pl.when(text.expr.is_not_null() & parsed.is_null()).then(
        pl.lit(f"Failed to parse time with pattern '{pattern}'")
    )
    return parsed, fail


@implementation("from_unixtime")
def _from_unixtime(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return pl.from_epoch(args[0].expr, time_unit="ms")


def _now_per_batch(now: Callable[[], int], dtype: pl.DataType) -> pl.Expr:
    """The wall clock read when each batch is evaluated (not when the query was compiled)."""
    return pl.lit(0).map_batches(
        lambda s: pl.Series([now()], dtype=dtype), return_dtype=dtype, returns_scalar=True
    )


@implementation("unix_timestamp_now")
def _unix_timestamp_now(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return _now_per_batch(lambda: int(time.time() * 1000), pl.Int64())


@implementation("unix_timestamp")
def _unix_timestamp(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return args[0].expr.dt.epoch("ms")


@implementation("unix_date_now")
def _unix_date_now(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return _now_per_batch(lambda: (dt.datetime.now(dt.UTC).date() - _EPOCH_DAY).days, pl.Int32())


@implementation("unix_date")
def _unix_date(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return args[0].expr.cast(pl.Int32)


@implementation("from_days")
def _from_days(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return args[0].expr.cast(pl.Int32).cast(pl.Date)


def _duration(unit: Arg, n: pl.Expr, *, negate: bool) -> pl.Expr:
    key = _UNIT_KWARGS[str(unit.constant)]
    amount = -n if negate else n
    if key == "milliseconds":
        return pl.duration(milliseconds=amount)
    if key == "seconds":
        return pl.duration(seconds=amount)
    if key == "minutes":
        return pl.duration(minutes=amount)
    if key == "hours":
        return pl.duration(hours=amount)
    return pl.duration(days=amount)


def _date_shift(args: Sequence[Arg], negate: bool) -> pl.Expr:
    unit, n, d = args
    shifted = d.expr.cast(pl.Datetime("ms")) + _duration(unit, n.expr, negate=negate)
    return shifted.dt.date()


@implementation("dateadd")
def _dateadd(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return _date_shift(args, False)


@implementation("datesub")
def _datesub(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return _date_shift(args, True)


def _time_shift(args: Sequence[Arg], negate: bool) -> pl.Expr:
    unit, n, t = args
    nanos = t.expr.cast(pl.Int64) + _duration(unit, n.expr, negate=negate).dt.total_nanoseconds()
    return (nanos % _NANOS_PER_DAY).cast(pl.Time)


@implementation("timeadd")
def _timeadd(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return _time_shift(args, False)


@implementation("timesub")
def _timesub(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return _time_shift(args, True)


@implementation("timestampadd")
def _timestampadd(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    unit, n, ts = args
    return ts.expr + _duration(unit, n.expr, negate=False)


@implementation("timestampsub")
def _timestampsub(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    unit, n, ts = args
    return ts.expr + _duration(unit, n.expr, negate=True)


@implementation("convert_tz")
def _convert_tz(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    ts, src, dst = args
    if not (src.is_constant and dst.is_constant) or src.constant is None or dst.constant is None:
        return _null(rt)
    return (
        ts.expr.dt.replace_time_zone(str(src.constant))
        .dt.convert_time_zone(str(dst.constant))
        .dt.replace_time_zone(None)
    )
