"""Unit tests of the telemetry generator: determinism, invariants, fractions, serialization."""

from __future__ import annotations

import json
import time

import polars as pl
import pytest

from telemetry_lib.errors import GeneratorError
from telemetry_lib.generator import (
    DEFAULT_START_MS,
    MALFORMED_KINDS,
    GeneratorConfig,
    TelemetryGenerator,
    event_checksum,
    mongo_documents,
    stream_stats,
)
from telemetry_lib.generator.command import parse_start

SMALL = {"players": 60, "events": 20_000}


def _kills_and_deaths(events: pl.DataFrame) -> pl.DataFrame:
    kills = events.filter(pl.col("event_type") == "kill")
    deaths = events.filter(pl.col("event_type") == "death").with_columns(pl.col("event_id") - 1)
    return kills.join(deaths, on="event_id", how="full", suffix="_d", coalesce=True)


def test_same_seed_gives_identical_output() -> None:
    a = TelemetryGenerator(seed=7, out_of_order_fraction=0.1, malformed_fraction=0.05, **SMALL)
    b = TelemetryGenerator(seed=7, out_of_order_fraction=0.1, malformed_fraction=0.05, **SMALL)
    assert a.players().equals(b.players())
    assert a.events().equals(b.events())
    ra, rb = a.kafka_records(), b.kafka_records()
    assert ra.values == rb.values and ra.keys == rb.keys and ra.timestamps == rb.timestamps


def test_different_seed_differs() -> None:
    a = TelemetryGenerator(seed=1, **SMALL)
    b = TelemetryGenerator(seed=2, **SMALL)
    assert not a.players().equals(b.players())
    assert not a.events().equals(b.events())


def test_runs_spanning_several_chunks_stay_exact() -> None:
    # 240k events are generated in three chunks; ids, count and time order must not show seams.
    gen = TelemetryGenerator(seed=3, players=200, events=240_000)
    assert [b.events.height for b in gen.batches()] == [100_000, 100_000, 40_000]
    events = gen.events()
    assert events["event_id"].equals(pl.Series("event_id", range(240_000)))
    assert events["seq"].equals(pl.Series("seq", range(240_000)))
    assert events["timestamp"].is_sorted()  # no disorder asked for: delivery is time order


def test_kills_equal_deaths_per_match_and_pairs_match() -> None:
    gen = TelemetryGenerator(seed=11, out_of_order_fraction=0.2, late_fraction=0.05, **SMALL)
    events = gen.events()
    assert events.height == SMALL["events"]
    per_match = events.group_by("match_id").agg(
        kills=(pl.col("event_type") == "kill").sum(),
        deaths=(pl.col("event_type") == "death").sum(),
    )
    assert per_match.height > 10
    assert (per_match["kills"] == per_match["deaths"]).all()
    pairs = _kills_and_deaths(events)
    assert pairs.height == SMALL["events"] // 2
    assert pairs["event_type_d"].null_count() == 0 and pairs["event_type"].null_count() == 0
    assert (pairs["timestamp"] == pairs["timestamp_d"]).all()
    assert (pairs["opponent_id"] == pairs["player_id_d"]).all()
    assert (pairs["player_id"] == pairs["opponent_id_d"]).all()
    assert (pairs["match_id"] == pairs["match_id_d"]).all()
    assert (pairs["weapon"] == pairs["weapon_d"]).all()
    assert (pairs["player_id"] != pairs["player_id_d"]).all()


def test_players_are_consistent_with_events() -> None:
    gen = TelemetryGenerator(seed=5, players=53, events=40_000)
    players = gen.players()
    assert players.columns == ["player_id", "name", "team", "region", "skill"]
    assert players.height == 53 and players["player_id"].n_unique() == 53
    assert players["skill"].min() > 0 and players["skill"].max() < 1
    events = gen.events()
    assert set(events["player_id"].unique()) <= set(players["player_id"])
    # Every player of a team shares its region.
    assert (players.group_by("team").agg(pl.col("region").n_unique())["region"] == 1).all()
    # Killer and victim are on different teams; a match involves exactly two teams.
    team = dict(zip(players["player_id"], players["team"], strict=True))
    with_teams = events.with_columns(
        pl.col("player_id").replace_strict(team).alias("team"),
        pl.col("opponent_id").replace_strict(team).alias("opp_team"),
    )
    assert (with_teams["team"] != with_teams["opp_team"]).all()
    assert (with_teams.group_by("match_id").agg(pl.col("team").n_unique())["team"] <= 2).all()


def test_skill_drives_kill_death_ratio() -> None:
    gen = TelemetryGenerator(seed=9, players=100, events=200_000, positions=False, weapons=False)
    kd = (
        gen.events()
        .group_by("player_id")
        .agg(
            kills=(pl.col("event_type") == "kill").sum(),
            deaths=(pl.col("event_type") == "death").sum(),
        )
        .join(gen.players(), on="player_id")
        .with_columns(kd=pl.col("kills") / pl.col("deaths"))
    )
    corr = kd.select(pl.corr("skill", "kd", method="spearman")).item()
    assert corr > 0.6


def test_timestamps_within_requested_range() -> None:
    start = 1_800_000_000_000
    gen = TelemetryGenerator(seed=4, players=40, events=10_000, duration_s=60.0, start_ms=start)
    ts = gen.events()["timestamp"]
    assert ts.min() >= start and ts.max() < start + 60_000
    assert ts.max() > start + 55_000  # spread over the range, not bunched at the start
    assert gen.resolved.end_ms == start + 60_000


def test_size_from_duration_and_rate() -> None:
    gen = TelemetryGenerator(players=20, duration_s=10.0, rate=301.0)
    assert gen.resolved.events == 3010
    assert gen.resolved.pace_rate == 301.0
    assert gen.events().height == 3010


