"""ksqlDB REST client for notebooks: the same calls against our server, ksqlDB or Confluent Cloud.

Owns: :class:`KsqlClient` (over httpx, HTTP/1.1) and :class:`KsqlServerError`. It speaks only
ksqlDB's documented REST API (reference §1) — ``/ksql`` for statements, ``/query-stream``
(delimited) for push and pull queries, ``/close-query``, ``/info`` — so nothing depends on
our server's internals::

    client = KsqlClient("http://127.0.0.1:8088")            # or a Cloud endpoint + API key
    client.execute("CREATE STREAM ...; CREATE TABLE ... AS SELECT ...;")   # -> entities
    client.wait_until_running("CTAS_PLAYER_KILL_RATIO_1")
    client.pull("SELECT * FROM PLAYER_KILL_RATIO WHERE PLAYER_ID = 'p1';")  # -> polars
    client.create_connector("mongo-sink", {"connector.class": "...", ...}, sink=True)
    for row in client.stream("SELECT * FROM EVENTS EMIT CHANGES;", limit=10): ...

Rows become polars frames typed from the header's ``columnTypes`` (TIMESTAMP/DATE/TIME strings
parsed, DECIMAL kept exact). Windowed keys are decoded into columns: ``WINDOWSTART`` /
``WINDOWEND`` (epoch ms in ksqlDB's rows) become UTC ``Datetime("ms")`` columns, and the old
single-string form ``key : Window{start=S end=E}`` of ksqlDB < 0.15 is split into the key,
``WINDOWSTART`` and ``WINDOWEND``. Every failure answered by the server raises
:class:`KsqlServerError` with ksqlDB's ``error_code`` and message.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import logging
import re
import time
from collections.abc import Generator, Iterator, Mapping
from typing import Any

import httpx
import polars as pl

from telemetry_lib.errors import ConnectionFailed, KsqlError, Origin

__all__ = ["KsqlClient", "KsqlServerError", "StreamHeader"]

logger = logging.getLogger(__name__)

#: Connect/read timeout of non-streaming calls: statements that create topics can take a few
#: seconds on a loaded broker; ksqlDB itself gives up on a command after 5 s by default.
_REQUEST_TIMEOUT_S = 60.0
#: How often wait_until_running polls SHOW QUERIES.
_POLL_INTERVAL_S = 0.2
_DELIMITED = "application/vnd.ksqlapi.delimited.v1"
_OLD_WINDOWED_KEY = re.compile(r"^(.*) : Window\{start=(\d+) end=(-|\d+)\}$", re.DOTALL)


class KsqlServerError(KsqlError):
    """The ksqlDB server answered with an error envelope (or an unexpected status)."""

    def __init__(
        self,
        message: str,
        *,
        error_code: int,
        status: int,
        statement_text: str | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"ksqlDB error {error_code}: {message}")
        self.error_code = error_code
        self.status = status
        self.server_message = message
        self.statement_text = statement_text
        self.body = dict(body or {})

    origin: Origin = "external"


class StreamHeader:
    """The first line of a /query-stream response."""

    def __init__(self, body: Mapping[str, Any]) -> None:
        self.query_id: str | None = body.get("queryId")
        self.column_names: list[str] = list(body.get("columnNames", []))
        self.column_types: list[str] = list(body.get("columnTypes", []))


class KsqlClient:
    """A ksqlDB REST client. ``api_key``/``api_secret`` are sent as Basic credentials."""

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        api_secret: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = _REQUEST_TIMEOUT_S,
    ) -> None:
        self.url = url.rstrip("/")
        auth = httpx.BasicAuth(api_key, api_secret or "") if api_key else None
        self._http = httpx.Client(
            base_url=self.url,
            auth=auth,
            timeout=timeout,
            transport=transport,
            headers={"Accept": "application/vnd.ksql.v1+json"},
        )

    def __repr__(self) -> str:  # never show credentials
        return f"KsqlClient({self.url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> KsqlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ statements
    def execute(
        self,
        script: str,
        *,
        properties: Mapping[str, object] | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """Run one or more statements (each ending in ``;``); the REST entities."""
        body: dict[str, Any] = {"ksql": script, "streamsProperties": dict(properties or {})}
        if variables:
            body["sessionVariables"] = dict(variables)
        result = self._post_json("/ksql", body)
        if not isinstance(result, list):
            raise KsqlServerError(
                f"unexpected /ksql response: {str(result)[:200]}", error_code=50000, status=200
            )
        return result

    def info(self) -> dict[str, Any]:
        response = self._request("GET", "/info")
        return dict(self._decode(response).get("KsqlServerInfo", {}))

    def list_streams(self) -> list[dict[str, Any]]:
        return list(self._single("SHOW STREAMS;").get("streams", []))

    def list_tables(self) -> list[dict[str, Any]]:
        return list(self._single("SHOW TABLES;").get("tables", []))

    def list_queries(self) -> list[dict[str, Any]]:
        return list(self._single("SHOW QUERIES;").get("queries", []))

    def list_topics(self) -> list[dict[str, Any]]:
        return list(self._single("SHOW TOPICS;").get("topics", []))

    def describe(self, name: str, *, extended: bool = False) -> dict[str, Any]:
        entity = self._single(f"DESCRIBE {'EXTENDED ' if extended else ''}{name};")
        return dict(entity.get("sourceDescription", {}))

    def drop(self, name: str, *, delete_topic: bool = False) -> dict[str, Any]:
        """DROP the stream or table ``name`` (its kind is looked up first)."""
        kind = self.describe(name).get("type", "STREAM")
        suffix = " DELETE TOPIC" if delete_topic else ""
        return self._single(f"DROP {kind} {name}{suffix};")

    def terminate(self, query_id: str) -> dict[str, Any]:
        return self._single(f"TERMINATE {query_id};")

    def wait_until_running(self, query_id: str, *, timeout: float = 30.0) -> None:
        """Poll SHOW QUERIES until ``query_id`` is RUNNING; raise if it fails or never starts."""
        deadline = time.monotonic() + timeout
        last = "absent"
        while True:
            for query in self.list_queries():
                if str(query.get("id", "")).upper() == query_id.upper():
                    last = str(query.get("state") or "RUNNING")
                    if last == "RUNNING":
                        return
                    if last == "ERROR":
                        raise KsqlServerError(
                            f"query {query_id} is in state ERROR", error_code=50000, status=200
                        )
            if time.monotonic() > deadline:
                raise KsqlServerError(
                    f"query {query_id} did not reach RUNNING within {timeout:g} s (last: {last})",
                    error_code=40800,
                    status=408,
                )
            time.sleep(_POLL_INTERVAL_S)

    # ------------------------------------------------------------------ connectors
    def create_connector(
        self,
        name: str,
        config: Mapping[str, object],
        *,
        sink: bool = False,
        if_not_exists: bool = False,
    ) -> dict[str, Any]:
        """``CREATE SOURCE|SINK CONNECTOR``: the server forwards ``config`` to Kafka Connect.

        Returns the ``connector_info`` entity (``info = {name, config, type}``), or a
        ``warning_entity`` when ``if_not_exists`` and the connector exists. ``name`` keeps
        its case (it is sent back-quoted).
        """
        kind = "SINK" if sink else "SOURCE"
        guard = "IF NOT EXISTS " if if_not_exists else ""
        props = ", ".join(f"{_sql_string(k)} = {_sql_string(v)}" for k, v in config.items())
        return self._single(f"CREATE {kind} CONNECTOR {guard}{_quoted(name)} WITH ({props});")

    def list_connectors(self, *, scope: str | None = None) -> list[dict[str, Any]]:
        """``SHOW [SOURCE|SINK] CONNECTORS``: ``[{name, type, className, state}]``."""
        prefix = f"{scope.upper()} " if scope else ""
        return list(self._single(f"SHOW {prefix}CONNECTORS;").get("connectors", []))

    def describe_connector(self, name: str) -> dict[str, Any]:
        """``DESCRIBE CONNECTOR``: ``connectorClass``, ``status``, ``topics``, ``sources``."""
        return self._single(f"DESCRIBE CONNECTOR {_quoted(name)};")

    def drop_connector(self, name: str, *, if_exists: bool = False) -> dict[str, Any]:
        """``DROP CONNECTOR``: the ``drop_connector`` (or, if absent and ``if_exists``,
        ``warning_entity``) entity."""
        guard = "IF EXISTS " if if_exists else ""
        return self._single(f"DROP CONNECTOR {guard}{_quoted(name)};")

    def list_connector_plugins(self) -> list[dict[str, Any]]:
        """``SHOW CONNECTOR PLUGINS``: ``[{className, type, version}]``."""
        return list(self._single("SHOW CONNECTOR PLUGINS;").get("connectorsPlugins", []))

    # ------------------------------------------------------------------ queries
    def stream(
        self,
        sql: str,
        limit: int | None = None,
        timeout: float | None = None,
        *,
        properties: Mapping[str, object] | None = None,
    ) -> Generator[dict[str, Any], None, None]:
        """Rows of a push (or pull) query as dicts, until ``limit`` rows, ``timeout`` seconds
        or the end of the query; leaving early closes the connection, which ends the query."""
        header, rows = self._query_stream(sql, properties=properties, timeout=timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        count = 0
        try:
            for row in rows:
                yield dict(zip(header.column_names, row, strict=False))
                count += 1
                if (limit is not None and count >= limit) or (
                    deadline is not None and time.monotonic() > deadline
                ):
                    return
        except httpx.ReadTimeout:
            return
        finally:
            rows.close()

    def stream_df(
        self,
        sql: str,
        limit: int | None = None,
        timeout: float | None = None,
        *,
        properties: Mapping[str, object] | None = None,
    ) -> pl.DataFrame:
        """:meth:`stream` collected into a typed polars frame."""
        header, rows = self._query_stream(sql, properties=properties, timeout=timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        collected: list[list[Any]] = []
        try:
            for row in rows:
                collected.append(row)
                if (limit is not None and len(collected) >= limit) or (
                    deadline is not None and time.monotonic() > deadline
                ):
                    break
        except httpx.ReadTimeout:
            pass
        finally:
            rows.close()
        return rows_to_frame(header, collected)

    def pull(self, sql: str, *, properties: Mapping[str, object] | None = None) -> pl.DataFrame:
        """A pull query's rows as a typed polars frame."""
        header, rows = self._query_stream(sql, properties=properties, timeout=None)
        try:
            collected = list(rows)
        finally:
            rows.close()
        return rows_to_frame(header, collected)

    def print_topic(
        self, sql: str, limit: int | None = None, timeout: float | None = None
    ) -> Generator[str, None, None]:
        """The text lines of a ``PRINT topic ...;`` statement (format guesses first)."""
        request = self._http.build_request(
            "POST",
            "/query-stream",
            json={"sql": sql, "properties": {}},
            headers={"Accept": _DELIMITED},
            timeout=httpx.Timeout(_REQUEST_TIMEOUT_S, read=timeout),
        )
        response = self._http.send(request, stream=True)
        try:
            if response.status_code >= 400:
                response.read()
                raise _error(response.status_code, _json_or_none(response), response.text)
            count = 0
            for line in response.iter_lines():
                yield line
                if line.startswith("rowtime:"):
                    count += 1
                    if limit is not None and count >= limit:
                        return
        except httpx.ReadTimeout:
            return
        finally:
            response.close()

    def close_query(self, query_id: str) -> None:
        self._post_json("/close-query", {"queryId": query_id}, expect_body=False)

    # ------------------------------------------------------------------ plumbing
    def _single(self, statement: str) -> dict[str, Any]:
        entities = self.execute(statement)
        if not entities:
            raise KsqlServerError(
                f"no entity returned for {statement!r}", error_code=50000, status=200
            )
        entity = dict(entities[0])
        if entity.get("@type") == "error_entity":
            # ksqlDB answers 200 with an error entity when Kafka Connect reports an error.
            raise KsqlServerError(
                str(entity.get("errorMessage")),
                error_code=50000,
                status=200,
                statement_text=statement,
            )
        return entity

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ConnectionFailed(
                f"cannot reach ksqlDB at {self.url}: {exc}",
                hint="start it with `telemetry up` or check the ksqldb_url setting",
            ) from exc

    def _post_json(self, path: str, body: Mapping[str, Any], *, expect_body: bool = True) -> Any:
        response = self._request("POST", path, json=dict(body))
        if not expect_body and response.status_code == 200:
            return None
        return self._decode(response)

    def _decode(self, response: httpx.Response) -> Any:
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400 or body is None:
            raise _error(response.status_code, body, response.text)
        return body

    def _query_stream(
        self, sql: str, *, properties: Mapping[str, object] | None, timeout: float | None
    ) -> tuple[StreamHeader, _Rows]:
        request = self._http.build_request(
            "POST",
            "/query-stream",
            json={"sql": sql, "properties": dict(properties or {})},
            headers={"Accept": _DELIMITED},
            timeout=httpx.Timeout(_REQUEST_TIMEOUT_S, read=timeout),
        )
        try:
            response = self._http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"cannot reach ksqlDB at {self.url}: {exc}") from exc
        if response.status_code >= 400:
            response.read()
            try:
                body = response.json()
            except ValueError:
                body = None
            response.close()
            raise _error(response.status_code, body, response.text)
        lines = response.iter_lines()
        first = next((line for line in lines if line.strip()), None)
        if first is None:
            response.close()
            raise KsqlServerError("empty query response", error_code=50000, status=200)
        header = StreamHeader(json.loads(first))
        return header, _Rows(response, lines)


