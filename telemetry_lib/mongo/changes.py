"""Change streams as plain, typed events with resume tokens.

:class:`ChangeFeed` watches one collection and hands out :class:`ChangeEvent` batches; each
event carries the resume token to store after processing it, so a reader (the Mongo source
connector) can continue exactly after the last processed change, also across a server restart.

NX-27017 differences from MongoDB, normalised or documented here (pinned by tests/mongo):

- GAP replace-as-update: a replace is reported as ``operationType: "update"`` with the new
  full document and no ``updateDescription``; it cannot be told apart from an update.
- GAP full-document-always: update and delete events carry ``fullDocument`` even without
  ``full_document="updateLookup"`` (delete: the document as it was). ChangeEvent exposes
  ``full_document`` as the server sent it; request ``updateLookup`` so real MongoDB matches.
- GAP resume-token-format: tokens are ``{"_data": "nx:N"}`` with a global counter; treat
  tokens as opaque either way.
- GAP objectid-in-change-events: ObjectIds inside ``fullDocument`` arrive as NX-27017's
  storage form ``{"__neosqlite_objectid__": true, "id": "<hex>"}``. -> decoded back to
  ObjectId (no real MongoDB document has that shape).
- GAP document-key-stringified: ``documentKey._id`` arrives as a string for non-string ids
  (``1`` -> ``"1"``). -> when the event carries the full document and its ``_id`` has the
  same text, that typed ``_id`` is used.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bson import ObjectId, Timestamp
from pymongo.change_stream import CollectionChangeStream
from pymongo.collection import Collection
from pymongo.errors import PyMongoError

from telemetry_lib.mongo.client import Document, wrap_mongo_error

__all__ = ["ChangeEvent", "ChangeFeed", "FullDocument", "OperationType"]

logger = logging.getLogger(__name__)

OperationType = Literal["insert", "update", "replace", "delete", "drop", "rename", "invalidate"]
FullDocument = Literal["default", "updateLookup", "whenAvailable", "required"]

# How long the server holds one getMore open waiting for changes: short, so a batch read with
# a timeout returns close to it, long enough not to busy-loop (NX-27017 serves one command at
# a time, so idle polling would steal time from writers).
MAX_AWAIT_MS = 200
# Events per batch handed out by next_batch().
CHANGE_BATCH = 1_000
# GAP await-ignored: NX-27017 answers an empty getMore at once (maxAwaitTimeMS is ignored:
# ~2,000 empty round trips/s measured), so an idle reader would busy-loop the one-command-at-a-
# time server. next_batch() pauses this long between empty reads (MongoDB itself waits
# max_await_ms server-side, so there the pause only follows a real wait).
IDLE_READ_PAUSE_S = 0.02
#: What to do when a change stream cannot be opened (the usual cause: a foreign/expired token).
RESUME_HINT = (
    "a resume token from another server or an expired one cannot be resumed; "
    "start without resume_after (and copy the existing documents first)"
)


@dataclass(frozen=True)
class ChangeEvent:
    """One change, with the token to resume after it."""

    operation: str
    document_key: Mapping[str, Any]
    full_document: Mapping[str, Any] | None
    resume_token: Mapping[str, Any]
    database: str
    collection: str
    updated_fields: Mapping[str, Any] | None = None
    removed_fields: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> ChangeEvent:
        ns = raw.get("ns") or {}
        update = raw.get("updateDescription") or {}
        full = raw.get("fullDocument")
        if full is not None:
            full = _decode_nx_objectids(full)
        key = dict(raw.get("documentKey") or {})
        if full is not None and "_id" in full and "_id" in key:
            typed = full["_id"]
            if not isinstance(key["_id"], type(typed)) and str(typed) == str(key["_id"]):
                key["_id"] = typed  # GAP document-key-stringified
        return cls(
            operation=str(raw.get("operationType")),
            document_key=key,
            full_document=full,
            resume_token=dict(raw["_id"]),
            database=str(ns.get("db", "")),
            collection=str(ns.get("coll", "")),
            updated_fields=update.get("updatedFields"),
            removed_fields=tuple(update.get("removedFields") or ()),
            raw=raw,
        )


class ChangeFeed:
    """A change stream on one collection; use as a context manager (closes the cursor)."""

    def __init__(
        self,
        collection: Collection[Document],
        *,
        resume_after: Mapping[str, Any] | None = None,
        full_document: FullDocument = "updateLookup",
        operations: tuple[str, ...] | None = None,
        max_await_ms: int = MAX_AWAIT_MS,
        pipeline: list[dict[str, Any]] | None = None,
        start_at_operation_time: int | None = None,
        batch_size: int | None = None,
    ) -> None:
        # ``pipeline``: extra stages after the operations filter; ``start_at_operation_time``:
        # epoch seconds to start at when there is no resume token (ignored by NX-27017, which
        # starts now).
        pipeline = list(pipeline or [])
        if operations:
            pipeline.insert(0, {"$match": {"operationType": {"$in": list(operations)}}})
        self.name = collection.full_name
        try:
            self._stream: CollectionChangeStream[Document] = collection.watch(
                pipeline,
                full_document=None if full_document == "default" else full_document,
                resume_after=dict(resume_after) if resume_after else None,
                max_await_time_ms=max_await_ms,
                start_at_operation_time=(
                    Timestamp(start_at_operation_time, 0)
                    if start_at_operation_time is not None and not resume_after
                    else None
                ),
                batch_size=batch_size,
            )
        except PyMongoError as exc:
            raise wrap_mongo_error(
                f"opening a change stream on {self.name}",
                exc,
                hint=RESUME_HINT,
            ) from exc

    def __enter__(self) -> ChangeFeed:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def resume_token(self) -> Mapping[str, Any] | None:
        """The token after the last event handed out (or of the stream's start)."""
        return self._stream.resume_token

    def next_batch(
        self, *, max_events: int = CHANGE_BATCH, timeout: float = 1.0
    ) -> list[ChangeEvent]:
        """Up to ``max_events`` changes, waiting at most about ``timeout`` seconds for the first."""
        events: list[ChangeEvent] = []
        deadline = time.monotonic() + timeout
        try:
            while len(events) < max_events:
                raw = self._stream.try_next()
                if raw is not None:
                    events.append(ChangeEvent.from_raw(raw))
                    continue
                if events or time.monotonic() >= deadline:
                    break
                time.sleep(IDLE_READ_PAUSE_S)
        except PyMongoError as exc:
            raise wrap_mongo_error(f"reading the change stream of {self.name}", exc) from exc
        return events

    def close(self) -> None:
        self._stream.close()


# NX-27017's stored form of an ObjectId (GAP objectid-in-change-events).
_NX_OBJECTID_MARK = "__neosqlite_objectid__"


def _decode_nx_objectids(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get(_NX_OBJECTID_MARK) is True and isinstance(value.get("id"), str):
            return ObjectId(value["id"])
        return {k: _decode_nx_objectids(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_nx_objectids(v) for v in value]
    return value
