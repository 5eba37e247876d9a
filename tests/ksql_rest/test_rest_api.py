"""The REST API against a real uvicorn server over the in-memory engine (reference §1)."""

from __future__ import annotations

import json
import threading
import time

import httpx
import polars as pl

from tests.ksql_rest.conftest import Server

DDL = (
    "CREATE STREAM S (ID STRING KEY, V INT, TS BIGINT) WITH (KAFKA_TOPIC='s', "
    "VALUE_FORMAT='JSON', PARTITIONS=1, TIMESTAMP='TS');"
)
CTAS = (
    "CREATE TABLE T AS SELECT ID, COUNT(*) AS N, SUM(V) AS TOT FROM S "
    "WINDOW TUMBLING (SIZE 5 MINUTES) GROUP BY ID EMIT CHANGES;"
)


def _insert(server: Server, *rows: tuple[str, int, int]) -> None:
    sql = "".join(f"INSERT INTO S (ID, V, TS) VALUES ('{i}', {v}, {ts});" for i, v, ts in rows)
    assert server.ksql(sql).status_code == 200


def test_ksql_returns_entities_with_command_ids_and_status(server: Server) -> None:
    response = server.ksql(DDL + CTAS)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    first, second = response.json()
    assert first["@type"] == "currentStatus"
    assert first["commandId"] == "stream/`S`/create"
    assert first["commandStatus"]["message"] == "Stream created"
    assert second["commandStatus"]["queryId"] == "CTAS_T_0"
    assert second["commandSequenceNumber"] > first["commandSequenceNumber"]
    status = server.http.get("/status/table/%60T%60/create")
    assert status.json() == {
        "status": "SUCCESS",
        "message": "Created query with ID CTAS_T_0",
        "queryId": "CTAS_T_0",
    }
    missing = server.http.get("/status/stream/NOPE/create")
    assert missing.status_code == 404
    assert missing.json() == {
        "@type": "generic_error",
        "error_code": 40400,
        "message": "Command not found",
    }


def test_malformed_sql_is_a_statement_error_and_server_keeps_working(server: Server) -> None:
    bad = server.ksql("SELEC * FROM S;")
    assert bad.status_code == 400
    body = bad.json()
    assert body["@type"] == "statement_error"
    assert body["error_code"] == 40001
    assert body["message"].startswith("line 1:1: Syntax Error")
    assert body["statementText"] == "SELEC * FROM S;"
    assert body["entities"] == []
    assert server.ksql(DDL).status_code == 200


def test_multi_statement_request_is_validated_as_a_whole(server: Server) -> None:
    response = server.ksql(DDL + "CREATE STREAM X AS SELECT * FROM NOPE;")
    assert response.status_code == 400
    assert "NOPE does not exist" in response.json()["message"]
    listed = server.ksql("SHOW STREAMS;").json()[0]["streams"]
    assert listed == []  # S was not created either


def test_select_on_ksql_endpoint_is_40002(server: Server) -> None:
    server.ksql(DDL)
    response = server.ksql("SELECT * FROM S EMIT CHANGES;")
    assert response.status_code == 400
    assert response.json()["error_code"] == 40002
    assert "should be issued to the websocket endpoint '/query'" in response.json()["message"]


def test_bad_requests_get_ksqldb_bodies(server: Server) -> None:
    invalid = server.http.post("/ksql", content=b"{not json")
    assert invalid.status_code == 400
    assert invalid.json()["error_code"] == 40000
    assert invalid.json()["message"].startswith("Invalid JSON in request")
    unknown = server.http.get("/no/such/path")
    assert (unknown.status_code, unknown.text) == (404, "Not Found")
    huge = server.http.post("/ksql", content=b'{"ksql":"' + b"x" * (11 * 1024 * 1024) + b'"}')
    assert huge.status_code == 413
    assert huge.json()["@type"] == "generic_error"
    closed = server.http.post("/close-query", json={"queryId": "transient_X_1"})
    assert closed.status_code == 400
    assert closed.json() == {
        "@type": "generic_error",
        "error_code": 40000,
        "message": "No query with id transient_X_1",
    }