class _Rows:
    """Iterator over the row lines of a streaming response (closes it when done)."""

    def __init__(self, response: httpx.Response, lines: Iterator[str]) -> None:
        self._response = response
        self._lines = lines

    def __iter__(self) -> Iterator[list[Any]]:
        for line in self._lines:
            if not line.strip():
                continue
            item = json.loads(line, parse_float=decimal.Decimal)
            if isinstance(item, dict):  # an error written after the header
                raise _error(200, item, line)
            yield item

    def close(self) -> None:
        self._response.close()


def _sql_string(value: object) -> str:
    """A SQL string literal (``'`` doubled); booleans as Connect spells them."""
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return "'" + text.replace("'", "''") + "'"


def _quoted(name: str) -> str:
    """A back-quoted identifier, so the connector name keeps its case."""
    return "`" + name.replace("`", "``") + "`"


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error(status: int, body: Any, text: str) -> KsqlServerError:
    if isinstance(body, Mapping) and "error_code" in body:
        return KsqlServerError(
            str(body.get("message", "")),
            error_code=int(body["error_code"]),
            status=status,
            statement_text=body.get("statementText"),
            body=body,
        )
    return KsqlServerError(
        text.strip()[:500] or f"HTTP {status}", error_code=status * 100, status=status
    )


