"""Change events and copied documents -> :class:`SourceRecord` (pure functions).

As the official connector (``StartedMongoSourceTask.pollInternal``):

- value: the whole change event, or with ``publish.full.document.only`` its ``fullDocument``
  (events without one — deletes — are skipped, or become a tombstone with
  ``publish.full.document.only.tombstone.on.delete``);
- key: ``{"_id": <document id>}`` (the event's ``documentKey``) when
  ``change.stream.document.key.as.key`` (the default), else ``{"_id": <resume token>}``;
- offset: ``{"_id": "<resume token as JSON>"}``, plus ``"copy": "true"`` while copying —
  an offset marked ``copy`` is never resumed from (a restart copies again).

A copied document becomes an ``insert`` event whose ``_id`` is ``{"_id": <document id>,
"copyingData": true}``, as the official copy pipeline writes it.

The batch functions (``copy_records``, ``stream_records``) take documents decoded by
``mongo.decode_documents`` / ``mongo.decode_changes`` (dates as ``DatetimeMS``), so their JSON
is written with ``encode_document(..., ms_dates=True)``; what one batch's records share (topic,
partition, writers) is worked out once per batch (:class:`_Shape`), and the records are made
from a dict of SourceRecord's fields (:func:`_new_record`: ~0.5 us instead of ~1.3 for the
frozen dataclass's per-field ``__init__``; same fields, same equality).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec

from telemetry_lib.connectors.api import SourceRecord
from telemetry_lib.connectors.mongodb.source_config import OutputFormat, SourceSettings
from telemetry_lib.mongo import (
    ChangeEvent,
    JsonFormatter,
    encode_document,
    json_safe,
    resume_token_to_json,
)

__all__ = [
    "change_event_document",
    "copied_event",
    "copy_records",
    "event_record",
    "heartbeat_record",
    "id_key",
    "stream_records",
    "token_offset",
]

logger = logging.getLogger(__name__)

_string_encoder = msgspec.json.Encoder()
# Key ids written directly (msgspec writes them as encode_document's flat path does).
_PLAIN_IDS = frozenset({str, int, float})
# SourceRecord's fields at their defaults (None when it keeps no instance dict, e.g. with
# slots: records are then made by its constructor).
_RECORD_FIELDS: dict[str, Any] | None = dict(
    getattr(SourceRecord(topic="", value=None), "__dict__", None) or {}
)
if set(_RECORD_FIELDS or {}) != {f.name for f in dataclasses.fields(SourceRecord)}:
    _RECORD_FIELDS = None


def copied_event(document: Mapping[str, Any], settings: SourceSettings) -> dict[str, Any]:
    """A copied document in change-event form (an insert)."""
    doc_id = document.get("_id")
    return {
        "_id": {"_id": doc_id, "copyingData": True},
        "operationType": "insert",
        "documentKey": {"_id": doc_id},
        "fullDocument": document,
        "ns": {"db": settings.database, "coll": settings.collection},
    }


def change_event_document(event: ChangeEvent) -> dict[str, Any]:
    """The event as the change stream sent it, with NX-27017's encodings undone
    (typed ``documentKey``, ObjectIds in ``fullDocument``) and its delete events shaped as
    MongoDB's: GAP full-document-always — NX-27017 sends the deleted document as
    ``fullDocument``; MongoDB sends none, so ``publish.full.document.only`` skips deletes."""
    doc = dict(event.raw)
    doc["documentKey"] = dict(event.document_key)
    if event.operation == "delete":
        doc.pop("fullDocument", None)
    elif event.full_document is not None:
        doc["fullDocument"] = event.full_document
    return doc


def copy_records(
    documents: Sequence[Mapping[str, Any]], offset: Mapping[str, Any], settings: SourceSettings
) -> list[SourceRecord]:
    """The records of copied documents (decoded by ``decode_documents``), all with ``offset``
    (shared: records never change it) — for each the record of
    ``event_record(copied_event(document, settings), offset, settings)``."""
    shape = _Shape(settings, ms_dates=True)
    if not settings.full_document_only:
        records = (shape.record(copied_event(d, settings), offset) for d in documents)
        return [r for r in records if r is not None]
    # the value is the document itself, the key its _id (or the copy's event id)
    key, value, make = shape.key, shape.value, shape.make
    if settings.document_key_as_key:
        return [make(key(d.get("_id")), value(d), offset) for d in documents]
    return [make(key({"_id": d.get("_id"), "copyingData": True}), value(d), offset)
            for d in documents]  # fmt: skip


def stream_records(
    events: Sequence[dict[str, Any]], settings: SourceSettings
) -> list[SourceRecord]:
    """The records of one batch of change events as the stream sent them (decoded by
    ``decode_changes``, whose NX-27017 normalisations ``change_event_document`` also applies),
    each with its resume token as offset; deletes lose ``fullDocument`` as there (the events
    are changed in place). Same records as ``event_record`` per event."""
    shape = _Shape(settings, ms_dates=True)
    record = shape.record
    records = []
    for event in events:
        if event.get("operationType") == "delete":
            event.pop("fullDocument", None)  # GAP full-document-always
        made = record(event, {"_id": _token_text(event["_id"])})
        if made is not None:
            records.append(made)
    return records


def event_record(
    event: Mapping[str, Any], offset: Mapping[str, Any], settings: SourceSettings
) -> SourceRecord | None:
    """The record for one change event (None when the settings skip it)."""
    return _Shape(settings, ms_dates=False).record(event, dict(offset))


class _Shape:
    """What the records of one batch share: topic and partition, the key and value writers
    (``ms_dates``: the documents' dates are ``DatetimeMS``)."""

    __slots__ = ("settings", "key", "value", "_fields")

    def __init__(self, settings: SourceSettings, *, ms_dates: bool) -> None:
        self.settings = settings
        self.key = _key_writer(settings, ms_dates=ms_dates)
        self.value = _writer(settings.value_format, settings.formatter, ms_dates=ms_dates)
        self._fields = {**(_RECORD_FIELDS or {}), "topic": settings.topic,
                        "source_partition": settings.source_partition}  # fmt: skip

    def make(self, key: Any, value: Any, offset: Mapping[str, Any]) -> SourceRecord:
        return _new_record(self._fields, key, value, offset)

    def record(self, event: Mapping[str, Any], offset: Mapping[str, Any]) -> SourceRecord | None:
        settings = self.settings
        full = event.get("fullDocument")
        tombstone = False
        if settings.full_document_only:
            if isinstance(full, Mapping):
                value_doc: Mapping[str, Any] | None = full
            elif settings.tombstone_on_delete:
                value_doc, tombstone = None, True
            else:
                return None
        else:
            value_doc = event
        document_key = event.get("documentKey")
        key_id = (
            document_key.get("_id")
            if settings.document_key_as_key and isinstance(document_key, Mapping)
            else event.get("_id")
        )
        value = None if tombstone or value_doc is None else self.value(value_doc)
        return _new_record(self._fields, self.key(key_id), value, offset)


def _new_record(
    fields: dict[str, Any], key: Any, value: Any, offset: Mapping[str, Any]
) -> SourceRecord:
    """A SourceRecord with ``fields`` (every field, see ``_Shape``) and this key, value and
    offset — its instance dict set at once instead of field by field."""
    if _RECORD_FIELDS is None:
        return SourceRecord(topic=fields["topic"], key=key, value=value,
                            source_partition=fields["source_partition"],
                            source_offset=offset)  # fmt: skip
    own = fields.copy()
    own["key"] = key
    own["value"] = value
    own["source_offset"] = offset
    record: SourceRecord = object.__new__(SourceRecord)
    object.__setattr__(record, "__dict__", own)
    return record


def _key_writer(settings: SourceSettings, *, ms_dates: bool) -> Callable[[Any], Any]:
    """``{"_id": <key id>}`` in the key's format."""
    key_format, formatter = settings.key_format, settings.formatter
    whole = _writer(key_format, formatter, ms_dates=ms_dates)
    if key_format != "json" or formatter == "ExtendedJson":
        return lambda key_id: whole({"_id": key_id})
    encode = _string_encoder.encode

    def write(key_id: Any) -> Any:
        if type(key_id) in _PLAIN_IDS:
            # what encode_document writes for {"_id": <str | int | float>} in these formats
            return '{"_id":' + encode(key_id).decode() + "}"
        return whole({"_id": key_id})

    return write


def _writer(
    fmt: OutputFormat, formatter: JsonFormatter, *, ms_dates: bool
) -> Callable[[Mapping[str, Any]], Any]:
    """A document in the output format (JSON text in ``formatter``'s format, or plain JSON
    values for ``schema``)."""
    if fmt == "json":
        return lambda doc: encode_document(doc, formatter, ms_dates=ms_dates)
    return json_safe


def heartbeat_record(token_text: str, settings: SourceSettings) -> SourceRecord:
    """The official connector's heartbeat: to ``heartbeat.topic.name``, the resume token's JSON
    as key, no value, and the token as offset (marked ``HEARTBEAT``)."""
    return SourceRecord(topic=settings.heartbeat_topic, key=token_text, value=None,
                        source_partition=settings.source_partition,
                        source_offset={"_id": token_text, "HEARTBEAT": "true"})  # fmt: skip


def token_offset(token: Mapping[str, Any], *, copying: bool = False) -> dict[str, str]:
    """The source offset for a position in the change stream."""
    offset = {"_id": _token_text(token)}
    if copying:
        offset["copy"] = "true"
    return offset


def _token_text(token: Mapping[str, Any]) -> str:
    """``resume_token_to_json(token)``; MongoDB's and NX-27017's ``{"_data": "<text>"}`` tokens
    written directly (the same text, without the general path's checks)."""
    data = token.get("_data")
    if type(data) is str and len(token) == 1:
        return '{"_data":' + _string_encoder.encode(data).decode() + "}"
    return resume_token_to_json(token)


def id_key(document_id: Any) -> str:
    """A hashable identity of a document ``_id`` (for the copy/stream boundary)."""
    return f"{type(document_id).__name__}:{document_id!r}"
