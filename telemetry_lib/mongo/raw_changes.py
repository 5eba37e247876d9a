"""A change stream (and a collection's copy) read as raw BSON batches, for readers that decode
elsewhere (the Mongo source connector).

:class:`ChangeFeed` (``changes``) decodes every event on the thread that reads it: pymongo
decodes a getMore reply before it returns, then hands the events out one by one, so the
server waits idle while the client decodes, and the client waits while the server builds the
next batch. :class:`RawChangeBatches` runs the same ``$changeStream`` aggregation through
pymongo's raw-batch cursor (``aggregate_raw_batches``): a getMore returns the batch's documents
as one undecoded BSON byte string, so the reading thread sends the next getMore at once
(pymongo releases the GIL while it waits on the socket) while another thread turns the previous
batch into events with :func:`decode_changes` — server and client work overlap.

Same wire commands, options and resume tokens as ``ChangeFeed`` (``fullDocument``,
``startAtOperationTime``, extra pipeline stages, ``batchSize``, ``maxAwaitTimeMS``; a resume
token is sent as ``startAfter``, see ``__init__``), so it runs unchanged against real MongoDB.
Differences from pymongo's ``watch()``: no automatic resume — a failed getMore raises MongoError and the caller reopens
after the last event it processed (the source connector does so anyway). The position after
the last getMore, events filtered out by the pipeline included, is :attr:`post_batch_token`
(the reply's ``postBatchResumeToken``, as pymongo's cursor keeps it).

:func:`decode_changes` applies ``ChangeEvent.from_raw``'s NX-27017 normalisations to whole
event documents (GAP objectid-in-change-events: the byte pattern of NX-27017's ObjectId form is
looked for once per batch, so batches without it skip the walk; GAP document-key-stringified).
Both decoders use ``extjson.DECODE_OPTIONS``: BSON dates come out as ``DatetimeMS`` (building a
``datetime`` cost ~0.5 us per date, two per NX-27017 event), which ``encode_document(...,
ms_dates=True)`` and ``json_safe`` write as they write datetimes.

:class:`RawDocumentBatches` is the copy's read as raw ``find`` batches: one
``decode_documents`` call per batch instead of pymongo's per-document iteration (~1 us per
document of Python on the reading thread). With a copy pipeline it reads pymongo's decoded
``aggregate`` cursor ``batch_size`` documents at a time instead (GAP raw-aggregate-first-batch:
pymongo's raw-batch aggregation asks for an empty first batch with ``cursor: {batchSize: 0}``;
NX-27017 takes 0 as "the default", answers 101 documents, and pymongo's raw cursor refuses a
non-empty first batch).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Mapping
from typing import Any, cast

import bson
from bson import Timestamp
from pymongo.collection import Collection
from pymongo.command_cursor import RawBatchCommandCursor
from pymongo.errors import PyMongoError

from telemetry_lib.errors import MongoError
from telemetry_lib.mongo.changes import (
    _NX_OBJECTID_MARK,
    IDLE_READ_PAUSE_S,
    MAX_AWAIT_MS,
    RESUME_HINT,
    FullDocument,
    _decode_nx_objectids,
)
from telemetry_lib.mongo.client import Document, wrap_mongo_error
from telemetry_lib.mongo.extjson import DECODE_OPTIONS

__all__ = [
    "CopyBatch",
    "RawChangeBatches",
    "RawDocumentBatches",
    "decode_changes",
    "decode_documents",
]

logger = logging.getLogger(__name__)

# NX-27017's ObjectId form as it appears in BSON: the key's name followed by its NUL terminator
# (a batch without these bytes cannot hold one, so its events skip the walk).
_NX_MARK_BYTES = _NX_OBJECTID_MARK.encode() + b"\x00"


class RawChangeBatches:
    """A change stream on one collection whose getMores return undecoded batches (see the
    module docstring). Not thread-safe: one thread reads it at a time."""

    def __init__(
        self,
        collection: Collection[Document],
        *,
        resume_after: Mapping[str, Any] | None = None,
        full_document: FullDocument = "updateLookup",
        max_await_ms: int = MAX_AWAIT_MS,
        pipeline: list[dict[str, Any]] | None = None,
        start_at_operation_time: int | None = None,
        batch_size: int | None = None,
    ) -> None:
        self.name = collection.full_name
        stage: dict[str, Any] = {}
        if full_document != "default":
            stage["fullDocument"] = full_document
        if resume_after:
            # startAfter, as the official connector resumes: the same as resumeAfter for an
            # event's token, and it also accepts an invalidate event's token (resumeAfter is
            # refused there), so a stream the server closed after a drop or rename goes on
            # after the invalidate (MongoDB 4.2+; NX-27017 treats both alike)
            stage["startAfter"] = dict(resume_after)
        elif start_at_operation_time is not None:
            stage["startAtOperationTime"] = Timestamp(start_at_operation_time, 0)
        options: dict[str, Any] = {"maxAwaitTimeMS": max_await_ms}
        if batch_size:
            options["batchSize"] = batch_size
        try:
            # typed as a find cursor by pymongo; an aggregation's is a command cursor
            self._cursor = cast(
                "RawBatchCommandCursor[Any]",  # its items are bytes
                collection.aggregate_raw_batches(
                    [{"$changeStream": stage}, *(pipeline or [])], **options
                ),
            )
        except PyMongoError as exc:
            raise wrap_mongo_error(
                f"opening a change stream on {self.name}",
                exc,
                hint=RESUME_HINT,
            ) from exc

    def __enter__(self) -> RawChangeBatches:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def next_raw(self, *, timeout: float = 1.0) -> bytes | None:
        """The next non-empty batch as a BSON document stream (decode it with
        :func:`decode_changes`), or None when nothing came within about ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                data = self._cursor.try_next()
                if data:
                    return bytes(data)
                if not self._cursor.alive:
                    raise MongoError(
                        f"the change stream of {self.name} was closed by the server "
                        "(collection dropped or renamed?)",
                        hint="the reader reopens it after the last processed event",
                    )
                if time.monotonic() >= deadline:
                    return None
                # GAP await-ignored: NX-27017 answers an empty getMore at once
                time.sleep(IDLE_READ_PAUSE_S)
        except PyMongoError as exc:
            raise wrap_mongo_error(f"reading the change stream of {self.name}", exc) from exc

    @property
    def post_batch_token(self) -> dict[str, Any] | None:
        """The stream's position after the last reply (None when the server sends none)."""
        # pymongo keeps it for its own change streams (ChangeStream reads the same attribute)
        token = self._cursor._post_batch_resume_token
        if token is None:
            return None
        raw = getattr(token, "raw", None)
        return bson.decode(raw) if isinstance(raw, bytes) else dict(token)

    def close(self) -> None:
        self._cursor.close()