# ---------------------------------------------------------------------- rows -> polars
def rows_to_frame(header: StreamHeader, rows: list[list[Any]]) -> pl.DataFrame:
    """Rows of a query as a polars frame typed from the header, windowed keys decoded."""
    names = list(header.column_names)
    types = list(header.column_types)
    columns: dict[str, pl.Series] = {}
    for i, (name, sql_type) in enumerate(zip(names, types, strict=False)):
        values = [row[i] if i < len(row) else None for row in rows]
        columns[name] = _series(name, sql_type, values)
    frame = pl.DataFrame(columns)
    return _decode_windows(frame)


def _series(name: str, sql_type: str, values: list[Any]) -> pl.Series:
    base = sql_type.split("(")[0].split("<")[0].strip().upper()
    if base in ("INTEGER", "INT"):
        return pl.Series(name, values, dtype=pl.Int32)
    if base == "BIGINT":
        return pl.Series(name, values, dtype=pl.Int64)
    if base == "DOUBLE":
        return pl.Series(name, [None if v is None else float(v) for v in values], dtype=pl.Float64)
    if base == "BOOLEAN":
        return pl.Series(name, values, dtype=pl.Boolean)
    if base in ("STRING", "VARCHAR"):
        return pl.Series(name, values, dtype=pl.String)
    if base == "DECIMAL":
        match = re.match(r"DECIMAL\((\d+),\s*(\d+)\)", sql_type.upper())
        exact = [None if v is None else decimal.Decimal(str(v)) for v in values]
        if match:
            precision, scale = int(match.group(1)), int(match.group(2))
            return pl.Series(name, exact, dtype=pl.Decimal(min(precision, 38), scale))
        return pl.Series(name, exact)
    if base == "TIMESTAMP":
        parsed = [None if v is None else dt.datetime.fromisoformat(v) for v in values]
        return pl.Series(name, parsed, dtype=pl.Datetime("ms"))
    if base == "DATE":
        return pl.Series(
            name, [None if v is None else dt.date.fromisoformat(v) for v in values], dtype=pl.Date
        )
    if base == "TIME":
        return pl.Series(
            name, [None if v is None else dt.time.fromisoformat(v) for v in values], dtype=pl.Time
        )
    if base == "BYTES":
        import base64

        return pl.Series(
            name, [None if v is None else base64.b64decode(v) for v in values], dtype=pl.Binary
        )
    return pl.Series(name, _plain(values), strict=False)


