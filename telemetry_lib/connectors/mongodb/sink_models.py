"""One sink record -> one :class:`~telemetry_lib.mongo.WriteOp` (pure): the official id
strategies and write models.

Id strategies (``document.id.strategy``), as the official ``DocumentIdAdder`` applies them
(an ``_id`` already in the value is kept unless ``document.id.strategy.overwrite.existing``):
BsonOid (a new ObjectId), ProvidedInKey (the key's ``_id``), ProvidedInValue (the value's
``_id``), PartialValue / PartialKey (the projected fields), FullKey (the whole key),
KafkaMetaData (``<topic>-<partition>-<offset>``), Uuid (a random UUID string).

Compound ids (PartialValue, PartialKey, a document FullKey) are ONE string by default — the
projected values in order joined with ``|`` (non-scalar values as compact JSON) — because
NX-27017 fails on filters on a document-valued ``_id`` (GAP document-id-filter);
``document.id.compound.format=document`` keeps the official sub-document (real MongoDB only).

Write models (``writemodel.strategy``): ReplaceOneDefault (replace by ``_id``, upsert — the
replacement carries its ``_id``: GAP replace-upsert-id), ReplaceOneBusinessKey (filter = the
PartialValue fields, replacement without ``_id``), UpdateOneDefault (``$set`` by ``_id``),
UpdateOneTimestamps (``$set``, ``_modifiedTS`` by ``$currentDate`` — see GAP
set-date-as-string in the code — and ``$setOnInsert: _insertedTS``),
UpdateOneBusinessKeyTimestamp (the same filtered on the business key), InsertOneDefault,
DeleteOneDefault. A tombstone (null value) is a delete by the key's id when
``delete.on.null.values``, else skipped.

Idempotence on redelivery: every model except InsertOne and BsonOid/Uuid ids writes the same
document again, so a batch the worker re-delivers after a crash leaves no duplicate.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from telemetry_lib.connectors.api import SinkRecord
from telemetry_lib.connectors.errors import DataError
from telemetry_lib.connectors.mongodb.sink_config import SinkSettings
from telemetry_lib.connectors.mongodb.windowed_keys import SEPARATOR
from telemetry_lib.mongo import WriteOp, new_object_id

__all__ = ["build_write_op", "record_key"]

logger = logging.getLogger(__name__)


def record_key(record: SinkRecord, settings: SinkSettings) -> Any:
    """The record's key, decoded into a key document when ``ksql.key.columns`` is set."""
    if settings.ksql_key is None:
        return record.key
    raw = record.raw_key if record.raw_key is not None else record.key
    if isinstance(raw, str):
        raw = raw.encode()
    if raw is not None and not isinstance(raw, bytes):
        raise DataError(
            "a ksqlDB key needs the raw key bytes; set key.converter="
            "org.apache.kafka.connect.converters.ByteArrayConverter"
        )
    return settings.ksql_key.key_document(raw)


def build_write_op(
    record: SinkRecord, settings: SinkSettings, *, now: dt.datetime
) -> WriteOp | None:
    """The write for one record (None: nothing to write); DataError when it cannot be written."""
    key = record_key(record, settings)
    value = record.value
    if value is None:
        if not settings.delete_on_null:
            return None
        return WriteOp("delete", {"_id": _id_from_key(key, settings)})
    if not isinstance(value, Mapping):
        raise DataError(
            f"the record value is not a document: found {type(value).__name__} "
            f"{_preview(value)}; the sink writes JSON objects (value.converter JsonConverter "
            "with schemas.enable=false)"
        )
    doc = dict(value)
    if settings.ksql_key is not None and isinstance(key, Mapping):
        doc = {**doc, **{k: v for k, v in key.items() if k != "_id"}}
    if "_id" not in doc or settings.overwrite_existing or settings.ksql_key is not None:
        doc["_id"] = _document_id(record, key, doc, settings)
    model = settings.write_model
    if model == "InsertOneDefault":
        return WriteOp("insert", document=doc)
    if model == "DeleteOneDefault":
        return WriteOp("delete", {"_id": doc["_id"]})
    if model in ("ReplaceOneBusinessKey", "UpdateOneBusinessKeyTimestamp"):
        target = _business_key(doc, settings)
    else:
        target = {"_id": doc["_id"]}
    if model == "ReplaceOneDefault":
        return WriteOp("replace", target, doc, upsert=True)
    if model == "ReplaceOneBusinessKey":
        return WriteOp("replace", target, {k: v for k, v in doc.items() if k != "_id"},
                       upsert=True)  # fmt: skip
    fields = {k: v for k, v in doc.items() if k != "_id"}
    if model == "UpdateOneDefault":
        return WriteOp("update", target, {"$set": fields}, upsert=True)
    # GAP set-date-as-string: NX-27017 stores a date given to $set on an EXISTING document as a
    # string; $currentDate stores a date on both servers (the server's clock, not the worker's).
    update: dict[str, Any] = {
        "$set": fields,
        "$currentDate": {"_modifiedTS": True},
        "$setOnInsert": {"_insertedTS": now},
    }
    if model == "UpdateOneBusinessKeyTimestamp":
        # the business-key fields are in the filter; the _id stays the server's
        return WriteOp("update", target, update, upsert=True)
    return WriteOp("update", target, update, upsert=True)


