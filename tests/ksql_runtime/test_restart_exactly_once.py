"""kill -9 of the ksql server mid-stream, restart: the windowed table read with read_committed
equals an independent polars truth, no update is emitted twice, and every malformed record is
in the processing log exactly once. Runs the real server process on the real Tansu broker."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import msgspec
import polars as pl
import pytest

from telemetry_lib.config import Settings
from telemetry_lib.kafka import JsonProducer, create_topic, read_records
from tests.ksql_runtime.helpers import ServerProcess, decode_windowed, events, latest, truth

pytestmark = pytest.mark.integration

TOTAL_EVENTS = 6000
CHUNK = 200
CHUNK_PAUSE_S = 0.05  # ~4k events/s: the kill lands while input keeps arriving
MALFORMED_EVERY = 10  # one malformed record after every 10th chunk
CATCH_UP_TIMEOUT_S = 120.0

CREATE = """
CREATE STREAM ev (player_id STRING KEY, kind STRING, ts BIGINT)
  WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON', TIMESTAMP='ts');
CREATE TABLE kd AS SELECT player_id, SUM(CASE WHEN kind = 'kill' THEN 1 ELSE 0 END) AS kills,
  COUNT(*) AS events FROM ev WINDOW TUMBLING (SIZE 5 MINUTES) GROUP BY player_id EMIT CHANGES;
"""


def _generate(conf: dict[str, str], topic: str, started: threading.Event) -> int:
    """Produce TOTAL_EVENTS good events in chunks (+ malformed ones); returns the bad count."""
    bad = 0
    with JsonProducer(conf) as producer:
        for n, lo in enumerate(range(0, TOTAL_EVENTS, CHUNK)):
            docs = events(lo, CHUNK)
            producer.produce_json(topic, docs, key="player_id", timestamp_field="ts")
            if n % MALFORMED_EVERY == 0:
                producer.produce_values(topic, [b"{not json"], keys=[b"p0"])
                bad += 1
            started.set()
            time.sleep(CHUNK_PAUSE_S)
    return bad


def test_kill9_restart_matches_batch_truth(embedded_stack: Settings, tmp_path: Path) -> None:
    conf = embedded_stack.kafka_config()
    tag = uuid.uuid4().hex[:8]
    topic, service_id = f"eos_events_{tag}", f"eos{tag}_"
    create_topic(conf, topic, 3)
    server = ServerProcess(conf["bootstrap.servers"], tmp_path / "state", service_id,
                           tmp_path / "server.log")  # fmt: skip
    try:
        server.start()
        server.ksql(CREATE.format(topic=topic), {"ksql.streams.auto.offset.reset": "earliest"})
        started = threading.Event()
        result: dict[str, int] = {}
        gen = threading.Thread(
            target=lambda: result.update(bad=_generate(conf, topic, started)), daemon=True
        )
        gen.start()
        started.wait(30)
        # Let some batches commit, then kill -9 while the generator keeps writing.
        deadline = time.monotonic() + 60
        while read_records(conf, "KD").height < 20 and time.monotonic() < deadline:
            time.sleep(0.1)
        server.kill9()
        time.sleep(0.5)
        server.start()
        gen.join(120)
        assert not gen.is_alive()

        expected = truth(events(0, TOTAL_EVENTS))
        deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
        while True:
            updates = decode_windowed(read_records(conf, "KD"))
            if latest(updates).equals(expected) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        # The table equals the batch truth for every player and window ...
        assert latest(updates).equals(expected), (latest(updates), expected)
        # ... and no update was emitted twice: per player and window each emitted count is
        # larger than the one before (a replayed duplicate would repeat or go back).
        steps = updates.with_columns(
            pl.col("EVENTS").diff().over("player_id", "window_start").alias("step")
        )
        assert steps.filter(pl.col("step") <= 0).height == 0, steps.filter(pl.col("step") <= 0)

        # Every malformed record is in the processing log, exactly once.
        log = read_records(conf, f"{service_id}ksql_processing_log")
        entries = [msgspec.json.decode(v) for v in log["value"].to_list()]
        deser = [e for e in entries if e["message"]["type"] == 0]
        assert len(deser) == result["bad"]
        assert {e["logger"].split(".")[1] for e in deser} == {"CTAS_KD_0"}
    finally:
        server.stop()
