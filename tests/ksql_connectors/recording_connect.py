"""A small Kafka Connect REST stand-in that records requests: for the forwarding/shape tests only.

It answers like Connect's REST API (bodies and error shapes of Kafka Connect 3.x) from an
in-memory dict; the tests against the real worker are in ``test_against_worker.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

PLUGINS = [
    {"class": "com.mongodb.kafka.connect.MongoSinkConnector", "type": "sink", "version": "1.11.0"},
    {"class": "com.mongodb.kafka.connect.MongoSourceConnector", "type": "source",
     "version": "1.11.0"},
]  # fmt: skip


@dataclass
class RecordingConnect:
    """State of the stand-in: connectors, their topics, recorded requests, forced failures."""

    connectors: dict[str, dict[str, str]] = field(default_factory=dict)
    topics: dict[str, list[str]] = field(default_factory=dict)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    #: path -> status to answer instead (e.g. {"/connectors": 500}).
    fail: dict[str, int] = field(default_factory=dict)
    #: task states reported by /status.
    task_state: str = "RUNNING"
    #: the Authorization header of each request (None when absent).
    authorization: list[str | None] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/connectors", self._connectors, methods=["GET", "POST"]),
                Route("/connectors/{name}", self._connector, methods=["GET", "DELETE"]),
                Route("/connectors/{name}/status", self._status),
                Route("/connectors/{name}/topics", self._topics),
                Route("/connector-plugins", self._plugins),
                Route(
                    "/connector-plugins/{plugin}/config/validate", self._validate, methods=["PUT"]
                ),
            ]  # fmt: skip
        )

    async def _record(self, request: Request) -> Response | None:
        body = await request.body()
        self.requests.append((request.method, request.url.path, json.loads(body) if body else None))
        self.authorization.append(request.headers.get("authorization"))
        status = self.fail.get(request.url.path)
        if status is not None:
            return _error(status, "forced failure")
        return None

    async def _connectors(self, request: Request) -> Response:
        if (forced := await self._record(request)) is not None:
            return forced
        if request.method == "GET":
            return JSONResponse(sorted(self.connectors))
        body = self.requests[-1][2]
        name = body["name"]
        if name in self.connectors:
            return _error(409, f"Connector {name} already exists")
        self.connectors[name] = dict(body["config"])
        return JSONResponse(self._info(name), status_code=201)

    async def _connector(self, request: Request) -> Response:
        if (forced := await self._record(request)) is not None:
            return forced
        name = request.path_params["name"]
        if name not in self.connectors:
            return _error(404, f"Connector {name} not found")
        if request.method == "DELETE":
            del self.connectors[name]
            return Response(status_code=204)
        return JSONResponse(self._info(name))

    async def _status(self, request: Request) -> Response:
        if (forced := await self._record(request)) is not None:
            return forced
        name = request.path_params["name"]
        if name not in self.connectors:
            return _error(404, f"No status found for connector {name}")
        task = {"id": 0, "state": self.task_state, "worker_id": "127.0.0.1:8083"}
        if self.task_state == "FAILED":
            task["trace"] = "java.lang.RuntimeException: boom"
        return JSONResponse({
            "name": name,
            "connector": {"state": "RUNNING", "worker_id": "127.0.0.1:8083"},
            "tasks": [task],
            "type": self._type(name),
        })  # fmt: skip

    async def _topics(self, request: Request) -> Response:
        if (forced := await self._record(request)) is not None:
            return forced
        name = request.path_params["name"]
        return JSONResponse({name: {"topics": self.topics.get(name, [])}})

    async def _plugins(self, request: Request) -> Response:
        if (forced := await self._record(request)) is not None:
            return forced
        return JSONResponse(PLUGINS)

    async def _validate(self, request: Request) -> Response:
        if (forced := await self._record(request)) is not None:
            return forced
        plugin = request.path_params["plugin"]
        if plugin not in {p["class"] for p in PLUGINS}:
            return _error(404, f"Failed to find any class that implements Connector and which "
                               f"name matches {plugin}")  # fmt: skip
        config = self.requests[-1][2]
        configs = []
        for name in ("connection.uri", "name"):
            errors = [] if config.get(name) else [f'Missing required configuration "{name}"']
            configs.append({"definition": {"name": name},
                            "value": {"name": name, "value": config.get(name), "errors": errors,
                                      "recommended_values": [], "visible": True}})  # fmt: skip
        count = sum(1 for c in configs if c["value"]["errors"])
        return JSONResponse(
            {"name": plugin, "error_count": count, "groups": [], "configs": configs}
        )

    def _info(self, name: str) -> dict[str, Any]:
        return {"name": name, "config": self.connectors[name],
                "tasks": [{"connector": name, "task": 0}], "type": self._type(name)}  # fmt: skip

    def _type(self, name: str) -> str:
        return "sink" if "Sink" in self.connectors[name].get("connector.class", "") else "source"


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error_code": status, "message": message}, status_code=status)
