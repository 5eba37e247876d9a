"""The ksqlDB REST API as a starlette application (reference §1).

Owns: :func:`create_app` — routes ``/ksql``, ``/ksql/terminate``,
``/status[/{type}/{entity}/{action}]``, ``/query`` (legacy shape), ``/query-stream`` (delimited,
JSON, or legacy by Accept), ``/close-query``, ``/inserts-stream``, ``/info``, ``/healthcheck``,
``/``, ``/chc/live``, ``/chc/ready`` — over a
:class:`~telemetry_lib.ksql.rest.backend.KsqlBackend`; ksqlDB's error envelope (errors.py);
optional Basic auth (auth.py); request-size limits and a statement timeout.

Request bodies are parsed as JSON whatever their Content-Type, like ksqlDB. Every old-API
endpoint answers ``Content-Type: application/json``. Streaming responses are written chunk by
chunk (HTTP/1.1 chunked, or HTTP/2 DATA frames); when the client disconnects or resets the
stream, the response is cancelled and the push query it started is closed (the generator's
``finally``). ``/inserts-stream`` reads rows and writes acks at the same time.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from telemetry_lib.ksql.errors import KsqlEngineError
from telemetry_lib.ksql.rest.auth import BasicAuthConfig, BasicAuthMiddleware
from telemetry_lib.ksql.rest.backend import KsqlBackend, QueryStream
from telemetry_lib.ksql.rest.errors import (
    RestError,
    engine_error_response,
    error_body,
    generic_error,
    internal_stream_error,
)
from telemetry_lib.ksql.rest.print_topic import PrintStream

__all__ = ["DEFAULT_MAX_BODY_BYTES", "DEFAULT_STATEMENT_TIMEOUT_S", "RestSettings", "create_app"]

logger = logging.getLogger(__name__)

#: Largest request body accepted: ksqlDB scripts are small; 10 MiB leaves room for bulk
#: /inserts-stream requests while keeping a bad client from exhausting memory.
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
#: How long /ksql waits for its statements (ksqlDB's ksql.server.command.response.timeout.ms
#: is 5 s; our statements run in-process and create topics, which takes longer on a loaded broker).
DEFAULT_STATEMENT_TIMEOUT_S = 60.0

_JSON = "application/json"
_LEGACY = "application/vnd.ksql.v1+json"
_DELIMITED = "application/vnd.ksqlapi.delimited.v1"
#: Size of the writes of a pull query's response: large enough that per-write costs vanish,
#: small enough to stream a big result without building it whole.
_PULL_CHUNK_BYTES = 64 * 1024
_ENCODER = msgspec.json.Encoder(decimal_format="number")


@dataclass(frozen=True)
class RestSettings:
    """Server-side options of the REST layer."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    statement_timeout_s: float = DEFAULT_STATEMENT_TIMEOUT_S
    auth: BasicAuthConfig | None = None


