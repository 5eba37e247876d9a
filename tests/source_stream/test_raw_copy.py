"""The source connector's copy read: ``RawDocumentBatches`` (find or the copy pipeline as raw
batches) decoded by ``decode_documents`` gives every document once, at most ``batch_size`` per
batch, the last batch flagged — on the real NX-27017."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from bson.datetime_ms import DatetimeMS
from pymongo.database import Database

from telemetry_lib.mongo import DECODE_OPTIONS, Document, RawDocumentBatches, decode_documents

pytestmark = pytest.mark.integration

Db = Database[Document]


def _read_all(reader: RawDocumentBatches) -> list[list[dict[str, Any]]]:
    batches = []
    for _ in range(100):
        data, last = reader.next_raw()
        batches.append(decode_documents(data))
        if last:
            return batches
    raise AssertionError("the copy never flagged its last batch")


@pytest.mark.parametrize("count", [0, 1, 7, 21])
def test_every_document_once_in_bounded_batches_and_the_last_flagged(db: Db, count: int) -> None:
    if count:
        db.items.insert_many([{"_id": i, "v": i * 2} for i in range(count)])
    reader = RawDocumentBatches(db.items, batch_size=7)  # raw: decode_documents decodes
    try:
        batches = _read_all(reader)
    finally:
        reader.close()
    assert all(len(b) <= 7 for b in batches)
    assert sorted(d["_id"] for b in batches for d in b) == list(range(count))
    assert [d["v"] for b in batches for d in b if d["_id"] == 3] == ([6] if count > 3 else [])


def test_raw_batches_decode_dates_as_milliseconds(db: Db) -> None:
    when = dt.datetime(2024, 2, 3, 4, 5, 6, 789000, tzinfo=dt.UTC)
    db.items.insert_one({"_id": 1, "at": when})
    reader = RawDocumentBatches(db.items, batch_size=5)
    try:
        (docs,) = _read_all(reader)
    finally:
        reader.close()
    assert docs == [{"_id": 1, "at": DatetimeMS(when)}]


def test_the_copy_pipeline_applies_and_dates_decode_as_milliseconds(db: Db) -> None:
    when = dt.datetime(2024, 2, 3, 4, 5, 6, 789000, tzinfo=dt.UTC)
    db.items.insert_many([{"_id": i, "kind": "kill" if i % 2 else "death", "at": when}
                          for i in range(10)])  # fmt: skip
    # as the source task reads it: the collection decodes dates as DatetimeMS too
    items = db.items.with_options(codec_options=DECODE_OPTIONS)  # type: ignore[arg-type]
    reader = RawDocumentBatches(items, pipeline=[{"$match": {"kind": "kill"}}], batch_size=3)
    try:
        docs = [d for b in _read_all(reader) for d in b]
    finally:
        reader.close()
    assert sorted(d["_id"] for d in docs) == [1, 3, 5, 7, 9]
    assert all(d["at"] == DatetimeMS(when) for d in docs)
