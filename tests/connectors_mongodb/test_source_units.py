"""Source connector, pure parts: settings, topic names, change event -> record, JSON formatters,
resume-token offsets."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from bson import BSON, Code, Decimal128, Int64, ObjectId
from bson.datetime_ms import DatetimeMS

from telemetry_lib.connectors.api import ConnectorConfigError, SourceRecord
from telemetry_lib.connectors.mongodb.source_config import (
    SOURCE_CONFIG,
    parse_source_settings,
    topic_name,
)
from telemetry_lib.connectors.mongodb.source_records import (
    copied_event,
    copy_records,
    event_record,
    id_key,
    token_offset,
)
from telemetry_lib.mongo import decode_documents, encode_document, json_safe, resume_token_from_json

FMT = "com.mongodb.kafka.connect.source.json.formatter."
BASE = {"connection.uri": "mongodb://127.0.0.1:1", "database": "game", "collection": "events"}


def _settings(**extra: str):  # type: ignore[no-untyped-def]
    return parse_source_settings({**BASE, **extra})


def test_topic_name_joins_the_non_empty_parts() -> None:
    assert topic_name("", "game", "events", "") == "game.events"
    assert topic_name("mongo", "game", "events", "v1") == "mongo.game.events.v1"
    assert topic_name("p", "game", "events", "", separator="_") == "p_game_events"
    assert _settings(**{"topic.prefix": "mongo"}).topic == "mongo.game.events"


def test_defaults_follow_the_official_connector() -> None:
    s = _settings()
    assert s.startup_mode == "latest"
    assert s.formatter == "DefaultJson"
    assert s.full_document == "default"
    assert _settings(**{"publish.full.document.only": "true"}).full_document == "updateLookup"
    assert s.document_key_as_key and not s.full_document_only
    assert s.max_batch == 1000 and s.poll_await_ms == 5000
    assert s.source_partition == {"ns": "game.events"}
    assert _settings(**{"copy.existing": "true"}).startup_mode == "copy_existing"
    assert s.heartbeat_ms == 0 and s.heartbeat_topic == "__mongodb_heartbeats"


@pytest.mark.parametrize(
    ("prop", "value", "words"),
    [
        ("startup.mode", "earliest", "String must be one of"),
        ("pipeline", "{not json", "not valid JSON"),
        ("pipeline", '{"$match": {}}', "JSON array"),
        ("output.format.value", "bson", "not supported"),
        ("output.json.formatter", "x.Y", "Class not found"),
        ("poll.max.batch.size", "0", "at least 1"),
        ("collection", "", "name the collection"),
        ("startup.mode.timestamp.start.at.operation.time", "yesterday", "ISO-8601"),
    ],
)
def test_bad_properties_are_named(prop: str, value: str, words: str) -> None:
    with pytest.raises(ConnectorConfigError) as info:
        _settings(**{prop: value})
    assert info.value.name == prop
    assert words in str(info.value)
    errors = {r.name: r.errors for r in SOURCE_CONFIG.validate({**BASE, prop: value})}
    assert errors[prop] and words in errors[prop][0]


def test_missing_uri_and_bad_scheme() -> None:
    assert SOURCE_CONFIG.validate({"database": "d", "collection": "c"})[0].errors
    with pytest.raises(ConnectorConfigError, match="mongodb://"):
        parse_source_settings({**BASE, "connection.uri": "http://x"})


def test_operation_time_accepts_seconds_and_iso() -> None:
    s = _settings(**{"startup.mode": "timestamp",
                     "startup.mode.timestamp.start.at.operation.time": "2024-01-01T00:00:00Z"})  # fmt: skip
    assert s.start_at_seconds == 1704067200
    s = _settings(**{"startup.mode": "timestamp",
                     "startup.mode.timestamp.start.at.operation.time": "1704067200"})  # fmt: skip
    assert s.start_at_seconds == 1704067200


EVENT = {
    "_id": {"_data": "nx:7"},
    "operationType": "insert",
    "documentKey": {"_id": "e1"},
    "fullDocument": {"_id": "e1", "player_id": "P1", "timestamp": Int64(1700000000000)},
    "ns": {"db": "game", "coll": "events"},
}


def test_change_event_record_key_value_offset() -> None:
    s = _settings()
    record = event_record(EVENT, token_offset({"_data": "nx:7"}), s)
    assert record is not None
    assert record.topic == "game.events"
    assert json.loads(record.key) == {"_id": "e1"}
    value = json.loads(record.value)
    assert value["operationType"] == "insert"
    assert value["fullDocument"]["timestamp"] == {"$numberLong": "1700000000000"}  # DefaultJson
    assert record.source_partition == {"ns": "game.events"}
    assert resume_token_from_json(record.source_offset["_id"]) == {"_data": "nx:7"}
    assert "copy" not in record.source_offset


def test_full_document_only_simplified_json_and_resume_token_key() -> None:
    s = _settings(**{"publish.full.document.only": "true",
                     "output.json.formatter": FMT + "SimplifiedJson",
                     "change.stream.document.key.as.key": "false"})  # fmt: skip
    record = event_record(EVENT, token_offset({"_data": "nx:7"}), s)
    assert record is not None
    assert json.loads(record.value) == {"_id": "e1", "player_id": "P1", "timestamp": 1700000000000}
    assert json.loads(record.key) == {"_id": {"_data": "nx:7"}}


def test_deletes_are_skipped_or_tombstones_with_full_document_only() -> None:
    delete = {**EVENT, "operationType": "delete"}
    delete.pop("fullDocument")
    only = _settings(**{"publish.full.document.only": "true"})
    assert event_record(delete, {}, only) is None
    tomb = _settings(**{"publish.full.document.only": "true",
                        "publish.full.document.only.tombstone.on.delete": "true"})  # fmt: skip
    record = event_record(delete, {}, tomb)
    assert record is not None and record.value is None and json.loads(record.key) == {"_id": "e1"}
    whole = event_record(delete, {}, _settings())
    assert whole is not None and json.loads(whole.value)["operationType"] == "delete"


def test_schema_output_is_a_structured_value() -> None:
    s = _settings(**{"output.format.value": "schema", "output.format.key": "schema",
                     "publish.full.document.only": "true"})  # fmt: skip
    record = event_record(EVENT, {}, s)
    assert record is not None
    assert record.value == {"_id": "e1", "player_id": "P1", "timestamp": 1700000000000}
    assert record.key == {"_id": "e1"}


def test_copied_document_is_an_insert_event_with_a_copy_offset() -> None:
    s = _settings()
    event = copied_event({"_id": 5, "v": 1}, s)
    assert event["operationType"] == "insert" and event["documentKey"] == {"_id": 5}
    assert event["_id"] == {"_id": 5, "copyingData": True}
    offset = token_offset({"_data": "nx:0"}, copying=True)
    assert offset["copy"] == "true"
    assert id_key(5) != id_key("5")


def test_formatters() -> None:
    oid = ObjectId("65f000000000000000000000")
    doc = {
        "_id": oid, "n": Int64(5), "i": 3, "f": 1.5, "dec": Decimal128("1.5"),
        "t": dt.datetime(2023, 1, 1, 1, 2, 3, 123000, tzinfo=dt.UTC),
        "t0": dt.datetime(2023, 1, 1, tzinfo=dt.UTC), "b": b"ab", "nested": [{"x": Int64(2**40)}],
    }  # fmt: skip
    default = json.loads(encode_document(doc, "DefaultJson"))
    assert default["_id"] == {"$oid": str(oid)}
    assert default["n"] == {"$numberLong": "5"} and default["i"] == 3 and default["f"] == 1.5
    assert default["t"] == {"$date": 1672534923123}
    assert default["dec"] == {"$numberDecimal": "1.5"}
    assert default["b"] == {"$binary": "YWI=", "$type": "00"}
    assert default["nested"] == [{"x": {"$numberLong": str(2**40)}}]
    simple = json.loads(encode_document(doc, "SimplifiedJson"))
    assert simple["_id"] == str(oid) and simple["n"] == 5
    assert simple["t"] == "2023-01-01T01:02:03.123Z" and simple["t0"] == "2023-01-01T00:00:00Z"
    assert simple["dec"] == "1.5" and simple["b"] == "YWI=" and simple["nested"] == [{"x": 2**40}]
    extended = json.loads(encode_document(doc, "ExtendedJson"))
    assert extended["i"] == {"$numberInt": "3"} and extended["f"] == {"$numberDouble": "1.5"}
    assert extended["t"] == {"$date": {"$numberLong": "1672534923123"}}


def test_flat_documents_encode_as_the_general_walk_does() -> None:
    oid = ObjectId("65f000000000000000000000")
    flat = {"_id": oid, "n": Int64(5), "i": 3, "big": 2**40, "dec": Decimal128("1.5"),
            "s": "x", "f": 1.5, "b": True, "z": None}  # fmt: skip
    nested = {"wrap": flat}  # the walk path
    for formatter in ("DefaultJson", "SimplifiedJson"):
        assert json.loads(encode_document(nested, formatter))["wrap"] == json.loads(
            encode_document(flat, formatter)
        )
    assert json.loads(encode_document(flat, "DefaultJson"))["n"] == {"$numberLong": "5"}


def _as_decoded(doc: dict) -> dict:  # type: ignore[type-arg]
    """``doc`` as the source's raw paths decode it (BSON round trip, dates as DatetimeMS)."""
    return decode_documents(BSON.encode(doc))[0]


