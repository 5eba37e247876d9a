"""MongoDB helpers: the only package that imports pymongo / bson.

- ``client``: ``mongo_client(settings)`` from the profile (short server-selection timeout),
  ``get_collection``, and the wrapping of pymongo errors into MongoError.
- ``seed``: batched inserts with a tqdm progress bar.
- ``frames``: ``read_collection(...) -> polars.DataFrame`` (ObjectId -> str) and BSON-free values.
- ``upsert``: replace/update/delete by ``_id`` in forms that behave the same on real MongoDB
  and NX-27017 (each workaround names the gap it avoids).
- ``changes``: change streams as typed events with resume tokens.
- ``raw_changes``: a change stream read as undecoded batches, decoded on another thread.
- ``health``: the reachability probe used by the services manager.
- ``bulk``: pymongo-free write models sent as one bulk_write per batch with per-operation
  errors, and the copy cursor (the MongoDB Kafka connectors' writes and reads).
- ``extjson``: documents as DefaultJson / ExtendedJson / SimplifiedJson text (the source
  connector's formatters) and resume tokens as offset text.

What these rely on, and NX-27017's known gaps, are pinned by ``tests/mongo`` — the MongoDB
compatibility suite.
"""

from __future__ import annotations

from telemetry_lib.mongo.bulk import BulkOutcome, OpError, WriteOp, bulk_write_ops, iter_documents
from telemetry_lib.mongo.changes import ChangeEvent, ChangeFeed, FullDocument, OperationType
from telemetry_lib.mongo.client import (
    DEFAULT_DATABASE,
    Document,
    MongoLike,
    close_shared_clients,
    get_collection,
    mongo_client,
    wrap_mongo_error,
)
from telemetry_lib.mongo.extjson import (
    DECODE_OPTIONS,
    JsonFormatter,
    encode_document,
    new_object_id,
    resume_token_from_json,
    resume_token_to_json,
)
from telemetry_lib.mongo.frames import documents_to_frame, json_safe, plain_value, read_collection
from telemetry_lib.mongo.raw_changes import (
    CopyBatch,
    RawChangeBatches,
    RawDocumentBatches,
    decode_changes,
    decode_documents,
)
from telemetry_lib.mongo.seed import SeedResult, seed
from telemetry_lib.mongo.upsert import (
    WriteSummary,
    compound_id,
    delete_by_ids,
    replace_by_id,
    update_by_id,
)

__all__ = [
    "DECODE_OPTIONS",
    "DEFAULT_DATABASE",
    "BulkOutcome",
    "JsonFormatter",
    "OpError",
    "WriteOp",
    "bulk_write_ops",
    "encode_document",
    "iter_documents",
    "new_object_id",
    "resume_token_from_json",
    "resume_token_to_json",
    "ChangeEvent",
    "ChangeFeed",
    "CopyBatch",
    "Document",
    "FullDocument",
    "MongoLike",
    "OperationType",
    "RawChangeBatches",
    "RawDocumentBatches",
    "SeedResult",
    "WriteSummary",
    "close_shared_clients",
    "compound_id",
    "decode_changes",
    "decode_documents",
    "delete_by_ids",
    "documents_to_frame",
    "get_collection",
    "json_safe",
    "mongo_client",
    "plain_value",
    "read_collection",
    "replace_by_id",
    "seed",
    "update_by_id",
    "wrap_mongo_error",
]
