"""Connector statements, forwarded to Kafka Connect's REST API as ksqlDB does.

Owns: the handlers of ``CREATE SOURCE|SINK CONNECTOR [IF NOT EXISTS] name WITH (...)``,
``DROP CONNECTOR [IF EXISTS] name``, ``DESCRIBE CONNECTOR name``, ``SHOW|LIST [SOURCE|SINK]
CONNECTORS`` and ``SHOW CONNECTOR PLUGINS``; :class:`ConnectRest`, the few Connect REST calls
they need; and :class:`ConnectorRestError` / :class:`ConnectUnavailableError`.

Like ksqlDB (ConnectExecutor, DropConnectorExecutor, DescribeConnectorExecutor,
ListConnectorsExecutor, ListConnectorPluginsExecutor) the statements are not part of the
catalog: each one is a call to the Connect worker at ``ksql.connect.url`` (server config,
ksqlDB's default ``http://localhost:8083``), and the answer becomes one of ksqlDB's REST
entities (``@type``):

- ``connector_info``        CREATE: ``info = {name, config, type}`` (Connect's answer to POST);
- ``warning_entity``        CREATE IF NOT EXISTS of an existing connector (``Connector X already
  exists``); DROP IF EXISTS of a missing one (``Connector 'X' does not exist.``);
- ``drop_connector``        DROP: ``connectorName``;
- ``connector_list``        SHOW CONNECTORS: ``connectors = [{name, type, className, state}]``
  with ``state`` summarised as ``RUNNING (1/1 tasks RUNNING)`` / ``WARNING (0/1 ...)`` / the
  connector's own state; connectors Connect cannot describe appear as ``type: unknown`` (all
  scopes only) plus a warning;
- ``connector_description`` DESCRIBE: ``connectorClass``, ``status`` (Connect's status with
  ``connector.{state, worker_id, trace}``, ``tasks[].{id, state, worker_id, trace}``, ``type``),
  ``topics`` (Connect's ``GET /connectors/{name}/topics``; a 404 there — older workers — gives
  none, silently) and ``sources`` (descriptions of this server's streams/tables over those
  topics);
- ``connector_plugins_list`` SHOW CONNECTOR PLUGINS: ``connectorsPlugins = [{className, type,
  version}]``;
- ``error_entity``          SHOW CONNECTORS / PLUGINS when Connect answers an error status:
  ``errorMessage`` is Connect's body (HTTP 200, as ksqlDB).

Errors, as ksqlDB words them: CREATE is validated in the sandbox pass first — an existing name
is a 409 (``Connector X already exists``), a config Connect's ``PUT
/connector-plugins/{class}/config/validate`` rejects is a 400 statement error ``Validation
error: <property> - <errors>`` — so a bad connector fails the whole request before anything
runs. An error status from Connect while executing becomes ksqlDB's ``generic_error`` with
Connect's status (error_code = status x 100) and ``Failed to create connector: <Connect's
body>`` / ``Failed to drop connector: ...`` / ``Failed to query connector status: ...``. A
Connect that cannot be reached gives a 400 naming the URL and the cause (ksqlDB's
``Connect to <url> failed: Connection refused`` / ``Could not connect to the server.``).
Requests are retried like ksqlDB's client (3 attempts on connection errors, 5xx and 409).

Why not :class:`telemetry_lib.connectors.client.ConnectClient`: ksqlDB passes Connect's raw
error body through in its messages and retries like its own DefaultConnectClient, and asks for
``/connectors/{name}/topics``; the library client raises typed errors instead, so the few calls
ksqlDB makes are written here (:class:`ConnectRest`).

Deviation: ksqlDB lists a connector's topics and sources only for connector classes it knows
(the JDBC source); we ask Connect for every connector's topics, which is what its REST API
offers.

Locking: every Connect call is made inside ``ctx.state.external_calls()``, under which the REST
backend releases the engine lock (keeping its statement lock, so no other request interleaves),
so a slow or hung Connect never stalls the Kafka runtime's batches and commits, push or pull
queries. Catalog work stays under the lock: the sandbox pass only queues CREATE's Connect
validation in ``ctx.checks`` (the engine runs the request's checks after the pass, before
anything runs), and DESCRIBE reads the sources over the connector's topics after its Connect
calls, with the lock held again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx

from telemetry_lib.ksql.commands import describe
from telemetry_lib.ksql.commands.context import StatementContext
from telemetry_lib.ksql.commands.results import StatementResult
from telemetry_lib.ksql.errors import KsqlEngineError, KsqlStatementError
from telemetry_lib.ksql.parser import ast

__all__ = [
    "CONNECT_URL_CONFIG",
    "DEFAULT_CONNECT_URL",
    "ConnectResponse",
    "ConnectRest",
    "ConnectUnavailableError",
    "ConnectorRestError",
    "create_connector",
    "describe_connector",
    "drop_connector",
    "list_connector_plugins",
    "list_connectors",
]

logger = logging.getLogger(__name__)

#: ksqlDB's server config naming the Connect REST endpoint, and its default.
CONNECT_URL_CONFIG = "ksql.connect.url"
DEFAULT_CONNECT_URL = "http://localhost:8083"
#: ksqlDB's Basic-auth settings for Connect (only the USER_INFO source is supported here).
_AUTH_SOURCE_CONFIG = "ksql.connect.basic.auth.credentials.source"
_AUTH_USER_INFO_CONFIG = "ksql.connect.basic.auth.user.info"
#: Per-call timeout. ksqlDB waits 30 s; every Connect call we make is a small metadata request,
#: so 10 s is plenty (the statement's request waits up to 3 attempts of it, queries do not).
REQUEST_TIMEOUT_S = 10.0
#: ksqlDB's DefaultConnectClient: 3 attempts, retrying connection errors, 5xx and 409.
_MAX_ATTEMPTS = 3
#: First back-off between attempts (doubled each time, as ksqlDB's exponential wait).
_RETRY_BACKOFF_S = 0.05
_HTTP_CONFLICT = 409
_HTTP_NOT_FOUND = 404


class ConnectorRestError(KsqlStatementError):
    """Connect answered an error: ksqlDB's KsqlRestException carrying Connect's status.

    Rendered by the REST layer as a ``generic_error`` with ``error_code`` = status x 100.
    """

    rest_generic = True

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status
        #: ksqlDB's Errors.toErrorCode(status).
        self.rest_error_code = status * 100


class ConnectUnavailableError(KsqlStatementError):
    """Connect cannot be reached (ksqlDB's KsqlServerException around the HTTP error)."""

    origin = "external"
    rest_generic = True
    rest_error_code = 40000


@dataclass(frozen=True)
class ConnectResponse:
    """One Connect answer: the status, the parsed body if it was expected, else the raw body."""

    status: int
    datum: Any = None
    error: str | None = None


class ConnectRest:
    """The Connect REST calls ksqlDB's connector statements make (ksqlDB's ConnectClient)."""

    def __init__(
        self,
        url: str,
        *,
        auth: tuple[str, str] | None = None,
        timeout: float = REQUEST_TIMEOUT_S,
    ) -> None:
        self.url = url.rstrip("/")
        self._auth = auth
        self._timeout = timeout

    def __repr__(self) -> str:  # never show credentials
        return f"ConnectRest({self.url!r})"

    def connectors(self) -> ConnectResponse:
        return self._call("GET", "/connectors")

    def describe(self, name: str) -> ConnectResponse:
        return self._call("GET", f"/connectors/{_path(name)}")

    def status(self, name: str) -> ConnectResponse:
        return self._call("GET", f"/connectors/{_path(name)}/status")

    def topics(self, name: str) -> ConnectResponse:
        return self._call("GET", f"/connectors/{_path(name)}/topics")

    def create(self, name: str, config: Mapping[str, str | None]) -> ConnectResponse:
        body = {"name": name, "config": dict(config)}
        return self._call("POST", "/connectors", json=body, expected=(201,))

    def validate(self, plugin: str, config: Mapping[str, str | None]) -> ConnectResponse:
        path = f"/connector-plugins/{_path(plugin)}/config/validate"
        return self._call("PUT", path, json=dict(config))

    def delete(self, name: str) -> ConnectResponse:
        return self._call("DELETE", f"/connectors/{_path(name)}", expected=(200, 204))

    def plugins(self) -> ConnectResponse:
        return self._call("GET", "/connector-plugins")

    def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        expected: tuple[int, ...] = (200,),
    ) -> ConnectResponse:
        last: ConnectResponse | None = None
        failure: httpx.TransportError | None = None
        delay = _RETRY_BACKOFF_S
        with httpx.Client(timeout=self._timeout, auth=self._auth) as http:
            for attempt in range(_MAX_ATTEMPTS):
                if attempt:
                    time.sleep(delay)
                    delay *= 2
                try:
                    response = http.request(method, self.url + path, json=json)
                except httpx.TransportError as exc:
                    failure = exc
                    continue
                failure = None
                if response.status_code in expected:
                    datum = response.json() if response.content else None
                    return ConnectResponse(response.status_code, datum=datum)
                last = ConnectResponse(response.status_code, error=response.text)
                logger.warning("Connect %s %s answered %d: %s", method, path,
                               response.status_code, response.text[:200])  # fmt: skip
                if response.status_code < 500 and response.status_code != _HTTP_CONFLICT:
                    return last
        if last is not None and failure is None:
            return last
        raise ConnectUnavailableError(
            f"Connect to {self.url} failed: {_reason(failure)}\n"
            "Caused by: Could not connect to the server.\n"
            f"Check {CONNECT_URL_CONFIG} (the Kafka Connect REST URL, here {self.url}) and that "
            "the Connect worker is running (`telemetry up` starts the embedded one)."
        )


