"""Batched seeding of a collection, with a progress bar."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sized
from dataclasses import dataclass
from itertools import islice
from typing import Any

from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, PyMongoError
from tqdm.auto import tqdm

from telemetry_lib.errors import MongoError
from telemetry_lib.mongo.client import Document, wrap_mongo_error

__all__ = ["SeedResult", "seed"]

logger = logging.getLogger(__name__)

# Documents per insert_many: NX-27017 serves one command at a time and inserts ~4-6k docs/s,
# so 5k documents keep each command around a second (other clients are not starved) while
# amortising the round trip; real MongoDB splits batches at 100k / 48 MB itself.
SEED_BATCH_SIZE = 5_000


@dataclass(frozen=True)
class SeedResult:
    """What :func:`seed` wrote."""

    collection: str
    inserted: int
    seconds: float

    @property
    def docs_per_second(self) -> float:
        return self.inserted / self.seconds if self.seconds > 0 else 0.0


def seed(
    collection: Collection[Document],
    docs: Iterable[Mapping[str, Any]],
    *,
    batch_size: int = SEED_BATCH_SIZE,
    progress: bool = True,
    ordered: bool = True,
) -> SeedResult:
    """Insert ``docs`` in batches of ``batch_size`` with a tqdm progress bar.

    Documents without ``_id`` get a fresh ObjectId (pymongo adds it to the dict it inserts, so
    the caller's mappings are copied first). ``ordered=True`` stops at the first failed
    document, like insert_many; a failure raises MongoError saying how many were inserted.
    """
    if batch_size < 1:
        raise MongoError(f"batch_size must be >= 1, got {batch_size}")
    total = len(docs) if isinstance(docs, Sized) else None
    name = collection.full_name
    inserted = 0
    started = time.perf_counter()
    with tqdm(total=total, disable=not progress, desc=f"seed {name}", unit="doc") as bar:
        for batch in _batches(docs, batch_size):
            try:
                result = collection.insert_many(batch, ordered=ordered)
            except BulkWriteError as exc:
                done = inserted + int(exc.details.get("nInserted", 0))
                first = (exc.details.get("writeErrors") or [{}])[0].get("errmsg", exc)
                raise MongoError(
                    f"seeding {name} failed after {done} documents: {first}",
                    hint="drop the collection first if it holds an earlier run with these _ids",
                ) from exc
            except PyMongoError as exc:
                raise wrap_mongo_error(f"seeding {name} (after {inserted} documents)", exc) from exc
            inserted += len(result.inserted_ids)
            bar.update(len(batch))
    seconds = time.perf_counter() - started
    logger.info("seeded %d documents into %s in %.2f s", inserted, name, seconds)
    return SeedResult(name, inserted, seconds)


def _batches(docs: Iterable[Mapping[str, Any]], size: int) -> Iterator[list[Document]]:
    it = iter(docs)
    while batch := [dict(d) for d in islice(it, size)]:
        yield batch
