"""PRINT a topic: its records as ksqlDB's text lines (reference §1.5).

Owns: :func:`format_record` (``rowtime: 2022/12/02 17:22:02.556 Z, key: 18, value: {...},
partition: 0``), :func:`guess_formats` (the ``Key format:`` / ``Value format:`` lines, guessed
from the first record like ksqlDB's RecordFormatter does for the common formats: JSON,
KAFKA_STRING, KAFKA_INT, KAFKA_BIGINT, else ``unknown``) and :class:`PrintStream`, what the
backend hands the REST app for a PRINT statement (an async iterator of text lines).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import struct
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

__all__ = ["PrintStream", "format_record", "guess_formats"]

logger = logging.getLogger(__name__)

# Byte lengths of Kafka's big-endian INT and BIGINT serializers.
_INT_BYTES = 4
_BIGINT_BYTES = 8


@dataclass
class PrintStream:
    """A running PRINT: text lines (each ending in a newline) until LIMIT or close."""

    topic: str
    lines: AsyncIterator[str]
    close: Callable[[], None]


def _format_of(data: bytes | None, *, key: bool) -> str:
    if data is None:
        return "¯\\_(ツ)_/¯ - no data processed"
    try:
        json.loads(data)
        return "JSON"
    except ValueError:
        pass
    if key and len(data) == _INT_BYTES:
        return "KAFKA_INT"
    if key and len(data) == _BIGINT_BYTES:
        return "KAFKA_BIGINT"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "unknown"
    return "KAFKA_STRING" if text.isprintable() else "unknown"


def guess_formats(key: bytes | None, value: bytes | None) -> tuple[str, str]:
    """``Key format: ...`` and ``Value format: ...`` lines for the first record printed."""
    return (
        f"Key format: {_format_of(key, key=True)}",
        f"Value format: {_format_of(value, key=False)}",
    )


def _render(data: bytes | None, fmt: str) -> str:
    if data is None:
        return "<null>"
    if fmt == "KAFKA_INT" and len(data) == _INT_BYTES:
        return str(struct.unpack(">i", data)[0])
    if fmt == "KAFKA_BIGINT" and len(data) == _BIGINT_BYTES:
        return str(struct.unpack(">q", data)[0])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.hex()


def format_record(
    *, timestamp: int, key: bytes | None, value: bytes | None, partition: int, key_format: str
) -> str:
    when = dt.datetime.fromtimestamp(timestamp / 1000, tz=dt.UTC)
    rowtime = when.strftime("%Y/%m/%d %H:%M:%S.") + f"{when.microsecond // 1000:03d} Z"
    key_text = _render(key, key_format.removeprefix("Key format: "))
    return (
        f"rowtime: {rowtime}, key: {key_text}, value: {_render(value, 'JSON')}, "
        f"partition: {partition}"
    )
