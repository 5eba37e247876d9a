"""Sink connector, pure parts: settings, ksqlDB (windowed) keys, id strategies, write models."""

from __future__ import annotations

import datetime as dt
import struct

import pytest
from bson import ObjectId

from telemetry_lib.connectors.api import ConnectorConfigError, DataError, SinkRecord
from telemetry_lib.connectors.mongodb.sink import MongoSinkConnector
from telemetry_lib.connectors.mongodb.sink_config import parse_sink_settings
from telemetry_lib.connectors.mongodb.sink_models import build_write_op
from telemetry_lib.connectors.mongodb.windowed_keys import parse_key_spec
from telemetry_lib.mongo import WriteOp

ID = "com.mongodb.kafka.connect.sink.processor.id.strategy."
WM = "com.mongodb.kafka.connect.sink.writemodel.strategy."
BASE = {"connection.uri": "mongodb://127.0.0.1:1", "database": "game"}
NOW = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
WINDOWED = {
    "document.id.strategy": ID + "ProvidedInKeyStrategy",
    "ksql.key.columns": "PLAYER_ID STRING",
    "ksql.window.type": "TUMBLING",
    "ksql.window.size": "5 MINUTES",
}


def _op(props: dict[str, str], record: SinkRecord) -> WriteOp | None:
    return build_write_op(record, parse_sink_settings({**BASE, **props}), now=NOW)


def _rec(
    value: object, key: object = None, raw_key: bytes | None = None, offset: int = 3
) -> SinkRecord:
    return SinkRecord("topic-a", 1, offset, key, value, raw_key=raw_key)


def _windowed_key(player: str, start: int) -> bytes:
    return player.encode() + struct.pack(">q", start)


def test_windowed_ksql_key_becomes_a_readable_string_id_with_fields() -> None:
    op = _op(WINDOWED, _rec({"KILL_COUNT": 3}, raw_key=_windowed_key("P1", 1_700_000_100_000)))
    assert op is not None and op.kind == "replace" and op.upsert
    doc = {"_id": "P1|1700000100000|1700000400000", "KILL_COUNT": 3, "PLAYER_ID": "P1",
           "WINDOWSTART": 1_700_000_100_000, "WINDOWEND": 1_700_000_400_000}  # fmt: skip
    assert op.filter == {"_id": doc["_id"]}
    assert dict(op.document or {}) == doc  # the replacement carries its _id (NX-27017 gap)


def test_windowed_tombstone_deletes_by_the_same_id() -> None:
    props = {**WINDOWED, "delete.on.null.values": "true"}
    op = _op(props, _rec(None, raw_key=_windowed_key("P1", 0)))
    assert op == WriteOp("delete", {"_id": "P1|0|300000"})
    assert _op(WINDOWED, _rec(None, raw_key=_windowed_key("P1", 0))) is None


def test_session_and_json_keys() -> None:
    spec = parse_key_spec("A STRING, B INT", "JSON", "SESSION", "")
    assert spec is not None
    raw = b'{"A":"x","B":2}' + struct.pack(">q", 900) + struct.pack(">q", 100)
    assert spec.key_document(raw) == {"_id": "x|2|100|900", "A": "x", "B": 2,
                                      "WINDOWSTART": 100, "WINDOWEND": 900}  # fmt: skip
    plain = parse_key_spec("ID BIGINT", "KAFKA", "", "")
    assert plain is not None and plain.key_document(struct.pack(">q", 42)) == {
        "_id": "42",
        "ID": 42,
    }


@pytest.mark.parametrize(
    ("raw", "words"),
    [(b"P", "shorter"), (None, "no key"), (b"P|1" + struct.pack(">q", 0), "contain '|'")],
)
def test_undecodable_keys_are_data_errors(raw: bytes | None, words: str) -> None:
    with pytest.raises(DataError, match=words):
        _op(WINDOWED, _rec({"v": 1}, raw_key=raw))


@pytest.mark.parametrize(
    ("props", "prop"),
    [
        ({"ksql.window.type": "TUMBLING"}, "ksql.key.columns"),
        ({**WINDOWED, "ksql.window.size": "5 BOBS"}, "ksql.window.size"),
        ({**WINDOWED, "ksql.window.size": ""}, "ksql.window.size"),
        ({**WINDOWED, "document.id.strategy": ID + "BsonOidStrategy"}, "document.id.strategy"),
        ({**WINDOWED, "ksql.key.columns": "A STRING, B STRING"}, "ksql.key.columns"),
        ({"document.id.strategy": "x.Nope"}, "document.id.strategy"),
        ({"writemodel.strategy": WM + "ReplaceOneBusinessKeyStrategy"}, "writemodel.strategy"),
        (
            {"document.id.strategy.partial.value.projection.type": "AllowList"},
            "document.id.strategy.partial.value.projection.list",
        ),
        ({"max.batch.size": "-1"}, "max.batch.size"),
    ],
)
def test_bad_sink_properties_are_named(props: dict[str, str], prop: str) -> None:
    with pytest.raises(ConnectorConfigError) as info:
        parse_sink_settings({**BASE, **props})
    assert info.value.name == prop
    errors = {r.name: r.errors for r in MongoSinkConnector().validate({**BASE, **props})}
    assert errors[prop], errors


