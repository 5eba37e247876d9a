"""Options and results shared by every codec: SerdeOptions, RowError, Decoded.

A codec call gets the columns as ``(name, SqlType)`` pairs in schema order plus
:class:`SerdeOptions` (key or value, wrapping, delimiter, topic for messages) and returns a
:class:`Decoded`: one row per payload, typed per ``telemetry_lib.ksql.types``, with the rows
whose payload was null and the rows that failed kept apart so the caller can tell a
tombstone from "all columns null" and send failures to the processing log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import polars as pl

from telemetry_lib.ksql.types import SqlType

__all__ = ["Columns", "Decoded", "RowError", "SerdeOptions", "utf8_text"]

logger = logging.getLogger(__name__)

Columns = tuple[tuple[str, SqlType], ...]


@dataclass(frozen=True)
class SerdeOptions:
    """How one key or value is laid out.

    ``wrap_single_value``: None = the format's default (JSON wraps single values, keys are
    never wrapped unless declared STRUCT, DELIMITED and KAFKA never wrap). ``delimiter`` is the
    DELIMITED separator (already parsed: ``TAB`` -> ``"\\t"``). ``topic`` only appears in error
    messages, as ksqlDB puts it there.
    """

    is_key: bool = False
    wrap_single_value: bool | None = None
    delimiter: str = ","
    topic: str = ""

    @property
    def target(self) -> str:
        """``key`` or ``value`` — the processing log's ``target`` field."""
        return "key" if self.is_key else "value"


@dataclass(frozen=True)
class RowError:
    """A payload that could not be decoded (or a row that could not be encoded).

    ``message`` is ksqlDB's top-level text (``Failed to deserialize value from topic: t. ...``)
    and ``cause`` the nested messages, as the processing log's ``errorMessage`` / ``cause``.
    """

    row: int
    message: str
    cause: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decoded:
    """The result of decoding a Binary Series.

    ``frame`` has one column per requested column, one row per payload (in input order).
    ``null_payload`` is True where the payload was null (a tombstone for a table value, a null
    key) — its row in ``frame`` is all null. Rows listed in ``errors`` are also all null in
    ``frame``: the caller logs and drops them.
    """

    frame: pl.DataFrame
    null_payload: pl.Series
    errors: tuple[RowError, ...] = field(default=())

    def ok_mask(self) -> pl.Series:
        """Boolean Series: True for rows that decoded (null payloads included)."""
        mask = [True] * self.frame.height
        for err in self.errors:
            mask[err.row] = False
        return pl.Series("ok", mask, dtype=pl.Boolean)


def utf8_text(payloads: pl.Series, *, replace: bool) -> pl.Series:
    """Binary -> String. Malformed UTF-8 becomes U+FFFD (``replace``, as Java decodes) or null.

    polars refuses the whole cast when one value is malformed, so that rare case is redone
    value by value.
    """
    try:
        return payloads.cast(pl.String)
    except pl.exceptions.ComputeError:
        values = [None if b is None else _decode(b, replace) for b in payloads.to_list()]
        return pl.Series(payloads.name, values, dtype=pl.String)


def _decode(data: bytes, replace: bool) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="replace") if replace else None