def create_app(backend: KsqlBackend, *, settings: RestSettings | None = None) -> Starlette:
    """A starlette app serving ksqlDB's REST API over ``backend``."""
    opts = settings or RestSettings()
    api = _Api(backend, opts)
    routes = [
        Route("/", api.root, methods=["GET"]),
        Route("/chc/live", api.chc, methods=["GET"]),
        Route("/chc/ready", api.chc, methods=["GET"]),
        Route("/info", api.info, methods=["GET"]),
        Route("/healthcheck", api.healthcheck, methods=["GET"]),
        Route("/ksql", api.ksql, methods=["POST"]),
        Route("/ksql/terminate", api.terminate, methods=["POST"]),
        Route("/status", api.all_status, methods=["GET"]),
        Route("/status/{type}/{entity}/{action}", api.status, methods=["GET"]),
        Route("/query", api.query, methods=["POST"]),
        Route("/query-stream", api.query_stream, methods=["POST"]),
        Route("/close-query", api.close_query, methods=["POST"]),
        Route("/inserts-stream", api.inserts_stream, methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    if opts.auth is not None:
        app.add_middleware(BasicAuthMiddleware, config=opts.auth)
    return app


def _json(body: Any, status: int = 200) -> Response:
    return Response(_ENCODER.encode(body), status_code=status, media_type=_JSON)


class _Api:
    def __init__(self, backend: KsqlBackend, settings: RestSettings) -> None:
        self.backend = backend
        self.settings = settings

    # ------------------------------------------------------------------ helpers
    async def _body(self, request: Request) -> dict[str, Any]:
        declared = request.headers.get("content-length")
        if (
            declared is not None
            and declared.isdigit()
            and int(declared) > self.settings.max_body_bytes
        ):
            raise _too_large(self.settings.max_body_bytes)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.settings.max_body_bytes:
                raise _too_large(self.settings.max_body_bytes)
            chunks.append(chunk)
        raw = b"".join(chunks)
        try:
            body = msgspec.json.decode(raw) if raw.strip() else {}
        except msgspec.DecodeError as exc:
            raise RestError(generic_error(40000, f"Invalid JSON in request: {exc}"), 400) from None
        if not isinstance(body, dict):
            raise RestError(
                generic_error(40000, "Invalid JSON in request: expected a JSON object"), 400
            )
        return body

    async def _guard(self, handler: Any, request: Request) -> Response:
        try:
            return await handler(request)  # type: ignore[no-any-return]
        except RestError as exc:
            return _json(exc.body, exc.status)
        except KsqlEngineError as exc:
            body, status = engine_error_response(exc)
            return _json(body, status)
        except Exception:  # a bug: ksqlDB's 500 envelope, the details in the server log
            logger.exception("internal error serving %s", request.url.path)
            return _json(internal_stream_error(), 500)

    # ------------------------------------------------------------------ simple endpoints
    async def root(self, request: Request) -> Response:
        return RedirectResponse("/info", status_code=307)

    async def chc(self, request: Request) -> Response:
        return _json({})

    async def info(self, request: Request) -> Response:
        return _json({"KsqlServerInfo": self.backend.server_info()})

    async def healthcheck(self, request: Request) -> Response:
        healthy = {"isHealthy": True}
        return _json(
            {
                "isHealthy": True,
                "details": {"metastore": healthy, "kafka": healthy, "commandRunner": healthy},
                "serverState": "READY",
            }
        )

    async def all_status(self, request: Request) -> Response:
        return _json({"commandStatuses": self.backend.command_statuses()})

    async def status(self, request: Request) -> Response:
        p = request.path_params
        command_id = f"{p['type']}/{unquote(p['entity'])}/{p['action']}"
        status = self.backend.command_status(command_id)
        if status is None:
            return _json(generic_error(40400, "Command not found"), 404)
        return _json(status)

    # ------------------------------------------------------------------ /ksql
    async def ksql(self, request: Request) -> Response:
        async def run(request: Request) -> Response:
            body = await self._body(request)
            sql = body.get("ksql")
            if not isinstance(sql, str):
                raise RestError(
                    generic_error(40000, "Invalid JSON in request: missing 'ksql'"), 400
                )
            props = _mapping(body.get("streamsProperties"))
            variables = {k: str(v) for k, v in _mapping(body.get("sessionVariables")).items()}
            try:
                entities = await asyncio.wait_for(
                    asyncio.to_thread(
                        self.backend.execute, sql, properties=props, variables=variables
                    ),
                    timeout=self.settings.statement_timeout_s,
                )
            except TimeoutError:
                raise RestError(
                    generic_error(
                        50301,
                        "Timed out while waiting for the statements to execute "
                        f"({self.settings.statement_timeout_s:g} s); poll /status for the outcome.",
                    ),
                    503,
                ) from None
            return _json(entities)

        return await self._guard(run, request)

    async def terminate(self, request: Request) -> Response:
        async def run(request: Request) -> Response:
            body = await self._body(request)
            topics = body.get("deleteTopicList") or []
            entities = await asyncio.to_thread(
                self.backend.terminate_cluster, [str(t) for t in topics]
            )
            return _json(entities)

        return await self._guard(run, request)

    # ------------------------------------------------------------------ queries
    async def _start(
        self, request: Request, *, sql_field: str, props_field: str
    ) -> tuple[QueryStream | PrintStream, str]:
        body = await self._body(request)
        sql = body.get(sql_field)
        if not isinstance(sql, str):
            raise RestError(
                generic_error(40000, f"Invalid JSON in request: missing '{sql_field}'"), 400
            )
        props = _mapping(body.get(props_field))
        variables = {k: str(v) for k, v in _mapping(body.get("sessionVariables")).items()}
        stream = await asyncio.to_thread(
            self.backend.start_query, sql, properties=props, variables=variables
        )
        return stream, sql

    async def query(self, request: Request) -> Response:
        async def run(request: Request) -> Response:
            stream, _ = await self._start(
                request, sql_field="ksql", props_field="streamsProperties"
            )
            if isinstance(stream, PrintStream):
                return _print_response(stream)
            kind = _negotiate(request.headers.get("accept"), default=_LEGACY)
            if kind == _DELIMITED:
                return _delimited_response(stream)
            return _legacy_response(stream)

        return await self._guard(run, request)

    async def query_stream(self, request: Request) -> Response:
        async def run(request: Request) -> Response:
            stream, _ = await self._start(request, sql_field="sql", props_field="properties")
            if isinstance(stream, PrintStream):
                return _print_response(stream)
            kind = _negotiate(request.headers.get("accept"), default=_DELIMITED)
            if kind == _LEGACY:
                return _legacy_response(stream)
            if kind == _JSON:
                return _json_array_response(stream)
            return _delimited_response(stream)

        return await self._guard(run, request)

    async def close_query(self, request: Request) -> Response:
        async def run(request: Request) -> Response:
            body = await self._body(request)
            query_id = str(body.get("queryId", ""))
            if not self.backend.close_query(query_id):
                raise RestError(generic_error(40000, f"No query with id {query_id}"), 400)
            return Response(b"", status_code=200)

        return await self._guard(run, request)

    # ------------------------------------------------------------------ inserts
    async def inserts_stream(self, request: Request) -> Response:
        """Newline-delimited JSON: the args object, then one row per line, each inserted and
        acknowledged in order as it arrives — over HTTP/2 a client streams rows and reads acks
        at the same time, as ksqlDB's Java client does; over HTTP/1.1 the acks follow the body.
        A row that fails ends the stream with its error ack. ``Accept: application/json``
        answers one JSON array after the whole body."""

        async def run(request: Request) -> Response:
            chunks = request.stream().__aiter__()
            first, rest = await self._args_line(chunks)
            try:
                args = msgspec.json.decode(first)
            except msgspec.DecodeError as exc:
                raise RestError(
                    generic_error(40000, f"Invalid JSON in request: {exc}"), 400
                ) from None
            target = str(args.get("target", "")) if isinstance(args, dict) else ""
            acks = self._acks(target, rest, chunks)
            if _negotiate(request.headers.get("accept"), default=_DELIMITED) == _JSON:
                return _json([a async for a in acks])
            return _AckStream(acks)

        return await self._guard(run, request)

    async def _args_line(self, chunks: AsyncIterator[bytes]) -> tuple[bytes, bytes]:
        """The first non-blank line of an inserts stream, and what was read after it."""
        buffer = b""
        while True:
            lines = buffer.split(b"\n", 1)
            while len(lines) == 2 and not lines[0].strip():
                buffer = lines[1]
                lines = buffer.split(b"\n", 1)
            if len(lines) == 2:
                return lines[0], lines[1]
            if len(buffer) > self.settings.max_body_bytes:
                raise _too_large(self.settings.max_body_bytes)
            try:
                buffer += await chunks.__anext__()
            except StopAsyncIteration:
                if not buffer.strip():
                    raise RestError(
                        generic_error(40000, "Invalid JSON in request: no arguments"), 400
                    ) from None
                return buffer, b""

    async def _acks(
        self, target: str, buffer: bytes, chunks: AsyncIterator[bytes]
    ) -> AsyncIterator[dict[str, Any]]:
        """Insert each row line as it arrives; one ack per row, an error ack ends the stream."""
        seq = 0
        done = False
        while True:
            *complete, buffer = buffer.split(b"\n")
            if done and buffer.strip():
                complete.append(buffer)
            for line in complete:
                if not line.strip():
                    continue
                try:
                    row = msgspec.json.decode(line)
                    if not isinstance(row, dict):
                        raise msgspec.DecodeError("row is not a JSON object")
                except msgspec.DecodeError:
                    yield _insert_error(seq, 40000, "Invalid JSON in inserts stream")
                    return
                try:
                    await asyncio.to_thread(self.backend.insert_rows, target, [row])
                except KsqlEngineError as exc:
                    yield _insert_error(seq, 40000, exc.message)
                    return
                yield {"status": "ok", "seq": seq}
                seq += 1
            if done:
                return
            if len(buffer) > self.settings.max_body_bytes:
                yield _insert_error(seq, 41300, "Row is larger than the server's request limit")
                return
            try:
                buffer += await chunks.__anext__()
            except StopAsyncIteration:
                done = True


class _AckStream(Response):
    """The inserts acks as a delimited stream, written while the request body is still read.

    A plain ASGI response (not starlette's StreamingResponse, whose disconnect listener would
    consume the request body this stream is reading)."""

    media_type = _DELIMITED

    def __init__(self, acks: AsyncIterator[dict[str, Any]]) -> None:
        super().__init__(media_type=_DELIMITED)
        self.acks = acks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", _DELIMITED.encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        async for ack in self.acks:
            body = _ENCODER.encode(ack) + b"\n"
            await send({"type": "http.response.body", "body": body, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


# ---------------------------------------------------------------------- response writers
def _delimited_response(stream: QueryStream) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        header = {
            "queryId": stream.query_id,
            "columnNames": stream.column_names,
            "columnTypes": stream.column_types,
        }
        yield _ENCODER.encode(header) + b"\n"
        try:
            async for row in stream.rows:
                if row.tombstone:
                    logger.debug("Dropped tombstone. Not currently supported")
                    continue
                yield _ENCODER.encode(row.columns) + b"\n"
        except Exception:  # a failure after the header is written as an error line
            logger.exception("query %s failed while streaming", stream.query_id)
            yield _ENCODER.encode(internal_stream_error()) + b"\n"
        finally:
            stream.close()

    return StreamingResponse(_chunks(stream, body()), media_type=_DELIMITED)


def _json_array_response(stream: QueryStream) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        header = {
            "queryId": stream.query_id,
            "columnNames": stream.column_names,
            "columnTypes": stream.column_types,
        }
        yield b"[" + _ENCODER.encode(header)
        try:
            async for row in stream.rows:
                if not row.tombstone:
                    yield b"," + _ENCODER.encode(row.columns)
        except Exception:
            logger.exception("query %s failed while streaming", stream.query_id)
            yield b"," + _ENCODER.encode(internal_stream_error())
        finally:
            stream.close()
        yield b"]"

    return StreamingResponse(_chunks(stream, body()), media_type=_JSON)


def _legacy_response(stream: QueryStream) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        header = {"header": {"queryId": stream.query_id, "schema": stream.schema}}
        yield b"[" + _ENCODER.encode(header)
        try:
            async for row in stream.rows:
                element: dict[str, Any] = {"row": {"columns": row.columns}}
                if row.tombstone:
                    element["row"]["tombstone"] = True
                yield b",\n" + _ENCODER.encode(element)
            if not stream.is_pull:
                final = stream.final_message() or "Query Completed"
                yield b",\n" + _ENCODER.encode({"finalMessage": final})
        except Exception:
            logger.exception("query %s failed while streaming", stream.query_id)
            yield b",\n" + _ENCODER.encode({"errorMessage": internal_stream_error()})
        finally:
            stream.close()
        yield b"]"

    return StreamingResponse(_chunks(stream, body()), media_type=_LEGACY)


def _print_response(stream: PrintStream) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        try:
            async for line in stream.lines:
                yield line.encode()
        finally:
            stream.close()

    return StreamingResponse(body(), media_type=_DELIMITED)


def _chunks(stream: QueryStream, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """A pull query's rows are all there: send them in chunks of about
    :data:`_PULL_CHUNK_BYTES` instead of one write per row (which capped a large pull at tens
    of thousands of rows/s). Push queries keep one write per row, for latency."""
    return _coalesce(body) if stream.is_pull else body


async def _coalesce(body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    buffer: list[bytes] = []
    size = 0
    async for part in body:
        buffer.append(part)
        size += len(part)
        if size >= _PULL_CHUNK_BYTES:
            yield b"".join(buffer)
            buffer, size = [], 0
    if buffer:
        yield b"".join(buffer)


# ---------------------------------------------------------------------- small helpers
_MEDIA = re.compile(r"\s*([^;,\s]+)\s*(?:;\s*q\s*=\s*([0-9.]+))?[^,]*")


def _negotiate(accept: str | None, *, default: str) -> str:
    """The best of the three streaming media types the Accept header allows (q-weighted)."""
    if not accept:
        return default
    best: tuple[float, str] | None = None
    for part in accept.split(","):
        match = _MEDIA.match(part)
        if match is None:
            continue
        media, q = match.group(1).lower(), float(match.group(2) or 1.0)
        if media in ("*/*", "application/*"):
            media = default if media == "*/*" else _JSON
        if media not in (_JSON, _LEGACY, _DELIMITED):
            continue
        if best is None or q > best[0]:
            best = (q, media)
    return best[1] if best else default


def _mapping(value: object) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _too_large(limit: int) -> RestError:
    return RestError(
        generic_error(
            41300,
            f"Request body is larger than the server's limit of {limit} bytes: send the "
            "statements in smaller requests.",
        ),
        413,
    )


def _insert_error(seq: int, code: int, message: str) -> dict[str, Any]:
    return {**error_body("generic_error", code, message), "status": "error", "seq": seq}