def test_documents_decoded_with_ms_dates_encode_as_datetimes_do() -> None:
    oid = ObjectId("65f000000000000000000000")
    doc = {
        "_id": oid, "n": Int64(5), "i": 3, "f": 1.5, "dec": Decimal128("1.5"),
        "t": dt.datetime(2023, 1, 1, 1, 2, 3, 123000, tzinfo=dt.UTC),
        "t0": dt.datetime(2023, 1, 1, tzinfo=dt.UTC), "b": b"ab", "s": "x", "z": None,
        "nested": [{"x": Int64(2**40), "when": dt.datetime(1969, 12, 31, 23, 59, tzinfo=dt.UTC)}],
        "deep": {"ids": [oid], "flag": True},
    }  # fmt: skip
    decoded = _as_decoded(doc)
    assert isinstance(decoded["t"], DatetimeMS)
    for formatter in ("DefaultJson", "SimplifiedJson", "ExtendedJson"):
        expected = json.loads(encode_document(doc, formatter))  # type: ignore[arg-type]
        assert json.loads(encode_document(decoded, formatter, ms_dates=True)) == expected  # type: ignore[arg-type]
        assert json.loads(encode_document(decoded, formatter)) == expected  # type: ignore[arg-type]
        flat = {k: v for k, v in decoded.items() if k not in ("nested", "deep", "b")}
        assert json.loads(encode_document(flat, formatter, ms_dates=True)) == {  # type: ignore[arg-type]
            k: v for k, v in expected.items() if k not in ("nested", "deep", "b")
        }
    assert json_safe(decoded)["t"] == json_safe(doc)["t"] == "2023-01-01T01:02:03.123Z"


