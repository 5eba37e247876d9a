"""The server process on Kafka answers push and pull queries from the live topics (the REST
layer over the Kafka record reader), and a malformed statement leaves it unaffected."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx
import pytest

from telemetry_lib.config import Settings
from telemetry_lib.kafka import JsonProducer, create_topic, produce_json, read_records
from tests.ksql_runtime.helpers import ServerProcess, events

pytestmark = pytest.mark.integration

DELIMITED = "application/vnd.ksqlapi.delimited.v1"


def _query(url: str, sql: str, props: dict[str, str]) -> list[object]:
    body = {"sql": sql, "properties": props}
    with httpx.stream(
        "POST", f"{url}/query-stream", json=body, headers={"Accept": DELIMITED}, timeout=60
    ) as response:
        assert response.status_code == 200, response.read()
        return [json.loads(line) for line in response.iter_lines() if line.strip()]


def test_push_and_pull_queries_read_kafka(embedded_stack: Settings, tmp_path: Path) -> None:
    conf = embedded_stack.kafka_config()
    tag = uuid.uuid4().hex[:8]
    topic = f"srv_events_{tag}"
    create_topic(conf, topic, 2)
    docs = events(0, 40)
    produce_json(conf, topic, docs, key="player_id", timestamp_field="ts")
    server = ServerProcess(conf["bootstrap.servers"], tmp_path / "state", f"srv{tag}_",
                           tmp_path / "server.log")  # fmt: skip
    try:
        server.start()
        server.ksql(
            f"CREATE STREAM ev (player_id STRING KEY, kind STRING, ts BIGINT) "
            f"WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON');"
        )
        # Push query from the beginning with a limit: the rows come from the Kafka topic.
        lines = _query(
            server.url,
            "SELECT player_id, kind FROM ev EMIT CHANGES LIMIT 5;",
            {"auto.offset.reset": "earliest"},
        )
        header, rows = lines[0], lines[1:]
        assert isinstance(header, dict) and header["columnNames"] == ["PLAYER_ID", "KIND"]
        assert len(rows) == 5
        assert all(isinstance(r, list) and r[1] in ("kill", "death") for r in rows)
        # Pull query on the stream: a scan of the topic that ends.
        scanned = _query(server.url, "SELECT * FROM ev;", {})
        assert len(scanned) - 1 == len(docs)
        # A persistent query over a malformed record: it keeps running, the record is in the
        # processing log, and DESCRIBE EXTENDED counts it.
        with JsonProducer(conf) as producer:
            producer.produce_values(topic, [b"{not json"], keys=[b"p1"])
        server.ksql(f"CREATE STREAM kills_{tag} AS SELECT * FROM ev WHERE kind = 'kill';",
                    {"auto.offset.reset": "earliest"})  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            described = server.ksql(f"DESCRIBE kills_{tag} EXTENDED;")[0]["sourceDescription"]
            if described["errorStats"] == "failed-messages: 1" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert described["errorStats"] == "failed-messages: 1"
        expected = sum(1 for d in docs if d["kind"] == "kill")
        while read_records(conf, f"KILLS_{tag.upper()}").height < expected:
            assert time.monotonic() < deadline, "the CSAS output did not arrive"
            time.sleep(0.2)  # committed a moment after it was counted
        assert read_records(conf, f"KILLS_{tag.upper()}").height == expected
        log = read_records(conf, f"srv{tag}_ksql_processing_log")
        assert [json.loads(v)["message"]["type"] for v in log["value"].to_list()] == [0]
        # Malformed SQL: ksqlDB's statement_error body; the server keeps serving.
        bad = httpx.post(f"{server.url}/ksql", json={"ksql": "CREATE STREM x;"}, timeout=30)
        assert bad.status_code == 400
        assert bad.json()["@type"] == "statement_error"
        assert httpx.get(f"{server.url}/info", timeout=10).status_code == 200
    finally:
        server.stop()
