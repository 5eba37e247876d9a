"""The source and sink tasks against the real embedded NX-27017: copy/stream boundary, resume
from the committed offset, MongoDB restarts under both tasks, per-record errors in a batch."""

from __future__ import annotations

import json
import struct
from typing import Any

import pytest
from pymongo.database import Database

from telemetry_lib.connectors.api import RetriableError, SinkRecord, SourceRecord
from telemetry_lib.connectors.mongodb import MongoSinkTask, MongoSourceTask
from telemetry_lib.mongo import Document, get_collection, mongo_client
from tests.connectors_mongodb.conftest import TaskContext
from tests.mongo.conftest import PrivateMongo

pytestmark = pytest.mark.integration

FMT = "com.mongodb.kafka.connect.source.json.formatter.SimplifiedJson"
ID = "com.mongodb.kafka.connect.sink.processor.id.strategy."


def _source(uri: str, db: str, ctx: TaskContext, **extra: str) -> MongoSourceTask:
    task = MongoSourceTask()
    task.initialize(ctx)
    task.start({"connection.uri": uri, "database": db, "collection": "events",
                "publish.full.document.only": "true", "output.json.formatter": FMT,
                "poll.max.batch.size": "300", "poll.await.time.ms": "300", **extra})  # fmt: skip
    return task


def _acknowledge(ctx: TaskContext, records: list[SourceRecord]) -> None:
    """What the worker does after Kafka acknowledged a poll's records: store the last offset."""
    if records:
        ctx.offset_reader.store(records[-1].source_partition, records[-1].source_offset)


def _drain(task: MongoSourceTask, ctx: TaskContext, *, polls: int = 40) -> list[SourceRecord]:
    out: list[SourceRecord] = []
    empty = 0
    for _ in range(polls):
        records = task.poll()
        _acknowledge(ctx, records)
        out.extend(records)
        empty = 0 if records else empty + 1
        if empty >= 3:  # a poll waits up to ~1 s: three empty ones mean nothing is left
            break
    return out


def _ids(records: list[SourceRecord]) -> list[Any]:
    return [json.loads(r.value)["_id"] for r in records if r.value is not None]


def test_copy_existing_then_stream_has_no_loss_or_duplicate_at_the_boundary(
    db: Database[Document], mongo_uri: str
) -> None:
    db.events.insert_many([{"_id": f"e{i:04d}", "v": i} for i in range(1000)])
    ctx = TaskContext()
    task = _source(mongo_uri, db.name, ctx, **{"startup.mode": "copy_existing"})
    try:
        first = task.poll()  # the stream is open: these writes are in the copy or the stream
        _acknowledge(ctx, first)
        assert all(r.source_offset.get("copy") == "true" for r in first)
        db.events.insert_many([{"_id": f"n{i:04d}", "v": i} for i in range(200)])
        db.events.update_one({"_id": "e0001"}, {"$set": {"v": -1}})
        rest = _drain(task, ctx)
        db.events.insert_one({"_id": "late", "v": 0})
        rest += _drain(task, ctx)
    finally:
        task.stop()
    ids = _ids(first + rest)
    inserted = {f"e{i:04d}" for i in range(1000)} | {f"n{i:04d}" for i in range(200)} | {"late"}
    # every document once, plus the update of e0001 (which happened after the copy read it or
    # before — either way the last record of e0001 has v = -1)
    assert set(ids) == inserted
    assert len([i for i in ids if i != "e0001"]) == len(inserted) - 1
    assert [json.loads(r.value)["v"] for r in first + rest if '"e0001"' in r.key][-1] == -1
    stored = ctx.offset_reader.offset({"ns": f"{db.name}.events"})
    assert stored is not None and "copy" not in stored  # the copy is complete: resumable


def test_restart_resumes_after_the_committed_offset(db: Database[Document], mongo_uri: str) -> None:
    ctx = TaskContext()
    task = _source(mongo_uri, db.name, ctx)
    task.poll()  # opens the stream (startup.mode=latest)
    db.events.insert_many([{"_id": i, "v": i} for i in range(100)])
    seen = _drain(task, ctx)
    task.stop()
    assert _ids(seen) == list(range(100))
    # written while no task runs, then a new task with the stored offset
    db.events.insert_many([{"_id": i, "v": i} for i in range(100, 150)])
    task = _source(mongo_uri, db.name, ctx)
    try:
        db.events.insert_many([{"_id": i, "v": i} for i in range(150, 200)])
        resumed = _drain(task, ctx)
    finally:
        task.stop()
    assert _ids(resumed) == list(range(100, 200))


