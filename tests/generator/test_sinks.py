"""The generator's sinks against the real embedded Tansu broker and NX-27017 server."""

from __future__ import annotations

import json

import polars as pl
import pymongo
import pytest

from telemetry_lib.config import Settings
from telemetry_lib.errors import KafkaError
from telemetry_lib.generator import TelemetryGenerator, event_checksum
from telemetry_lib.kafka import KafkaAdmin, read_records, read_topic

pytestmark = pytest.mark.integration


def test_kafka_sink_writes_every_record_keyed_by_player(embedded_stack: Settings) -> None:
    gen = TelemetryGenerator(seed=31, players=50, events=6_000, malformed_fraction=0.02)
    report = gen.to_kafka("gen_sink_test", settings=embedded_stack, partitions=3, progress=False)
    expected = gen.kafka_records()
    assert report.events == 6_000 and report.records == len(expected)
    assert report.checksum == event_checksum(gen.events())

    raw = read_records(embedded_stack, "gen_sink_test")
    assert raw.height == len(expected)
    assert sorted(raw["partition"].unique().to_list()) == [0, 1, 2]
    # Each player's records sit in one partition, in delivery order (per-key ordering).
    per_key = raw.group_by("key").agg(pl.col("partition").n_unique())
    assert (per_key["partition"] == 1).all()
    wanted = pl.DataFrame(
        {"key": expected.keys, "value": expected.values, "timestamp": expected.timestamps},
        schema={"key": pl.Binary, "value": pl.Binary, "timestamp": pl.Int64},
    ).with_row_index("order")
    got = raw.sort("partition", "offset").select("key", "value", "timestamp")
    joined = got.join(wanted, on=["key", "value", "timestamp"], how="left")
    assert joined["order"].null_count() == 0
    # Within a partition, records appear in the generator's delivery order.
    in_order = raw.join(wanted, on=["key", "value", "timestamp"]).sort("partition", "offset")
    assert in_order.group_by("partition").agg(pl.col("order").is_sorted())["order"].all()
    assert KafkaAdmin(embedded_stack).describe_topic("gen_sink_test").partitions == 3


def test_kafka_sink_refuses_a_missing_topic_without_partitions(embedded_stack: Settings) -> None:
    gen = TelemetryGenerator(players=20, events=100)
    with pytest.raises(KafkaError, match="does not exist"):
        gen.to_kafka("gen_never_created", settings=embedded_stack, progress=False)
    assert "gen_never_created" not in KafkaAdmin(embedded_stack).list_topics()


def test_mongo_sink_writes_documents_in_order(embedded_stack: Settings) -> None:
    gen = TelemetryGenerator(seed=5, players=30, events=3_000, malformed_fraction=0.03)
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        embedded_stack.mongo_uri.reveal()
    )
    try:
        coll = client["gen_test"]["events"]
        coll.drop()
        report = gen.to_mongo(
            "events", database="gen_test", settings=embedded_stack, progress=False
        )
        assert report.target == "gen_test.events"
        docs = list(coll.find({}))
        malformed = gen.malformed()
        assert len(docs) == 3_000 + malformed.height == report.records
        valid = [d for d in docs if isinstance(d["timestamp"], int)]
        back = pl.DataFrame(valid).drop("_id")
        events = gen.events()
        assert back.sort("event_id").equals(events.select(gen.columns).sort("event_id"))
        assert event_checksum(back) == report.checksum == event_checksum(events)
        bad = [d for d in docs if not isinstance(d["timestamp"], int)]
        assert sorted(d["_id"] for d in bad) == sorted(f"malformed-{s}" for s in malformed["seq"])
        assert all(json.dumps(d) for d in bad)
    finally:
        client.close()


def test_paced_kafka_sink_never_runs_ahead_of_the_rate(embedded_stack: Settings) -> None:
    # 400 events at 1000 events/s cannot finish before 0.4 s. Only a lower bound: a slow
    # machine can never fail this, only a sink that ignores the rate.
    gen = TelemetryGenerator(players=20, events=400, rate=1000.0)
    report = gen.to_kafka("gen_paced", settings=embedded_stack, partitions=1, progress=False)
    assert report.seconds >= 0.4 * 0.95
    assert report.events == 400


def test_players_to_kafka_stamps_profiles_before_the_first_event(embedded_stack: Settings) -> None:
    gen = TelemetryGenerator(seed=12, players=40, events=1_000, start_ms=1_750_000_000_000)
    report = gen.players_to_kafka("gen_players", settings=embedded_stack, partitions=2)
    assert report.events == 40
    back = read_topic(embedded_stack, "gen_players")
    assert back.height == 40
    assert (back["key"] == back["player_id"]).all()
    assert (back["timestamp"] == 1_750_000_000_000).all()
    assert gen.events()["timestamp"].min() >= 1_750_000_000_000
    profiles = back.select(gen.players().columns).sort("player_id")
    assert profiles.equals(gen.players())
