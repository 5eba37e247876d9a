"""Window kinds and durations shared by the catalog, the analyzer and (engine II) the window operators.

Owns: :class:`WindowType` (TUMBLING / HOPPING / SESSION, ksqlDB's ``WINDOW_TYPE`` values),
:class:`WindowInfo` (what the catalog records about a windowed key: type and size), and
:func:`parse_duration`, which reads ksqlDB duration text such as ``'30 SECONDS'`` with
ksqlDB's error wording (reference §2.3 ``WINDOW_SIZE``, §2.1 window units).

No polars here: the parser/analyzer/plan layers import this module.
"""

from __future__ import annotations

import enum
import logging
import re
from dataclasses import dataclass

__all__ = [
    "TIME_UNITS_MS",
    "WindowInfo",
    "WindowType",
    "format_duration",
    "parse_duration",
    "parse_window_type",
]

logger = logging.getLogger(__name__)

#: Milliseconds per ksqlDB time unit (singular and plural spellings, as the grammar accepts them).
TIME_UNITS_MS: dict[str, int] = {
    "MILLISECOND": 1,
    "MILLISECONDS": 1,
    "SECOND": 1_000,
    "SECONDS": 1_000,
    "MINUTE": 60_000,
    "MINUTES": 60_000,
    "HOUR": 3_600_000,
    "HOURS": 3_600_000,
    "DAY": 86_400_000,
    "DAYS": 86_400_000,
}

# "<number> <unit>", the only shape ksqlDB's DurationParser accepts.
_DURATION_RE = re.compile(r"^\s*(\S+)\s+(\S+)\s*$")


class WindowType(enum.Enum):
    """The kind of window a windowed key belongs to (ksqlDB's WindowType)."""

    TUMBLING = "TUMBLING"
    HOPPING = "HOPPING"
    SESSION = "SESSION"

    @property
    def is_time_window(self) -> bool:
        """TUMBLING and HOPPING keys store only the start; the end is start + size."""
        return self is not WindowType.SESSION


@dataclass(frozen=True)
class WindowInfo:
    """What a reader needs to decode a windowed key: the window type and, for time windows, the size."""

    type: WindowType
    size_ms: int | None = None

    def describe(self) -> str:
        """Short text for EXPLAIN / DESCRIBE, e.g. ``TUMBLING 300000 ms``."""
        if self.size_ms is None:
            return self.type.value
        return f"{self.type.value} {self.size_ms} ms"


def parse_window_type(text: str) -> WindowType:
    """``'session'`` -> SESSION (case-insensitive); raises ValueError with the valid values."""
    try:
        return WindowType(text.strip().upper())
    except ValueError:
        valid = ", ".join(t.value for t in WindowType)
        raise ValueError(f"Invalid window type: {text}. Valid values are: {valid}") from None


def parse_duration(text: str) -> int:
    """Milliseconds of a duration written ``'<n> <unit>'`` (e.g. ``'30 SECONDS'``).

    Raises ValueError with ksqlDB's wording: ``Invalid duration: '30 bobs'. Unknown time unit: 'BOBS'``.
    """
    match = _DURATION_RE.match(text)
    if match is None:
        raise ValueError(f"Invalid duration: '{text}'. Expected format: '<number> <time unit>'")
    number_text, unit_text = match.group(1), match.group(2)
    unit = unit_text.upper()
    if unit not in TIME_UNITS_MS:
        raise ValueError(f"Invalid duration: '{text}'. Unknown time unit: '{unit}'")
    try:
        number = int(number_text)
    except ValueError:
        raise ValueError(f"Invalid duration: '{text}'. Not a number: '{number_text}'") from None
    return number * TIME_UNITS_MS[unit]


def format_duration(ms: int) -> str:
    """The largest whole unit for ``ms``: 300000 -> ``'5 MINUTES'`` (used in formatted statements)."""
    for unit in ("DAYS", "HOURS", "MINUTES", "SECONDS"):
        size = TIME_UNITS_MS[unit]
        if ms and ms % size == 0:
            return f"{ms // size} {unit}"
    return f"{ms} MILLISECONDS"
