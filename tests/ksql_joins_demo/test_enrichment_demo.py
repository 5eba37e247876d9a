"""The enrichment demo (telemetry_stream LEFT JOIN players, per-team 5-minute K/D) against an
independent polars batch join + aggregation over the same generated data: in the in-memory
driver, and on the real embedded stack (Tansu + the ksqlDB server in process, then restarted
mid-way to check the multi-topic runtime resumes exactly once)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import msgspec
import polars as pl
import pytest

from telemetry_lib import demo_ksql
from telemetry_lib import demo_statements as ds
from telemetry_lib.config import Settings
from telemetry_lib.generator import GeneratorConfig, TelemetryGenerator
from telemetry_lib.kafka import JsonProducer, create_topic, read_records
from telemetry_lib.ksql.driver import InMemoryDriver
from telemetry_lib.ksql.runtime.io import RECORD_SCHEMA
from telemetry_lib.ksql.server import KsqlServer
from tests.support.crash import wait_for

WAIT_S = 120.0


def _generated(
    players: int, events: int, seed: int = 11
) -> tuple[TelemetryGenerator, pl.DataFrame, pl.DataFrame]:
    gen = TelemetryGenerator(GeneratorConfig(seed=seed, players=players, events=events))
    return gen, gen.events(), gen.players()


def _records(keys: list[bytes], values: list[bytes], timestamps: list[int]) -> pl.DataFrame:
    n = len(values)
    return pl.DataFrame(
        {
            "key": pl.Series(keys, dtype=pl.Binary),
            "value": pl.Series(values, dtype=pl.Binary),
            "timestamp": pl.Series(timestamps, dtype=pl.Int64),
            "partition": pl.Series([0] * n, dtype=pl.Int32),
            "offset": pl.Series([None] * n, dtype=pl.Int64),
            "headers": pl.Series([[]], dtype=RECORD_SCHEMA["headers"]).new_from_index(0, n),
        }
    )


def test_enrichment_in_the_driver_equals_the_polars_batch_join() -> None:
    gen, events, players = _generated(players=120, events=6000)
    # A profile is missing: its player's events join as NULLs and drop out of GROUP BY team.
    missing = players["player_id"][0]
    present = players.filter(pl.col("player_id") != missing)
    truth = ds.team_kd_truth(events, present)
    assert truth.height > 20
    encoder = msgspec.json.Encoder()
    docs = present.to_dicts()
    recs = gen.kafka_records()
    driver = InMemoryDriver()
    driver.create_topic(ds.EVENTS_TOPIC, partitions=1)
    driver.create_topic(ds.PLAYERS_TOPIC, partitions=1)
    driver.execute(ds.CREATE_STREAM + "\n" + ds.ENRICHMENT_SCRIPT)
    start = gen.config.start_ms
    driver.pipe_batch(ds.PLAYERS_TOPIC, _records(
        [d["player_id"].encode() for d in docs], [encoder.encode(d) for d in docs],
        [start] * len(docs)))  # fmt: skip
    for lo in range(0, len(recs), 1000):
        driver.pipe_batch(ds.EVENTS_TOPIC, _records(
            recs.keys[lo:lo + 1000], recs.values[lo:lo + 1000], recs.timestamps[lo:lo + 1000]))  # fmt: skip
    enriched = driver.read_rows(ds.ENRICHED)
    assert enriched.height == events.height  # LEFT JOIN keeps every event
    assert enriched.filter(pl.col("PLAYER_ID") == missing)["TEAM"].null_count() == (
        events.filter(pl.col("player_id") == missing).height
    )
    rows = driver.read_rows(ds.TEAM_TABLE)
    table = rows.group_by("TEAM", "WINDOWSTART", maintain_order=True).last()
    result = demo_ksql.compare_teams(table, truth, query_id="driver", seconds=0.0, caught_up=True)
    failed = [(name, exp, got) for name, exp, got in result.checks if exp != got]
    assert failed == []
    driver.close()


def _team_table(conf: Any, topic: str) -> pl.DataFrame:
    """The latest row per (team, window) of the TEAM_KILL_RATIO topic (windowed KAFKA key:
    the team's UTF-8 bytes then the window start as a big-endian long; JSON value)."""
    records = read_records(conf, topic).sort("partition", "offset")
    rows = []
    for key, value in records.select("key", "value").rows():
        body = msgspec.json.decode(value) if value is not None else {}
        rows.append({"TEAM": key[:-8].decode(), "WINDOWSTART": int.from_bytes(key[-8:], "big"),
                     "KILLS": body.get("KILLS"), "DEATHS": body.get("DEATHS"),
                     "KD_RATIO": body.get("KD_RATIO")})  # fmt: skip
    schema = {"TEAM": pl.String, "WINDOWSTART": pl.Int64, "KILLS": pl.Int64, "DEATHS": pl.Int64,
              "KD_RATIO": pl.Float64}  # fmt: skip
    frame = pl.DataFrame(rows, schema=schema)
    return frame.group_by("TEAM", "WINDOWSTART", maintain_order=True).last()


@pytest.mark.integration
def test_enrichment_on_kafka_equals_the_polars_batch_join_across_a_restart(
    embedded_stack: Settings, tmp_path: Path
) -> None:
    conf = embedded_stack.kafka_config()
    tag = uuid.uuid4().hex[:8]
    events_topic, players_topic, service_id = f"ev_{tag}", f"pl_{tag}", f"enr{tag}_"
    gen, events, players = _generated(players=60, events=4000, seed=12)
    truth = ds.team_kd_truth(events, players)
    create_topic(conf, events_topic, 3)
    create_topic(conf, players_topic, 2)
    docs = players.to_dicts()
    recs = gen.kafka_records()
    half = len(recs) // 2
    # Profiles are older than the events (the generator stamps them with the run's start).
    with JsonProducer(conf) as producer:
        producer.produce_values(
            players_topic, [msgspec.json.encode(d) for d in docs],
            keys=[d["player_id"].encode() for d in docs],
            timestamps=[gen.config.start_ms] * len(docs),
        )  # fmt: skip
        producer.produce_values(events_topic, recs.values[:half], keys=recs.keys[:half],
                                timestamps=recs.timestamps[:half])  # fmt: skip
    script = ds.with_topics(ds.CREATE_STREAM + "\n" + ds.ENRICHMENT_SCRIPT,
                            events=events_topic, players=players_topic)  # fmt: skip
    # Own object (and so sink topic) names: other tests of the session run the demo itself.
    for name in (
        "telemetry_stream",
        "telemetry_enriched",
        "team_kill_ratio",
        "players p",
        "players (",
    ):
        script = script.replace(
            name, name.replace(" ", f"_{tag} ", 1) if " " in name else f"{name}_{tag}"
        )
    team_table = f"{ds.TEAM_TABLE}_{tag.upper()}"
    first = KsqlServer(conf, service_id=service_id, state_dir=tmp_path, commit_interval_ms=50)
    first.start()
    try:
        first.execute(script, properties={"auto.offset.reset": "earliest"})
        runners = first.runtime.runners
        join_query = next(q for q in runners if q.startswith(f"CSAS_{ds.ENRICHED}_{tag.upper()}"))
        assert set(runners[join_query].source_topics) == {events_topic, players_topic}
        # The stream side is re-keyed by player_id (a value column) through ksqlDB's topic
        # (a stream-table join names it -Join-repartition).
        app = f"_confluent-ksql-{service_id}query_{join_query}"
        assert runners[join_query].internal_topics == (f"{app}-Join-repartition",)
        wait_for(lambda: all(r.records_processed > 0 for r in runners.values()), "both queries ran",
                 timeout=WAIT_S)  # fmt: skip
    finally:
        first.close()
    with JsonProducer(conf) as producer:
        producer.produce_values(events_topic, recs.values[half:], keys=recs.keys[half:],
                                timestamps=recs.timestamps[half:])  # fmt: skip
    second = KsqlServer(conf, service_id=service_id, state_dir=tmp_path, commit_interval_ms=50)
    second.start()
    try:
        expected = int(truth["KILLS"].sum() + truth["DEATHS"].sum())

        def caught_up() -> bool:
            table = _team_table(conf, team_table)
            return (
                table.height > 0 and int(table["KILLS"].sum() + table["DEATHS"].sum()) >= expected
            )

        wait_for(caught_up, "the team table to count every event", timeout=WAIT_S)
        table = _team_table(conf, team_table)
        result = demo_ksql.compare_teams(
            table, truth, query_id="kafka", seconds=0.0, caught_up=True
        )
        failed = [(name, exp, got) for name, exp, got in result.checks if exp != got]
        assert failed == []
    finally:
        second.close()