def test_dates_outside_datetimes_years_are_written_as_relaxed_extended_json() -> None:
    far = DatetimeMS(253_402_300_800_000)  # 10000-01-01
    assert json.loads(encode_document({"t": far}, "SimplifiedJson", ms_dates=True)) == {
        "t": {"$date": {"$numberLong": "253402300800000"}}
    }
    assert json.loads(encode_document({"t": far}, "DefaultJson")) == {"t": {"$date": 253402300800000}}
    assert json_safe({"t": far}) == {"t": 253402300800000}


def test_javascript_code_is_written_as_code() -> None:
    for formatter in ("DefaultJson", "SimplifiedJson"):
        for ms_dates in (False, True):
            text = encode_document({"c": Code("x = 1"), "w": [Code("y")]}, formatter, ms_dates=ms_dates)  # type: ignore[arg-type]
            assert json.loads(text) == {"c": {"$code": "x = 1"}, "w": [{"$code": "y"}]}


@pytest.mark.parametrize(
    "extra",
    [
        {"publish.full.document.only": "true", "output.json.formatter": FMT + "SimplifiedJson"},
        {"publish.full.document.only": "true"},
        {"publish.full.document.only": "true", "change.stream.document.key.as.key": "false"},
        {},
        {"output.json.formatter": FMT + "ExtendedJson"},
        {"output.format.value": "schema", "output.format.key": "schema"},
        {"output.json.formatter": FMT + "SimplifiedJson", "change.stream.document.key.as.key": "false"},
    ],
)
def test_copy_records_equal_the_per_document_records(extra: dict[str, str]) -> None:
    s = _settings(**extra)
    oid = ObjectId("65f000000000000000000001")
    docs = [
        {"_id": 1, "n": Int64(2**40), "t": dt.datetime(2023, 5, 1, 12, 0, 0, 5000, tzinfo=dt.UTC)},
        {"_id": oid, "nested": {"a": [1, {"b": oid}]}, "s": "x"},
        {"_id": {"compound": "key", "n": 2}, "f": 2.5},
        {"_id": "text", "dec": Decimal128("0.1")},
    ]
    offset = token_offset({"_data": "nx:9"}, copying=True)
    decoded = [_as_decoded(d) for d in docs]
    expected = [event_record(copied_event(d, s), offset, s) for d in docs]
    assert copy_records(decoded, offset, s) == expected
    assert all(type(r) is SourceRecord for r in expected)
