"""Write models as plain data and one ``bulk_write`` per batch, reporting each failed operation
(the MongoDB sink connector's writes), plus the copy cursor of the source connector.

:class:`WriteOp` is a pymongo-free description of ``InsertOne`` / ``ReplaceOne`` /
``UpdateOne`` / ``DeleteOne``, so callers above this package never import pymongo.
:func:`bulk_write_ops` sends a batch as one ``bulk_write`` and returns the failed operations
(with MongoDB's code and message) instead of raising: the caller decides per record. A failure
of the whole command (server down, network) raises :class:`MongoError` with ``retryable`` set
when a retry can help.

Ordered batches stop at the first failed operation (MongoDB's rule); :func:`bulk_write_ops`
then sends the rest of the batch again after it, so one bad record never holds back the others.

NX-27017 gaps these forms avoid (pinned by tests/mongo): a ``ReplaceOne`` upsert matches by
``_id`` only when the replacement carries the ``_id`` (callers put it there); document-valued
``_id`` filters fail (callers flatten compound ids into strings).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pymongo import DeleteOne, InsertOne, ReplaceOne, UpdateOne
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, PyMongoError

from telemetry_lib.mongo.client import Document, wrap_mongo_error

__all__ = ["BulkOutcome", "OpError", "WriteOp", "bulk_write_ops", "iter_documents"]

logger = logging.getLogger(__name__)

WriteKind = Literal["insert", "replace", "update", "delete"]
# Documents per getMore of the copy cursor: NX-27017 serves one command at a time, so larger
# batches keep other clients waiting less in total; 2k documents is well under a second.
COPY_BATCH_SIZE = 2_000


@dataclass(frozen=True)
class WriteOp:
    """One write: ``document`` is the insert/replacement document or the update document
    (``{"$set": ...}``); ``filter`` selects the target (unused for inserts)."""

    kind: WriteKind
    filter: Mapping[str, Any] = field(default_factory=dict)
    document: Mapping[str, Any] | None = None
    upsert: bool = False


@dataclass(frozen=True)
class OpError:
    """A failed operation: its index in the batch, MongoDB's error code and message."""

    index: int
    code: int
    message: str


@dataclass(frozen=True)
class BulkOutcome:
    """What a batch did: counts as the server reports them, and the failed operations."""

    inserted: int = 0
    upserted: int = 0
    matched: int = 0
    modified: int = 0
    deleted: int = 0
    errors: tuple[OpError, ...] = ()

    @property
    def written(self) -> int:
        return self.inserted + self.upserted + self.matched + self.deleted


def bulk_write_ops(
    collection: Collection[Document], ops: Sequence[WriteOp], *, ordered: bool = True
) -> BulkOutcome:
    """Send ``ops`` as one ``bulk_write`` (more only after a failed operation of an ordered
    batch); failed operations are returned, a failed command raises MongoError."""
    totals = [0, 0, 0, 0, 0]
    errors: list[OpError] = []
    start = 0
    while start < len(ops):
        batch = [_pymongo_op(op) for op in ops[start:]]
        try:
            result = collection.bulk_write(batch, ordered=ordered)
            counts = (result.inserted_count, result.upserted_count, result.matched_count,
                      result.modified_count, result.deleted_count)  # fmt: skip
            totals = [a + b for a, b in zip(totals, counts, strict=True)]
            break
        except BulkWriteError as exc:
            details = exc.details
            counts = (details.get("nInserted", 0), details.get("nUpserted", 0),
                      details.get("nMatched", 0), details.get("nModified", 0),
                      details.get("nRemoved", 0))  # fmt: skip
            totals = [a + b for a, b in zip(totals, counts, strict=True)]
            failed = [
                OpError(
                    start + int(e.get("index", 0)),
                    int(e.get("code", 0)),
                    str(e.get("errmsg", "write failed")),
                )  # fmt: skip
                for e in details.get("writeErrors") or ()
            ]
            if not failed:  # e.g. only a write concern error: the writes themselves happened
                logger.warning("bulk write on %s: %s", collection.full_name, details)
                break
            errors.extend(failed)
            if not ordered:
                break
            start = failed[-1].index + 1
        except PyMongoError as exc:
            raise wrap_mongo_error(f"bulk write on {collection.full_name}", exc) from exc
    inserted, upserted, matched, modified, deleted = totals
    return BulkOutcome(inserted, upserted, matched, modified, deleted, tuple(errors))


def iter_documents(
    collection: Collection[Document],
    *,
    pipeline: Sequence[Mapping[str, Any]] | None = None,
    batch_size: int = COPY_BATCH_SIZE,
) -> Iterator[Document]:
    """Every document of ``collection`` (through ``pipeline`` when given, an aggregation), for
    copying; a failure raises MongoError."""
    try:
        if pipeline:
            cursor: Any = collection.aggregate([dict(s) for s in pipeline], batchSize=batch_size)
        else:
            cursor = collection.find({}, batch_size=batch_size)
        with cursor:
            yield from cursor
    except PyMongoError as exc:
        raise wrap_mongo_error(f"copy of {collection.full_name}", exc) from exc


def _pymongo_op(op: WriteOp) -> Any:
    if op.kind == "insert":
        return InsertOne(dict(op.document or {}))
    if op.kind == "replace":
        return ReplaceOne(dict(op.filter), dict(op.document or {}), upsert=op.upsert)
    if op.kind == "update":
        return UpdateOne(dict(op.filter), dict(op.document or {}), upsert=op.upsert)
    return DeleteOne(dict(op.filter))
