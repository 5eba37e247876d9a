"""A change stream read as raw BSON batches, for readers that decode elsewhere (the Mongo source
connector's change-stream path).

:class:`ChangeFeed` (``changes``) decodes every event on the thread that reads it: pymongo
decodes a getMore reply before it returns, then hands the events out one by one, so the
server waits idle while the client decodes, and the client waits while the server builds the
next batch. :class:`RawChangeBatches` runs the same ``$changeStream`` aggregation through
pymongo's raw-batch cursor (``aggregate_raw_batches``): a getMore returns the batch's documents
as one undecoded BSON byte string, so the reading thread sends the next getMore at once
(pymongo releases the GIL while it waits on the socket) while another thread turns the previous
batch into events with :func:`decode_changes` — server and client work overlap.

Same wire commands, options and resume tokens as ``ChangeFeed`` (``fullDocument``,
``resumeAfter``, ``startAtOperationTime``, extra pipeline stages, ``batchSize``,
``maxAwaitTimeMS``), so it runs unchanged against real MongoDB. Differences from pymongo's
``watch()``: no automatic resume — a failed getMore raises MongoError and the caller reopens
after the last event it processed (the source connector does so anyway) — and no
``postBatchResumeToken``: the position is the ``_id`` of the last event decoded.

:func:`decode_changes` applies ``ChangeEvent.from_raw``'s NX-27017 normalisations to whole
event documents (GAP objectid-in-change-events: the byte pattern of NX-27017's ObjectId form is
looked for once per batch, so batches without it skip the walk; GAP document-key-stringified).
"""

from __future__ import annotations

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

__all__ = ["RawChangeBatches", "decode_changes"]

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
            stage["resumeAfter"] = dict(resume_after)
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

    def close(self) -> None:
        self._cursor.close()


def decode_changes(data: bytes) -> list[dict[str, Any]]:
    """The change events of one raw batch, as pymongo's ``watch()`` would return them but with
    ``ChangeEvent.from_raw``'s NX-27017 normalisations applied to ``fullDocument`` and
    ``documentKey`` in place."""
    events: list[dict[str, Any]] = bson.decode_all(data)
    walk = _NX_MARK_BYTES in data
    for event in events:
        full = event.get("fullDocument")
        if full is None:
            continue
        if walk:
            full = event["fullDocument"] = _decode_nx_objectids(full)
        key = event.get("documentKey")
        if key and "_id" in key and "_id" in full:
            typed = full["_id"]
            if not isinstance(key["_id"], type(typed)) and str(typed) == str(key["_id"]):
                event["documentKey"] = {**key, "_id": typed}  # GAP document-key-stringified
    return events