def test_info_healthcheck_and_root(server: Server) -> None:
    info = server.http.get("/info").json()["KsqlServerInfo"]
    assert info["ksqlServiceId"] == "default_"
    assert info["serverStatus"] == "RUNNING"
    health = server.http.get("/healthcheck").json()
    assert health["isHealthy"] is True and health["serverState"] == "READY"
    root = server.http.get("/", follow_redirects=False)
    assert (root.status_code, root.headers["location"]) == (307, "/info")
    assert server.http.get("/chc/live").json() == {}


def test_pull_queries_key_lookup_window_bounds_and_scan(server: Server) -> None:
    server.ksql(DDL + CTAS)
    _insert(server, ("a", 1, 1_000), ("a", 3, 400_000), ("b", 3, 2_000), ("a", 4, 2_500))
    scan = server.http.post("/query-stream", json={"sql": "SELECT * FROM T;"})
    lines = [json.loads(line) for line in scan.text.splitlines()]
    assert lines[0]["columnNames"] == ["ID", "WINDOWSTART", "WINDOWEND", "N", "TOT"]
    assert lines[0]["columnTypes"] == ["STRING", "BIGINT", "BIGINT", "BIGINT", "INTEGER"]
    assert sorted(map(tuple, lines[1:])) == [
        ("a", 0, 300_000, 2, 5),
        ("a", 300_000, 600_000, 1, 3),
        ("b", 0, 300_000, 1, 3),
    ]
    bounded = server.http.post(
        "/query-stream",
        json={"sql": "SELECT TOT FROM T WHERE ID = 'a' AND WINDOWSTART >= 300000;"},
        headers={"Accept": "application/json"},
    )
    assert bounded.json()[1:] == [[3]]


def test_pull_on_a_stream_scans_and_ends_and_legacy_shape(server: Server) -> None:
    server.ksql(DDL)
    _insert(server, ("a", 1, 10), ("b", 2, 20))
    response = server.http.post("/query", json={"ksql": "SELECT ID, V FROM S;"})
    assert response.headers["content-type"].startswith("application/vnd.ksql.v1+json")
    body = response.json()
    assert body[0]["header"]["schema"] == "`ID` STRING KEY, `V` INTEGER"
    assert [e["row"]["columns"] for e in body[1:]] == [["a", 1], ["b", 2]]
    assert response.text.count(",\n") == 2


def test_push_query_latest_by_default_earliest_on_request(server: Server) -> None:
    server.ksql(DDL)
    _insert(server, ("old", 1, 10))

    def later() -> None:
        time.sleep(0.5)
        _insert(server, ("new", 2, 20))

    thread = threading.Thread(target=later)
    thread.start()
    latest = server.http.post(
        "/query-stream", json={"sql": "SELECT ID, V * 10 AS X FROM S EMIT CHANGES LIMIT 1;"}
    )
    thread.join()
    assert [json.loads(x) for x in latest.text.splitlines()[1:]] == [["new", 20]]
    earliest = server.http.post(
        "/query",
        json={
            "ksql": "SELECT ID FROM S EMIT CHANGES LIMIT 2;",
            "streamsProperties": {"auto.offset.reset": "earliest"},
        },
    )
    body = earliest.json()
    assert [e["row"]["columns"] for e in body[1:-1]] == [["old"], ["new"]]
    assert body[-1] == {"finalMessage": "Limit Reached"}


def test_closing_the_connection_ends_the_push_query(server: Server) -> None:
    server.ksql(DDL)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        with client.stream(
            "POST", "/query-stream", json={"sql": "SELECT * FROM S EMIT CHANGES;"}
        ) as response:
            lines = response.iter_lines()  # kept: a dropped iterator closes the response
            header = json.loads(next(lines))
            assert header["queryId"] in server.backend.running_push_queries()
    deadline = time.monotonic() + 20
    while server.backend.running_push_queries() and time.monotonic() < deadline:
        _insert(server, ("tick", 1, 1))  # a write makes the server notice the closed socket
        time.sleep(0.1)
    assert server.backend.running_push_queries() == []


def test_close_query_ends_a_running_push_query(server: Server) -> None:
    server.ksql(DDL)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        with client.stream(
            "POST", "/query-stream", json={"sql": "SELECT * FROM S EMIT CHANGES;"}
        ) as response:
            lines = response.iter_lines()
            query_id = json.loads(next(lines))["queryId"]
            closed = server.http.post("/close-query", json={"queryId": query_id})
            assert closed.status_code == 200
            assert list(lines) == []  # the stream ended


