"""A crash after a batch's outputs reached the broker but before its transaction committed.

On Tansu the outputs of that never-committed transaction become visible to ``read_committed``
readers once the next instance fences it, so only the replay's header-based skipping keeps the
output exactly-once. The crash is made deterministic by failing the third commit of the query
(its outputs are flushed first); a second server instance (same service id and state dir) then
recovers. Also: a stateless query, the command topic replay, and the processing log stream.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from telemetry_lib.config import Settings
from telemetry_lib.kafka import JsonProducer, create_topic, read_records
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

WAIT_S = 60.0
SQL = """
CREATE STREAM ev (player_id STRING KEY, kind STRING, ts BIGINT)
  WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON', TIMESTAMP='ts');
CREATE TABLE kd_{tag} AS SELECT player_id, SUM(CASE WHEN kind = 'kill' THEN 1 ELSE 0 END) AS kills,
  COUNT(*) AS events FROM ev WINDOW TUMBLING (SIZE 5 MINUTES) GROUP BY player_id EMIT CHANGES;
CREATE STREAM kills_{tag} AS SELECT player_id, ts FROM ev WHERE kind = 'kill';
"""


def test_outputs_of_an_uncommitted_batch_are_not_duplicated(
    embedded_stack: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = embedded_stack.kafka_config()
    tag = uuid.uuid4().hex[:8]
    topic, service_id = f"dedup_events_{tag}", f"dedup{tag}_"
    table, stream = f"KD_{tag.upper()}", f"KILLS_{tag.upper()}"
    create_topic(conf, topic, 2)
    restore_commit = crash_before_commit(monkeypatch, query=f"CTAS_{table}_0", at=3)
    first = KsqlServer(conf, service_id=service_id, state_dir=tmp_path, commit_interval_ms=50)
    first.start()
    first.execute(SQL.format(topic=topic, tag=tag), properties={"auto.offset.reset": "earliest"})
    docs: list[dict[str, Any]] = []
    with JsonProducer(conf) as producer:
        for lo in range(0, 3000, 500):  # separate chunks: several batches
            chunk = events(lo, 500)
            producer.produce_json(topic, chunk, key="player_id", timestamp_field="ts")
            docs += chunk
            time.sleep(0.3)
    runner = first.runtime.runners[f"CTAS_{table}_0"]
    wait_for(lambda: runner.status == "failed", "the simulated crash", timeout=WAIT_S, pause=0.1)
    assert isinstance(runner.error, SimulatedCrash)
    first.close()
    restore_commit()

    # The crashed batch's outputs are visible (Tansu does not filter aborted records) ...
    crashed = [eos for eos in eos_ids(read_records(conf, table)) if eos[1] == runner.batch]
    second = KsqlServer(conf, service_id=service_id, state_dir=tmp_path, commit_interval_ms=50)
    second.start()
    try:
        # The command topic brought back both queries with the same ids.
        assert sorted(second.engine.running_queries()) == [f"CSAS_{stream}_1", f"CTAS_{table}_0"]
        expected = truth(docs)
        wait_for(lambda: latest(decode_windowed(read_records(conf, table))).equals(expected),
                 "the table to equal the batch truth", timeout=WAIT_S, pause=0.1)  # fmt: skip
        recovered = second.runtime.runners[f"CTAS_{table}_0"]
        # ... and the replay (of every batch after the last snapshot, the crashed one included)
        # produced only what was missing (on a broker that filters aborted records the crashed
        # batch's outputs are invisible and are produced again).
        assert recovered.replay_skipped >= len(crashed) > 0
        out = read_records(conf, table)
        ids = eos_batch_ids(out)
        assert len(ids) == len(set(ids)) == out.height  # every (batch, index) exactly once
        updates = decode_windowed(out).with_columns(
            pl.col("EVENTS").diff().over("player_id", "window_start").alias("step")
        )
        assert updates.filter(pl.col("step") <= 0).height == 0
        kills = read_records(conf, stream)
        assert kills.height == sum(1 for d in docs if d["kind"] == "kill")
        # The processing-log stream exists over <service id>ksql_processing_log.
        described = second.execute("DESCRIBE KSQL_PROCESSING_LOG;")[0].to_json()
        assert described["sourceDescription"]["topic"] == f"{service_id}ksql_processing_log"
    finally:
        second.close()