def _document_id(
    record: SinkRecord, key: Any, doc: Mapping[str, Any], settings: SinkSettings
) -> Any:
    strategy = settings.id_strategy
    if strategy == "BsonOid":
        return new_object_id()
    if strategy == "Uuid":
        return str(uuid.uuid4())
    if strategy == "KafkaMetaData":
        return f"{record.topic}-{record.partition}-{record.offset}"
    if strategy == "ProvidedInValue":
        if "_id" not in doc:
            raise DataError("Provided _id field not found in the value (ProvidedInValueStrategy)")
        return doc["_id"]
    if strategy == "PartialValue":
        kind, fields = settings.value_projection
        return _compound(_project(doc, kind, fields), settings)
    return _id_from_key(key, settings)


def _id_from_key(key: Any, settings: SinkSettings) -> Any:
    strategy = settings.id_strategy
    if strategy == "ProvidedInKey":
        if not isinstance(key, Mapping) or "_id" not in key:
            raise DataError(
                f"Provided _id field not found in the key {_preview(key)} (ProvidedInKeyStrategy "
                "needs a key document with an _id; a JSON key needs key.converter JsonConverter)"
            )
        return key["_id"]
    if strategy == "FullKey":
        if key is None:
            raise DataError("the record has no key (FullKeyStrategy)")
        return _compound(key, settings) if isinstance(key, Mapping) else key
    if strategy == "PartialKey":
        if not isinstance(key, Mapping):
            raise DataError(f"the key is not a document: {_preview(key)} (PartialKeyStrategy)")
        kind, fields = settings.key_projection
        return _compound(_project(key, kind, fields), settings)
    raise DataError(
        f"a tombstone can be deleted only by an id from the key; document.id.strategy is "
        f"{strategy}Strategy (use ProvidedInKeyStrategy, FullKeyStrategy or PartialKeyStrategy)"
    )


def _project(doc: Mapping[str, Any], kind: str, fields: tuple[str, ...]) -> dict[str, Any]:
    if kind == "BlockList":
        blocked = set(fields)
        return {k: v for k, v in doc.items() if k not in blocked and k != "_id"}
    out: dict[str, Any] = {}
    for path in fields:
        value: Any = doc
        for part in path.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        if value is None:
            raise DataError(f"the id field {path!r} is missing in {_preview(doc)}")
        out[path] = value
    return out


def _compound(parts: Mapping[str, Any], settings: SinkSettings) -> Any:
    if not settings.compound_as_string:
        return dict(parts)
    texts = [
        v if isinstance(v, str) else json.dumps(v, separators=(",", ":"), default=str)
        for v in parts.values()
    ]
    bad = [t for t in texts if SEPARATOR in t]
    if bad:
        raise DataError(f"id value(s) {bad} contain {SEPARATOR!r}, the compound id separator")
    return SEPARATOR.join(texts)


def _business_key(doc: Mapping[str, Any], settings: SinkSettings) -> dict[str, Any]:
    kind, fields = settings.value_projection
    return _project({k: v for k, v in doc.items() if k != "_id"}, kind, fields)


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
