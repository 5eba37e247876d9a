"""A /ksql request that fails part-way at execution keeps what already ran, across a restart.

On the real stack (Tansu, the ksql server as a process, the Connect worker as a process): the
request's statements all pass validation; a later one fails while executing (``DROP CONNECTOR``
of a connector the worker does not have: Connect answers 404). As in ksqlDB, where each
statement is written to the command topic as it executes, the statements before it stay run:
the answer is the failing statement's error, a query created earlier in the request runs, and a
restarted server brings back the stream created and keeps the query terminated - the command
log holds exactly the executed statements, in order.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from telemetry_lib.config import Settings
from telemetry_lib.kafka import create_topic, produce_json, read_records
from tests.connectors.helpers import WorkerProcess
from tests.ksql_runtime.helpers import KSQL_TIMEOUT_S, ServerProcess

pytestmark = pytest.mark.integration

# A query's runner joins its consumer group and commits within seconds; generous for 2 cores.
SETTLE_S = 90.0


class ConnectedServer(ServerProcess):
    """The ksql server process forwarding connector statements to ``connect_url``."""

    def __init__(self, *args: object, connect_url: str) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.connect_url = connect_url

    def arguments(self) -> list[str]:
        return [*super().arguments(), "--connect-url", self.connect_url]

    def post(self, sql: str) -> httpx.Response:
        body = {"ksql": sql, "streamsProperties": {"auto.offset.reset": "earliest"}}
        return httpx.post(f"{self.url}/ksql", json=body, timeout=KSQL_TIMEOUT_S)

    def names(self, what: str) -> set[str]:
        (listing,) = self.ksql(f"SHOW {what};")
        return {str(entry.get("name") or entry.get("id")) for entry in listing[what.lower()]}


@pytest.fixture()
def stack(embedded_stack: Settings, tmp_path: Path) -> Iterator[tuple[ConnectedServer, str]]:
    bootstrap = str(embedded_stack.kafka_config()["bootstrap.servers"])
    worker = WorkerProcess(bootstrap, tmp_path / "connect", tmp_path / "worker.log").start()
    tag = uuid.uuid4().hex[:8]
    server = ConnectedServer(bootstrap, tmp_path / "ksql", f"cl{tag}_", tmp_path / "ksql.log",
                             connect_url=worker.url)  # fmt: skip
    try:
        yield server.start(), tag
    finally:
        server.stop()
        worker.stop()


def _until(what: str, check: Callable[[], bool], server: ServerProcess) -> None:
    deadline = time.monotonic() + SETTLE_S
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{server.tail()}"
        time.sleep(0.3)


def _assert_drop_failed(response: httpx.Response, connector: str) -> None:
    """The answer is the failing statement's error alone (ksqlDB's KsqlRestException with
    Connect's 404), not the entities of the statements that ran before it."""
    assert response.status_code == 404, response.text
    body = response.json()
    assert body["@type"] == "generic_error", body
    assert body["error_code"] == 40400, body
    assert body["message"].startswith("Failed to drop connector: "), body
    assert connector in body["message"], body


