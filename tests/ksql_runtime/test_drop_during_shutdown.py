"""DROP TABLE ... DELETE TOPIC (alone, or right after TERMINATE) while the table's windowed CTAS
is consuming: the query's runner stops (its Kafka clients closed by the thread that owns them)
before the sink and checkpoint topics are deleted, so the server process survives (it used to
segfault in librdkafka), logs no runner error, and the topics are gone."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import pytest

from telemetry_lib.config import Settings
from telemetry_lib.kafka import KafkaAdmin, create_topic, produce_json
from tests.ksql_runtime.helpers import ServerProcess, events

pytestmark = pytest.mark.integration

# Enough events that the query is mid catch-up (several batches in flight) when DROP arrives.
EVENT_COUNT = 50_000
ROUNDS = 3
# How long the query consumes before DROP: it is inside a batch/commit, not starting up.
CONSUME_BEFORE_DROP_S = 1.0


def test_drop_delete_topic_while_query_runs(embedded_stack: Settings, tmp_path: Path) -> None:
    conf = embedded_stack.kafka_config()
    tag = uuid.uuid4().hex[:8]
    topic = f"drop_events_{tag}"
    create_topic(conf, topic, 2)
    produce_json(conf, topic, events(0, EVENT_COUNT), key="player_id", timestamp_field="ts")
    server = ServerProcess(conf["bootstrap.servers"], tmp_path / "state", f"drop{tag}_",
                           tmp_path / "server.log")  # fmt: skip
    admin = KafkaAdmin(conf)
    try:
        server.start()
        server.ksql(
            f"CREATE STREAM ev (player_id STRING KEY, kind STRING, ts BIGINT) "
            f"WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON', TIMESTAMP='ts');"
        )
        for round_ in range(ROUNDS):
            table = f"RATIO_{tag.upper()}_{round_}"
            server.ksql(
                f"CREATE TABLE {table} AS SELECT player_id, "
                f"SUM(CASE WHEN kind = 'kill' THEN 1 ELSE 0 END) AS kills, COUNT(*) AS events "
                f"FROM ev WINDOW TUMBLING (SIZE 5 MINUTES) GROUP BY player_id EMIT CHANGES;",
                {"auto.offset.reset": "earliest"},
            )
            # More input arrives while the query runs (the fetch thread is polling).
            produce_json(conf, topic, events(EVENT_COUNT * (round_ + 1), 2_000),
                         key="player_id", timestamp_field="ts")  # fmt: skip
            time.sleep(CONSUME_BEFORE_DROP_S)
            if round_ % 2:  # TERMINATE, then DROP at once (the other way to stop the query)
                queries = server.ksql("SHOW QUERIES;")[0]["queries"]
                (query_id,) = [q["id"] for q in queries if table in str(q.get("sinks"))]
                server.ksql(f"TERMINATE {query_id};")
            server.ksql(f"DROP TABLE {table} DELETE TOPIC;")
            assert server.proc is not None and server.proc.poll() is None, (
                f"server died (rc {server.proc.poll() if server.proc else None}) in round "
                f"{round_}: {server.log.read_text()[-3000:]}"
            )
            assert httpx.get(f"{server.url}/info", timeout=10).status_code == 200
            remaining = set(admin.list_topics(include_internal=False))
            assert table not in remaining
            assert not [t for t in remaining if table in t], remaining  # checkpoint topic too
            shown = server.ksql("SHOW QUERIES;")[0]["queries"]
            assert not [q for q in shown if table in str(q.get("sinks"))], shown
        assert server.proc.poll() is None
        # Each runner stopped cleanly: none touched its query's closed pipeline or clients.
        errors = [line for line in server.log.read_text().splitlines() if " ERROR " in line]
        assert not errors, errors
    finally:
        server.stop()
