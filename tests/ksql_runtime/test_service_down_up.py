"""`telemetry up` / `down` with the ksqldb service: after a full down and up (the embedded broker
forgets every topic), streams, tables and queries come back from the local command log, their
topics are re-created, and they recompute from the input replayed into them. A killed ksqldb
process is restarted by `up`."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from telemetry_lib.kafka import create_topic, produce_json, read_records
from telemetry_lib.services import Stack
from telemetry_lib.services.ports import port_in_use
from tests.conftest import isolated_settings
from tests.ksql_runtime.helpers import decode_windowed, events, latest, truth

pytestmark = pytest.mark.integration

WAIT_S = 60.0
SQL = """
CREATE STREAM ev (player_id STRING KEY, kind STRING, ts BIGINT)
  WITH (KAFKA_TOPIC='telemetry_events', VALUE_FORMAT='JSON', TIMESTAMP='ts');
CREATE TABLE kd AS SELECT player_id, SUM(CASE WHEN kind = 'kill' THEN 1 ELSE 0 END) AS kills,
  COUNT(*) AS events FROM ev WINDOW TUMBLING (SIZE 5 MINUTES) GROUP BY player_id EMIT CHANGES;
"""


def _ksql(url: str, sql: str, props: dict[str, Any] | None = None) -> Any:
    body = {"ksql": sql, "streamsProperties": props or {}}
    response = httpx.post(f"{url}/ksql", json=body, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def _wait_table(conf: dict[str, str], expected: Any) -> None:
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            got = latest(decode_windowed(read_records(conf, "KD")))
        except Exception:  # noqa: BLE001 - the topic may not exist yet
            got = None
        if got is not None and got.equals(expected):
            return
        assert time.monotonic() < deadline, (got, expected)
        time.sleep(0.2)


def test_down_up_restores_catalog_and_recomputes(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path / "wb")
    services = ("kafka", "ksqldb")
    conf = settings.kafka_config()
    url = settings.ksqldb_url
    try:
        Stack(settings, services=services).up()
        create_topic(conf, "telemetry_events", 2)
        _ksql(url, SQL, {"ksql.streams.auto.offset.reset": "earliest"})
        docs = events(0, 800)
        produce_json(conf, "telemetry_events", docs, key="player_id", timestamp_field="ts")
        _wait_table(conf, truth(docs))

        # A killed server is restarted by `up`, and resumes.
        pid = next(
            r.pid for r in Stack(settings, services=services).status() if r.service == "ksqldb"
        )
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while port_in_use(settings.ksqldb_port) and time.monotonic() < deadline:
            time.sleep(0.05)  # the kernel releases the socket once the process is gone
        report = {s.service: s.action for s in Stack(settings, services=services).up().services}
        assert report["kafka"] == "already running"
        assert report["ksqldb"] in ("started", "restarted")

        # Full down and up: the broker comes back empty.
        Stack(settings, services=services).down()
        Stack(settings, services=services).up()
        streams = _ksql(url, "SHOW STREAMS; SHOW TABLES; SHOW QUERIES;")
        assert "EV" in {s["name"] for s in streams[0]["streams"]}
        assert [t["name"] for t in streams[1]["tables"]] == ["KD"]
        assert [q["id"] for q in streams[2]["queries"]] == ["CTAS_KD_0"]
        # The input topic was re-created (empty) with its partitions; replayed input recomputes.
        assert read_records(conf, "telemetry_events").height == 0
        again = events(1000, 600)
        produce_json(conf, "telemetry_events", again, key="player_id", timestamp_field="ts")
        _wait_table(conf, truth(again))
    finally:
        Stack(settings, services=services).down()
