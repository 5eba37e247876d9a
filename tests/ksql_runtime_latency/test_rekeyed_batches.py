"""Latency rules of the Kafka runtime, checked on the embedded stack.

- A batch waits for exactly the re-keyed records the previous commit made visible: with steady
  input into a GROUP BY on a value column (it re-keys through the query's repartition topic),
  every re-keyed record a batch wrote is read by the very next batch, never one later.
- Snapshots whose output floors are measured on a helper thread (here one falls due at every
  batch: the interval is patched to 0) still recover exactly once: a crash after a batch's
  outputs reached the broker, a restart, and the table equals an independent batch answer with
  every (batch, index) once in the sink.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from telemetry_lib.config import Settings
from telemetry_lib.kafka import JsonProducer, create_topic, read_records
from telemetry_lib.ksql.runtime import query_runner
from telemetry_lib.ksql.runtime.query_runner import QueryRunner
from telemetry_lib.ksql.server import KsqlServer
from tests.ksql_runtime.helpers import decode_windowed, events, latest, truth
from tests.support.crash import (
    SimulatedCrash,
    crash_before_commit,
    eos_batch_ids,
    eos_ids,
    wait_for,
)

pytestmark = pytest.mark.integration

WAIT_S = 90.0
# Long enough that on a loaded machine the re-keyed rows always become visible before a batch
# stops waiting for them (the interval bounds that wait).
COMMIT_INTERVAL_MS = 1000
# Steady input: CHUNK events every PERIOD_S, at least CHUNKS of them and on until the crash,
# at most MAX_CHUNKS (WAIT_S of input).
CHUNKS, CHUNK, PERIOD_S = 30, 100, 0.1
MAX_CHUNKS = int(WAIT_S / PERIOD_S)
# The query's transactional commits before the simulated crash (1 is the initial snapshot).
CRASH_AT_COMMIT = 8
SQL = """
CREATE STREAM ev_{tag} (player_id STRING, kind STRING, ts BIGINT)
  WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON', TIMESTAMP='ts');
CREATE TABLE kd_{tag} AS SELECT player_id, SUM(CASE WHEN kind = 'kill' THEN 1 ELSE 0 END) AS kills,
  COUNT(*) AS events FROM ev_{tag} WINDOW TUMBLING (SIZE 5 MINUTES) GROUP BY player_id EMIT CHANGES;
"""


def test_rekeyed_rows_are_read_by_the_next_batch_and_background_snapshots_recover(
    embedded_stack: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = embedded_stack.kafka_config()
    tag = uuid.uuid4().hex[:8]
    topic, service_id = f"lat_events_{tag}", f"lat{tag}_"
    table = f"KD_{tag.upper()}"
    query_id = f"CTAS_{table}_0"
    repartition = f"_confluent-ksql-{service_id}query_{query_id}-Aggregate-GroupBy-repartition"
    create_topic(conf, topic, 3)
    monkeypatch.setattr(query_runner, "SNAPSHOT_INTERVAL_S", 0.0)

    # batch -> the producing batch of each re-keyed record it read (live batches only).
    read_by: dict[int, list[int]] = {}
    real_commit_batch = QueryRunner._commit_batch

    def spying_commit_batch(self: QueryRunner, records: pl.DataFrame, **kw: Any) -> None:
        if self.query_id == query_id and kw["intent"] is not None:
            rekeyed = records.filter(pl.col("topic") == repartition)
            read_by[self.batch] = [batch for _e, batch, _i in eos_ids(rekeyed)]
        real_commit_batch(self, records, **kw)

    monkeypatch.setattr(QueryRunner, "_commit_batch", spying_commit_batch)
    restore_commit = crash_before_commit(monkeypatch, query=query_id, at=CRASH_AT_COMMIT)
    first = KsqlServer(
        conf, service_id=service_id, state_dir=tmp_path, commit_interval_ms=COMMIT_INTERVAL_MS
    )
    first.start()
    first.execute(SQL.format(topic=topic, tag=tag), properties={"auto.offset.reset": "earliest"})
    docs: list[dict[str, Any]] = []
    runner = first.runtime.runners[query_id]
    # Steady input until the crash: how many batches (and so commits) a chunk count makes
    # depends on the machine's load, so the input goes on until the crash came (bounded).
    with JsonProducer(conf) as producer:
        for n in range(MAX_CHUNKS):
            if n >= CHUNKS and runner.status == "failed":
                break
            chunk = events(n * CHUNK, CHUNK)
            producer.produce_json(topic, chunk, timestamp_field="ts")
            producer.flush()
            docs += chunk
            time.sleep(PERIOD_S)
    wait_for(lambda: runner.status == "failed", "the simulated crash", timeout=WAIT_S)
    assert isinstance(runner.error, SimulatedCrash)
    crashed = runner.batch
    first.close()
    restore_commit()

    # Every live batch read re-keyed records of the batch just before it only, and all of them:
    # as many as that batch wrote (the crashed batch's records never had a next batch).
    written = Counter(batch for _e, batch, _i in eos_ids(read_records(conf, repartition)))
    assert len(read_by) >= 3 and sum(len(v) for v in read_by.values()) > 0
    for batch, sources in read_by.items():
        assert set(sources) <= {batch - 1}, (batch, sorted(set(sources)))
        if batch - 1 in written:
            assert len(sources) == written[batch - 1], (batch, len(sources), written[batch - 1])
    assert crashed in read_by

    second = KsqlServer(
        conf, service_id=service_id, state_dir=tmp_path, commit_interval_ms=COMMIT_INTERVAL_MS
    )
    second.start()
    try:
        expected = truth(docs)
        wait_for(lambda: latest(decode_windowed(read_records(conf, table))).equals(expected),
                 "the table to equal the batch truth", timeout=WAIT_S)  # fmt: skip
        out = read_records(conf, table)
        ids = eos_batch_ids(out)
        assert len(ids) == len(set(ids)) == out.height  # every (batch, index) exactly once
        updates = decode_windowed(out).with_columns(
            pl.col("EVENTS").diff().over("player_id", "window_start").alias("step")
        )
        assert updates.filter(pl.col("step") <= 0).height == 0
    finally:
        second.close()
