"""Upserts and deletes in forms that behave the same on real MongoDB and on NX-27017.

Gaps of NX-27017 these helpers avoid (each pinned by tests/mongo):

- GAP replace-upsert-id: a ``ReplaceOne`` upsert ignores the filter's ``_id`` and inserts a
  new ObjectId each time (duplicates!) unless the replacement document carries the ``_id``.
  -> every replacement here carries its ``_id``.
- GAP document-id-filter: an equality filter on a document-valued ``_id``
  (``{"_id": {"p": "P1", "w": 5}}``) fails with "Operator 'p' is not a valid query operation".
  -> composite keys become one string ``_id`` (:func:`compound_id`), never a sub-document.
- GAP non-id-upsert: bulk ``UpdateOne`` upserts filtered on a non-``_id`` field get slower with
  every document (quadratic: ~0.6 s per 1k, ~1.4 s per 2k here; 10k took minutes).
  -> upserts filter on ``_id`` only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from pymongo import DeleteOne, ReplaceOne, UpdateOne
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, PyMongoError

from telemetry_lib.errors import MongoError
from telemetry_lib.mongo.client import Document, wrap_mongo_error

__all__ = [
    "COMPOUND_ID_SEPARATOR",
    "WriteSummary",
    "compound_id",
    "delete_by_ids",
    "replace_by_id",
    "update_by_id",
]

logger = logging.getLogger(__name__)

# Operations per bulk_write: NX-27017 runs ~3-4k upserts/s and serves one command at a time,
# so 2k keeps each command well under a second.
UPSERT_BATCH_SIZE = 2_000
#: Joins the parts of a composite key; chosen because it never occurs in player ids or numbers.
COMPOUND_ID_SEPARATOR = "|"


@dataclass(frozen=True)
class WriteSummary:
    """Totals over every bulk_write of one helper call.

    ``matched``/``modified`` are as the server reports them: MongoDB's ``modified`` counts only
    documents whose content changed; NX-27017 also counts replacements that changed nothing
    (``$set`` of an equal value is reported as unmodified on both).
    """

    inserted: int = 0
    upserted: int = 0
    matched: int = 0
    modified: int = 0
    deleted: int = 0

    def __add__(self, other: WriteSummary) -> WriteSummary:
        return WriteSummary(
            self.inserted + other.inserted,
            self.upserted + other.upserted,
            self.matched + other.matched,
            self.modified + other.modified,
            self.deleted + other.deleted,
        )


def compound_id(*parts: object) -> str:
    """One string ``_id`` for a composite key, e.g. ``compound_id("P1", 1700000000000)`` ->
    ``"P1|1700000000000"`` (GAP document-id-filter: never use a sub-document ``_id``)."""
    texts = [str(p) for p in parts]
    bad = [t for t in texts if COMPOUND_ID_SEPARATOR in t]
    if bad:
        raise MongoError(
            f"compound_id parts may not contain {COMPOUND_ID_SEPARATOR!r}: {bad}",
            hint="clean the key values first",
        )
    return COMPOUND_ID_SEPARATOR.join(texts)


def replace_by_id(
    collection: Collection[Document],
    docs: Iterable[Mapping[str, Any]],
    *,
    batch_size: int = UPSERT_BATCH_SIZE,
) -> WriteSummary:
    """Insert or fully replace each document by its ``_id`` (which every document must have).

    GAP replace-upsert-id: the replacement carries its ``_id`` so NX-27017 matches it.
    """

    def ops(batch: list[Mapping[str, Any]]) -> list[ReplaceOne[Document]]:
        out = []
        for doc in batch:
            if "_id" not in doc:
                raise MongoError(
                    "replace_by_id needs an _id in every document",
                    hint="build one with compound_id(...) from the document's key fields",
                )
            out.append(ReplaceOne({"_id": doc["_id"]}, dict(doc), upsert=True))
        return out

    return _bulk(collection, docs, ops, batch_size, "replace_by_id")


def update_by_id(
    collection: Collection[Document],
    updates: Iterable[tuple[Any, Mapping[str, Any]]],
    *,
    upsert: bool = True,
    batch_size: int = UPSERT_BATCH_SIZE,
) -> WriteSummary:
    """``$set`` the given fields on each ``(_id, fields)``; creates missing documents when
    ``upsert`` (GAP non-id-upsert: the filter is always ``_id`` alone)."""

    def ops(batch: list[tuple[Any, Mapping[str, Any]]]) -> list[UpdateOne]:
        return [UpdateOne({"_id": _id}, {"$set": dict(f)}, upsert=upsert) for _id, f in batch]

    return _bulk(collection, updates, ops, batch_size, "update_by_id")


def delete_by_ids(
    collection: Collection[Document],
    ids: Iterable[Any],
    *,
    batch_size: int = UPSERT_BATCH_SIZE,
) -> WriteSummary:
    """Delete the documents with these ``_id`` values (absent ones are ignored)."""

    def ops(batch: list[Any]) -> list[DeleteOne]:
        return [DeleteOne({"_id": _id}) for _id in batch]

    return _bulk(collection, ids, ops, batch_size, "delete_by_ids")


def _bulk(
    collection: Collection[Document],
    items: Iterable[Any],
    make_ops: Any,
    batch_size: int,
    what: str,
) -> WriteSummary:
    total = WriteSummary()
    for batch in _chunks(items, batch_size):
        operations: Sequence[Any] = make_ops(batch)
        try:
            result = collection.bulk_write(list(operations), ordered=True)
        except BulkWriteError as exc:
            first = (exc.details.get("writeErrors") or [{}])[0].get("errmsg", exc)
            raise MongoError(f"{what} on {collection.full_name} failed: {first}") from exc
        except PyMongoError as exc:
            raise wrap_mongo_error(f"{what} on {collection.full_name}", exc) from exc
        total = total + WriteSummary(
            result.inserted_count,
            result.upserted_count,
            result.matched_count,
            result.modified_count,
            result.deleted_count,
        )
    return total


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    if size < 1:
        raise MongoError(f"batch_size must be >= 1, got {size}")
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch
