"""A small Kafka Connect REST client for the library and notebooks (embedded worker or a real
Kafka Connect cluster alike).

    client = ConnectClient("http://127.0.0.1:8083")
    client.create("mongo-source", {"connector.class": "com.mongodb.kafka.connect.MongoSourceConnector", ...})
    client.wait_until_running("mongo-source")
    client.status("mongo-source")["tasks"][0]["state"]

Errors raise the :mod:`~telemetry_lib.connectors.errors` class for the HTTP status
(NotFoundError, ConflictError, BadRequestError, ...) carrying Connect's ``error_code`` and
``message``; an unreachable worker raises :class:`~telemetry_lib.errors.ConnectionFailed`.
"""

from __future__ import annotations

import builtins
import logging
import time
from collections.abc import Mapping
from typing import Any

import httpx

from telemetry_lib.connectors.errors import ConnectError, rest_error
from telemetry_lib.errors import ConnectionFailed

__all__ = ["ConnectClient"]

logger = logging.getLogger(__name__)

# Connect's own REST request timeout is 90 s (a rebalance can hold a request that long).
REQUEST_TIMEOUT_S = 90.0
# How long wait_until_running waits by default: a sink joins its consumer group first (a few
# seconds on Tansu), a loaded machine adds more.
RUNNING_TIMEOUT_S = 60.0
_POLL_S = 0.25


class ConnectClient:
    """Kafka Connect REST API calls; use as a context manager to close the HTTP client."""

    def __init__(self, url: str, *, timeout: float = REQUEST_TIMEOUT_S,
                 auth: tuple[str, str] | None = None) -> None:  # fmt: skip
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout, auth=auth)

    def __enter__(self) -> ConnectClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ calls
    def info(self) -> dict[str, Any]:
        """``GET /``: version, commit and Kafka cluster id."""
        return dict(self._call("GET", "/"))

    def list(self, *, expand: str | None = None) -> Any:
        """Connector names, or ``{name: {"status"|"info": ...}}`` with ``expand``."""
        params = {"expand": expand} if expand else None
        return self._call("GET", "/connectors", params=params)

    def create(self, name: str, config: Mapping[str, Any], *,
               initial_state: str | None = None) -> dict[str, Any]:  # fmt: skip
        body: dict[str, Any] = {"name": name, "config": dict(config)}
        if initial_state:
            body["initial_state"] = initial_state
        return dict(self._call("POST", "/connectors", json=body))

    def put_config(self, name: str, config: Mapping[str, Any]) -> dict[str, Any]:
        """Create or update (``PUT /connectors/{name}/config``)."""
        return dict(self._call("PUT", f"/connectors/{name}/config", json=dict(config)))

    def get(self, name: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/connectors/{name}"))

    def config(self, name: str) -> dict[str, str]:
        return dict(self._call("GET", f"/connectors/{name}/config"))

    def status(self, name: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/connectors/{name}/status"))

    def tasks(self, name: str) -> builtins.list[dict[str, Any]]:
        return builtins.list(self._call("GET", f"/connectors/{name}/tasks"))

    def offsets(self, name: str) -> builtins.list[dict[str, Any]]:
        return builtins.list(self._call("GET", f"/connectors/{name}/offsets")["offsets"])

    def pause(self, name: str) -> None:
        self._call("PUT", f"/connectors/{name}/pause")

    def resume(self, name: str) -> None:
        self._call("PUT", f"/connectors/{name}/resume")

    def stop(self, name: str) -> None:
        self._call("PUT", f"/connectors/{name}/stop")

    def restart(self, name: str, *, include_tasks: bool = False,
                only_failed: bool = False) -> dict[str, Any] | None:  # fmt: skip
        params = {
            "includeTasks": str(include_tasks).lower(),
            "onlyFailed": str(only_failed).lower(),
        }
        result = self._call("POST", f"/connectors/{name}/restart", params=params)
        return dict(result) if result else None

    def restart_task(self, name: str, task_id: int) -> None:
        self._call("POST", f"/connectors/{name}/tasks/{task_id}/restart")

    def delete(self, name: str, *, missing_ok: bool = False) -> bool:
        """Delete ``name``; False when it did not exist and ``missing_ok``."""
        try:
            self._call("DELETE", f"/connectors/{name}")
        except ConnectError as exc:
            if missing_ok and getattr(exc, "error_code", None) == 404:
                return False
            raise
        return True

    def plugins(self, *, connectors_only: bool = True) -> builtins.list[dict[str, str]]:
        params = {"connectorsOnly": str(connectors_only).lower()}
        return builtins.list(self._call("GET", "/connector-plugins", params=params))

    def validate(self, class_name: str, config: Mapping[str, Any]) -> dict[str, Any]:
        path = f"/connector-plugins/{class_name}/config/validate"
        return dict(self._call("PUT", path, json=dict(config)))

    def wait_until_running(self, name: str, *, timeout: float = RUNNING_TIMEOUT_S,
                           tasks: int | None = None) -> dict[str, Any]:  # fmt: skip
        """Poll the status until the connector and every task (at least ``tasks`` of them when
        given, else at least one) are RUNNING; raise ConnectError with the trace on FAILED."""
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status = self.status(name)
            states = [status["connector"]["state"], *(t["state"] for t in status["tasks"])]
            if "FAILED" in states:
                traces = [status["connector"].get("trace")] + [
                    t.get("trace") for t in status["tasks"]
                ]
                trace = next((t for t in traces if t), "")
                last = trace.strip().splitlines()[-1] if trace.strip() else "(no trace)"
                raise ConnectError(f"connector {name} failed: {last}",
                                   hint=f"GET {self.url}/connectors/{name}/status has the trace")  # fmt: skip
            wanted = tasks if tasks is not None else 1
            if all(s == "RUNNING" for s in states) and len(status["tasks"]) >= wanted:
                return status
            time.sleep(_POLL_S)
        raise ConnectError(f"connector {name} not RUNNING within {timeout:.0f} s: {status}")

    # ------------------------------------------------------------------ transport
    def _call(self, method: str, path: str, *, json: Any = None,
              params: Mapping[str, str] | None = None) -> Any:  # fmt: skip
        try:
            response = self._http.request(method, path, json=json, params=params)
        except httpx.TransportError as exc:
            raise ConnectionFailed(
                f"Kafka Connect at {self.url} is not reachable: {exc}",
                hint="start it with `telemetry up` or check the profile's connect_url",
            ) from exc
        if response.status_code >= 400:
            try:
                body = response.json()
                message = str(body.get("message", response.text))
                code = int(body.get("error_code", response.status_code))
            except ValueError:
                message, code = response.text, response.status_code
            raise rest_error(code, message)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()
