"""Outputs the Kafka client refuses (ksqlDB's production exception handler): a PRODUCTION_ERROR
in the processing log, then the query fails (``ksql.fail.on.production.error``, default true)
or the record is left out and the query goes on (false)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from telemetry_lib.config import Settings
from telemetry_lib.kafka import JsonProducer, create_topic, read_records
from telemetry_lib.ksql.server import KsqlServer
from tests.support.crash import wait_for

pytestmark = pytest.mark.integration

# librdkafka's default message.max.bytes is 1,000,000: an output above it is refused before it
# is sent. The input record is produced by a client allowed 5 MB.
BIG = 1_200_000
WAIT_S = 60.0


def test_a_refused_output_is_logged_then_fails_or_is_skipped(
    embedded_stack: Settings, tmp_path: Path
) -> None:
    conf = embedded_stack.kafka_config()
    tag = uuid.uuid4().hex[:8]
    topic = f"pe_in_{tag}"
    create_topic(conf, topic, 1)
    docs = [{"id": 1, "blob": "a"}, {"id": 2, "blob": "b" * BIG}, {"id": 3, "blob": "c"}]
    with JsonProducer(conf, extra={"message.max.bytes": 5_000_000}) as producer:
        producer.produce_values(topic, [json.dumps(d).encode() for d in docs])
    server = KsqlServer(conf, service_id=f"pe{tag}_", state_dir=tmp_path / "state")
    try:
        server.start()
        server.execute(
            f"CREATE STREAM src (id INT, blob STRING) "
            f"WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON');"
        )
        earliest = {"auto.offset.reset": "earliest"}
        server.execute(f"CREATE STREAM fails_{tag} AS SELECT * FROM src;", properties=earliest)
        server.execute(
            f"CREATE STREAM skips_{tag} AS SELECT * FROM src;",
            properties={**earliest, "ksql.fail.on.production.error": "false"},
        )
        runners = {r.sink_topics[0]: r for r in server.runtime.runners.values()}
        failing, skipping = runners[f"FAILS_{tag.upper()}"], runners[f"SKIPS_{tag.upper()}"]
        # Default: the query stops in ERROR, naming the setting; nothing of its batch is out.
        wait_for(lambda: failing.status == "failed", "the default query to fail", timeout=WAIT_S)
        assert "ksql.fail.on.production.error" in (failing.error.hint or "")  # type: ignore[union-attr]
        # false: the refused record is left out, the others are published, the query runs on.
        wait_for(
            lambda: read_records(conf, f"SKIPS_{tag.upper()}").height == 2,
            "2 outputs",
            timeout=WAIT_S,
        )
        assert skipping.status == "running"
        out = read_records(conf, f"SKIPS_{tag.upper()}")
        assert [json.loads(v)["ID"] for v in out["value"].to_list()] == [1, 3]
        with JsonProducer(conf) as producer:  # later input still flows
            producer.produce_values(topic, [json.dumps({"id": 4, "blob": "d"}).encode()])
        wait_for(
            lambda: read_records(conf, f"SKIPS_{tag.upper()}").height == 3,
            "the 4th",
            timeout=WAIT_S,
        )
        # Each refusal is one PRODUCTION_ERROR under the query's own logger.
        log_topic = f"pe{tag}_ksql_processing_log"

        def entries() -> list[dict[str, object]]:
            return [json.loads(v) for v in read_records(conf, log_topic)["value"].to_list()]

        wait_for(lambda: len(entries()) >= 2, "two processing-log entries", timeout=WAIT_S)
        found = entries()
        assert sorted(e["logger"] for e in found) == sorted(  # type: ignore[type-var]
            [f"processing.{failing.query_id}", f"processing.{skipping.query_id}"]
        )
        for entry in found:
            message = entry["message"]
            assert isinstance(message, dict)
            assert message["type"] == 2
            assert "too large" in message["productionError"]["errorMessage"].lower()
            assert entry["level"] == "ERROR"
        assert skipping.production_errors == 1
    finally:
        server.close()
