"""The source connector's change-stream path: raw getMore batches (``RawChangeBatches``),
decoded by ``decode_changes`` and converted by ``stream_records``, must give exactly the records
the per-event path (``ChangeFeed`` -> ``ChangeEvent`` -> ``change_event_document`` ->
``event_record``) gives for the same changes — on the real NX-27017, with its gaps."""

from __future__ import annotations

from typing import Any

import pytest
from bson import ObjectId
from pymongo.database import Database

from telemetry_lib.connectors.api import SourceRecord
from telemetry_lib.connectors.mongodb.source import STREAM_GETMORE, _cursor_batch
from telemetry_lib.connectors.mongodb.source_config import parse_source_settings
from telemetry_lib.connectors.mongodb.source_records import (
    change_event_document,
    event_record,
    stream_records,
    token_offset,
)
from telemetry_lib.mongo import (
    ChangeEvent,
    ChangeFeed,
    Document,
    RawChangeBatches,
    decode_changes,
    encode_document,
)

pytestmark = pytest.mark.integration

Db = Database[Document]
FMT = "com.mongodb.kafka.connect.source.json.formatter."
# Fields NX-27017 stamps with the time the getMore ran: two readers see different values.
_READ_TIME_FIELDS = ("clusterTime", "wallTime")


def _write_changes(db: Db) -> ObjectId:
    oid = ObjectId()
    col = db.watched
    col.insert_one({"_id": 1, "ref": oid, "nested": {"deep": [oid, {"x": oid}]}, "n": 2**40})
    col.insert_one({"_id": oid, "name": "object id key"})
    col.insert_one({"_id": "s", "v": 1.5, "tags": ["a", "b"]})
    col.update_one({"_id": "s"}, {"$set": {"v": 2.5}})
    col.replace_one({"_id": 1}, {"_id": 1, "ref": None})
    col.delete_one({"_id": "s"})
    return oid


def _events(feed: ChangeFeed, want: int) -> list[ChangeEvent]:
    events: list[ChangeEvent] = []
    for _ in range(40):
        events.extend(feed.next_batch(timeout=0.25))
        if len(events) >= want:
            break
    return events


def _raw_events(reader: RawChangeBatches, want: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for _ in range(40):
        data = reader.next_raw(timeout=0.25)
        if data is not None:
            events.extend(decode_changes(data))
        if len(events) >= want:
            break
    return events


def _comparable(record: SourceRecord) -> SourceRecord:
    value = record.value
    if isinstance(value, dict):  # output.format.value=schema: whole events as structures
        value = {k: v for k, v in value.items() if k not in _READ_TIME_FIELDS}
    return SourceRecord(topic=record.topic, key=record.key, value=value,
                        source_partition=record.source_partition,
                        source_offset=record.source_offset)  # fmt: skip


@pytest.mark.parametrize(
    "props",
    [
        {"publish.full.document.only": "true", "output.json.formatter": FMT + "SimplifiedJson"},
        {"publish.full.document.only": "true", "output.json.formatter": FMT + "DefaultJson",
         "publish.full.document.only.tombstone.on.delete": "true"},
        {"output.format.value": "schema", "output.format.key": "schema",
         "change.stream.document.key.as.key": "false"},
    ],
    ids=["full-document-simplified", "full-document-default-tombstones", "whole-events"],
)  # fmt: skip
def test_raw_batches_give_the_records_of_the_per_event_path(db: Db, props: dict[str, str]) -> None:
    settings = parse_source_settings({"connection.uri": "mongodb://127.0.0.1:1",
                                      "database": db.name, "collection": "watched", **props})  # fmt: skip
    full = settings.full_document  # type: ignore[assignment]
    with (
        ChangeFeed(db.watched, full_document=full) as feed,  # type: ignore[arg-type]
        RawChangeBatches(db.watched, full_document=full, batch_size=4) as reader,  # type: ignore[arg-type]
    ):
        oid = _write_changes(db)
        expected_events = _events(feed, 6)
        raw_events = _raw_events(reader, 6)
    assert len(expected_events) == len(raw_events) == 6
    expected = [
        event_record(change_event_document(e), token_offset(e.resume_token), settings)
        for e in expected_events
    ]
    got = stream_records(raw_events, settings)
    assert [_comparable(r) for r in got] == [_comparable(r) for r in expected if r is not None]
    # the NX-27017 gaps are undone on this path too: typed keys, real ObjectIds
    assert raw_events[0]["documentKey"] == {"_id": 1}
    assert raw_events[0]["fullDocument"]["nested"] == {"deep": [oid, {"x": oid}]}
    assert raw_events[1]["fullDocument"]["_id"] == oid


def test_batch_size_bounds_each_getmore_and_resume_continues_after_a_token(db: Db) -> None:
    with RawChangeBatches(db.numbers, batch_size=7) as reader:
        db.numbers.insert_many([{"_id": i} for i in range(20)])
        first = reader.next_raw(timeout=5.0)
        assert first is not None
        events = decode_changes(first)
        assert [e["documentKey"]["_id"] for e in events] == list(range(7))
    token = events[2]["_id"]
    with RawChangeBatches(db.numbers, resume_after=token, batch_size=100) as reader:
        rest = _raw_events(reader, 17)
    assert [e["documentKey"]["_id"] for e in rest] == list(range(3, 20))
    assert [e["operationType"] for e in rest] == ["insert"] * 17


def test_an_idle_stream_returns_none_after_the_timeout(db: Db) -> None:
    with RawChangeBatches(db.quiet) as reader:
        assert reader.next_raw(timeout=0.1) is None
        db.quiet.insert_one({"_id": "late"})
        data = None
        for _ in range(40):
            data = reader.next_raw(timeout=0.25)
            if data is not None:
                break
    assert data is not None
    assert [e["fullDocument"] for e in decode_changes(data)] == [{"_id": "late"}]


def test_getmore_batch_is_batch_size_or_a_few_polls() -> None:
    base = {"connection.uri": "mongodb://127.0.0.1:1", "database": "d", "collection": "c"}
    assert _cursor_batch(parse_source_settings(base)) == STREAM_GETMORE
    assert _cursor_batch(parse_source_settings({**base, "poll.max.batch.size": "250"})) == (
        STREAM_GETMORE
    )
    assert _cursor_batch(parse_source_settings({**base, "poll.max.batch.size": "9000"})) == 9000
    assert _cursor_batch(parse_source_settings({**base, "batch.size": "64"})) == 64


@pytest.mark.parametrize("formatter", ["DefaultJson", "SimplifiedJson", "ExtendedJson"])
@pytest.mark.parametrize("doc_id", ["a", 'q"\\\u00e9\n', 7, 2**40, 2**70, 1.5, ObjectId()])
def test_record_keys_are_the_formatters_json_of_the_document_key(
    formatter: str, doc_id: object
) -> None:
    settings = parse_source_settings({"connection.uri": "mongodb://127.0.0.1:1", "database": "d",
                                      "collection": "c",
                                      "output.json.formatter": FMT + formatter})  # fmt: skip
    event = {"_id": {"_data": "t"}, "operationType": "insert", "documentKey": {"_id": doc_id},
             "fullDocument": {"_id": doc_id}}  # fmt: skip
    (record,) = stream_records([event], settings)
    assert record.key == encode_document({"_id": doc_id}, formatter)  # type: ignore[arg-type]