def _plain(values: list[Any]) -> list[Any]:
    """Nested values with Decimals turned into floats (polars infers struct/list types)."""

    def conv(v: Any) -> Any:
        if isinstance(v, decimal.Decimal):
            return float(v)
        if isinstance(v, list):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    return [conv(v) for v in values]


def _decode_windows(frame: pl.DataFrame) -> pl.DataFrame:
    for name in ("WINDOWSTART", "WINDOWEND"):
        if name in frame.columns and frame.schema[name] in (pl.Int64, pl.Int32):
            frame = frame.with_columns(
                pl.col(name).cast(pl.Int64).cast(pl.Datetime("ms", time_zone="UTC"))
            )
    if "WINDOWSTART" in frame.columns:
        return frame
    for name in frame.columns:
        if frame.schema[name] != pl.String:
            continue
        sample = frame.get_column(name).drop_nulls().head(1).to_list()
        if not sample or _OLD_WINDOWED_KEY.match(sample[0]) is None:
            continue
        parts = frame.get_column(name).str.extract_groups(_OLD_WINDOWED_KEY.pattern)
        end = parts.struct.field("3")
        return frame.with_columns(
            parts.struct.field("1").alias(name),
            parts.struct.field("2")
            .cast(pl.Int64)
            .cast(pl.Datetime("ms", time_zone="UTC"))
            .alias("WINDOWSTART"),
            pl.when(end == "-")
            .then(None)
            .otherwise(end)
            .cast(pl.Int64)
            .cast(pl.Datetime("ms", time_zone="UTC"))
            .alias("WINDOWEND"),
        )
    return frame
