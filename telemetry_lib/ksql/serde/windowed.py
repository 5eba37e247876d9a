"""The windowed-key layout (reference §4.5; Kafka Streams' Time/SessionWindowedSerde).

Owns :func:`encode_windowed_keys` / :func:`decode_windowed_keys` (whole Series) and the
single-record helpers :func:`encode_windowed_key` / :func:`decode_windowed_key`.

* TUMBLING / HOPPING: ``inner key bytes`` + ``int64 BE window start``. The end is not stored:
  a reader computes ``start + size`` (capped at Long.MAX_VALUE), so it needs the window size.
* SESSION: ``inner key bytes`` + ``int64 BE window end`` + ``int64 BE window start``; the end is
  inclusive (the last record's timestamp).

Example: KAFKA STRING key ``"p1"`` in a time window starting at 60000 is
``70 31 00 00 00 00 00 00 EA 60``. A null inner key is written as zero bytes, as Kafka
Streams does. Decoding is vectorised (``bin.tail``/``bin.reinterpret``); encoding packs the
timestamps with ``struct`` and concatenates per record.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass

import numpy as np
import polars as pl

from telemetry_lib.ksql.windows import WindowInfo, WindowType

__all__ = [
    "WindowedKeys",
    "decode_windowed_key",
    "decode_windowed_keys",
    "encode_windowed_key",
    "encode_windowed_keys",
]

logger = logging.getLogger(__name__)

_LONG = struct.Struct(">q")
_TIMESTAMP_BYTES = 8
_LONG_MAX = (1 << 63) - 1


@dataclass(frozen=True)
class WindowedKeys:
    """Decoded windowed keys: inner key bytes, window start and end (ms), and bad rows."""

    keys: pl.Series
    start: pl.Series
    end: pl.Series
    #: True where the payload was too short to hold the window (the row cannot be read).
    bad: pl.Series


def _trailer(window: WindowInfo) -> int:
    return 2 * _TIMESTAMP_BYTES if window.type is WindowType.SESSION else _TIMESTAMP_BYTES


def encode_windowed_key(key: bytes | None, start: int, end: int, window: WindowInfo) -> bytes:
    """One windowed key. ``end`` is ignored for time windows (it is derived from the size)."""
    inner = key or b""
    if window.type is WindowType.SESSION:
        return inner + _LONG.pack(end) + _LONG.pack(start)
    return inner + _LONG.pack(start)


def decode_windowed_key(data: bytes, window: WindowInfo) -> tuple[bytes, int, int]:
    """(inner key bytes, window start, window end) of one windowed key."""
    size = _trailer(window)
    if len(data) < size:
        raise ValueError(
            f"Windowed key of {len(data)} bytes is shorter than its {size}-byte window trailer"
        )
    inner = data[: len(data) - size]
    if window.type is WindowType.SESSION:
        end = _LONG.unpack_from(data, len(data) - 16)[0]
        start = _LONG.unpack_from(data, len(data) - 8)[0]
        return inner, start, end
    start = _LONG.unpack_from(data, len(data) - 8)[0]
    return inner, start, _time_end(start, window)


def _time_end(start: int, window: WindowInfo) -> int:
    if window.size_ms is None:
        raise ValueError(
            f"{window.type.value} windowed keys need the window size to compute the end"
        )
    return min(start + window.size_ms, _LONG_MAX)


def encode_windowed_keys(
    keys: pl.Series, start: pl.Series, end: pl.Series | None, window: WindowInfo
) -> pl.Series:
    """Windowed keys for whole Series (``end`` is required for SESSION windows)."""
    if window.type is WindowType.SESSION and end is None:
        raise ValueError("SESSION windowed keys need the window end")
    # polars cannot write an integer's bytes, so the big-endian longs are written by numpy as
    # hex text, appended to the hex of the inner keys and decoded back to bytes in one pass.
    parts = [keys.cast(pl.Binary).fill_null(b"").bin.encode("hex")]
    if window.type is WindowType.SESSION:
        assert end is not None
        parts.append(_long_hex(end))
    parts.append(_long_hex(start))
    joined = pl.select(pl.concat_str(parts).str.decode("hex").alias("key")).to_series()
    return joined.cast(pl.Binary)


def _long_hex(values: pl.Series) -> pl.Series:
    """Each value as the 16 hex digits of a big-endian Java long (nulls are refused)."""
    if values.null_count():
        raise ValueError("windowed keys need a window start and end on every row")
    text = values.cast(pl.Int64).to_numpy().astype(">i8").tobytes().hex().encode("ascii")
    # 16 hex digits per value, viewed as fixed-width byte strings (hex digits are never NUL,
    # which numpy's fixed-width strings would drop at the end).
    digits = np.frombuffer(text, dtype="S16")
    return pl.Series("hex", digits).cast(pl.String)


def decode_windowed_keys(data: pl.Series, window: WindowInfo) -> WindowedKeys:
    """Split windowed keys into inner key bytes, start and end (vectorised)."""
    size = _trailer(window)
    sizes = data.bin.size()
    bad = (sizes < size).fill_null(True)
    frame = pl.DataFrame({"data": data, "size": sizes, "bad": bad}).select(
        pl.when(pl.col("bad"))
        .then(None)
        .otherwise(pl.col("data").bin.slice(0, pl.col("size") - size))
        .alias("keys"),
        pl.when(pl.col("bad"))
        .then(None)
        .otherwise(pl.col("data").bin.tail(8).bin.reinterpret(dtype=pl.Int64, endianness="big"))
        .alias("last"),
        pl.when(pl.col("bad"))
        .then(None)
        .otherwise(
            pl.col("data")
            .bin.tail(16)
            .bin.head(8)
            .bin.reinterpret(dtype=pl.Int64, endianness="big")
        )
        .alias("before_last"),
    )
    keys = frame.get_column("keys")
    if window.type is WindowType.SESSION:
        start = frame.get_column("last").alias("start")
        end = frame.get_column("before_last").alias("end")
    else:
        start = frame.get_column("last").alias("start")
        if window.size_ms is None:
            raise ValueError(f"{window.type.value} windowed keys need the window size")
        capped = pl.min_horizontal(start + window.size_ms, pl.lit(_LONG_MAX, dtype=pl.Int64))
        end = pl.select(pl.when(start.is_null()).then(None).otherwise(capped)).to_series()
        end = end.alias("end")
    return WindowedKeys(keys.alias("key"), start, end, bad)