# ---------------------------------------------------------------------- handlers
def create_connector(stmt: ast.CreateConnector, ctx: StatementContext) -> StatementResult | None:
    client = _client(ctx)
    config = connector_config(stmt)
    if ctx.sandbox:
        ctx.checks.append(lambda: _validate_create(stmt, config, client))
        return None
    with ctx.state.external_calls():
        if stmt.if_not_exists and _exists(stmt.name, client):
            return StatementResult(
                "warning_entity", stmt.text, {"message": f"Connector {stmt.name} already exists"}
            )
        response = client.create(stmt.name, config)
    if response.error is not None:
        raise ConnectorRestError(
            f"Failed to create connector: {response.error}", status=response.status
        )
    info = response.datum if isinstance(response.datum, Mapping) else {}
    return StatementResult(
        "connector_info",
        stmt.text,
        {
            "info": {
                "name": info.get("name", stmt.name),
                "config": dict(info.get("config") or config),
                "type": _type(info.get("type")),
            }
        },
    )


def drop_connector(stmt: ast.DropConnector, ctx: StatementContext) -> StatementResult | None:
    if ctx.sandbox:
        return None
    client = _client(ctx)
    with ctx.state.external_calls():
        response = client.delete(stmt.name)
    if response.error is not None:
        if stmt.if_exists and response.status == _HTTP_NOT_FOUND:
            return StatementResult(
                "warning_entity", stmt.text, {"message": f"Connector '{stmt.name}' does not exist."}
            )
        raise ConnectorRestError(
            f"Failed to drop connector: {response.error}", status=response.status
        )
    return StatementResult("drop_connector", stmt.text, {"connectorName": stmt.name})


def describe_connector(
    stmt: ast.DescribeConnector, ctx: StatementContext
) -> StatementResult | None:
    if ctx.sandbox:
        return None
    client = _client(ctx)
    with ctx.state.external_calls():
        status, info, answer = _describe_calls(stmt.name, client)
    warnings: tuple[str, ...] = ()
    topics: list[str] = []
    if answer.error is not None and answer.status == _HTTP_NOT_FOUND:
        logger.info("Could not list related topics due to error: %s", answer.error)
    elif answer.error is not None:
        warnings = (f"Could not list related topics due to error: {answer.error}",)
    elif isinstance(answer.datum, Mapping):
        entry = answer.datum.get(stmt.name) or {}
        topics = [str(t) for t in entry.get("topics", [])]
    sources = [
        describe.source_description(source, ctx, extended=False)
        for source in ctx.catalog.sources()
        if source.topic in topics
    ]
    config = info.datum.get("config", {}) if isinstance(info.datum, Mapping) else {}
    return StatementResult(
        "connector_description",
        stmt.text,
        {
            "connectorClass": config.get("connector.class"),
            "status": _state_info(status.datum),
            "sources": sources,
            "topics": topics,
        },
        warnings,
    )


def list_connectors(stmt: ast.ListConnectors, ctx: StatementContext) -> StatementResult | None:
    if ctx.sandbox:
        return None
    client = _client(ctx)
    with ctx.state.external_calls():
        return _list_connectors(stmt, client)


