"""MongoDB documents <-> polars and plain JSON values.

``read_collection`` returns a DataFrame with one column per top-level field (nested documents
as structs, arrays as lists). BSON-only types are turned into plain values first — ObjectId to
its 24-hex string, Decimal128 to a string, Binary to bytes, Timestamp to epoch seconds — the
same choices as the MongoDB Kafka connector's "SimplifiedJson" output format.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl
from bson import Binary, Decimal128, ObjectId, Timestamp
from bson.datetime_ms import DatetimeMS
from bson.regex import Regex
from pymongo.collection import Collection
from pymongo.errors import PyMongoError

from telemetry_lib.mongo.client import Document, wrap_mongo_error
from telemetry_lib.mongo.extjson import ms_datetime

__all__ = [
    "documents_to_frame",
    "json_safe",
    "plain_value",
    "read_collection",
]

logger = logging.getLogger(__name__)

# Documents per getMore round trip: NX-27017 serves one command at a time, so fewer, larger
# batches keep other clients waiting less in total; 10k documents is a few MB.
READ_BATCH_SIZE = 10_000

SortSpec = Sequence[tuple[str, int]]


def read_collection(
    collection: Collection[Document],
    filter: Mapping[str, Any] | None = None,  # noqa: A002 - pymongo's own name
    *,
    projection: Mapping[str, Any] | Sequence[str] | None = None,
    sort: SortSpec | None = None,
    limit: int = 0,
    batch_size: int = READ_BATCH_SIZE,
    schema: Mapping[str, pl.DataType] | None = None,
) -> pl.DataFrame:
    """Documents matching ``filter`` as a DataFrame (ObjectId -> str; see module doc).

    ``schema`` fixes column types (useful for empty results or mixed-type fields).
    """
    try:
        cursor = collection.find(
            dict(filter or {}),
            projection=projection,
            sort=list(sort) if sort else None,
            limit=limit,
            batch_size=batch_size,
        )
        docs = list(cursor)
    except PyMongoError as exc:
        raise wrap_mongo_error(f"read of {collection.full_name}", exc) from exc
    return documents_to_frame(docs, schema=schema)


def documents_to_frame(
    docs: Iterable[Mapping[str, Any]], *, schema: Mapping[str, pl.DataType] | None = None
) -> pl.DataFrame:
    """A DataFrame from documents; fields missing in some documents are null there."""
    rows = [plain_value(d) for d in docs]
    if not rows:
        return pl.DataFrame(schema=dict(schema) if schema else None)
    try:
        return pl.DataFrame(rows, schema_overrides=schema, infer_schema_length=None)
    except (pl.exceptions.PolarsError, TypeError, ValueError):
        # Mixed types in one field (e.g. int and str): keep every column as a Python object
        # column would hide the problem; strings show it and stay usable.
        logger.warning("documents have fields with mixed types; those columns are strings")
        return _frame_with_string_fallback(rows, schema)


def plain_value(value: Any) -> Any:
    """``value`` with BSON-only types replaced by plain Python values (recursively)."""
    if isinstance(value, Mapping):
        return {k: plain_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_value(v) for v in value]
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, Decimal128):
        return str(value.to_decimal())
    if isinstance(value, Binary):
        return bytes(value)
    if isinstance(value, Timestamp):
        return value.time
    if isinstance(value, Regex):
        return value.pattern
    return value


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON types: like :func:`plain_value`, plus datetimes (and
    ``DatetimeMS``) as ISO-8601 UTC strings and bytes as base64 (the connector's SimplifiedJson
    choices); a ``DatetimeMS`` outside years 1-9999 as its milliseconds."""
    value = plain_value(value)
    return _json_safe(value)


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, DatetimeMS):
        moment = ms_datetime(value)
        if moment is None:
            return int(value)
        value = moment
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:  # BSON dates are UTC; naive ones come from tz_aware=False
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def _frame_with_string_fallback(
    rows: list[dict[str, Any]], schema: Mapping[str, pl.DataType] | None
) -> pl.DataFrame:
    columns: dict[str, list[Any]] = {}
    for index, row in enumerate(rows):
        for key, value in row.items():
            columns.setdefault(key, [None] * index).append(value)
        for values in columns.values():
            if len(values) < index + 1:
                values.append(None)
    series = []
    for name, values in columns.items():
        try:
            series.append(pl.Series(name, values, strict=True))
        except (pl.exceptions.PolarsError, TypeError, ValueError):
            series.append(pl.Series(name, [None if v is None else str(v) for v in values]))
    frame = pl.DataFrame(series)
    return frame.cast(dict(schema)) if schema else frame  # type: ignore[arg-type]