def test_inserts_stream_acks_rows_and_reports_bad_ones(server: Server) -> None:
    server.ksql(DDL)
    payload = b"\n".join(
        [
            b'{"target":"S"}',
            b'{"ID":"k1","V":5,"TS":1}',
            b'{"ID":"k2","V":6,"TS":2}',
            b"{oops",
        ]
    )
    response = server.http.post("/inserts-stream", content=payload)
    acks = [json.loads(x) for x in response.text.splitlines()]
    assert acks[:2] == [{"status": "ok", "seq": 0}, {"status": "ok", "seq": 1}]
    assert acks[2]["status"] == "error" and acks[2]["seq"] == 2
    assert acks[2]["message"] == "Invalid JSON in inserts stream"
    rows = server.http.post("/query-stream", json={"sql": "SELECT ID, V FROM S;"})
    assert [json.loads(x) for x in rows.text.splitlines()[1:]] == [["k1", 5], ["k2", 6]]
    missing_key = server.http.post("/inserts-stream", content=b'{"target":"S"}\n{"V":1}')
    assert "Key field must be specified: ID" in missing_key.text


def test_terminate_cluster_drops_everything(server: Server) -> None:
    server.ksql(DDL + CTAS)
    response = server.http.post("/ksql/terminate", json={"deleteTopicList": ["T"]})
    assert response.status_code == 200
    assert server.ksql("SHOW QUERIES;").json()[0]["queries"] == []
    assert server.ksql("SHOW STREAMS;").json()[0]["streams"] == []
    assert server.backend.engine.io.describe_topic("T") is None
    assert server.backend.engine.io.describe_topic("s") is not None  # not created by a query


def test_terminate_on_ksql_closes_a_push_query(server: Server) -> None:
    server.ksql(DDL)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        with client.stream(
            "POST", "/query-stream", json={"sql": "SELECT * FROM S EMIT CHANGES;"}
        ) as response:
            lines = response.iter_lines()
            query_id = json.loads(next(lines))["queryId"]
            entity = server.ksql(f"TERMINATE {query_id};").json()[0]
            assert entity["@type"] == "terminate_query"
            assert (entity["queryId"], entity["wasTerminated"]) == (query_id, True)
            assert list(lines) == []


def test_many_concurrent_push_clients_each_get_every_row(server: Server) -> None:
    server.ksql(DDL)
    results: list[list[list[object]]] = [[] for _ in range(4)]
    started = [threading.Event() for _ in range(4)]

    def reader(i: int) -> None:
        body = {"sql": "SELECT ID, V FROM S EMIT CHANGES LIMIT 3;"}
        with httpx.stream("POST", server.url + "/query-stream", json=body, timeout=60) as resp:
            lines = resp.iter_lines()
            next(lines)
            started[i].set()
            results[i].extend(json.loads(line) for line in lines)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for event in started:
        assert event.wait(30)
    _insert(server, ("a", 1, 1), ("b", 2, 2), ("c", 3, 3))
    for thread in threads:
        thread.join(60)
    assert results == [[["a", 1], ["b", 2], ["c", 3]]] * 4


def test_rest_value_representation(server: Server) -> None:
    created = server.ksql(
        "CREATE STREAM TY (ID STRING KEY, TS TIMESTAMP, D DATE, T TIME, DEC DECIMAL(6, 2), "
        "B BYTES, A ARRAY<INT>, M MAP<STRING, INT>, ST STRUCT<X INT>) WITH (KAFKA_TOPIC='ty', "
        "VALUE_FORMAT='JSON', PARTITIONS=1);"
        "INSERT INTO TY (ID, TS, D, T, DEC, B, A, M, ST) VALUES ('k', "
        "FROM_UNIXTIME(1709528767089), FROM_DAYS(19786), PARSE_TIME('12:30:00', 'HH:mm:ss'), "
        "1.50, TO_BYTES('AQI=', 'base64'), ARRAY[1, 2], MAP('x' := 3), STRUCT(X := 4));"
    )
    assert created.status_code == 200, created.text
    response = server.http.post(
        "/query-stream",
        json={"sql": "SELECT * FROM TY;"},
        headers={"Accept": "application/json"},
    )
    header, row = response.json()
    assert header["columnTypes"] == [
        "STRING", "TIMESTAMP", "DATE", "TIME", "DECIMAL(6, 2)", "BYTES", "ARRAY<INTEGER>",
        "MAP<STRING, INTEGER>", "STRUCT<`X` INTEGER>",
    ]  # fmt: skip
    assert row == [
        "k", "2024-03-04T05:06:07.089", "2024-03-04", "12:30", 1.5, "AQI=", [1, 2], {"x": 3},
        {"X": 4},
    ]  # fmt: skip
    assert '"12:30",1.50,' in response.text  # DECIMAL keeps its scale on the wire


