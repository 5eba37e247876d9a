"""KsqlClient against our REST server (in-memory engine behind a real uvicorn)."""

from __future__ import annotations

import threading
import time

import polars as pl
import pytest

from telemetry_lib.errors import ConnectionFailed
from telemetry_lib.ksql.client import KsqlClient, KsqlServerError
from telemetry_lib.ksql.rest.serve import free_port
from tests.ksql_rest.conftest import Server

SCRIPT = """
CREATE STREAM EVENTS (PLAYER_ID STRING KEY, KILLS INT, DEATHS INT, TS BIGINT)
  WITH (KAFKA_TOPIC='events', VALUE_FORMAT='JSON', PARTITIONS=1, TIMESTAMP='TS');
CREATE TABLE RATIO AS SELECT PLAYER_ID, SUM(KILLS) AS K, SUM(DEATHS) AS D
  FROM EVENTS WINDOW TUMBLING (SIZE 5 MINUTES) GROUP BY PLAYER_ID EMIT CHANGES;
"""


def _insert(client: KsqlClient, rows: list[tuple[str, int, int, int]]) -> None:
    client.execute(
        "".join(
            f"INSERT INTO EVENTS (PLAYER_ID, KILLS, DEATHS, TS) VALUES ('{p}', {k}, {d}, {t});"
            for p, k, d, t in rows
        )
    )


def test_script_catalog_calls_and_pull(server: Server) -> None:
    client = KsqlClient(server.url)
    entities = client.execute(SCRIPT)
    query_id = entities[1]["commandStatus"]["queryId"]
    client.wait_until_running(query_id)
    assert [s["name"] for s in client.list_streams()] == ["EVENTS"]
    assert [t["name"] for t in client.list_tables()] == ["RATIO"]
    assert "events" in [t["name"] for t in client.list_topics()]
    assert client.describe("RATIO")["windowType"] == "TUMBLING"
    _insert(client, [("p1", 2, 1, 1_000), ("p1", 1, 0, 2_000), ("p2", 0, 3, 1_500)])
    frame = client.pull("SELECT * FROM RATIO WHERE PLAYER_ID = 'p1';")
    assert frame.columns == ["PLAYER_ID", "WINDOWSTART", "WINDOWEND", "K", "D"]
    assert frame.schema["WINDOWSTART"] == pl.Datetime("ms", "UTC")
    assert frame.select("PLAYER_ID", "K", "D").rows() == [("p1", 3, 1)]
    client.terminate(query_id)
    assert client.list_queries() == []
    client.drop("RATIO")
    assert client.list_tables() == []


def test_stream_df_limit_and_timeout(server: Server) -> None:
    client = KsqlClient(server.url)
    client.execute(SCRIPT)

    def writer() -> None:
        time.sleep(0.5)
        _insert(KsqlClient(server.url), [("p9", 1, 1, 10), ("p8", 2, 2, 20)])

    thread = threading.Thread(target=writer)
    thread.start()
    frame = client.stream_df("SELECT PLAYER_ID, KILLS FROM EVENTS EMIT CHANGES;", limit=2)
    thread.join()
    assert frame.rows() == [("p9", 1), ("p8", 2)]
    started = time.monotonic()
    assert list(client.stream("SELECT * FROM EVENTS EMIT CHANGES;", timeout=0.5)) == []
    assert time.monotonic() - started < 30  # it returned (a bound, not a speed claim)


def test_errors_carry_error_code(server: Server) -> None:
    client = KsqlClient(server.url)
    with pytest.raises(KsqlServerError) as caught:
        client.execute("CREATE STREAM X AS SELECT * FROM NOPE;")
    assert caught.value.error_code == 40001
    with pytest.raises(KsqlServerError) as caught:
        client.pull("SELECT * FROM NOPE;")
    assert caught.value.error_code == 40001


def test_unreachable_server_is_connection_failed() -> None:
    client = KsqlClient(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ConnectionFailed):
        client.info()
