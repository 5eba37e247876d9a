"""GROUP BY on a non-key column on Kafka: re-keyed rows go through the query's internal
``-Aggregate-GroupBy-repartition`` topic (placed by the group key), are read back by the second
sub-topology, and the result equals an independent polars batch answer — also across a crash
in the middle of a batch (outputs flushed, transaction never committed) and a restart, with
every (batch, index) published exactly once in the sink and in the repartition topic.
TERMINATE deletes the repartition topic with the query's other internal topics."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from telemetry_lib.config import Settings
from telemetry_lib.kafka import JsonProducer, KafkaAdmin, create_topic, read_records
from telemetry_lib.ksql.runtime.repartition_wire import decode_values
from telemetry_lib.ksql.server import KsqlServer
from tests.ksql_runtime.helpers import decode_windowed, events, latest, truth
from tests.support.crash import SimulatedCrash, crash_before_commit, eos_batch_ids, wait_for

pytestmark = pytest.mark.integration

WAIT_S = 90.0
# No KEY column: player_id is a value column, so GROUP BY player_id must repartition.
SQL = """
CREATE STREAM ev_{tag} (player_id STRING, kind STRING, ts BIGINT)
  WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON', TIMESTAMP='ts');
CREATE TABLE kd_{tag} AS SELECT player_id, SUM(CASE WHEN kind = 'kill' THEN 1 ELSE 0 END) AS kills,
  COUNT(*) AS events FROM ev_{tag} WINDOW TUMBLING (SIZE 5 MINUTES) GROUP BY player_id EMIT CHANGES;
"""


def test_group_by_value_column_goes_through_a_repartition_topic_exactly_once(
    embedded_stack: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = embedded_stack.kafka_config()
    tag = uuid.uuid4().hex[:8]
    topic, service_id = f"rp_events_{tag}", f"rp{tag}_"
    table = f"KD_{tag.upper()}"
    query_id = f"CTAS_{table}_0"
    repartition = f"_confluent-ksql-{service_id}query_{query_id}-Aggregate-GroupBy-repartition"
    create_topic(conf, topic, 3)
    # commit 1: the first snapshot; 2, 3: the first two batches (outputs, sink and repartition
    # records, flushed to the broker, no commit)
    restore_commit = crash_before_commit(monkeypatch, query=query_id, at=3)
    first = KsqlServer(conf, service_id=service_id, state_dir=tmp_path, commit_interval_ms=50)
    first.start()
    first.execute(SQL.format(topic=topic, tag=tag), properties={"auto.offset.reset": "earliest"})
    docs: list[dict[str, Any]] = []
    # Keyless input records (round-robin partitions): a player's events are spread over every
    # partition, so only the repartition brings them together.
    with JsonProducer(conf) as producer:
        for lo in range(0, 3000, 500):
            chunk = events(lo, 500)
            producer.produce_json(topic, chunk, timestamp_field="ts")
            docs += chunk
            time.sleep(0.5)
    runner = first.runtime.runners[query_id]
    assert runner.topology is not None and runner.topology.topics == (repartition,)
    wait_for(lambda: runner.status == "failed", "the simulated crash", timeout=WAIT_S)
    assert isinstance(runner.error, SimulatedCrash)
    first.close()
    restore_commit()

    second = KsqlServer(conf, service_id=service_id, state_dir=tmp_path, commit_interval_ms=50)
    second.start()
    try:
        expected = truth(docs)
        wait_for(lambda: latest(decode_windowed(read_records(conf, table))).equals(expected),
                 "the table to equal the batch truth", timeout=WAIT_S)  # fmt: skip
        out = read_records(conf, table)
        ids = eos_batch_ids(out)
        assert len(ids) == len(set(ids)) == out.height  # every output exactly once
        updates = decode_windowed(out).with_columns(
            pl.col("EVENTS").diff().over("player_id", "window_start").alias("step")
        )
        assert updates.filter(pl.col("step") <= 0).height == 0  # no update emitted twice
        # The repartition topic: one record per input row (exactly once), keyed by the group
        # key, each key in one partition only.
        rows = read_records(conf, repartition)
        assert len(set(eos_batch_ids(rows))) == rows.height  # each record once
        lines = [(part, row) for part, value in rows.select("partition", "value").rows()
                 for row in decode_values([value], None).to_dicts()]  # fmt: skip
        assert len(lines) == len(docs)  # each re-keyed row once
        # Only what the aggregate reads travels (TS, ROWOFFSET, headers do not).
        assert set(lines[0][1]) == {"PLAYER_ID", "KIND", "ROWTIME", "ROWPARTITION",
                                    "__ksql_null_value"}  # fmt: skip
        placed: dict[str, set[int]] = {}
        for part, row in lines:
            placed.setdefault(row["PLAYER_ID"], set()).add(part)
        assert len(placed) == 7 and all(len(p) == 1 for p in placed.values())
        assert rows["partition"].n_unique() > 1
        # TERMINATE deletes the query's internal topics, the repartition topic included.
        second.execute(f"TERMINATE {query_id};")
        admin = KafkaAdmin(conf)
        wait_for(lambda: repartition not in admin.list_topics(include_internal=True),
                 "the repartition topic to be deleted", timeout=WAIT_S)  # fmt: skip
    finally:
        second.close()


def test_repartition_topics_can_be_turned_off_per_query(
    embedded_stack: Settings, tmp_path: Path
) -> None:
    conf = embedded_stack.kafka_config()
    tag = uuid.uuid4().hex[:8]
    topic, service_id = f"rp_off_{tag}", f"rpoff{tag}_"
    create_topic(conf, topic, 2)
    docs = events(0, 1500)
    with JsonProducer(conf) as producer:
        producer.produce_json(topic, docs, timestamp_field="ts")
    server = KsqlServer(conf, service_id=service_id, state_dir=tmp_path, commit_interval_ms=50)
    server.start()
    try:
        server.execute("SET 'telemetry.kafka.repartition.topics'='false';\n"
                       + SQL.format(topic=topic, tag=tag),
                       properties={"auto.offset.reset": "earliest"})  # fmt: skip
        runner = server.runtime.runners[f"CTAS_KD_{tag.upper()}_0"]
        assert runner.topology is None and runner.internal_topics == ()
        expected = truth(docs)
        wait_for(lambda: latest(decode_windowed(read_records(conf, f"KD_{tag.upper()}"))).equals(expected),
                 "the table to equal the batch truth", timeout=WAIT_S)  # fmt: skip
        assert not [t for t in KafkaAdmin(conf).list_topics(include_internal=True)
                    if t.startswith(f"_confluent-ksql-{service_id}") and t.endswith("-repartition")]  # fmt: skip
    finally:
        server.close()