def test_print_topic_from_beginning_with_limit(server: Server) -> None:
    server.ksql(
        "CREATE STREAM P (ID STRING KEY, V INT) WITH (KAFKA_TOPIC='p', VALUE_FORMAT='JSON', "
        "PARTITIONS=1);"
        + "".join(
            f"INSERT INTO P (ROWTIME, ID, V) VALUES ({ts}, '{k}', {v});"
            for k, v, ts in (("a", 1, 1_000), ("b", 2, 2_000), ("c", 3, 3_000))
        )
    )
    response = server.http.post(
        "/query-stream", json={"sql": "PRINT 'p' FROM BEGINNING INTERVAL 2 LIMIT 2;"}
    )
    assert response.text.splitlines() == [
        "Key format: KAFKA_STRING",
        "Value format: JSON",
        'rowtime: 1970/01/01 00:00:01.000 Z, key: a, value: {"V":1}, partition: 0',
        'rowtime: 1970/01/01 00:00:03.000 Z, key: c, value: {"V":3}, partition: 0',
    ]
    missing = server.http.post("/query-stream", json={"sql": "PRINT 'nope';"})
    assert missing.status_code == 400
    assert "Could not find topic 'nope'" in missing.json()["message"]


def test_table_push_tombstones_legacy_marks_them_new_api_drops_them(server: Server) -> None:
    server.ksql(
        "CREATE TABLE TT (ID STRING PRIMARY KEY, V INT) WITH (KAFKA_TOPIC='tt', "
        "VALUE_FORMAT='JSON', PARTITIONS=1);"
        "INSERT INTO TT (ID, V) VALUES ('k', 1);"
    )
    tombstone = pl.DataFrame(
        {"key": [b"k"], "value": pl.Series([None], dtype=pl.Binary), "timestamp": [5]},
    )
    server.backend.executor.pipe_batch("tt", tombstone)  # type: ignore[union-attr]
    earliest = {"auto.offset.reset": "earliest"}
    legacy = server.http.post(
        "/query",
        json={"ksql": "SELECT * FROM TT EMIT CHANGES LIMIT 2;", "streamsProperties": earliest},
    ).json()
    assert legacy[1:] == [
        {"row": {"columns": ["k", 1]}},
        {"row": {"columns": ["k", None], "tombstone": True}},
        {"finalMessage": "Limit Reached"},
    ]
    with httpx.Client(base_url=server.url, timeout=30) as client:
        with client.stream(
            "POST",
            "/query-stream",
            json={"sql": "SELECT * FROM TT EMIT CHANGES LIMIT 2;", "properties": earliest},
        ) as response:
            lines = response.iter_lines()
            next(lines)
            assert json.loads(next(lines)) == ["k", 1]  # the tombstone is not written


def test_statement_timeout_answers_503_with_ksqldb_envelope() -> None:
    from telemetry_lib.ksql.rest import RestSettings, create_app, in_memory_backend
    from telemetry_lib.ksql.rest.serve import ServerThread

    # A timeout no statement can meet: the answer is the timeout envelope, not the result.
    app = create_app(in_memory_backend(), settings=RestSettings(statement_timeout_s=1e-9))
    with ServerThread(app) as thread:
        response = httpx.post(thread.url + "/ksql", json={"ksql": DDL}, timeout=30)
    assert response.status_code == 503
    body = response.json()
    assert (body["@type"], body["error_code"]) == ("generic_error", 50301)
    assert "poll /status" in body["message"]
