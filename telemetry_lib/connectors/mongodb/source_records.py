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
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from telemetry_lib.connectors.api import SourceRecord
from telemetry_lib.connectors.mongodb.source_config import OutputFormat, SourceSettings
from telemetry_lib.mongo import ChangeEvent, encode_document, json_safe, resume_token_to_json

__all__ = [
    "change_event_document",
    "copied_event",
    "event_record",
    "id_key",
    "stream_records",
    "token_offset",
]

logger = logging.getLogger(__name__)

_string_encoder = msgspec.json.Encoder()
# Key ids written directly (msgspec writes them as encode_document's flat path does).
_PLAIN_IDS = frozenset({str, int, float})


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


def stream_records(
    events: Sequence[dict[str, Any]], settings: SourceSettings
) -> list[SourceRecord]:
    """The records of one batch of change events as the stream sent them (decoded by
    ``decode_changes``, whose NX-27017 normalisations ``change_event_document`` also applies),
    each with its resume token as offset; deletes lose ``fullDocument`` as there (the events
    are changed in place). Same records as ``event_record`` per event; the batch's records
    share one source-partition dict."""
    partition = settings.source_partition
    records = []
    for event in events:
        if event.get("operationType") == "delete":
            event.pop("fullDocument", None)  # GAP full-document-always
        record = _record(event, {"_id": _token_text(event["_id"])}, settings, partition)
        if record is not None:
            records.append(record)
    return records


def event_record(
    event: Mapping[str, Any], offset: Mapping[str, Any], settings: SourceSettings
) -> SourceRecord | None:
    """The record for one change event (None when the settings skip it)."""
    return _record(event, dict(offset), settings, settings.source_partition)


def _record(
    event: Mapping[str, Any],
    offset: dict[str, Any],
    settings: SourceSettings,
    partition: dict[str, str],
) -> SourceRecord | None:
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
    key_id = (
        event["documentKey"].get("_id")
        if settings.document_key_as_key and isinstance(event.get("documentKey"), Mapping)
        else event.get("_id")
    )
    if (
        type(key_id) in _PLAIN_IDS
        and settings.key_format == "json"
        and (settings.formatter != "ExtendedJson")
    ):
        # what encode_document writes for {"_id": <str | int | float>} in these formats
        key: Any = '{"_id":' + _string_encoder.encode(key_id).decode() + "}"
    else:
        key = _output({"_id": key_id}, settings.key_format, settings)
    return SourceRecord(
        topic=settings.topic,
        key=key,
        value=None
        if tombstone or value_doc is None
        else _output(value_doc, settings.value_format, settings),
        source_partition=partition,
        source_offset=offset,
    )


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


def _output(doc: Mapping[str, Any], fmt: OutputFormat, settings: SourceSettings) -> Any:
    if fmt == "json":
        return encode_document(doc, settings.formatter)
    return json_safe(doc)
