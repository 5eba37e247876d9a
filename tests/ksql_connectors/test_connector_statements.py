"""CREATE/DROP/DESCRIBE/SHOW CONNECTOR(S) over ksqlDB's REST API, forwarded to a recording Connect.

Checks what is sent to Connect (paths, bodies, string-typed config) and ksqlDB's entity and
error shapes; the real worker is exercised in ``test_against_worker.py``.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from telemetry_lib.ksql.cli import KsqlShell
from telemetry_lib.ksql.client import KsqlClient, KsqlServerError
from telemetry_lib.ksql.rest import create_app, in_memory_backend
from telemetry_lib.ksql.rest.serve import ServerThread, free_port

from .recording_connect import RecordingConnect

SINK = "com.mongodb.kafka.connect.MongoSinkConnector"
SOURCE = "com.mongodb.kafka.connect.MongoSourceConnector"


@dataclass
class Stack:
    connect: RecordingConnect
    http: httpx.Client
    client: KsqlClient

    def ksql(self, sql: str) -> httpx.Response:
        return self.http.post("/ksql", json={"ksql": sql, "streamsProperties": {}})


def _serve(connect_url: str, **config: object) -> Iterator[tuple[httpx.Client, KsqlClient]]:
    backend = in_memory_backend(config={"ksql.connect.url": connect_url, **config})
    with ServerThread(create_app(backend)) as ksql:
        http = httpx.Client(base_url=ksql.url, timeout=30)
        client = KsqlClient(ksql.url)
        try:
            yield http, client
        finally:
            http.close()
            client.close()


@pytest.fixture()
def stack() -> Iterator[Stack]:
    connect = RecordingConnect()
    with ServerThread(connect.app()) as server:
        for http, client in _serve(server.url):
            yield Stack(connect, http, client)


def _posts(stack: Stack) -> list[object]:
    return [body for method, path, body in stack.connect.requests
            if method == "POST" and path == "/connectors"]  # fmt: skip


def test_create_source_connector_posts_string_config_and_answers_connector_info(
    stack: Stack,
) -> None:
    response = stack.ksql(
        f"CREATE SOURCE CONNECTOR `mongo-src` WITH ('connector.class' = '{SOURCE}', "
        "'connection.uri' = 'mongodb://127.0.0.1:1', 'tasks.max' = 1, "
        "'publish.full.document.only' = true);"
    )
    assert response.status_code == 200, response.text
    [entity] = response.json()
    expected_config = {
        "connector.class": SOURCE,
        "connection.uri": "mongodb://127.0.0.1:1",
        "tasks.max": "1",
        "publish.full.document.only": "true",
        "name": "mongo-src",
    }
    assert entity["@type"] == "connector_info"
    assert entity["info"] == {"name": "mongo-src", "config": expected_config, "type": "source"}
    assert entity["statementText"].startswith("CREATE SOURCE CONNECTOR `mongo-src`")
    assert _posts(stack) == [{"name": "mongo-src", "config": expected_config}]
    # The sandbox pass validated the config with Connect before the POST.
    methods = [(m, p) for m, p, _ in stack.connect.requests]
    validate = ("PUT", f"/connector-plugins/{SOURCE}/config/validate")
    assert methods.index(validate) < methods.index(("POST", "/connectors"))


def test_unquoted_connector_name_is_upper_cased_like_ksqldb(stack: Stack) -> None:
    stack.ksql(f"CREATE SINK CONNECTOR sink1 WITH ('connector.class'='{SINK}', "
               "'connection.uri'='mongodb://x');")  # fmt: skip
    assert list(stack.connect.connectors) == ["SINK1"]


def test_existing_connector_is_a_409_and_nothing_in_the_request_runs(stack: Stack) -> None:
    stack.connect.connectors["dup"] = {"connector.class": SINK, "connection.uri": "m"}
    response = stack.ksql(
        "CREATE STREAM s (id STRING KEY, v INT) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', "
        "PARTITIONS=1);"
        f"CREATE SINK CONNECTOR `dup` WITH ('connector.class'='{SINK}', 'connection.uri'='m');"
    )
    assert response.status_code == 409
    assert response.json() == {
        "@type": "generic_error",
        "error_code": 40900,
        "message": "Connector dup already exists",
    }
    assert _posts(stack) == []
    assert "S" not in {s["name"] for s in stack.client.list_streams()}


def test_if_not_exists_on_an_existing_connector_is_a_warning(stack: Stack) -> None:
    stack.connect.connectors["dup"] = {"connector.class": SINK, "connection.uri": "m"}
    entity = stack.client.create_connector(
        "dup", {"connector.class": SINK, "connection.uri": "m"}, sink=True, if_not_exists=True
    )
    assert entity["@type"] == "warning_entity"
    assert entity["message"] == "Connector dup already exists"
    assert _posts(stack) == []


def test_config_rejected_by_connect_validation_is_a_statement_error_naming_the_property(
    stack: Stack,
) -> None:
    response = stack.ksql(f"CREATE SINK CONNECTOR `bad` WITH ('connector.class'='{SINK}');")
    assert response.status_code == 400
    body = response.json()
    assert body["@type"] == "statement_error"
    assert body["error_code"] == 40001
    assert body["message"] == (
        'Validation error: connection.uri - Missing required configuration "connection.uri"'
    )
    assert _posts(stack) == []


def test_config_without_connector_class_is_rejected_before_calling_connect(stack: Stack) -> None:
    response = stack.ksql("CREATE SOURCE CONNECTOR `c` WITH ('topic.prefix'='x');")
    assert response.status_code == 400
    assert response.json()["message"] == (
        "Validation error: Connector config {topic.prefix=x, name=c} contains no connector type"
    )
    assert not any(path.startswith("/connector-plugins") for _, path, _ in stack.connect.requests)


def test_unknown_connector_class_gives_connects_answer(stack: Stack) -> None:
    response = stack.ksql("CREATE SOURCE CONNECTOR `c` WITH ('connector.class'='nope.Nope');")
    assert response.status_code == 400
    message = response.json()["message"]
    assert message.startswith("Validation error: {")
    assert '"error_code":404' in message.replace(" ", "")


def test_show_connectors_summarises_state_and_filters_by_scope(stack: Stack) -> None:
    stack.connect.connectors["src"] = {"connector.class": SOURCE}
    stack.connect.connectors["snk"] = {"connector.class": SINK}
    [entity] = stack.ksql("SHOW CONNECTORS;").json()
    assert entity["@type"] == "connector_list"
    assert entity["connectors"] == [
        {"name": "snk", "type": "sink", "className": SINK, "state": "RUNNING (1/1 tasks RUNNING)"},
        {"name": "src", "type": "source", "className": SOURCE,
         "state": "RUNNING (1/1 tasks RUNNING)"},
    ]  # fmt: skip
    assert [c["name"] for c in stack.client.list_connectors(scope="sink")] == ["snk"]
    assert [c["name"] for c in stack.client.list_connectors(scope="source")] == ["src"]
    stack.connect.task_state = "FAILED"
    states = {c["name"]: c["state"] for c in stack.client.list_connectors()}
    assert states == {"snk": "WARNING (0/1 tasks RUNNING)", "src": "WARNING (0/1 tasks RUNNING)"}


def test_show_connectors_when_connect_fails_is_an_error_entity(stack: Stack) -> None:
    stack.connect.fail["/connectors"] = 500
    response = stack.ksql("SHOW CONNECTORS;")
    assert response.status_code == 200
    [entity] = response.json()
    assert entity["@type"] == "error_entity"
    assert entity["errorMessage"] == '{"error_code":500,"message":"forced failure"}'
    # ksqlDB's client retries a 5xx three times.
    assert sum(1 for m, p, _ in stack.connect.requests if p == "/connectors") == 3
    with pytest.raises(KsqlServerError, match="forced failure"):
        stack.client.list_connectors()


def test_describe_connector_lists_status_topics_and_sources_over_them(stack: Stack) -> None:
    stack.connect.connectors["snk"] = {"connector.class": SINK, "topics": "events"}
    stack.connect.topics["snk"] = ["events"]
    stack.ksql("CREATE STREAM ev (id STRING KEY, v INT) WITH (KAFKA_TOPIC='events', "
               "VALUE_FORMAT='JSON', PARTITIONS=1);")  # fmt: skip
    entity = stack.client.describe_connector("snk")
    assert entity["@type"] == "connector_description"
    assert entity["connectorClass"] == SINK
    assert entity["status"] == {
        "name": "snk",
        "connector": {"state": "RUNNING", "worker_id": "127.0.0.1:8083"},
        "tasks": [{"id": 0, "state": "RUNNING", "worker_id": "127.0.0.1:8083"}],
        "type": "sink",
    }
    assert entity["topics"] == ["events"]
    assert [s["name"] for s in entity["sources"]] == ["EV"]
    assert entity["sources"][0]["topic"] == "events"


def test_describe_missing_connector_is_connects_404(stack: Stack) -> None:
    response = stack.ksql("DESCRIBE CONNECTOR `nope`;")
    assert response.status_code == 404
    body = response.json()
    assert body["@type"] == "generic_error"
    assert body["error_code"] == 40400
    assert body["message"] == (
        'Failed to query connector status: {"error_code":404,'
        '"message":"No status found for connector nope"}'
    )


def test_drop_connector_and_if_exists(stack: Stack) -> None:
    stack.connect.connectors["snk"] = {"connector.class": SINK}
    entity = stack.client.drop_connector("snk")
    assert entity["@type"] == "drop_connector"
    assert entity["connectorName"] == "snk"
    assert stack.connect.connectors == {}
    response = stack.ksql("DROP CONNECTOR `snk`;")
    assert response.status_code == 404
    assert response.json()["message"] == (
        'Failed to drop connector: {"error_code":404,"message":"Connector snk not found"}'
    )
    warning = stack.client.drop_connector("snk", if_exists=True)
    assert warning["@type"] == "warning_entity"
    assert warning["message"] == "Connector 'snk' does not exist."


def test_show_connector_plugins(stack: Stack) -> None:
    [entity] = stack.ksql("SHOW CONNECTOR PLUGINS;").json()
    assert entity["@type"] == "connector_plugins_list"
    assert entity["connectorsPlugins"] == [
        {"className": SINK, "type": "sink", "version": "1.11.0"},
        {"className": SOURCE, "type": "source", "version": "1.11.0"},
    ]


def test_unreachable_connect_names_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    for http, _client in _serve(url):
        for sql in ("SHOW CONNECTORS;", "DROP CONNECTOR x;",
                    f"CREATE SINK CONNECTOR x WITH ('connector.class'='{SINK}');"):  # fmt: skip
            response = http.post("/ksql", json={"ksql": sql, "streamsProperties": {}})
            assert response.status_code == 400, sql
            body = response.json()
            assert body["@type"] == "generic_error"
            assert body["error_code"] == 40000
            assert body["message"].startswith(f"Connect to {url} failed: Connection refused")
            assert "ksql.connect.url" in body["message"]


def test_empty_connect_url_means_not_configured() -> None:
    for http, _client in _serve(""):
        response = http.post("/ksql", json={"ksql": "SHOW CONNECTORS;", "streamsProperties": {}})
        assert response.status_code == 400
        assert "ksql.connect.url is empty" in response.json()["message"]


def test_ksql_shell_prints_connector_statements(stack: Stack) -> None:
    out, err = io.StringIO(), io.StringIO()
    shell = KsqlShell(stack.client, out=out, err=err)
    assert shell.feed(
        f"CREATE SINK CONNECTOR `snk` WITH ('connector.class'='{SINK}', 'connection.uri'='m');"
    )
    assert shell.feed("SHOW CONNECTORS;")
    assert shell.feed("SHOW CONNECTOR PLUGINS;")
    assert shell.feed("DROP CONNECTOR `snk`;")
    lines = out.getvalue().splitlines()
    assert " Created connector snk" in lines
    cells = [[c.strip() for c in line.split("|")] for line in lines if "|" in line]
    assert ["snk", "SINK", SINK, "RUNNING (1/1 tasks RUNNING)"] in cells
    assert [SINK, "SINK", "1.11.0"] in cells
    assert ' Dropped connector "snk"' in lines
    assert err.getvalue() == ""


def test_basic_auth_credentials_for_connect_are_sent() -> None:
    connect = RecordingConnect()
    auth = {
        "ksql.connect.basic.auth.credentials.source": "USER_INFO",
        "ksql.connect.basic.auth.user.info": "connect-user:s3cret",
    }
    with ServerThread(connect.app()) as server:
        for _http, client in _serve(server.url, **auth):
            assert client.list_connectors() == []
            shown = {
                p["name"]: p["value"] for p in client.execute("SHOW PROPERTIES;")[0]["properties"]
            }
            assert shown["ksql.connect.basic.auth.user.info"] == "[hidden]"
    expected = "Basic " + base64.b64encode(b"connect-user:s3cret").decode()
    assert connect.authorization == [expected]
