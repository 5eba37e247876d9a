"""MongoDB compatibility suite, change streams: insert/update/replace/delete events, their
NX-27017 gaps, and resuming from a stored token after a server restart."""

from __future__ import annotations

import pytest
from bson import ObjectId
from pymongo.database import Database

from telemetry_lib.mongo import ChangeEvent, ChangeFeed, Document, get_collection, mongo_client
from tests.mongo.conftest import PrivateMongo

pytestmark = pytest.mark.integration

Db = Database[Document]


def _collect(feed: ChangeFeed, want: int) -> list[ChangeEvent]:
    events: list[ChangeEvent] = []
    for _ in range(20):
        events.extend(feed.next_batch(timeout=0.5))
        if len(events) >= want:
            break
    return events


def _write_four_changes(db: Db) -> None:
    col = db.watched
    col.insert_one({"_id": "a", "v": 1})
    col.update_one({"_id": "a"}, {"$set": {"v": 2}})
    col.replace_one({"_id": "a"}, {"_id": "a", "v": 3})
    col.delete_one({"_id": "a"})


def test_change_stream_sees_insert_update_replace_delete_in_order(db: Db) -> None:
    db.watched.insert_one({"_id": "before"})  # before the stream: not reported
    with ChangeFeed(db.watched) as feed:
        _write_four_changes(db)
        events = _collect(feed, 4)
    assert len(events) == 4
    assert [e.document_key for e in events] == [{"_id": "a"}] * 4
    assert events[0].operation == "insert"
    assert events[0].full_document == {"_id": "a", "v": 1}
    assert events[1].operation == "update"
    assert events[1].full_document == {"_id": "a", "v": 2}  # updateLookup
    assert events[2].full_document == {"_id": "a", "v": 3}
    assert events[3].operation == "delete"
    assert {(e.database, e.collection) for e in events} == {(db.name, "watched")}
    tokens = [e.resume_token for e in events]
    assert len({str(t) for t in tokens}) == 4
    assert feed.resume_token == tokens[-1]


def test_gap_replace_is_reported_as_update_without_update_description(db: Db) -> None:
    # MongoDB: operationType "replace"; updates carry updateDescription.updatedFields.
    with ChangeFeed(db.watched) as feed:
        _write_four_changes(db)
        events = _collect(feed, 4)
    assert [e.operation for e in events] == ["insert", "update", "update", "delete"]
    assert events[1].updated_fields is None
    assert events[1].raw.get("updateDescription") is None


def test_gap_full_document_sent_without_update_lookup_and_on_delete(db: Db) -> None:
    # MongoDB: no fullDocument on update events unless updateLookup, never on delete events.
    with ChangeFeed(db.watched, full_document="default") as feed:
        _write_four_changes(db)
        events = _collect(feed, 4)
    assert events[1].full_document == {"_id": "a", "v": 2}
    assert events[3].full_document == {"_id": "a", "v": 3}


def test_gap_change_events_stringify_ids_and_encode_object_ids(db: Db) -> None:
    # MongoDB: documentKey {"_id": 1} and fullDocument {"_id": ObjectId(...)} as stored.
    oid = ObjectId()
    with ChangeFeed(db.ids) as feed:
        db.ids.insert_one({"_id": 1, "ref": oid})
        db.ids.insert_one({"_id": oid})
        events = _collect(feed, 2)
    raw_keys = [e.raw["documentKey"]["_id"] for e in events]
    assert raw_keys == ["1", oid]
    assert events[0].raw["fullDocument"]["ref"] == {"__neosqlite_objectid__": True, "id": str(oid)}
    assert events[1].raw["fullDocument"]["_id"] == {"__neosqlite_objectid__": True, "id": str(oid)}
    # ChangeEvent undoes both: typed keys and real ObjectIds, as real MongoDB sends them.
    assert [e.document_key["_id"] for e in events] == [1, oid]
    assert events[0].full_document == {"_id": 1, "ref": oid}
    assert events[1].full_document == {"_id": oid}


def test_change_stream_filters_operations_and_resumes_after_a_token(db: Db) -> None:
    with ChangeFeed(db.watched, operations=("insert", "delete")) as feed:
        _write_four_changes(db)
        db.watched.insert_one({"_id": "b"})
        events = _collect(feed, 3)
    assert [(e.operation, e.document_key["_id"]) for e in events] == [
        ("insert", "a"),
        ("delete", "a"),
        ("insert", "b"),
    ]
    with ChangeFeed(db.watched, resume_after=events[0].resume_token) as feed:
        rest = _collect(feed, 4)
    assert [e.operation for e in rest] == ["update", "update", "delete", "insert"]


def test_change_stream_resumes_after_server_restart(private_mongo: PrivateMongo) -> None:
    client = mongo_client(private_mongo.uri)
    col = get_collection(client, "events", database="game")
    with ChangeFeed(col) as feed:
        col.insert_one({"_id": 1})
        col.insert_one({"_id": 2})
        seen = _collect(feed, 2)
    token = seen[0].resume_token  # processed only the first event before the "crash"
    client.close()

    private_mongo.stop()
    private_mongo.start()

    client = mongo_client(private_mongo.uri)
    col = get_collection(client, "events", database="game")
    col.update_one({"_id": 1}, {"$set": {"v": "after restart"}})
    col.delete_one({"_id": 2})
    with ChangeFeed(col, resume_after=token) as feed:
        resumed = _collect(feed, 3)
    client.close()
    assert [(e.operation, e.document_key["_id"]) for e in resumed] == [
        ("insert", 2),
        ("update", 1),
        ("delete", 2),
    ]
    assert resumed[1].full_document == {"_id": 1, "v": "after restart"}
