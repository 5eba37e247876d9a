"""ksqlDB's connector statements against the real Connect worker and the real Mongo sink.

The ksqlDB server (Kafka runtime, in this process) forwards CREATE SINK CONNECTOR to
``python -m telemetry_lib.connectors.server`` (a separate process) on the session's embedded
Kafka; the MongoDB sink then writes the rows an INSERT put in the stream's topic into NX-27017.
SHOW / DESCRIBE / DROP and a config the worker's validation rejects go the same way.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from telemetry_lib.config import Settings
from telemetry_lib.ksql.client import KsqlClient
from telemetry_lib.ksql.rest.serve import ServerThread
from telemetry_lib.ksql.server import KsqlServer
from telemetry_lib.mongo import mongo_client
from tests.connectors.helpers import WorkerProcess

pytestmark = pytest.mark.integration

SINK = "com.mongodb.kafka.connect.MongoSinkConnector"
SOURCE = "com.mongodb.kafka.connect.MongoSourceConnector"
STRING = "org.apache.kafka.connect.storage.StringConverter"
JSON = "org.apache.kafka.connect.json.JsonConverter"
SETTLE_S = 90.0


@pytest.fixture()
def ksql(embedded_stack: Settings, tmp_path: Path) -> Iterator[KsqlClient]:
    worker = WorkerProcess(embedded_stack.bootstrap_servers, tmp_path / "connect",
                           tmp_path / "worker.log").start()  # fmt: skip
    server = KsqlServer(
        embedded_stack.kafka_config(),
        service_id=f"kc{uuid.uuid4().hex[:8]}_",
        state_dir=tmp_path / "ksql",
        config={"ksql.connect.url": worker.url},
    )
    try:
        server.start()
        with ServerThread(server.app()) as rest, KsqlClient(rest.url) as client:
            yield client
    finally:
        server.close()
        worker.stop()


def _until(what: str, check: object) -> None:
    deadline = time.monotonic() + SETTLE_S
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def test_mongo_sink_created_listed_described_and_dropped_through_ksql(
    ksql: KsqlClient, embedded_stack: Settings
) -> None:
    tag = uuid.uuid4().hex[:8]
    topic, database, name = f"kc_scores_{tag}", f"kc_{tag}", f"scores-sink-{tag}"
    uri = embedded_stack.mongo_uri.reveal()
    ksql.execute(
        f"CREATE STREAM scores_{tag} (player STRING KEY, score INT) "
        f"WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON', PARTITIONS=1);"
        f"INSERT INTO scores_{tag} (player, score) VALUES ('p1', 10);"
        f"INSERT INTO scores_{tag} (player, score) VALUES ('p2', 20);"
        f"INSERT INTO scores_{tag} (player, score) VALUES ('p3', 30);"
    )
    config = {
        "connector.class": SINK, "connection.uri": uri, "database": database,
        "collection": "scores", "topics": topic, "key.converter": STRING,
        "value.converter": JSON, "value.converter.schemas.enable": False, "tasks.max": 1,
    }  # fmt: skip
    created = ksql.create_connector(name, config, sink=True)
    assert created["@type"] == "connector_info"
    assert created["info"]["name"] == name
    assert created["info"]["type"] == "sink"
    assert created["info"]["config"]["value.converter.schemas.enable"] == "false"

    scores = mongo_client(uri)[database]["scores"]
    _until("the sink's documents",
           lambda: sorted(d["SCORE"] for d in scores.find()) == [10, 20, 30])  # fmt: skip

    def listed() -> list[dict[str, object]]:
        return [c for c in ksql.list_connectors(scope="sink") if c["name"] == name]

    _until(
        "a running task", lambda: listed() and listed()[0]["state"] == "RUNNING (1/1 tasks RUNNING)"
    )
    assert listed()[0]["className"] == SINK
    assert all(c["name"] != name for c in ksql.list_connectors(scope="source"))
    described = ksql.describe_connector(name)
    assert described["@type"] == "connector_description"
    assert described["connectorClass"] == SINK
    assert described["status"]["connector"]["state"] == "RUNNING"
    assert [t["state"] for t in described["status"]["tasks"]] == ["RUNNING"]
    assert described["status"]["type"] == "sink"
    plugins = {p["className"]: p["type"] for p in ksql.list_connector_plugins()}
    assert plugins[SINK] == "sink" and plugins[SOURCE] == "source"

    # The worker's own validation rejects a config: ksqlDB's 400 names the property, and
    # nothing is created.
    response = httpx.post(
        f"{ksql.url}/ksql",
        json={"ksql": f"CREATE SINK CONNECTOR `bad-{tag}` WITH ('connector.class'='{SINK}', "
                      f"'topics'='{topic}');", "streamsProperties": {}},
        timeout=60,
    )  # fmt: skip
    assert response.status_code == 400, response.text
    assert response.json()["@type"] == "statement_error"
    assert response.json()["message"].startswith("Validation error: ")
    assert "connection.uri" in response.json()["message"]
    assert all(c["name"] != f"bad-{tag}" for c in ksql.list_connectors())

    # Creating it again is Connect's 409 (found by the validation pass, before any POST).
    again = httpx.post(f"{ksql.url}/ksql", timeout=60, json={
        "ksql": f"CREATE SINK CONNECTOR `{name}` WITH ('connector.class'='{SINK}', "
                f"'connection.uri'='{uri}', 'topics'='{topic}');", "streamsProperties": {}})  # fmt: skip
    assert again.status_code == 409
    assert again.json()["message"] == f"Connector {name} already exists"

    dropped = ksql.drop_connector(name)
    assert (dropped["@type"], dropped["connectorName"]) == ("drop_connector", name)
    assert listed() == []
    assert ksql.drop_connector(name, if_exists=True)["@type"] == "warning_entity"
