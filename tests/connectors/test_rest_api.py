"""The Connect REST API contract against the real worker process on the embedded Kafka:
every endpoint, Connect's bodies and status codes, its error shapes."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from telemetry_lib.config import Settings
from telemetry_lib.connectors.client import ConnectClient
from telemetry_lib.connectors.errors import (
    BadRequestError,
    ConflictError,
    ConnectError,
    NotFoundError,
)
from telemetry_lib.kafka import read_records
from tests.connectors.helpers import WorkerProcess, wait_for

STRING = "org.apache.kafka.connect.storage.StringConverter"
JSON = "org.apache.kafka.connect.json.JsonConverter"


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _counter(topic: str, **extra: Any) -> dict[str, Any]:
    return {"connector.class": "test.CounterSource", "topic": topic, "count": "20",
            "key.converter": STRING, "value.converter": JSON,
            "value.converter.schemas.enable": "false", **extra}  # fmt: skip


def _states(status: dict[str, Any]) -> tuple[str, list[str]]:
    return status["connector"]["state"], [t["state"] for t in status["tasks"]]


def test_root_and_plugins(worker: WorkerProcess) -> None:
    root = httpx.get(worker.url + "/").json()
    assert root["version"].count(".") == 2 and root["kafka_cluster_id"]
    plugins = httpx.get(worker.url + "/connector-plugins").json()
    by_class = {p["class"]: p for p in plugins}
    assert by_class["test.CounterSource"] == {"class": "test.CounterSource", "type": "source",
                                              "version": "1.0-test"}  # fmt: skip
    assert by_class["test.FileSink"]["type"] == "sink"
    assert "com.mongodb.kafka.connect.MongoSourceConnector" in by_class
    assert JSON not in by_class  # connectorsOnly defaults to true, as in Connect
    everything = httpx.get(worker.url + "/connector-plugins?connectorsOnly=false").json()
    assert {"class": JSON, "type": "converter", "version": "3.7.0"} in everything
    definitions = httpx.get(worker.url + "/connector-plugins/test.CounterSource/config").json()
    topic = next(d for d in definitions if d["name"] == "topic")
    assert topic["required"] is True and topic["type"] == "STRING"


def test_create_read_and_delete(client: ConnectClient, worker: WorkerProcess) -> None:
    name = _name("life")
    response = httpx.post(worker.url + "/connectors",
                          json={"name": name, "config": _counter(f"{name}-out")})  # fmt: skip
    assert response.status_code == 201, response.text
    assert response.headers["location"].endswith(f"/connectors/{name}")
    created = response.json()
    assert created["name"] == name and created["type"] == "source"
    assert created["config"]["name"] == name  # the name is put into the config, as Connect does
    client.wait_until_running(name)

    assert name in client.list()
    assert client.get(name)["tasks"] == [{"connector": name, "task": 0}]
    assert client.config(name) == {**_counter(f"{name}-out"), "name": name}
    tasks = client.tasks(name)
    assert (
        tasks[0]["id"] == {"connector": name, "task": 0}
        and tasks[0]["config"]["topic"] == f"{name}-out"
    )
    status = client.status(name)
    assert status["name"] == name and status["type"] == "source"
    assert status["connector"]["worker_id"] == f"127.0.0.1:{worker.port}"
    assert status["tasks"][0] == {
        "id": 0,
        "state": "RUNNING",
        "worker_id": f"127.0.0.1:{worker.port}",
    }
    task = httpx.get(f"{worker.url}/connectors/{name}/tasks/0/status").json()
    assert task["state"] == "RUNNING"
    expanded = client.list(expand="status")
    assert expanded[name]["status"]["connector"]["state"] == "RUNNING"
    info = httpx.get(worker.url + "/connectors?expand=info&expand=status").json()[name]
    assert set(info) == {"info", "status"} and info["info"]["type"] == "source"
    topics = httpx.get(f"{worker.url}/connectors/{name}/topics").json()
    wait_for(lambda: client.offsets(name), what="source offsets")
    assert topics == {name: {"topics": [f"{name}-out"]}}

    assert httpx.delete(f"{worker.url}/connectors/{name}").status_code == 204
    assert name not in client.list()


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", ""), ("GET", "/config"), ("GET", "/status"), ("GET", "/tasks"),
     ("PUT", "/pause"), ("PUT", "/resume"), ("PUT", "/stop"), ("POST", "/restart"),
     ("DELETE", ""), ("GET", "/offsets"), ("GET", "/topics")],
)  # fmt: skip
def test_unknown_connector_is_connects_404(worker: WorkerProcess, method: str, path: str) -> None:
    response = httpx.request(method, f"{worker.url}/connectors/nope{path}")
    assert response.status_code == 404
    assert response.json() == {"error_code": 404, "message": "Connector nope not found"}


def test_unknown_route_method_and_bad_json(worker: WorkerProcess) -> None:
    missing = httpx.get(worker.url + "/no/such/thing")
    assert missing.status_code == 404 and missing.json()["error_code"] == 404
    wrong = httpx.delete(worker.url + "/connector-plugins")
    assert wrong.status_code == 405
    assert wrong.json() == {"error_code": 405, "message": "HTTP 405 Method Not Allowed"}
    bad = httpx.post(worker.url + "/connectors", content=b"{not json",
                     headers={"content-type": "application/json"})  # fmt: skip
    assert bad.status_code == 400 and bad.json()["error_code"] == 400


def test_duplicate_is_409(client: ConnectClient) -> None:
    name = _name("dup")
    client.create(name, _counter(f"{name}-out"))
    with pytest.raises(ConflictError) as info:
        client.create(name, _counter(f"{name}-out"))
    assert info.value.error_code == 409 and info.value.message == f"Connector {name} already exists"
    client.delete(name)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"topic": None}, 'Missing required configuration "topic" which has no default value.'),
        ({"count": "many"}, "Invalid value many for configuration count: Not a number of type LONG"),
        ({"tasks.max": "0"}, "Invalid value 0 for configuration tasks.max: Value must be at least 1"),
        ({"errors.tolerance": "some"},
         "Invalid value some for configuration errors.tolerance: String must be one of (case insensitive): none, all"),
        ({"value.converter": "com.example.Nope"},
         "Invalid value com.example.Nope for configuration value.converter: "
         "Class com.example.Nope could not be found."),
        ({"transforms": "unwrap"}, "Invalid value unwrap for configuration transforms:"),
    ],
)  # fmt: skip
def test_bad_config_is_400_naming_the_property(
    worker: WorkerProcess, change: dict[str, Any], expected: str
) -> None:
    config = {k: v for k, v in {**_counter("t"), **change}.items() if v is not None}
    response = httpx.post(worker.url + "/connectors", json={"name": _name("bad"), "config": config})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error_code"] == 400
    assert body["message"].startswith(
        "Connector configuration is invalid and contains the following 1 error(s):\n"
    )
    assert expected in body["message"]
    assert body["message"].endswith("`/connector-plugins/{connectorType}/config/validate`")


def test_unknown_class_and_name_mismatch_are_400(
    client: ConnectClient, worker: WorkerProcess
) -> None:
    with pytest.raises(BadRequestError) as info:
        client.create(_name("cls"), {"connector.class": "com.example.Missing"})
    assert "connector.class" in info.value.message and "com.example.Missing" in info.value.message
    array = httpx.post(
        worker.url + "/connectors",
        json={"name": _name("arr"), "config": {**_counter("t"), "count": [1]}},
    )
    assert array.status_code == 400 and "must be strings" in array.json()["message"]
    response = httpx.put(
        f"{worker.url}/connectors/a-name/config", json={**_counter("t"), "name": "other"}
    )
    assert response.status_code == 400
    assert response.json()["message"] == (
        "Connector name configuration (other) doesn't match connector name in the URL (a-name)"
    )


def test_validate_endpoint(worker: WorkerProcess) -> None:
    url = worker.url + "/connector-plugins/CounterSource/config/validate"
    result = httpx.put(url, json={"connector.class": "test.CounterSource", "name": "v",
                                  "tasks.max": "0"}).json()  # fmt: skip
    assert result["name"] == "test.CounterSource" and result["error_count"] == 2
    assert "Common" in result["groups"] and "Counter" in result["groups"]
    configs = {c["definition"]["name"]: c for c in result["configs"]}
    assert configs["tasks.max"]["value"]["errors"] == [
        "Invalid value 0 for configuration tasks.max: Value must be at least 1"
    ]
    assert configs["topic"]["value"]["errors"] == [
        'Missing required configuration "topic" which has no default value.'
    ]
    assert configs["count"]["value"] == {"name": "count", "value": "100", "recommended_values": [],
                                         "errors": [], "visible": True}  # fmt: skip
    ok = httpx.put(url, json=_counter("t") | {"name": "v"}).json()
    assert ok["error_count"] == 0
    mismatch = httpx.put(url, json={"connector.class": "test.FileSink"})
    assert mismatch.status_code == 400
    assert mismatch.json()["message"] == (
        "Included connector type test.FileSink does not match request type CounterSource"
    )
    unknown = httpx.put(worker.url + "/connector-plugins/com.example.Nope/config/validate", json={})
    assert unknown.status_code == 404


def test_put_config_creates_then_updates(client: ConnectClient, worker: WorkerProcess) -> None:
    name = _name("put")
    url = f"{worker.url}/connectors/{name}/config"
    first = httpx.put(url, json=_counter(f"{name}-out"))
    assert first.status_code == 201 and first.json()["name"] == name
    second = httpx.put(url, json=_counter(f"{name}-out", count="40"))
    assert second.status_code == 200 and second.json()["config"]["count"] == "40"
    client.wait_until_running(name)
    assert client.config(name)["count"] == "40"
    client.delete(name)


def test_pause_resume_stop(client: ConnectClient, worker: WorkerProcess) -> None:
    name = _name("pause")
    client.create(name, _counter(f"{name}-out", count="100000", **{"delay.ms": "50"}))
    client.wait_until_running(name)
    assert httpx.put(f"{worker.url}/connectors/{name}/pause").status_code == 202
    wait_for(lambda: _states(client.status(name)) == ("PAUSED", ["PAUSED"]), what="PAUSED")
    assert httpx.put(f"{worker.url}/connectors/{name}/resume").status_code == 202
    wait_for(lambda: _states(client.status(name)) == ("RUNNING", ["RUNNING"]), what="RUNNING")
    assert httpx.put(f"{worker.url}/connectors/{name}/stop").status_code == 202
    assert _states(client.status(name)) == ("STOPPED", [])
    assert client.get(name)["tasks"] == []
    client.resume(name)
    client.wait_until_running(name)
    client.delete(name)


def test_restart_variants(client: ConnectClient, worker: WorkerProcess) -> None:
    name = _name("restart")
    client.create(name, _counter(f"{name}-out"))
    client.wait_until_running(name)
    plain = httpx.post(f"{worker.url}/connectors/{name}/restart")
    assert plain.status_code == 204 and plain.content == b""
    nothing_failed = httpx.post(
        f"{worker.url}/connectors/{name}/restart?includeTasks=true&onlyFailed=true"
    )
    assert nothing_failed.status_code == 202
    assert _states(nothing_failed.json()) == ("RUNNING", ["RUNNING"])
    everything = httpx.post(f"{worker.url}/connectors/{name}/restart?includeTasks=true")
    assert everything.status_code == 202
    assert _states(everything.json()) == ("RESTARTING", ["RESTARTING"])
    client.wait_until_running(name)
    assert httpx.post(f"{worker.url}/connectors/{name}/tasks/0/restart").status_code == 204
    missing = httpx.post(f"{worker.url}/connectors/{name}/tasks/7/restart")
    assert missing.status_code == 404
    assert httpx.get(f"{worker.url}/connectors/{name}/tasks/7/status").status_code == 404
    client.wait_until_running(name)
    client.delete(name)


def test_failed_task_has_trace_and_restart_only_failed(client: ConnectClient, work: Path) -> None:
    name = _name("fail")
    marker = work / "failed-once"
    client.create(name, _counter(f"{name}-out", **{"fail.at": "5", "fail.once.file": str(marker)}))
    status = wait_for(lambda: (s := client.status(name))["tasks"] and
                      s["tasks"][0]["state"] == "FAILED" and s, what="FAILED task")  # fmt: skip
    assert status["connector"]["state"] == "RUNNING"
    assert "counter asked to fail at 5" in status["tasks"][0]["trace"]
    restarted = client.restart(name, include_tasks=True, only_failed=True)
    assert restarted is not None
    assert _states(restarted) == ("RUNNING", ["RESTARTING"])  # only the failed task restarts
    client.wait_until_running(name)
    assert wait_for(lambda: any(e["offset"] == {"n": 20} for e in client.offsets(name)),
                    what="all 20 records")  # fmt: skip
    client.delete(name)


def test_offsets_endpoint_and_reset(client: ConnectClient, worker: WorkerProcess) -> None:
    name = _name("offs")
    client.create(name, _counter(f"{name}-out"))
    wait_for(lambda: client.offsets(name) == [{"partition": {"counter": name}, "offset": {"n": 20}}],
             what="offset n=20")  # fmt: skip
    running = httpx.delete(f"{worker.url}/connectors/{name}/offsets")
    assert running.status_code == 400 and "STOPPED" in running.json()["message"]
    client.stop(name)
    reset = httpx.delete(f"{worker.url}/connectors/{name}/offsets")
    assert reset.status_code == 200, reset.text
    assert client.offsets(name) == []
    client.delete(name)
    with pytest.raises(NotFoundError):
        client.status(name)


def test_storage_topics_use_connects_layout(
    client: ConnectClient, worker: WorkerProcess, embedded_stack: Settings
) -> None:
    name = _name("layout")
    client.create(name, _counter(f"{name}-out"))
    wait_for(lambda: client.offsets(name), what="source offsets")
    client.pause(name)
    conf = embedded_stack.kafka_config()

    def records(topic: str) -> list[tuple[str, Any]]:
        frame = read_records(conf, topic, isolation_level="read_uncommitted")
        return [(k.decode(), None if v is None else json.loads(v))
                for k, v in zip(frame["key"].to_list(), frame["value"].to_list(), strict=True)]  # fmt: skip

    configs = dict(records(f"{worker.prefix}-configs"))
    assert configs[f"connector-{name}"] == {"properties": client.config(name)}
    assert configs[f"task-{name}-0"]["properties"]["topic"] == f"{name}-out"
    assert configs[f"commit-{name}"] == {"tasks": 1}
    assert configs[f"target-state-{name}"] == {"state": "PAUSED"}
    offsets = [(json.loads(k), v) for k, v in records(f"{worker.prefix}-offsets")
               if json.loads(k)[0] == name]  # fmt: skip
    assert offsets[-1] == ([name, {"counter": name}], {"n": 20})
    statuses = dict(records(f"{worker.prefix}-status"))
    assert statuses[f"status-connector-{name}"]["state"] == "PAUSED"
    assert statuses[f"status-task-{name}-0"]["worker_id"] == f"127.0.0.1:{worker.port}"
    client.delete(name)
    after = records(f"{worker.prefix}-configs")
    assert (f"connector-{name}", None) in after and (f"target-state-{name}", None) in after


def test_client_wait_until_running_reports_a_failure(client: ConnectClient, work: Path) -> None:
    name = _name("waitfail")
    client.create(name, _counter(f"{name}-out", **{"fail.at": "1", "fail.always": "true"}))
    wait_for(lambda: _states(client.status(name))[1] == ["FAILED"], what="the task failing")
    with pytest.raises(ConnectError) as info:
        client.wait_until_running(name, timeout=60)
    assert (
        info.value.message == f"connector {name} failed: RuntimeError: counter asked to fail at 1"
    )
    client.delete(name)
    assert client.delete(name, missing_ok=True) is False
    with pytest.raises(NotFoundError) as missing:
        client.delete(name)
    assert missing.value.error_code == 404
