"""Connector statements wait on Kafka Connect without the engine lock.

On the real stack (Tansu, the Kafka runtime in this process, its REST API): a persistent query
keeps processing and committing while a connector statement waits on a Connect endpoint that
accepts connections and never answers (a stand-in for a hung third-party worker). And, over
the recording Connect, the request-wide validation keeps statement order: the first failing
statement is the request's error, and nothing runs when any fails.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest

from telemetry_lib.config import Settings
from telemetry_lib.kafka import create_topic, produce_json, read_records
from telemetry_lib.ksql.rest import create_app, in_memory_backend
from telemetry_lib.ksql.rest.serve import ServerThread
from telemetry_lib.ksql.server import KsqlServer
from tests.ksql_runtime.helpers import events

from .recording_connect import RecordingConnect

SINK = "com.mongodb.kafka.connect.MongoSinkConnector"
# Generous bounds for a loaded 2-core machine; the statements under test wait on the silent
# Connect for 3 x 10 s (ConnectRest's attempts x timeout) unless the test closes it first.
SETTLE_S = 60.0
HTTP_TIMEOUT_S = 90.0


class SilentConnect:
    """A TCP listener on a free port that accepts connections and never answers."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.accepted = threading.Event()
        self._conns: list[socket.socket] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="silent-connect", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._conns.append(conn)
            self.accepted.set()

    def close(self) -> None:
        """Stop listening and drop the connections: a waiting client fails at once."""
        self._closed.set()
        self._thread.join(5)
        self._listener.close()
        for conn in self._conns:
            conn.close()


class _Statement(threading.Thread):
    """One POST /ksql in a thread; ``response`` once it is answered."""

    def __init__(self, url: str, sql: str, properties: dict[str, str]) -> None:
        super().__init__(name="ksql-statement", daemon=True)
        self.body = {"ksql": sql, "streamsProperties": properties}
        self.url = url
        self.response: httpx.Response | None = None

    def run(self) -> None:
        self.response = httpx.post(f"{self.url}/ksql", json=self.body, timeout=HTTP_TIMEOUT_S)


def _kills(docs: list[dict[str, object]]) -> int:
    return sum(1 for d in docs if d["kind"] == "kill")


@pytest.mark.integration
def test_a_query_keeps_committing_while_a_connector_statement_waits_on_connect(
    embedded_stack: Settings, tmp_path: Path
) -> None:
    conf = embedded_stack.kafka_config()
    tag = uuid.uuid4().hex[:8]
    topic, out = f"lock_events_{tag}", f"LOCK_KILLS_{tag.upper()}"
    create_topic(conf, topic, 1)
    server = KsqlServer(conf, service_id=f"lk{tag}_", state_dir=tmp_path / "ksql")
    server.start()
    try:
        with ServerThread(server.app()) as rest:
            body = {"streamsProperties": {"auto.offset.reset": "earliest"}}
            for sql in (
                f"CREATE STREAM ev_{tag} (player_id STRING KEY, kind STRING, ts BIGINT) "
                f"WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON');",
                f"CREATE STREAM {out} AS SELECT * FROM ev_{tag} WHERE kind = 'kill';",
            ):
                answer = httpx.post(f"{rest.url}/ksql", json={"ksql": sql, **body}, timeout=60)
                assert answer.status_code == 200, answer.text
            produced = events(0, 40)
            produce_json(conf, topic, produced, key="player_id", timestamp_field="ts")
            _until(partial(_has_rows, conf, out, _kills(produced)), "the first output")
            (runner,) = server.runtime.runners.values()
            # CREATE waits in the request's validation (before anything runs), DROP in the
            # statement's execution: neither may hold up the query.
            for sql in (
                f"CREATE SINK CONNECTOR `c_{tag}` WITH ('connector.class'='{SINK}', "
                "'connection.uri'='mongodb://127.0.0.1:1');",
                f"DROP CONNECTOR `c_{tag}`;",
            ):
                silent = SilentConnect()
                statement = _Statement(rest.url, sql, {"ksql.connect.url": silent.url})
                try:
                    statement.start()
                    assert silent.accepted.wait(SETTLE_S), "the statement never called Connect"
                    committed = runner.batches_committed
                    more = events(len(produced), 40)
                    produce_json(conf, topic, more, key="player_id", timestamp_field="ts")
                    produced += more
                    _until(
                        partial(_has_rows, conf, out, _kills(produced)),
                        "the output of the records produced while Connect is silent",
                        unless=statement,
                    )
                    assert statement.is_alive(), (
                        f"{sql!r} returned before the query committed the new records: "
                        f"{statement.response and statement.response.text}"
                    )
                    assert runner.batches_committed > committed
                finally:
                    silent.close()
                statement.join(SETTLE_S)
                assert statement.response is not None
                assert statement.response.status_code == 400, statement.response.text
                assert f"Connect to {silent.url} failed" in statement.response.json()["message"]
            # A query the request terminated before its connector statement is stopped before
            # the lock is given up: its runner must not run a closed pipeline meanwhile.
            (query_id,) = server.runtime.runners
            silent = SilentConnect()
            statement = _Statement(rest.url, f"TERMINATE {query_id}; SHOW CONNECTORS;",
                                   {"ksql.connect.url": silent.url})  # fmt: skip
            try:
                statement.start()
                assert silent.accepted.wait(SETTLE_S), "SHOW CONNECTORS never called Connect"
                assert statement.is_alive()
                assert server.runtime.runners == {}
                assert runner.status == "stopped"
            finally:
                silent.close()
            statement.join(SETTLE_S)
            assert statement.response is not None and statement.response.status_code == 400
    finally:
        server.close()


