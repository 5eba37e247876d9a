"""A join query on Kafka (two source topics, its stream side re-keyed through the
``-Join-repartition`` topic) crashes after a batch's outputs reached the broker but before its
transaction committed; a second server instance recovers. Every event must be in the enriched
output exactly once (each ``ksql-eos`` id once, one output per input event), joined with the
profile it had, and the repartition topic must hold each re-keyed event exactly once."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import msgspec
import polars as pl
import pytest

from telemetry_lib.config import Settings
from telemetry_lib.kafka import JsonProducer, create_topic, read_records
from telemetry_lib.ksql.runtime.repartition_wire import decode_values
from telemetry_lib.ksql.server import KsqlServer
from tests.support.crash import SimulatedCrash, crash_before_commit, eos_batch_ids, wait_for

pytestmark = pytest.mark.integration

WAIT_S = 90.0
BASE_TS = 1_700_000_000_000
SQL = """
CREATE STREAM ev_{tag} (player_id STRING, kind STRING, ts BIGINT)
  WITH (KAFKA_TOPIC='{events}', VALUE_FORMAT='JSON', TIMESTAMP='ts');
CREATE TABLE pl_{tag} (player_id STRING PRIMARY KEY, team STRING)
  WITH (KAFKA_TOPIC='{players}', VALUE_FORMAT='JSON');
CREATE STREAM en_{tag} AS SELECT e.player_id AS player_id, e.kind AS kind, e.ts AS ts, p.team AS team
  FROM ev_{tag} e JOIN pl_{tag} p ON e.player_id = p.player_id EMIT CHANGES;
"""


def test_join_query_recovers_exactly_once_after_a_crash(
    embedded_stack: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = embedded_stack.kafka_config()
    tag = uuid.uuid4().hex[:8]
    events, players, service_id = f"jc_ev_{tag}", f"jc_pl_{tag}", f"jc{tag}_"
    sink = f"EN_{tag.upper()}"
    create_topic(conf, events, 3)
    create_topic(conf, players, 2)
    teams = {f"p{i}": f"team{i % 3}" for i in range(9)}
    docs = [{"player_id": f"p{i % 9}", "kind": "kill" if i % 3 else "death", "ts": BASE_TS + 10 + i}
            for i in range(3000)]  # fmt: skip
    with JsonProducer(conf) as producer:  # profiles older than every event
        producer.produce_values(
            players, [msgspec.json.encode({"team": t}) for t in teams.values()],
            keys=[p.encode() for p in teams], timestamps=[BASE_TS] * len(teams),
        )  # fmt: skip
    # commit 1: the first snapshot; 2, 3: the first two batches (outputs and re-keyed rows
    # flushed to the broker, no commit)
    restore_commit = crash_before_commit(monkeypatch, query=f"CSAS_{sink}_", at=3)
    first = KsqlServer(conf, service_id=service_id, state_dir=tmp_path, commit_interval_ms=50)
    first.start()
    first.execute(SQL.format(tag=tag, events=events, players=players),
                  properties={"auto.offset.reset": "earliest"})  # fmt: skip
    query_id = next(q for q in first.runtime.runners if q.startswith(f"CSAS_{sink}_"))
    runner = first.runtime.runners[query_id]
    repartition = f"_confluent-ksql-{service_id}query_{query_id}-Join-repartition"
    assert runner.internal_topics == (repartition,)
    with JsonProducer(conf) as producer:
        for lo in range(0, len(docs), 500):  # separate chunks: several batches
            producer.produce_json(events, docs[lo : lo + 500], timestamp_field="ts")
            time.sleep(0.5)
    wait_for(lambda: runner.status == "failed", "the simulated crash", timeout=WAIT_S)
    assert isinstance(runner.error, SimulatedCrash)
    first.close()
    restore_commit()

    second = KsqlServer(conf, service_id=service_id, state_dir=tmp_path, commit_interval_ms=50)
    second.start()
    try:
        wait_for(lambda: read_records(conf, sink).height >= len(docs), "every event joined",
                 timeout=WAIT_S)  # fmt: skip
        time.sleep(1.0)  # nothing more may arrive
        out = read_records(conf, sink)
        ids = eos_batch_ids(out)
        assert len(ids) == len(set(ids)) == out.height == len(docs)
        rows = pl.DataFrame([msgspec.json.decode(v) for v in out["value"].to_list()])
        got = rows.select("TS", "KIND", "TEAM").sort("TS")
        want = pl.DataFrame(
            {
                "TS": [d["ts"] for d in docs],
                "KIND": [d["kind"] for d in docs],
                "TEAM": [teams[d["player_id"]] for d in docs],
            }  # fmt: skip
        ).sort("TS")
        assert got.equals(want)
        # Output keys are the join key (player id); each re-keyed event once in the topic.
        assert set(out["key"].to_list()) == {p.encode() for p in teams}
        rekeyed = read_records(conf, repartition)
        assert len(set(eos_batch_ids(rekeyed))) == rekeyed.height  # each record once ...
        lines = decode_values(rekeyed["value"].to_list(), None).height
        assert lines == len(docs)  # ... and each re-keyed event once
        assert second.runtime.runners[query_id].replay_skipped > 0
    finally:
        second.close()
