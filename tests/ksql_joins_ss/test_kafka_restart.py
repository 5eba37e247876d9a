"""A stream-stream join on Kafka (real Tansu broker, our ksqlDB server) crashes after a batch's
outputs reached the broker but before its transaction committed; a second server instance
restores the join's window stores from the last snapshot and replays. Every joined pair must be
in the output exactly once, with ROWTIME = max of the two times — checked against an
independent polars batch join of the same events (an INNER join's result set does not depend on
the order the two topics are read in)."""

from __future__ import annotations

import random
import time
import uuid
from pathlib import Path
from typing import Any

import msgspec
import polars as pl
import pytest

from telemetry_lib.config import Settings
from telemetry_lib.kafka import JsonProducer, create_topic, read_records
from telemetry_lib.ksql.runtime import query_runner
from telemetry_lib.ksql.server import KsqlServer
from tests.support.crash import SimulatedCrash, crash_before_commit, eos_ids, wait_for

pytestmark = pytest.mark.integration

WAIT_S = 90.0
BASE_TS = 1_700_000_000_000
WITHIN_MS = 40
EVENTS = 240
SQL = """
CREATE STREAM kl_{tag} (pid STRING KEY, a BIGINT, ts BIGINT)
  WITH (KAFKA_TOPIC='{left}', VALUE_FORMAT='JSON', TIMESTAMP='ts');
CREATE STREAM kr_{tag} (pid STRING KEY, b BIGINT, ts BIGINT)
  WITH (KAFKA_TOPIC='{right}', VALUE_FORMAT='JSON', TIMESTAMP='ts');
CREATE STREAM kj_{tag} AS SELECT l.pid AS pid, l.a AS a, r.b AS b
  FROM kl_{tag} l JOIN kr_{tag} r WITHIN {within} MILLISECONDS ON l.pid = r.pid EMIT CHANGES;
"""


def _events(rng: random.Random, n: int, field: str, offset: int) -> list[dict[str, Any]]:
    return [
        {"pid": f"p{rng.randrange(6)}", field: i, "ts": BASE_TS + i * 9 + offset} for i in range(n)
    ]


def test_stream_stream_join_recovers_exactly_once_from_its_snapshot(
    embedded_stack: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = embedded_stack.kafka_config()
    tag = uuid.uuid4().hex[:8]
    left, right, service_id = f"ssl_{tag}", f"ssr_{tag}", f"ss{tag}_"
    sink = f"KJ_{tag.upper()}"
    create_topic(conf, left, 2)
    create_topic(conf, right, 2)
    rng = random.Random(11)
    # small: two interleaved topics reach the join in runs of one record (see the report)
    lefts, rights = _events(rng, EVENTS, "a", 0), _events(rng, EVENTS, "b", 4)

    # the truth: every (a, b) pair with the same player within the window, time = max of both
    lf = pl.DataFrame(lefts).rename({"ts": "lts"})
    rf = pl.DataFrame(rights).rename({"ts": "rts"})
    truth = (
        lf.join(rf, on="pid")
        .filter((pl.col("lts") - pl.col("rts")).abs() <= WITHIN_MS)
        .select("a", "b", pl.max_horizontal("lts", "rts").alias("t"))
        .sort("a", "b")
    )
    assert truth.height > EVENTS // 2

    # a snapshot after every batch, so the crash is recovered from one (not a replay from 0)
    monkeypatch.setattr(query_runner, "SNAPSHOT_INTERVAL_S", 0.0)
    restore_commit = crash_before_commit(monkeypatch, query=f"CSAS_{sink}_", at=4)
    first = KsqlServer(conf, service_id=service_id, state_dir=tmp_path, commit_interval_ms=50)
    first.start()
    first.execute(
        SQL.format(tag=tag, left=left, right=right, within=WITHIN_MS),
        properties={"auto.offset.reset": "earliest"},
    )
    query_id = next(q for q in first.runtime.runners if q.startswith(f"CSAS_{sink}_"))
    runner = first.runtime.runners[query_id]
    with JsonProducer(conf) as producer:
        produced = 0
        for lo in range(0, len(lefts), 20):  # interleaved chunks, each its own batch
            for topic, docs in ((left, lefts), (right, rights)):
                chunk = docs[lo : lo + 20]
                producer.produce_json(topic, chunk, key="pid", timestamp_field="ts")
                produced += len(chunk)
            wait_for(
                lambda n=produced: runner.records_processed >= n or runner.status == "failed",
                "the chunk processed",
                timeout=WAIT_S,
            )
    try:
        wait_for(lambda: runner.status == "failed", "the simulated crash", timeout=WAIT_S)
        assert isinstance(runner.error, SimulatedCrash)
    finally:
        first.close()
    restore_commit()

    second = KsqlServer(conf, service_id=service_id, state_dir=tmp_path, commit_interval_ms=50)
    second.start()
    try:
        wait_for(lambda: read_records(conf, sink).height >= truth.height, "every pair joined",
                 timeout=WAIT_S)  # fmt: skip
        time.sleep(1.0)  # nothing more may arrive
        out = read_records(conf, sink)
        ids = eos_ids(out)  # (epoch, batch, index): the whole header value, one query
        assert len(ids) == len(set(ids)) == out.height == truth.height
        rows = pl.DataFrame([msgspec.json.decode(v) for v in out["value"].to_list()])
        got = rows.select(pl.col("A").alias("a"), pl.col("B").alias("b")).with_columns(
            out["timestamp"].alias("t")
        )
        assert got.sort("a", "b").equals(truth)
    finally:
        second.close()