def _list_connectors(stmt: ast.ListConnectors, client: ConnectRest) -> StatementResult:
    names = client.connectors()
    if names.error is not None:
        return _error_entity(stmt, names.error)
    entries: list[dict[str, Any]] = []
    warnings: list[str] = []
    for name in names.datum or []:
        info = client.describe(name)
        if info.error is None and isinstance(info.datum, Mapping):
            kind = _type(info.datum.get("type"))
            if stmt.scope is not None and kind != stmt.scope.lower():
                continue
            entry: dict[str, Any] = {
                "name": name,
                "type": kind,
                "className": (info.datum.get("config") or {}).get("connector.class"),
            }
            status = client.status(name)
            if status.error is None and isinstance(status.datum, Mapping):
                entry["state"] = _summarize_state(status.datum)
            else:
                warnings.append(f"Could not query status of connector {name}: {status.error}")
            entries.append({k: v for k, v in entry.items() if v is not None})
        elif info.error is not None:
            if stmt.scope is None:
                entries.append({"name": name, "type": "unknown"})
            warnings.append(f"Could not describe connector {name}: {info.error}")
    return StatementResult("connector_list", stmt.text, {"connectors": entries}, tuple(warnings))


def list_connector_plugins(
    stmt: ast.ListConnectorPlugins, ctx: StatementContext
) -> StatementResult | None:
    if ctx.sandbox:
        return None
    client = _client(ctx)
    with ctx.state.external_calls():
        plugins = client.plugins()
    if plugins.error is not None:
        return _error_entity(stmt, plugins.error)
    entries = [
        {"className": p.get("class"), "type": _type(p.get("type")), "version": p.get("version")}
        for p in plugins.datum or []
        if isinstance(p, Mapping)
    ]
    return StatementResult("connector_plugins_list", stmt.text, {"connectorsPlugins": entries})


# ---------------------------------------------------------------------- helpers
def connector_config(stmt: ast.CreateConnector) -> dict[str, str | None]:
    """The WITH properties as Connect's string map, plus ``name`` (ksqlDB's buildConnectorConfig)."""
    config = {p.name: _config_string(ast.literal_value(p.value)) for p in stmt.properties}
    config["name"] = stmt.name
    return config