def _has_rows(conf: dict[str, str], topic: str, count: int) -> bool:
    """Whether ``topic`` holds exactly ``count`` committed records."""
    return read_records(conf, topic).height == count


def _until(check: Callable[[], bool], what: str, *, unless: threading.Thread | None = None) -> None:
    """Wait until ``check()`` holds, or ``unless`` (a thread) has ended."""
    deadline = time.monotonic() + SETTLE_S
    while not check() and (unless is None or unless.is_alive()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture()
def recording() -> Iterator[tuple[RecordingConnect, httpx.Client]]:
    connect = RecordingConnect()
    with ServerThread(connect.app()) as server:
        backend = in_memory_backend(config={"ksql.connect.url": server.url})
        with ServerThread(create_app(backend)) as ksql, httpx.Client(base_url=ksql.url) as http:
            yield connect, http


def test_an_earlier_connector_failure_is_the_requests_error(
    recording: tuple[RecordingConnect, httpx.Client],
) -> None:
    connect, http = recording
    connect.connectors["dup"] = {"connector.class": SINK, "connection.uri": "m"}
    response = http.post("/ksql", json={"ksql": (
        "CREATE STREAM ok (id STRING KEY, v INT) WITH (KAFKA_TOPIC='ok', VALUE_FORMAT='JSON', "
        "PARTITIONS=1);"
        f"CREATE SINK CONNECTOR `dup` WITH ('connector.class'='{SINK}', 'connection.uri'='m');"
        "CREATE STREAM later AS SELECT * FROM missing;"
    )})  # fmt: skip
    assert response.status_code == 409, response.text
    assert response.json()["message"] == "Connector dup already exists"
    shown = http.post("/ksql", json={"ksql": "SHOW STREAMS;"}).json()[0]["streams"]
    assert "OK" not in {s["name"] for s in shown}


def test_a_statement_failing_before_a_connector_stops_the_request_before_connect(
    recording: tuple[RecordingConnect, httpx.Client],
) -> None:
    connect, http = recording
    response = http.post("/ksql", json={"ksql": (
        "CREATE STREAM later AS SELECT * FROM missing;"
        f"CREATE SINK CONNECTOR `new` WITH ('connector.class'='{SINK}', 'connection.uri'='m');"
    )})  # fmt: skip
    assert response.status_code == 400, response.text
    assert "MISSING does not exist" in response.json()["message"]
    assert connect.requests == []
