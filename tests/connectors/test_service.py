"""The ``connect`` service of the embedded stack: started by ``up`` after kafka and mongo,
repaired by ``up`` when it died, and — after ``down`` + ``up`` (a fresh, empty broker) — its
connectors come back from ``<workdir>/connect`` and the MongoDB source copies its collection
again into the new topic."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pymongo

from telemetry_lib.connectors.client import ConnectClient
from telemetry_lib.kafka import TopicNotFoundError, read_records
from telemetry_lib.services import Stack
from tests.conftest import isolated_settings
from tests.connectors.helpers import wait_for

# A source copy on a loaded 2-core machine.
COPY_TIMEOUT_S = 120.0
SERVICES = ("kafka", "mongo", "connect")


def test_connect_service_restores_connectors_after_down_and_up(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path / "wb")
    mongo_uri = f"mongodb://127.0.0.1:{settings.mongo_port}/?directConnection=true"
    topic = "mongo.svc.events"
    config = {
        "connector.class": "com.mongodb.kafka.connect.MongoSourceConnector",
        "connection.uri": mongo_uri, "database": "svc", "collection": "events",
        "topic.prefix": "mongo", "startup.mode": "copy_existing",
        "publish.full.document.only": "true",
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.storage.StringConverter",
    }  # fmt: skip

    def players() -> list[str]:
        try:
            frame = read_records(settings.kafka_config(), topic, isolation_level="read_uncommitted")
        except TopicNotFoundError:
            return []
        return sorted(json.loads(v)["player"] for v in frame["value"].to_list())

    stack = Stack(settings, services=SERVICES)
    try:
        report = stack.up()
        assert [s.service for s in report.services] == list(SERVICES)
        with pymongo.MongoClient(settings.mongo_uri.reveal()) as mongo:
            mongo.svc.events.insert_many([{"player": f"p{i}"} for i in range(10)])
        with ConnectClient(settings.connect_url) as client:
            client.create("svc-source", config)
            client.wait_until_running("svc-source")
            wait_for(lambda: len(players()) == 10, timeout=COPY_TIMEOUT_S, what="the copy")

        # `up` repairs a dead worker; the broker still has the config topic
        pid = next(s.pid for s in report.services if s.service == "connect")
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        while any(row.service == "connect" and row.healthy for row in stack.status()):
            time.sleep(0.1)
        repaired = {s.service: s.action for s in Stack(settings, services=SERVICES).up().services}
        assert repaired == {"kafka": "already running", "mongo": "already running",
                            "connect": "started"}  # fmt: skip
        with ConnectClient(settings.connect_url) as client:
            assert client.list() == ["svc-source"]
            client.wait_until_running("svc-source")
        assert len(players()) >= 10

        stack.down()
        saved = json.loads((settings.workdir / "connect" / "connectors.json").read_text())
        assert saved["connectors"]["svc-source"]["config"]["collection"] == "events"

        Stack(settings, services=SERVICES).up()  # a new, empty broker
        with ConnectClient(settings.connect_url) as client:
            assert client.list() == ["svc-source"]
            client.wait_until_running("svc-source")
        wait_for(lambda: players() == sorted(f"p{i}" for i in range(10)),
                 timeout=COPY_TIMEOUT_S, what="the source copying again into the new topic")  # fmt: skip
    finally:
        Stack(settings, services=SERVICES).down()