def test_statements_before_an_execution_failure_persist(
    stack: tuple[ConnectedServer, str], embedded_stack: Settings
) -> None:
    server, tag = stack
    conf = embedded_stack.kafka_config()
    src_topic, out_topic = f"cl_src_{tag}", f"CL_OUT_{tag}".upper()
    create_topic(conf, src_topic, 1)
    produce_json(conf, src_topic, [{"id": "a", "v": 1}], key="id")
    src, out, kept = f"CL_SRC_{tag}".upper(), f"CL_OUT_{tag}".upper(), f"CL_KEPT_{tag}".upper()
    missing = f"missing-{tag}"

    # 1. CREATE STREAM + CSAS, then a statement failing at execution.
    response = server.post(
        f"CREATE STREAM {src} (id STRING KEY, v INT) "
        f"WITH (KAFKA_TOPIC='{src_topic}', VALUE_FORMAT='JSON');"
        f"CREATE STREAM {out} WITH (KAFKA_TOPIC='{out_topic}', PARTITIONS=1) AS "
        f"SELECT id, v * 10 AS v10 FROM {src};"
        f"DROP CONNECTOR `{missing}`;"
    )
    _assert_drop_failed(response, missing)
    assert {src, out} <= server.names("STREAMS")
    (query_id,) = [q for q in server.names("QUERIES") if out in q]
    # The query created before the failure runs: its output reaches the sink topic.
    _until("the CSAS output", lambda: read_records(conf, out_topic).height == 1, server)

    # 2. TERMINATE and CREATE STREAM, then the failing statement again.
    response = server.post(
        f"TERMINATE {query_id};"
        f"CREATE STREAM {kept} (id STRING KEY, v INT) "
        f"WITH (KAFKA_TOPIC='{src_topic}', VALUE_FORMAT='JSON');"
        f"DROP CONNECTOR `{missing}`;"
    )
    _assert_drop_failed(response, missing)
    assert query_id not in server.names("QUERIES")

    # 3. The command log holds exactly what ran, in order (none of the failing DROPs).
    lines = (server.state_dir / "commands.jsonl").read_text().splitlines()
    recorded = [json.loads(line)["statement"].rstrip(";").split()[:2] for line in lines]
    assert recorded == [["CREATE", "STREAM"], ["CREATE", "STREAM"], ["TERMINATE", query_id],
                        ["CREATE", "STREAM"]]  # fmt: skip

    # 4. After a restart: both streams exist, the query stays terminated.
    server.restarted()
    assert {src, out, kept} <= server.names("STREAMS")
    assert query_id not in server.names("QUERIES")
    produce_json(conf, src_topic, [{"id": "b", "v": 2}], key="id")
    # A query over the same input, started after the restart, sees the new record ...
    (created,) = server.ksql(
        f"CREATE STREAM probe_{tag} AS SELECT * FROM {kept};", {"auto.offset.reset": "earliest"}
    )
    assert created["commandStatus"]["status"] == "SUCCESS", created
    _until("the probe's output", lambda: read_records(conf, f"PROBE_{tag}".upper()).height == 2,
           server)  # fmt: skip
    # ... while the terminated query wrote nothing more.
    assert read_records(conf, out_topic).height == 1


def test_a_statement_is_recorded_before_the_request_ends(
    embedded_stack: Settings, tmp_path: Path
) -> None:
    bootstrap = str(embedded_stack.kafka_config()["bootstrap.servers"])
    tag = uuid.uuid4().hex[:8]
    # Connect that accepts connections (the kernel's backlog) and never answers.
    silent = socket.create_server(("127.0.0.1", 0))
    server = ConnectedServer(bootstrap, tmp_path / "ksql", f"ck{tag}_", tmp_path / "ksql.log",
                             connect_url=f"http://127.0.0.1:{silent.getsockname()[1]}")  # fmt: skip
    stream = f"CK_{tag}".upper()
    log = server.state_dir / "commands.jsonl"
    try:
        server.start()
        request = threading.Thread(
            target=lambda: _ignore_errors(lambda: server.post(
                f"CREATE STREAM {stream} (id STRING KEY, v INT) WITH (KAFKA_TOPIC='ck_{tag}', "
                f"PARTITIONS=1, VALUE_FORMAT='JSON'); DROP CONNECTOR `gone-{tag}`;"
            )),
            daemon=True,
        )  # fmt: skip
        request.start()
        # The CREATE is in the log while the DROP still waits on Connect ...
        _until("the CREATE in the command log",
               lambda: log.exists() and stream in log.read_text(), server)  # fmt: skip
        assert request.is_alive()
        # ... so a crash right then keeps it.
        server.kill9()
        request.join(KSQL_TIMEOUT_S)
        server.restarted()
        assert stream in server.names("STREAMS")
    finally:
        server.stop()
        silent.close()


def _ignore_errors(call: Callable[[], object]) -> None:
    """Run ``call``; the server it talks to is killed under it."""
    try:
        call()
    except httpx.HTTPError:
        pass