#: One batch of :class:`RawDocumentBatches`: raw BSON, or documents pymongo already decoded.
CopyBatch = bytes | list[dict[str, Any]]


class RawDocumentBatches:
    """A collection's documents (through ``pipeline`` when given, an aggregation) in batches of
    at most ``batch_size`` documents, for copying (see the module docstring). Not
    thread-safe."""

    def __init__(
        self,
        collection: Collection[Document],
        *,
        pipeline: list[dict[str, Any]] | None = None,
        batch_size: int,
    ) -> None:
        self.name = collection.full_name
        self._batch_size = batch_size
        # the collection's codec options decode the aggregation's documents: the same dates
        # as decode_documents gives when they are DECODE_OPTIONS' (the source's collection)
        self._decoded = bool(pipeline)
        try:
            if pipeline:
                self._cursor: Any = collection.aggregate(
                    [dict(s) for s in pipeline], batchSize=batch_size
                )
            else:
                self._cursor = collection.find_raw_batches({}, batch_size=batch_size)
        except PyMongoError as exc:
            raise wrap_mongo_error(f"copy of {self.name}", exc) from exc

    def next_raw(self) -> tuple[CopyBatch, bool]:
        """(the next batch for :func:`decode_documents`, it is the last one); the last batch
        may be empty."""
        try:
            if self._decoded:
                documents = list(itertools.islice(self._cursor, self._batch_size))
                return documents, len(documents) < self._batch_size or not self._cursor.alive
            data = next(self._cursor, b"")
            return bytes(data), not data or not self._cursor.alive
        except PyMongoError as exc:
            raise wrap_mongo_error(f"copy of {self.name}", exc) from exc

    def close(self) -> None:
        self._cursor.close()


def decode_documents(data: CopyBatch) -> list[dict[str, Any]]:
    """The documents of one batch (raw BSON is decoded with dates as ``DatetimeMS``)."""
    if isinstance(data, list):
        return data
    documents: list[dict[str, Any]] = bson.decode_all(data, DECODE_OPTIONS)
    return documents


def decode_changes(data: bytes) -> list[dict[str, Any]]:
    """The change events of one raw batch, as pymongo's ``watch()`` would return them (but
    dates as ``DatetimeMS``) with ``ChangeEvent.from_raw``'s NX-27017 normalisations applied to
    ``fullDocument`` and ``documentKey`` in place."""
    events: list[dict[str, Any]] = bson.decode_all(data, DECODE_OPTIONS)
    walk = _NX_MARK_BYTES in data
    for event in events:
        full = event.get("fullDocument")
        if full is None:
            continue
        if walk:
            full = event["fullDocument"] = _decode_nx_objectids(full)
        key = event.get("documentKey")
        if key and "_id" in key and "_id" in full:
            typed, given = full["_id"], key["_id"]
            if not isinstance(given, type(typed)) and str(typed) == str(given):
                key["_id"] = typed  # GAP document-key-stringified (a dict of our own)
    return events