def _config_string(value: object) -> str | None:
    """Java's ``toString`` of a literal: booleans in lower case, numbers as written."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _client(ctx: StatementContext) -> ConnectRest:
    url = ctx.setting(CONNECT_URL_CONFIG, DEFAULT_CONNECT_URL).strip()
    if not url:
        raise ConnectUnavailableError(
            f"Kafka Connect is not configured: {CONNECT_URL_CONFIG} is empty. Set it to the "
            "Connect worker's REST URL (e.g. http://localhost:8083)."
        )
    auth = None
    if ctx.setting(_AUTH_SOURCE_CONFIG, "NONE").upper() == "USER_INFO":
        user, _, password = ctx.setting(_AUTH_USER_INFO_CONFIG).partition(":")
        auth = (user, password)
    return ConnectRest(url, auth=auth)


def _validate_create(
    stmt: ast.CreateConnector, config: Mapping[str, str | None], client: ConnectRest
) -> None:
    """ksqlDB's ConnectExecutor.validate: the name is free and Connect accepts the config.

    Runs as a check of the sandbox pass (after it, outside the caller's lock), so it names its
    statement in the errors itself."""
    try:
        if not stmt.if_not_exists and _exists(stmt.name, client):
            raise ConnectorRestError(f"Connector {stmt.name} already exists", status=_HTTP_CONFLICT)
        errors = _config_errors(config, client)
        if errors:
            raise KsqlStatementError("Validation error: " + "\n".join(errors))
    except KsqlEngineError as exc:
        if exc.statement_text is None:
            exc.statement_text = stmt.text
        raise


def _describe_calls(
    name: str, client: ConnectRest
) -> tuple[ConnectResponse, ConnectResponse, ConnectResponse]:
    """DESCRIBE CONNECTOR's Connect calls: status, info and topics (errors as ksqlDB's)."""
    status = client.status(name)
    if status.error is not None:
        raise ConnectorRestError(
            f"Failed to query connector status: {status.error}", status=status.status
        )
    info = client.describe(name)
    if info.error is not None:
        raise ConnectorRestError(f"Failed to describe connector: {info.error}", status=info.status)
    return status, info, client.topics(name)


def _config_errors(config: Mapping[str, str | None], client: ConnectRest) -> list[str]:
    connector_class = config.get("connector.class")
    if connector_class is None:
        shown = ", ".join(f"{k}={v}" for k, v in config.items())
        return [f"Connector config {{{shown}}} contains no connector type"]
    if not connector_class.strip():
        return ["Connector type cannot be empty"]
    response = client.validate(connector_class, config)
    if response.error is not None:
        return [response.error]
    errors: list[str] = []
    for entry in (response.datum or {}).get("configs", []):
        value = entry.get("value") or {}
        if value.get("errors"):
            errors.append(f"{value.get('name')} - " + ". ".join(value["errors"]))
    return errors


def _exists(name: str, client: ConnectRest) -> bool:
    response = client.connectors()
    if response.error is not None:
        raise ConnectUnavailableError(f"Failed to check for existing connector: {response.error}")
    return any(str(n).lower() == name.lower() for n in response.datum or [])


def _summarize_state(status: Mapping[str, Any]) -> str:
    """ksqlDB's summary: the connector's state unless RUNNING, else the running task count."""
    state = str((status.get("connector") or {}).get("state"))
    if state != "RUNNING":
        return state
    tasks = status.get("tasks") or []
    running = sum(1 for t in tasks if t.get("state") == "RUNNING")
    summary = "WARNING" if tasks and running == 0 else "RUNNING"
    return f"{summary} ({running}/{len(tasks)} tasks RUNNING)"


def _state_info(status: Any) -> dict[str, Any]:
    """Connect's status body in ksqlDB's ConnectorStateInfo shape (``trace`` only when set)."""
    status = status if isinstance(status, Mapping) else {}

    def state(entry: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
        out = {**extra, "state": entry.get("state"), "worker_id": entry.get("worker_id")}
        if entry.get("trace"):
            out["trace"] = entry["trace"]
        return out

    return {
        "name": status.get("name"),
        "connector": state(status.get("connector") or {}),
        "tasks": [state(t, id=t.get("id")) for t in status.get("tasks") or []],
        "type": _type(status.get("type")),
    }


def _type(value: object) -> str:
    """Connect's connector type as ksqlDB serializes it (``source``/``sink``/``unknown``)."""
    text = str(value or "unknown").lower()
    return text if text in ("source", "sink") else "unknown"


def _error_entity(stmt: ast.Statement, message: str) -> StatementResult:
    return StatementResult("error_entity", stmt.text, {"errorMessage": message})


def _path(segment: str) -> str:
    return quote(segment, safe="")


def _reason(exc: httpx.TransportError | None) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "Connection refused"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out after {REQUEST_TIMEOUT_S:g} s"
    return f"{type(exc).__name__}: {exc}"