def test_source_survives_a_mongo_restart(private_mongo: PrivateMongo) -> None:
    client = mongo_client(private_mongo.uri)
    col = get_collection(client, "events", database="game")
    ctx = TaskContext()
    task = _source(private_mongo.uri, "game", ctx, **{"startup.mode": "copy_existing"})
    col.insert_many([{"_id": i} for i in range(50)])
    got = _drain(task, ctx)
    private_mongo.stop()
    with pytest.raises(RetriableError, match="MongoDB source"):
        for _ in range(30):  # a poll waits at most ~1 s; the failure shows within seconds
            task.poll()
    private_mongo.start()
    col.insert_many([{"_id": i} for i in range(50, 80)])
    for _ in range(20):  # the worker polls again after its backoff
        try:
            got += _drain(task, ctx)
            break
        except RetriableError:
            continue
    task.stop()
    client.close()
    assert sorted(_ids(got)) == list(range(80))
    assert len(_ids(got)) == 80


def _sink(uri: str, ctx: TaskContext, **extra: str) -> MongoSinkTask:
    task = MongoSinkTask()
    task.initialize(ctx)
    task.start({"connection.uri": uri, "database": "game", "collection": "kills",
                "document.id.strategy": ID + "ProvidedInKeyStrategy",
                "ksql.key.columns": "PLAYER_ID STRING", "ksql.window.type": "TUMBLING",
                "ksql.window.size": "5 MINUTES", "max.num.retries": "1",
                "retries.defer.timeout": "50", **extra})  # fmt: skip
    return task


