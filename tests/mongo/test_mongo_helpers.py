"""The Mongo helpers against the real NX-27017 (seed, read_collection, _id upserts, client
errors) and their pure parts (BSON -> plain values, composite ids)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from bson import Binary, Decimal128, ObjectId
from pymongo.database import Database

from telemetry_lib.config import Settings
from telemetry_lib.errors import MongoError
from telemetry_lib.mongo import (
    Document,
    compound_id,
    delete_by_ids,
    documents_to_frame,
    get_collection,
    json_safe,
    mongo_client,
    plain_value,
    read_collection,
    replace_by_id,
    seed,
    update_by_id,
)
from telemetry_lib.services import free_port

Db = Database[Document]


@pytest.mark.integration
def test_seed_in_batches_with_progress_bar(db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    docs = ({"player_id": f"P{i % 3}", "n": i} for i in range(250))  # a generator: no len()
    result = seed(db.seeded, docs, batch_size=100, progress=True)
    assert (result.inserted, result.collection) == (250, f"{db.name}.seeded")
    assert db.seeded.count_documents({}) == 250
    assert "250" in capsys.readouterr().err  # tqdm's final count


@pytest.mark.integration
def test_seed_does_not_modify_the_callers_documents(db: Db) -> None:
    docs = [{"a": 1}, {"a": 2}]
    seed(db.pure, docs, progress=False)
    assert docs == [{"a": 1}, {"a": 2}]


@pytest.mark.integration
def test_seed_duplicate_id_raises_mongo_error_with_progress_so_far(db: Db) -> None:
    with pytest.raises(MongoError, match="after 3 documents"):
        seed(db.dups, [{"_id": i % 3} for i in range(5)], batch_size=2, progress=False)


@pytest.mark.integration
def test_read_collection_to_polars(db: Db) -> None:
    oid = ObjectId()
    db.rc.insert_many(
        [
            {"_id": oid, "player_id": "P1", "kills": 3, "pos": {"x": 1.5, "y": 2.0}},
            {"_id": "s", "player_id": "P2", "when": dt.datetime(2024, 5, 1, tzinfo=dt.UTC)},
        ]
    )
    frame = read_collection(db.rc, sort=[("player_id", 1)])
    assert frame["_id"].to_list() == [str(oid), "s"]
    assert frame["kills"].to_list() == [3, None]
    assert frame["pos"].to_list() == [{"x": 1.5, "y": 2.0}, None]
    assert frame.schema["when"] == pl.Datetime("us", "UTC")
    only = read_collection(db.rc, {"player_id": "P2"}, projection={"_id": 0, "player_id": 1})
    assert only.to_dicts() == [{"player_id": "P2"}]
    assert read_collection(db.rc, limit=1, sort=[("player_id", -1)])["player_id"].to_list() == [
        "P2"
    ]
    empty = read_collection(db.rc, {"player_id": "nobody"}, schema={"player_id": pl.String()})
    assert (empty.height, empty.schema) == (0, pl.Schema({"player_id": pl.String()}))


@pytest.mark.integration
def test_replace_by_id_is_an_idempotent_upsert(db: Db) -> None:
    rows = [
        {"_id": compound_id("P1", 300000), "kills": 1},
        {"_id": compound_id("P2", 0), "kills": 0},
    ]
    first = replace_by_id(db.kr, rows)
    assert first.upserted == 2
    rows[0] = {"_id": "P1|300000", "kills": 5}
    second = replace_by_id(db.kr, rows, batch_size=1)
    assert (second.upserted, second.matched) == (0, 2)
    assert sorted(db.kr.find(), key=lambda d: d["_id"]) == [
        {"_id": "P1|300000", "kills": 5},
        {"_id": "P2|0", "kills": 0},
    ]
    with pytest.raises(MongoError, match="needs an _id"):
        replace_by_id(db.kr, [{"kills": 1}])


@pytest.mark.integration
def test_update_and_delete_by_id(db: Db) -> None:
    db.ud.insert_one({"_id": "a", "v": 1, "keep": True})
    summary = update_by_id(db.ud, [("a", {"v": 2}), ("b", {"v": 3})])
    assert (summary.matched, summary.upserted) == (1, 1)
    assert db.ud.find_one({"_id": "a"}) == {"_id": "a", "v": 2, "keep": True}
    no_upsert = update_by_id(db.ud, [("c", {"v": 4})], upsert=False)
    assert (no_upsert.matched, no_upsert.upserted) == (0, 0)
    assert delete_by_ids(db.ud, ["a", "zzz"]).deleted == 1
    assert [d["_id"] for d in db.ud.find()] == ["b"]


@pytest.mark.integration
def test_client_from_settings_and_collection(mongo: Settings, db: Db) -> None:
    col = get_collection(mongo, "probe", database=db.name)
    col.insert_one({"_id": 1})
    assert col.find_one() == {"_id": 1}
    # One pooled client per URI for the process, not one per call.
    assert get_collection(mongo, "other").database.client is col.database.client


def test_unreachable_server_fails_fast_with_mongo_error() -> None:
    client = mongo_client(f"mongodb://127.0.0.1:{free_port()}", server_selection_timeout_ms=300)
    with pytest.raises(MongoError, match="read of game.x failed"):
        read_collection(client["game"]["x"])


def test_malformed_uri_names_the_setting_without_echoing_it() -> None:
    with pytest.raises(MongoError, match="mongo_uri") as info:
        mongo_client("mongodb://user:s3cret@")
    assert "s3cret" not in str(info.value)


def test_plain_and_json_safe_values() -> None:
    oid = ObjectId("65f000000000000000000001")
    doc = {
        "_id": oid,
        "d": Decimal128("1.25"),
        "b": Binary(b"\x00\x01"),
        "when": dt.datetime(2024, 1, 2, 3, 4, 5, 6000, tzinfo=dt.UTC),
        "naive": dt.datetime(2024, 1, 2),
        "list": [oid, {"x": oid}],
    }
    assert plain_value(doc)["_id"] == "65f000000000000000000001"
    assert plain_value(doc)["d"] == "1.25"
    assert plain_value(doc)["list"] == [
        "65f000000000000000000001",
        {"x": "65f000000000000000000001"},
    ]
    safe = json_safe(doc)
    assert safe["when"] == "2024-01-02T03:04:05.006Z"
    assert safe["naive"] == "2024-01-02T00:00:00.000Z"
    assert safe["b"] == "AAE="


def test_documents_to_frame_with_mixed_types_falls_back_to_strings() -> None:
    frame = documents_to_frame([{"a": 1, "b": 1.0}, {"a": "x"}, {"b": 2}])
    assert frame["a"].to_list() == ["1", "x", None]
    assert frame["b"].to_list() == [1.0, None, 2.0]


def test_compound_id() -> None:
    assert compound_id("P1", 1_700_000_000_000) == "P1|1700000000000"
    with pytest.raises(MongoError, match="may not contain"):
        compound_id("a|b", 1)
