"""The Kafka Connect REST API routes (Connect 3.7's resources, as a single-worker cluster).

Every error answers Connect's body ``{"error_code": <status>, "message": "..."}``: 404 for an
unknown connector (``Connector x not found``) or route (``HTTP 404 Not Found``), 409 when it
already exists or the worker is still starting, 400 for an invalid config (Connect's "Connector
configuration is invalid and contains the following N error(s)" listing each property) or body,
405 for a wrong method, 500 for anything unexpected.

Routes: ``GET /``; ``GET|POST /connectors`` (``?expand=status|info``); ``GET|DELETE
/connectors/{name}``; ``GET|PUT /connectors/{name}/config``; ``GET /connectors/{name}/status``;
``GET /connectors/{name}/tasks``; ``GET /connectors/{name}/tasks/{id}/status``; ``POST
/connectors/{name}/tasks/{id}/restart``; ``PUT /connectors/{name}/pause|resume|stop``; ``POST
/connectors/{name}/restart`` (``?includeTasks=&onlyFailed=``); ``GET /connectors/{name}/topics``;
``GET|DELETE /connectors/{name}/offsets``; ``GET /connector-plugins`` (``?connectorsOnly=``);
``GET /connector-plugins/{class}/config``; ``PUT /connector-plugins/{class}/config/validate``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from telemetry_lib.connectors.errors import (
    BadRequestError,
    ConnectorConfigError,
    ConnectRestError,
    NotFoundError,
)
from telemetry_lib.connectors.herder import CONNECT_VERSION, Herder

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

_INITIAL_STATES = {"RUNNING": "STARTED", "PAUSED": "PAUSED", "STOPPED": "STOPPED"}
_HTTP_REASONS = {404: "Not Found", 405: "Method Not Allowed", 415: "Unsupported Media Type"}


def create_app(herder: Herder, *, cluster_id: str | None = None) -> Starlette:
    """The Connect REST application over ``herder``."""

    def endpoint(handler: Callable[[_Call], Any]) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            body: Any = None
            if request.method in ("POST", "PUT"):
                raw = await request.body()
                if raw.strip():
                    try:
                        body = json.loads(raw)
                    except ValueError as exc:
                        return _error(400, f"Unrecognized JSON request body: {exc}")
            if not herder.ready:
                return _error(409, "Cannot complete request momentarily due to stale "
                                   "configuration (typically caused by a concurrent config change)")  # fmt: skip
            try:
                result = await run_in_threadpool(handler, _Call(request, body))
            except ConnectRestError as exc:
                return _error(exc.error_code, exc.message)
            except ConnectorConfigError as exc:
                return _error(400, exc.message)
            except Exception as exc:
                logger.exception("%s %s failed", request.method, request.url.path)
                return _error(500, f"{type(exc).__name__}: {exc}")
            if isinstance(result, Response):
                return result
            return JSONResponse(result)

        return run

    def root(call: _Call) -> Any:
        return {"version": CONNECT_VERSION, "commit": "telemetry-workbench",
                "kafka_cluster_id": cluster_id}  # fmt: skip

    def list_connectors(call: _Call) -> Any:
        expand = call.request.query_params.getlist("expand")
        names = herder.connector_names()
        if not expand:
            return names
        out: dict[str, dict[str, Any]] = {}
        for name in names:
            entry: dict[str, Any] = {}
            try:
                if "status" in expand:
                    entry["status"] = herder.status(name)
                if "info" in expand:
                    entry["info"] = herder.connector_info(name)
            except ConnectRestError:
                continue  # removed while we looked
            out[name] = entry
        return out

    def create(call: _Call) -> Any:
        body = call.body
        if not isinstance(body, dict):
            raise BadRequestError("Request body must be a JSON object with name and config")
        config = body.get("config")
        if not isinstance(config, dict):
            raise BadRequestError('Connector config must be a JSON object (the "config" field)')
        name = str(body.get("name") or "").strip()
        if not name:
            name = str(config.get("name") or "").strip()
        state = str(body.get("initial_state") or "RUNNING").upper()
        if state not in _INITIAL_STATES:
            raise BadRequestError(f"Invalid initial state {state}: expected one of "
                                  f"{', '.join(_INITIAL_STATES)}")  # fmt: skip
        info = herder.create(name, config, initial_state=_INITIAL_STATES[state])  # type: ignore[arg-type]
        return JSONResponse(info, status_code=201, headers={"Location": f"/connectors/{name}"})

    def get_connector(call: _Call) -> Any:
        return herder.connector_info(call.name)

    def get_config(call: _Call) -> Any:
        return herder.connector_config(call.name)

    def put_config(call: _Call) -> Any:
        if not isinstance(call.body, dict):
            raise BadRequestError("Connector config must be a JSON object")
        created, info = herder.put_config(call.name, call.body)
        if created:
            return JSONResponse(info, status_code=201,
                                headers={"Location": f"/connectors/{call.name}"})  # fmt: skip
        return info

    def status(call: _Call) -> Any:
        return herder.status(call.name)

    def tasks(call: _Call) -> Any:
        return herder.task_infos(call.name)

    def task_status(call: _Call) -> Any:
        return herder.task_status(call.name, call.task_id)

    def restart_task(call: _Call) -> Any:
        herder.restart_task(call.name, call.task_id)
        return Response(status_code=204)

    def pause(call: _Call) -> Any:
        herder.pause(call.name)
        return Response(status_code=202)

    def resume(call: _Call) -> Any:
        herder.resume(call.name)
        return Response(status_code=202)

    def stop(call: _Call) -> Any:
        herder.stop(call.name)
        return Response(status_code=202)

    def restart(call: _Call) -> Any:
        params = call.request.query_params
        result = herder.restart(call.name, include_tasks=_flag(params.get("includeTasks")),
                                only_failed=_flag(params.get("onlyFailed")))  # fmt: skip
        if result is None:
            return Response(status_code=204)
        return JSONResponse(result, status_code=202)

    def delete(call: _Call) -> Any:
        herder.delete(call.name)
        return Response(status_code=204)

    def topics(call: _Call) -> Any:
        return herder.active_topics(call.name)

    def offsets(call: _Call) -> Any:
        return herder.connector_offsets(call.name)

    def reset_offsets(call: _Call) -> Any:
        return herder.reset_offsets(call.name)

    def list_plugins(call: _Call) -> Any:
        only = call.request.query_params.get("connectorsOnly", "true")
        return herder.connector_plugins(connectors_only=_flag(only, default=True))

    def plugin_config(call: _Call) -> Any:
        return herder.plugin_config(call.request.path_params["plugin"])

    def validate(call: _Call) -> Any:
        if not isinstance(call.body, dict):
            raise BadRequestError("Connector config must be a JSON object")
        return herder.validate(call.request.path_params["plugin"], call.body).to_json()

    base = "/connectors/{name}"
    routes = [
        Route("/", endpoint(root), methods=["GET"]),
        Route("/connectors", endpoint(list_connectors), methods=["GET"]),
        Route("/connectors", endpoint(create), methods=["POST"]),
        Route(base, endpoint(get_connector), methods=["GET"]),
        Route(base, endpoint(delete), methods=["DELETE"]),
        Route(base + "/config", endpoint(get_config), methods=["GET"]),
        Route(base + "/config", endpoint(put_config), methods=["PUT"]),
        Route(base + "/status", endpoint(status), methods=["GET"]),
        Route(base + "/tasks", endpoint(tasks), methods=["GET"]),
        Route(base + "/tasks/{task}/status", endpoint(task_status), methods=["GET"]),
        Route(base + "/tasks/{task}/restart", endpoint(restart_task), methods=["POST"]),
        Route(base + "/pause", endpoint(pause), methods=["PUT"]),
        Route(base + "/resume", endpoint(resume), methods=["PUT"]),
        Route(base + "/stop", endpoint(stop), methods=["PUT"]),
        Route(base + "/restart", endpoint(restart), methods=["POST"]),
        Route(base + "/topics", endpoint(topics), methods=["GET"]),
        Route(base + "/offsets", endpoint(offsets), methods=["GET"]),
        Route(base + "/offsets", endpoint(reset_offsets), methods=["DELETE"]),
        Route("/connector-plugins", endpoint(list_plugins), methods=["GET"]),
        Route("/connector-plugins/{plugin}/config", endpoint(plugin_config), methods=["GET"]),
        Route("/connector-plugins/{plugin}/config/validate", endpoint(validate), methods=["PUT"]),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        code = exc.status_code if isinstance(exc, HTTPException) else 500
        return _error(code, f"HTTP {code} {_HTTP_REASONS.get(code, 'Error')}")

    return Starlette(routes=routes, exception_handlers={HTTPException: http_error})


class _Call:
    """One request's parsed parts handed to a (sync) handler."""

    def __init__(self, request: Request, body: Any) -> None:
        self.request = request
        self.body = body

    @property
    def name(self) -> str:
        return str(self.request.path_params["name"])

    @property
    def task_id(self) -> int:
        raw = self.request.path_params["task"]
        try:
            return int(raw)
        except ValueError:
            raise NotFoundError(f"No status found for task {self.name}-{raw}") from None


def _flag(value: str | None, *, default: bool = False) -> bool:
    if value is None:
        return default
    return value.strip().lower() == "true"


def _error(code: int, message: str) -> JSONResponse:
    return JSONResponse({"error_code": code, "message": message}, status_code=code)
