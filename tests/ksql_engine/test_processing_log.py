"""Processing-log records: topic naming, record shape (reference §4.9), rows only when enabled."""

from __future__ import annotations

import base64
import json

from telemetry_lib.ksql.driver import InMemoryTopics
from telemetry_lib.ksql.exec.processing_log import ProcessingLog, processing_log_topic


def test_topic_name_follows_service_id_or_explicit_name() -> None:
    assert processing_log_topic(None) == "default_ksql_processing_log"
    assert processing_log_topic({"ksql.service.id": "svc_"}) == "svc_ksql_processing_log"
    explicit = {"ksql.logging.processing.topic.name": "my_log", "ksql.service.id": "x"}
    assert processing_log_topic(explicit) == "my_log"


def _records(topics: InMemoryTopics, topic: str) -> list[dict[str, object]]:
    frame = topics.records(topic)
    return [json.loads(v) for v in frame.get_column("value").to_list()]


def test_deserialization_entries_have_ksqldb_shape_and_create_a_one_partition_topic() -> None:
    topics = InMemoryTopics()
    log = ProcessingLog(topics, topic="plog", include_rows=True, clock=lambda: 42)
    log.deserialization_errors(
        "CSAS_X_0", "KsqlTopic.Source", target="value", topic="in", messages=["bad"], raw=[b"{x"]
    )
    spec = topics.describe_topic("plog")
    assert spec is not None and spec.partitions == 1
    (record,) = _records(topics, "plog")
    assert record == {
        "level": "ERROR",
        "logger": "processing.CSAS_X_0.KsqlTopic.Source.deserializer",
        "time": 42,
        "message": {
            "type": 0,
            "deserializationError": {
                "target": "value",
                "errorMessage": "bad",
                "recordB64": base64.b64encode(b"{x").decode(),
                "cause": [],
                "topic": "in",
            },
            "recordProcessingError": None,
            "productionError": None,
            "serializationError": None,
            "kafkaStreamsThreadError": None,
        },
    }
    assert log.counts["CSAS_X_0"] == 1


def test_rows_are_left_out_unless_included() -> None:
    topics = InMemoryTopics()
    log = ProcessingLog(topics, topic="plog", clock=lambda: 1)
    log.deserialization_errors(
        "Q", "S", target="key", topic="in", messages=["m1", "m2"], raw=[b"a", None]
    )
    log.record_processing_errors("Q", "Project", messages=["boom"], records=["{}"])
    records = _records(topics, "plog")
    assert [r["message"]["type"] for r in records] == [0, 0, 1]  # type: ignore[index]
    assert all(
        r["message"]["deserializationError"]["recordB64"] is None  # type: ignore[index]
        for r in records[:2]
    )
    assert records[2]["message"]["recordProcessingError"]["record"] is None  # type: ignore[index]
    assert log.counts["Q"] == 3
