"""One query that joins and re-groups on Kafka: ``telemetry_stream LEFT JOIN players`` with
``GROUP BY team`` in the same CTAS goes through two internal topics — ``-Join-repartition`` (the
stream side re-keyed by player_id) and ``-Aggregate-GroupBy-repartition`` (the joined rows
re-grouped by team) — and its table equals the polars batch join + aggregation."""

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
from telemetry_lib.ksql.server import KsqlServer
from tests.support.crash import wait_for

pytestmark = pytest.mark.integration

WAIT_S = 120.0
SQL = """
CREATE STREAM ev_{tag} (player_id VARCHAR, event_type VARCHAR, timestamp BIGINT)
  WITH (KAFKA_TOPIC='{events}', VALUE_FORMAT='JSON');
CREATE TABLE pl_{tag} (player_id VARCHAR PRIMARY KEY, name VARCHAR, team VARCHAR, region VARCHAR, skill DOUBLE)
  WITH (KAFKA_TOPIC='{players}', VALUE_FORMAT='JSON');
CREATE TABLE tk_{tag} AS SELECT p.team AS team,
       SUM(CASE WHEN e.event_type = 'kill' THEN 1 ELSE 0 END) AS kills,
       SUM(CASE WHEN e.event_type = 'death' THEN 1 ELSE 0 END) AS deaths,
       CAST(SUM(CASE WHEN e.event_type = 'kill' THEN 1 ELSE 0 END) AS DOUBLE) / NULLIF(SUM(CASE WHEN e.event_type = 'death' THEN 1 ELSE 0 END), 0) AS kd_ratio
  FROM ev_{tag} e LEFT JOIN pl_{tag} p ON e.player_id = p.player_id
  WINDOW TUMBLING (SIZE 5 MINUTES) GROUP BY p.team EMIT CHANGES;
"""  # noqa: E501 - readable SQL


def _table(conf: Any, topic: str) -> pl.DataFrame:
    rows = []
    for key, value in (
        read_records(conf, topic).sort("partition", "offset").select("key", "value").rows()
    ):
        body = msgspec.json.decode(value) if value is not None else {}
        rows.append({"TEAM": key[:-8].decode(), "WINDOWSTART": int.from_bytes(key[-8:], "big"),
                     "KILLS": body.get("KILLS"), "DEATHS": body.get("DEATHS"),
                     "KD_RATIO": body.get("KD_RATIO")})  # fmt: skip
    schema = {"TEAM": pl.String, "WINDOWSTART": pl.Int64, "KILLS": pl.Int64, "DEATHS": pl.Int64,
              "KD_RATIO": pl.Float64}  # fmt: skip
    return (
        pl.DataFrame(rows, schema=schema)
        .group_by("TEAM", "WINDOWSTART", maintain_order=True)
        .last()
    )


def test_join_then_group_by_in_one_query_uses_both_repartition_topics(
    embedded_stack: Settings, tmp_path: Path
) -> None:
    conf = embedded_stack.kafka_config()
    tag = uuid.uuid4().hex[:8]
    events, players, service_id = f"jg_ev_{tag}", f"jg_pl_{tag}", f"jg{tag}_"
    gen = TelemetryGenerator(GeneratorConfig(seed=21, players=50, events=3000))
    profiles = gen.players()
    truth = ds.team_kd_truth(gen.events(), profiles)
    create_topic(conf, events, 3)
    create_topic(conf, players, 2)
    recs = gen.kafka_records()
    docs = profiles.to_dicts()
    with JsonProducer(conf) as producer:
        producer.produce_values(
            players, [msgspec.json.encode(d) for d in docs],
            keys=[d["player_id"].encode() for d in docs],
            timestamps=[gen.config.start_ms] * len(docs),
        )  # fmt: skip
        producer.produce_values(events, recs.values, keys=recs.keys, timestamps=recs.timestamps)
    server = KsqlServer(conf, service_id=service_id, state_dir=tmp_path, commit_interval_ms=50)
    server.start()
    try:
        server.execute(SQL.format(tag=tag, events=events, players=players),
                       properties={"auto.offset.reset": "earliest"})  # fmt: skip
        query_id = f"CTAS_TK_{tag.upper()}_0"
        app = f"_confluent-ksql-{service_id}query_{query_id}"
        runner = server.runtime.runners[query_id]
        assert set(runner.internal_topics) == {
            f"{app}-Join-repartition",
            f"{app}-Aggregate-GroupBy-repartition",
        }
        expected = int(truth["KILLS"].sum() + truth["DEATHS"].sum())

        def counted() -> bool:
            table = _table(conf, f"TK_{tag.upper()}")
            return (
                table.height > 0 and int(table["KILLS"].sum() + table["DEATHS"].sum()) >= expected
            )

        wait_for(counted, "the table to count every event", timeout=WAIT_S)
        table = _table(conf, f"TK_{tag.upper()}")
        result = demo_ksql.compare_teams(
            table, truth, query_id=query_id, seconds=0.0, caught_up=True
        )
        assert [(n, e, g) for n, e, g in result.checks if e != g] == []
    finally:
        server.close()
