"""ksqlDB record keys (windowed or not) -> a readable key document with a string ``_id``.

A ksqlDB table such as the demo's ``PLAYER_KILL_RATIO`` (``WINDOW TUMBLING (SIZE 5 MINUTES)
GROUP BY player_id``) writes keys as the KAFKA-format key column followed by the 8-byte window
start (reference §4.5), and leaves the key columns out of the value. The official sink would
store those raw bytes as the ``_id``. This sink decodes them, when told how, into::

    {"_id": "P1|1700000000000|1700000300000",
     "PLAYER_ID": "P1", "WINDOWSTART": 1700000000000, "WINDOWEND": 1700000300000}

Design: the key is described with the same words as ksqlDB's ``CREATE TABLE ... WITH`` clause,
as sink properties — ``ksql.key.columns`` (``PLAYER_ID STRING``: the key columns with their
types), ``ksql.key.format`` (``KAFKA`` or ``JSON``), ``ksql.window.type`` (``TUMBLING`` /
``HOPPING`` / ``SESSION``) and ``ksql.window.size`` (``5 MINUTES``; time windows store only the
start, so the end is start + size). Declaring it (rather than asking a ksqlDB server for the
topic's source) keeps the connector config self-contained: it deploys unchanged wherever the
topic lives. The key converter must pass the bytes through (``ByteArrayConverter``); the sink
reads the record's raw key bytes.

The ``_id`` is ONE string — the key values, then window start and end, joined with ``|`` —
because NX-27017 fails on equality filters on a document-valued ``_id`` (GAP
document-id-filter), and an upsert by a string ``_id`` behaves the same on real MongoDB. The
fields make the document queryable (``{"PLAYER_ID": "P1"}``, ``{"WINDOWSTART": {"$gte": ..}}``).
A key value containing ``|`` is rejected (DataError), so ids never collide.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Literal

from telemetry_lib.connectors.errors import ConnectorConfigError, DataError
from telemetry_lib.ksql.serde.kafka import unpack_kafka
from telemetry_lib.ksql.serde.windowed import decode_windowed_key
from telemetry_lib.ksql.types import BIGINT, DOUBLE, INTEGER, STRING, SqlType
from telemetry_lib.ksql.windows import WindowInfo, parse_duration, parse_window_type

__all__ = ["KeyColumn", "KsqlKeySpec", "parse_key_spec"]

logger = logging.getLogger(__name__)

#: Joins the parts of a compound ``_id`` (the same separator as telemetry_lib.mongo.compound_id).
SEPARATOR = "|"
KeyFormat = Literal["KAFKA", "JSON"]
#: Key column types the KAFKA format can hold (a JSON key takes any JSON value).
_KAFKA_TYPES: dict[str, SqlType] = {
    "STRING": STRING, "VARCHAR": STRING, "INT": INTEGER, "INTEGER": INTEGER,
    "BIGINT": BIGINT, "DOUBLE": DOUBLE,
}  # fmt: skip


@dataclass(frozen=True)
class KeyColumn:
    name: str
    type_name: str


@dataclass(frozen=True)
class KsqlKeySpec:
    """How to read a ksqlDB key (see the module docstring)."""

    columns: tuple[KeyColumn, ...]
    key_format: KeyFormat
    window: WindowInfo | None

    def key_document(self, data: bytes | None) -> dict[str, Any]:
        """The key document of one record's raw key; DataError when the bytes do not fit."""
        if data is None:
            raise DataError("the record has no key; a ksqlDB key (ksql.key.columns) is expected")
        start = end = None
        inner = data
        if self.window is not None:
            try:
                inner, start, end = decode_windowed_key(data, self.window)
            except ValueError as exc:
                raise DataError(f"not a {self.window.type.value} windowed key: {exc}") from None
        values = self._columns(inner)
        doc: dict[str, Any] = dict(zip((c.name for c in self.columns), values, strict=True))
        parts = list(values)
        if self.window is not None:
            doc["WINDOWSTART"], doc["WINDOWEND"] = start, end
            parts += [start, end]
        texts = ["" if p is None else str(p) for p in parts]
        bad = [t for t in texts if SEPARATOR in t]
        if bad:
            raise DataError(
                f"key value(s) {bad} contain {SEPARATOR!r}, which separates the parts of the "
                "document _id; such keys cannot get a unique readable _id"
            )
        return {"_id": SEPARATOR.join(texts), **doc}

    def _columns(self, inner: bytes) -> list[Any]:
        if self.key_format == "KAFKA":
            column = self.columns[0]
            try:
                return [unpack_kafka(inner, _KAFKA_TYPES[column.type_name])]
            except (ValueError, UnicodeDecodeError) as exc:
                raise DataError(f"key column {column.name}: {exc}") from None
        try:
            parsed = json.loads(inner) if inner else None
        except (ValueError, UnicodeDecodeError) as exc:
            raise DataError(f"the key is not JSON: {exc}") from None
        if len(self.columns) == 1 and not isinstance(parsed, dict):
            return [parsed]
        if not isinstance(parsed, dict):
            raise DataError(f"a JSON key with several columns is an object; found {parsed!r}")
        upper = {str(k).upper(): v for k, v in parsed.items()}
        return [parsed.get(c.name, upper.get(c.name.upper())) for c in self.columns]


def parse_key_spec(
    columns: str, key_format: str, window_type: str, window_size: str
) -> KsqlKeySpec | None:
    """The spec from the sink properties; None when ``ksql.key.columns`` is empty."""
    if not columns.strip():
        if window_type.strip():
            raise ConnectorConfigError("ksql.key.columns", columns,
                                       "a windowed key needs its key columns, e.g. PLAYER_ID STRING")  # fmt: skip
        return None
    parsed = []
    for item in columns.split(","):
        words = item.split()
        if len(words) != 2:
            raise ConnectorConfigError("ksql.key.columns", columns,
                                       "expected '<name> <type>[, ...]', e.g. PLAYER_ID STRING")  # fmt: skip
        parsed.append(KeyColumn(words[0].strip('`"'), words[1].upper()))
    fmt = key_format.strip().upper() or "KAFKA"
    if fmt not in ("KAFKA", "JSON"):
        raise ConnectorConfigError(
            "ksql.key.format", key_format, "String must be one of: KAFKA, JSON"
        )
    if fmt == "KAFKA":
        if len(parsed) != 1:
            raise ConnectorConfigError("ksql.key.columns", columns,
                                       "the KAFKA key format holds exactly one key column")  # fmt: skip
        if parsed[0].type_name not in _KAFKA_TYPES:
            raise ConnectorConfigError("ksql.key.columns", columns,
                                       "KAFKA key columns are one of: " + ", ".join(_KAFKA_TYPES))  # fmt: skip
    window = None
    if window_type.strip():
        try:
            kind = parse_window_type(window_type)
        except ValueError as exc:
            raise ConnectorConfigError("ksql.window.type", window_type, str(exc)) from None
        size = None
        if kind.is_time_window:
            if not window_size.strip():
                raise ConnectorConfigError("ksql.window.size", window_size,
                                           f"{kind.value} windows need their size, e.g. 5 MINUTES")  # fmt: skip
            try:
                size = parse_duration(window_size)
            except ValueError as exc:
                raise ConnectorConfigError("ksql.window.size", window_size, str(exc)) from None
        window = WindowInfo(kind, size)
    return KsqlKeySpec(tuple(parsed), fmt, window)  # type: ignore[arg-type]