def _kill_records(n: int, offset0: int = 0) -> list[SinkRecord]:
    return [
        SinkRecord(
            "KILLS",
            0,
            offset0 + i,
            None,
            {"KILL_COUNT": i},
            raw_key=f"P{i % 7}".encode() + struct.pack(">q", (i // 7) * 300_000),
        )  # fmt: skip
        for i in range(n)
    ]


def test_sink_retries_while_mongo_is_down_and_loses_nothing(private_mongo: PrivateMongo) -> None:
    ctx = TaskContext()
    task = _sink(private_mongo.uri, ctx)
    records = _kill_records(140)
    task.put(records[:70])
    private_mongo.stop()
    with pytest.raises(RetriableError, match="MongoDB sink"):
        task.put(records[70:])
    private_mongo.start()
    task.put(records[70:])  # the worker delivers the same batch again
    task.put(records[60:80])  # and a redelivery after a crash changes nothing
    task.stop()
    client = mongo_client(private_mongo.uri)
    docs = list(client.game.kills.find())
    client.close()
    assert len(docs) == 140 and not ctx.reports
    by_id = {d["_id"]: d for d in docs}
    for i in range(140):
        start = (i // 7) * 300_000
        doc = by_id[f"P{i % 7}|{start}|{start + 300_000}"]
        assert doc["KILL_COUNT"] == i and doc["PLAYER_ID"] == f"P{i % 7}"
        assert (doc["WINDOWSTART"], doc["WINDOWEND"]) == (start, start + 300_000)


def test_sink_reports_bad_records_and_writes_the_rest(
    db: Database[Document], mongo_uri: str
) -> None:
    ctx = TaskContext()
    task = MongoSinkTask()
    task.initialize(ctx)
    task.start({"connection.uri": mongo_uri, "database": db.name, "collection": "ins",
                "document.id.strategy": ID + "ProvidedInValueStrategy",
                "writemodel.strategy":
                    "com.mongodb.kafka.connect.sink.writemodel.strategy.InsertOneDefaultStrategy"})  # fmt: skip
    values: list[Any] = [{"_id": 1}, {"_id": 1}, [1], {"_id": 2}, {"no_id": True}, {"_id": 3}]
    task.put([SinkRecord("t", 0, i, None, v) for i, v in enumerate(values)])
    task.stop()
    assert sorted(d["_id"] for d in db.ins.find()) == [1, 2, 3]
    reported = {r.offset: str(e) for r, e in ctx.reports}
    assert sorted(reported) == [1, 2, 4]
    assert "duplicate" in reported[1].lower() or "unique" in reported[1].lower()
    assert "not a document" in reported[2] and "_id field not found" in reported[4]


def test_a_copy_ending_on_a_batch_boundary_still_commits_a_stream_position(
    db: Database[Document], mongo_uri: str
) -> None:
    db.events.insert_many([{"_id": i} for i in range(600)])  # exactly two batches of 300
    ctx = TaskContext()
    task = _source(mongo_uri, db.name, ctx, **{"startup.mode": "copy_existing"})
    try:
        copied = _drain(task, ctx)
    finally:
        task.stop()
    assert sorted(_ids(copied)) == list(range(600))
    assert "copy" not in copied[-1].source_offset
    # a restart now streams (no second copy)
    task = _source(mongo_uri, db.name, ctx, **{"startup.mode": "copy_existing"})
    try:
        db.events.insert_one({"_id": 600})
        assert _ids(_drain(task, ctx)) == [600]
    finally:
        task.stop()


def test_pipeline_filters_the_stream_and_whole_change_events_are_published(
    db: Database[Document], mongo_uri: str
) -> None:
    ctx = TaskContext()
    task = _source(mongo_uri, db.name, ctx, **{
        "publish.full.document.only": "false",
        "pipeline": '[{"$match": {"operationType": {"$in": ["insert", "delete"]}}}]',
    })  # fmt: skip
    try:
        task.poll()  # opens the stream
        db.events.insert_one({"_id": "a", "v": 1})
        db.events.update_one({"_id": "a"}, {"$set": {"v": 2}})
        db.events.delete_one({"_id": "a"})
        records = _drain(task, ctx)
    finally:
        task.stop()
    events = [json.loads(r.value) for r in records]
    assert [e["operationType"] for e in events] == ["insert", "delete"]
    assert events[0]["fullDocument"] == {"_id": "a", "v": 1}
    assert "fullDocument" not in events[1]  # as MongoDB sends deletes
    assert [json.loads(r.key) for r in records] == [{"_id": "a"}, {"_id": "a"}]
    assert events[0]["ns"] == {"db": db.name, "coll": "events"}


def test_a_getmore_larger_than_a_poll_is_handed_out_in_bounded_polls(
    db: Database[Document], mongo_uri: str
) -> None:
    ctx = TaskContext()
    task = _source(mongo_uri, db.name, ctx, **{"poll.max.batch.size": "7", "batch.size": "50"})
    task.poll()  # opens the stream (startup.mode=latest)
    db.events.insert_many([{"_id": i, "v": i} for i in range(40)])
    polls: list[list[SourceRecord]] = []
    while sum(len(p) for p in polls) < 17:
        records = task.poll()
        _acknowledge(ctx, records)
        polls.append(records)
    task.stop()  # events of the getMore not handed out yet are dropped with the task
    assert all(len(p) <= 7 for p in polls)
    seen = [r for p in polls for r in p]
    # the stored offset is the last handed-out event: a new task continues right after it
    db.events.insert_many([{"_id": i, "v": i} for i in range(40, 45)])
    task = _source(mongo_uri, db.name, ctx, **{"poll.max.batch.size": "7", "batch.size": "50"})
    try:
        rest = _drain(task, ctx)
    finally:
        task.stop()
    assert _ids(seen + rest) == list(range(45))


_DELETES_ONLY = '[{"$match": {"operationType": "delete"}}]'


def test_heartbeats_store_the_position_past_filtered_events(
    db: Database[Document], mongo_uri: str
) -> None:
    ctx = TaskContext()
    beat = {"pipeline": _DELETES_ONLY, "heartbeat.interval.ms": "1",
            "publish.full.document.only": "false"}  # fmt: skip
    task = _source(mongo_uri, db.name, ctx, **beat)
    try:
        task.poll()  # opens the stream
        offset_before = ctx.offset_reader.offset({"ns": f"{db.name}.events"})
        db.events.insert_many([{"_id": i} for i in range(30)])  # all filtered out
        records = _drain(task, ctx)
    finally:
        task.stop()
    beats = [r for r in records if r.topic == "__mongodb_heartbeats"]
    assert beats and len(beats) == len(records)  # nothing else was published
    last = beats[-1]
    assert last.value is None and last.key == last.source_offset["_id"]
    assert last.source_offset["HEARTBEAT"] == "true"
    stored = ctx.offset_reader.offset({"ns": f"{db.name}.events"})
    assert stored is not None and stored != offset_before
    # the stored heartbeat position resumes the stream: a delete after it is published once
    db.events.delete_one({"_id": 3})
    task = _source(mongo_uri, db.name, ctx, **beat)
    try:
        resumed = [r for r in _drain(task, ctx) if r.topic != "__mongodb_heartbeats"]
    finally:
        task.stop()
    assert [json.loads(r.key) for r in resumed] == [{"_id": 3}]


def test_no_heartbeats_by_default(db: Database[Document], mongo_uri: str) -> None:
    ctx = TaskContext()
    task = _source(mongo_uri, db.name, ctx, pipeline=_DELETES_ONLY)
    try:
        task.poll()
        db.events.insert_many([{"_id": i} for i in range(5)])
        assert _drain(task, ctx) == []
    finally:
        task.stop()


def test_a_stream_the_server_closed_goes_on_after_its_position(
    db: Database[Document], mongo_uri: str
) -> None:
    ctx = TaskContext()
    task = _source(mongo_uri, db.name, ctx)
    try:
        task.poll()  # opens the stream
        db.events.insert_many([{"_id": i, "v": i} for i in range(10)])
        seen = _drain(task, ctx)
        # the server ends the stream (as MongoDB does after a drop's invalidate event)
        raw = task._raw
        assert raw is not None
        db.command("killCursors", "events", cursors=[raw._cursor.cursor_id])
        db.events.insert_many([{"_id": i, "v": i} for i in range(10, 20)])
        failures = 0
        for _ in range(40):
            try:
                records = task.poll()
            except RetriableError:
                failures += 1
                continue
            _acknowledge(ctx, records)
            seen += records
            if len(seen) >= 20:
                break
    finally:
        task.stop()
    assert failures == 1  # the poll that found the stream closed; the next one reopened it
    assert _ids(seen) == list(range(20))
