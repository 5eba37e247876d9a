"""Push and pull queries through the real ksql server process on the embedded Tansu broker."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from telemetry_lib.config import Settings
from telemetry_lib.ksql.client import KsqlClient
from tests.ksql_runtime.helpers import ServerProcess

# A persistent query on Tansu needs a consumer-group join and a commit before its output is
# readable; generous for a loaded 2-core machine.
_CATCH_UP_S = 90.0


@pytest.fixture()
def server(embedded_stack: Settings, tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(
        embedded_stack.bootstrap_servers, tmp_path / "state", "rest_it_", tmp_path / "server.log"
    ).start()
    try:
        yield proc
    finally:
        proc.stop()


def test_push_and_pull_over_kafka(server: ServerProcess) -> None:
    client = KsqlClient(server.url)
    entities = client.execute(
        "CREATE STREAM EV (PLAYER STRING KEY, KILLS INT) WITH (KAFKA_TOPIC='rest_it_ev', "
        "VALUE_FORMAT='JSON', PARTITIONS=2);"
        "CREATE TABLE TOTALS AS SELECT PLAYER, SUM(KILLS) AS K FROM EV GROUP BY PLAYER;"
    )
    client.wait_until_running(entities[1]["commandStatus"]["queryId"])
    received: list[list[Any]] = []
    started = threading.Event()

    def push() -> None:
        body = {"sql": "SELECT PLAYER, KILLS FROM EV EMIT CHANGES LIMIT 3;"}
        with httpx.stream("POST", server.url + "/query-stream", json=body, timeout=120) as resp:
            lines = resp.iter_lines()
            next(lines)  # the header: the query's start offsets are fixed by now
            started.set()
            received.extend(json.loads(line) for line in lines if line.strip())

    thread = threading.Thread(target=push)
    thread.start()
    assert started.wait(_CATCH_UP_S)  # the push query starts at the end of the topic (latest)
    client.execute(
        "INSERT INTO EV (PLAYER, KILLS) VALUES ('p1', 2);"
        "INSERT INTO EV (PLAYER, KILLS) VALUES ('p2', 5);"
        "INSERT INTO EV (PLAYER, KILLS) VALUES ('p1', 1);"
    )
    thread.join(_CATCH_UP_S)
    assert not thread.is_alive()
    assert sorted(map(tuple, received)) == [("p1", 1), ("p1", 2), ("p2", 5)]

    deadline = time.monotonic() + _CATCH_UP_S
    rows: list[tuple[Any, ...]] = []
    while time.monotonic() < deadline:
        rows = sorted(client.pull("SELECT * FROM TOTALS;").rows())
        if rows == [("p1", 3), ("p2", 5)]:
            break
        time.sleep(0.5)
    assert rows == [("p1", 3), ("p2", 5)], server.log.read_text()[-4000:]
    lookup = client.pull("SELECT K FROM TOTALS WHERE PLAYER = 'p2';")
    assert lookup.rows() == [(5,)]