@pytest.mark.parametrize(
    "params",
    [
        {"events": 1001},
        {"events": 100, "duration_s": 1.0, "rate": 100.0},
        {"malformed_fraction": 0.9},
        {"late_fraction": -0.1},
        {"players": 1},
        {"seed": -1},
        {"rate": 0.0, "events": 10},
        {"duration_s": 0.001, "rate": 1.0},
    ],
)
def test_bad_parameters_raise_generator_error(params: dict[str, object]) -> None:
    with pytest.raises(GeneratorError):
        GeneratorConfig(**params).resolve()  # type: ignore[arg-type]


def test_disorder_fractions_are_as_requested() -> None:
    gen = TelemetryGenerator(
        seed=21,
        players=500,
        events=200_000,
        duration_s=2_000.0,
        out_of_order_fraction=0.1,
        out_of_order_max_ms=5_000,
        late_fraction=0.03,
        late_after_ms=20_000,
    )
    events = gen.events()
    stats = stream_stats(events["timestamp"], late_after_ms=20_000)
    assert stats.records == 200_000
    assert stats.out_of_order_fraction == pytest.approx(0.1, abs=0.01)
    assert stats.late_fraction == pytest.approx(0.03, abs=0.005)
    # Delivery order is a permutation of the same events: the invariants still hold.
    assert events["event_id"].sort().equals(pl.Series("event_id", range(200_000)))


def test_no_disorder_by_default() -> None:
    stats = stream_stats(TelemetryGenerator(**SMALL).events()["timestamp"], late_after_ms=1)
    assert stats.out_of_order == 0 and stats.late == 0


def test_malformed_records_fraction_and_kinds() -> None:
    gen = TelemetryGenerator(seed=13, players=100, events=100_000, malformed_fraction=0.04)
    records = gen.kafka_records()
    bad = 0
    kinds: set[str] = set()
    for value in records.values:
        try:
            doc = json.loads(value)
        except (UnicodeDecodeError, json.JSONDecodeError):
            bad += 1
            continue
        if isinstance(doc, list):
            kinds.add("not_object")
            bad += 1
        elif not isinstance(doc["timestamp"], int):
            kinds.add("bad_timestamp")
            bad += 1
    assert len(records) == 100_000 + bad
    assert bad / len(records) == pytest.approx(0.04, abs=0.004)
    assert {"not_object", "bad_timestamp"} <= kinds
    malformed = gen.malformed()
    assert malformed.height == bad
    assert set(malformed["kind"].unique()) == set(MALFORMED_KINDS)
    # seq numbers of valid and malformed records together are exactly 0..N-1.
    seqs = pl.concat([gen.events()["seq"], malformed["seq"]]).sort()
    assert seqs.equals(pl.Series("seq", range(len(records))))


def test_json_values_round_trip_to_the_events() -> None:
    gen = TelemetryGenerator(seed=17, **SMALL)
    events = gen.events()
    records = gen.kafka_records()
    decoded = pl.DataFrame([json.loads(v) for v in records.values])
    assert decoded.columns == gen.columns
    assert decoded.equals(events.select(gen.columns))
    assert records.keys == [p.encode() for p in events["player_id"]]
    assert records.timestamps == events["timestamp"].to_list()


def test_positions_and_weapons_are_optional() -> None:
    gen = TelemetryGenerator(positions=False, weapons=False, **SMALL)
    assert gen.columns == [
        "event_id",
        "player_id",
        "event_type",
        "timestamp",
        "match_id",
        "opponent_id",
    ]
    value = json.loads(gen.kafka_records().values[0])
    assert set(value) == set(gen.columns)
    with_xy = TelemetryGenerator(**SMALL).events()
    assert with_xy["x"].is_between(0, 1000).all() and with_xy["y"].is_between(0, 1000).all()


def test_mongo_documents_keep_delivery_order_and_malformed_places() -> None:
    gen = TelemetryGenerator(seed=3, malformed_fraction=0.05, **SMALL)
    batch = next(gen.batches())
    docs = mongo_documents(batch, gen.columns)
    assert len(docs) == batch.records
    bad_positions = {s - batch.first_seq for s in batch.malformed["seq"]}
    for i, doc in enumerate(docs):
        if i in bad_positions:
            assert isinstance(doc["timestamp"], str) and str(doc["_id"]).startswith("malformed-")
        else:
            assert doc["_id"] == doc["event_id"] and isinstance(doc["timestamp"], int)


def test_checksum_is_order_independent_and_type_tolerant() -> None:
    events = TelemetryGenerator(seed=8, **SMALL).events()
    shuffled = events.sample(fraction=1.0, shuffle=True, seed=1).with_columns(
        pl.col("timestamp").cast(pl.Float64), pl.col("event_id").cast(pl.Int32)
    )
    assert event_checksum(events) == event_checksum(shuffled)
    changed = events.with_columns(
        pl.when(pl.col("event_id") == 5)
        .then(pl.lit("kill"))
        .otherwise("event_type")
        .alias("event_type")
    )
    assert event_checksum(changed) != event_checksum(events)


def test_parse_start_accepts_ms_iso_and_now() -> None:
    assert parse_start(None) == DEFAULT_START_MS
    assert parse_start("1800000000000") == 1_800_000_000_000
    assert parse_start("2024-01-01T00:00:00Z") == DEFAULT_START_MS
    assert parse_start("2024-01-01T01:00:00+01:00") == DEFAULT_START_MS
    before = int(time.time() * 1000)
    assert before <= parse_start("now") <= int(time.time() * 1000)
    for bad in ("yesterday", "2024-01-01T00:00:00"):
        with pytest.raises(GeneratorError):
            parse_start(bad)