def test_database_is_required() -> None:
    errors = {
        r.name: r.errors for r in MongoSinkConnector().validate({"connection.uri": "mongodb://h"})
    }
    assert "database" in errors and errors["database"]


def test_id_strategies() -> None:
    assert isinstance(dict(_op({}, _rec({"v": 1})).document or {})["_id"], ObjectId)  # type: ignore[union-attr]
    kept = _op({}, _rec({"_id": "mine", "v": 1}))
    assert kept is not None and kept.filter == {"_id": "mine"}
    key = _op(
        {"document.id.strategy": ID + "ProvidedInKeyStrategy"}, _rec({"v": 1}, key={"_id": 7})
    )
    assert key is not None and key.filter == {"_id": 7}
    full = _op({"document.id.strategy": ID + "FullKeyStrategy"}, _rec({"v": 1}, key="P1"))
    assert full is not None and full.filter == {"_id": "P1"}
    meta = _op({"document.id.strategy": ID + "KafkaMetaDataStrategy"}, _rec({"v": 1}))
    assert meta is not None and meta.filter == {"_id": "topic-a-1-3"}
    partial = {"document.id.strategy": ID + "PartialValueStrategy",
               "document.id.strategy.partial.value.projection.type": "AllowList",
               "document.id.strategy.partial.value.projection.list": "p,w.x"}  # fmt: skip
    op = _op(partial, _rec({"p": "P1", "w": {"x": 5}, "v": 1}))
    assert op is not None and op.filter == {"_id": "P1|5"}
    op = _op(
        {**partial, "document.id.compound.format": "document"}, _rec({"p": "P1", "w": {"x": 5}})
    )
    assert op is not None and op.filter == {"_id": {"p": "P1", "w.x": 5}}
    overwrite = _op({"document.id.strategy": ID + "ProvidedInKeyStrategy",
                     "document.id.strategy.overwrite.existing": "true"},
                    _rec({"_id": "old"}, key={"_id": "new"}))  # fmt: skip
    assert overwrite is not None and overwrite.filter == {"_id": "new"}


@pytest.mark.parametrize(
    ("props", "record", "words"),
    [
        (
            {"document.id.strategy": ID + "ProvidedInValueStrategy"},
            _rec({"v": 1}),
            "not found in the value",
        ),
        (
            {"document.id.strategy": ID + "ProvidedInKeyStrategy"},
            _rec({"v": 1}, key="k"),
            "not found in the key",
        ),
        ({}, _rec([1, 2]), "not a document"),
        ({}, _rec("text"), "not a document"),
        ({"delete.on.null.values": "true"}, _rec(None), "only by an id from the key"),
    ],
)
def test_unwritable_records_are_data_errors(
    props: dict[str, str], record: SinkRecord, words: str
) -> None:
    with pytest.raises(DataError, match=words):
        _op(props, record)


def test_write_models() -> None:
    pid = {"document.id.strategy": ID + "ProvidedInValueStrategy"}
    rec = _rec({"_id": "a", "v": 1})
    assert _op({**pid, "writemodel.strategy": WM + "InsertOneDefaultStrategy"}, rec) == WriteOp(
        "insert", document={"_id": "a", "v": 1})  # fmt: skip
    update = _op({**pid, "writemodel.strategy": WM + "UpdateOneDefaultStrategy"}, rec)
    assert update == WriteOp("update", {"_id": "a"}, {"$set": {"v": 1}}, upsert=True)
    ts = _op({**pid, "writemodel.strategy": WM + "UpdateOneTimestampsStrategy"}, rec)
    assert ts is not None and ts.filter == {"_id": "a"} and ts.upsert
    assert dict(ts.document or {}) == {"$set": {"v": 1}, "$currentDate": {"_modifiedTS": True},
                                       "$setOnInsert": {"_insertedTS": NOW}}  # fmt: skip
    business = {"document.id.strategy": ID + "PartialValueStrategy",
                "document.id.strategy.partial.value.projection.type": "AllowList",
                "document.id.strategy.partial.value.projection.list": "p",
                "writemodel.strategy": WM + "ReplaceOneBusinessKeyStrategy"}  # fmt: skip
    op = _op(business, _rec({"p": "P1", "v": 2}))
    assert op == WriteOp("replace", {"p": "P1"}, {"p": "P1", "v": 2}, upsert=True)
    delete = _op({**pid, "writemodel.strategy": WM + "DeleteOneDefaultStrategy"}, rec)
    assert delete == WriteOp("delete", {"_id": "a"})
