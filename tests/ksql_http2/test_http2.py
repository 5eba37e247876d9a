"""The REST server speaks HTTP/2 (h2c) and HTTP/1.1 on one port (hypercorn).

httpx with HTTP/2 prior knowledge runs statements, pull and push queries and inserts; a raw h2
connection shows what only HTTP/2 gives: ``/inserts-stream`` acknowledges a row while the
request is still open, and resetting a ``/query-stream`` stream ends its push query.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import h2.config
import h2.connection
import h2.events
import httpx
import pytest

from telemetry_lib.ksql.rest import EngineBackend, create_app, in_memory_backend
from telemetry_lib.ksql.rest.serve import ServerThread

DELIMITED = "application/vnd.ksqlapi.delimited.v1"
READ_TIMEOUT_S = 30.0


@pytest.fixture()
def served() -> Iterator[tuple[EngineBackend, str]]:
    backend = in_memory_backend(config={"auto.offset.reset": "earliest"})
    with ServerThread(create_app(backend), server="hypercorn") as server:
        yield backend, server.url


def _create_stream(url: str) -> None:
    with httpx.Client(base_url=url, http1=False, http2=True, timeout=30) as h2c:
        response = h2c.post("/ksql", json={"ksql": "CREATE STREAM S (ID STRING KEY, V INT) "
                                           "WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', "
                                           "PARTITIONS=1);"})  # fmt: skip
        assert response.http_version == "HTTP/2"
        assert response.status_code == 200, response.text


def test_http2_and_http11_on_the_same_port(served: tuple[EngineBackend, str]) -> None:
    _backend, url = served
    _create_stream(url)
    with httpx.Client(base_url=url, http1=False, http2=True, timeout=30) as h2c:
        inserted = h2c.post(
            "/inserts-stream",
            content=b'{"target":"S"}\n{"ID":"a","V":1}\n{"ID":"b","V":2}\n',
            headers={"Accept": DELIMITED},
        )
        assert inserted.http_version == "HTTP/2"
        assert [json.loads(line) for line in inserted.text.splitlines()] == [
            {"status": "ok", "seq": 0},
            {"status": "ok", "seq": 1},
        ]
        with h2c.stream(
            "POST",
            "/query-stream",
            json={"sql": "SELECT ID, V FROM S EMIT CHANGES LIMIT 2;", "properties": {}},
            headers={"Accept": DELIMITED},
        ) as push:
            assert push.http_version == "HTTP/2"
            lines = [json.loads(line) for line in push.iter_lines() if line]
        assert lines[0]["columnNames"] == ["ID", "V"]
        assert lines[1:] == [["a", 1], ["b", 2]]
    with httpx.Client(base_url=url, timeout=30) as h11:
        info = h11.get("/info")
        assert info.http_version == "HTTP/1.1"
        assert info.json()["KsqlServerInfo"]["serverStatus"] == "RUNNING"
        pulled = h11.post("/query-stream", json={"sql": "SELECT * FROM S;", "properties": {}},
                          headers={"Accept": DELIMITED})  # fmt: skip
        assert [json.loads(line) for line in pulled.text.splitlines()][1:] == [["a", 1], ["b", 2]]


class _H2:
    """A raw HTTP/2 (prior knowledge) connection, to interleave request and response data."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=READ_TIMEOUT_S)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        self.sock.sendall(self.conn.data_to_send())
        self.data: dict[int, bytes] = {}
        self.ended: set[int] = set()

    def request(self, path: str, body: bytes, *, end: bool) -> int:
        stream = self.conn.get_next_available_stream_id()
        headers = [(":method", "POST"), (":path", path), (":scheme", "http"),
                   (":authority", "localhost"), ("accept", DELIMITED)]  # fmt: skip
        self.conn.send_headers(stream, headers)
        self.send(stream, body, end=end)
        return stream

    def send(self, stream: int, body: bytes, *, end: bool) -> None:
        self.conn.send_data(stream, body, end_stream=end)
        self.sock.sendall(self.conn.data_to_send())

    def read_lines(self, stream: int, count: int) -> list[object]:
        """Wait until ``stream`` has delivered ``count`` complete lines."""
        deadline = time.monotonic() + READ_TIMEOUT_S
        while self.data.get(stream, b"").count(b"\n") < count:
            assert time.monotonic() < deadline, f"only {self.data.get(stream)!r} arrived"
            for event in self.conn.receive_data(self.sock.recv(65536)):
                if isinstance(event, h2.events.DataReceived):
                    self.data[event.stream_id] = self.data.get(event.stream_id, b"") + event.data
                    self.conn.acknowledge_received_data(event.flow_controlled_length,
                                                        event.stream_id)  # fmt: skip
                elif isinstance(event, h2.events.StreamEnded):
                    self.ended.add(event.stream_id)
            self.sock.sendall(self.conn.data_to_send())
        return [json.loads(line) for line in self.data[stream].splitlines()[:count]]

    def reset(self, stream: int) -> None:
        self.conn.reset_stream(stream)
        self.sock.sendall(self.conn.data_to_send())

    def close(self) -> None:
        self.sock.close()


def test_inserts_are_acknowledged_while_the_request_is_open(
    served: tuple[EngineBackend, str],
) -> None:
    _backend, url = served
    _create_stream(url)
    client = _H2(url)
    try:
        stream = client.request("/inserts-stream", b'{"target":"S"}\n{"ID":"a","V":1}\n', end=False)
        # The first row's ack arrives although the request body has not ended.
        assert client.read_lines(stream, 1) == [{"status": "ok", "seq": 0}]
        assert stream not in client.ended
        client.send(stream, b'{"ID":"b","V":2}\n', end=True)
        assert client.read_lines(stream, 2)[1] == {"status": "ok", "seq": 1}
    finally:
        client.close()


def test_resetting_the_stream_ends_the_push_query(served: tuple[EngineBackend, str]) -> None:
    backend, url = served
    _create_stream(url)
    client = _H2(url)
    try:
        body = json.dumps({"sql": "SELECT * FROM S EMIT CHANGES;", "properties": {}}).encode()
        stream = client.request("/query-stream", body, end=True)
        header = client.read_lines(stream, 1)[0]
        assert isinstance(header, dict)
        assert backend.running_push_queries() == [header["queryId"]]
        client.reset(stream)
        deadline = time.monotonic() + READ_TIMEOUT_S
        while backend.running_push_queries():
            assert time.monotonic() < deadline, "the push query outlived its stream"
            time.sleep(0.05)
    finally:
        client.close()
