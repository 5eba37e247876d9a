"""ksqlDB's REST API for the engine: the only package importing the web framework.

Modules: ``app`` (starlette routes and response writers), ``backend`` (the :class:`KsqlBackend`
protocol the app runs on, :class:`EngineBackend` over a KsqlEngine, the in-memory wiring),
``transient`` (push and pull SELECTs planned like persistent queries, collected instead of
produced; pull row order), ``pull_validation`` (what a pull query may ask, ksqlDB's errors),
``materialized`` (the in-memory current rows of tables that pull queries read),
``print_topic`` (PRINT's text lines), ``errors`` (ksqlDB's error envelope), ``auth`` (Basic
auth with ksqlDB's 401/403 bodies), ``serve`` (uvicorn in a thread for tests, the CLI and the RQTT
runner, or blocking for the server process).

Known gaps: push queries on tables send every change (no suppression of unchanged rows); a
tombstone row of a windowed table carries null window bounds in the legacy ``/query`` shape;
SHOW QUERIES lists persistent queries only (not running push queries); ``commandSequenceNumber``
in requests is accepted and ignored (statements run synchronously).

Framework choice: **starlette** (ASGI) served by **hypercorn** by default, uvicorn selectable
(``serve.py``). Starlette is a thin ASGI toolkit: streaming responses are plain async
generators, a client disconnect (or an HTTP/2 stream reset) cancels the generator (so closing
the connection ends its push queries), and pure-ASGI middleware lets Basic auth run without
buffering streams. A full framework (FastAPI) would add validation layers that fight ksqlDB's
exact error bodies; aiohttp would be a second HTTP stack next to httpx. Hypercorn serves
HTTP/1.1 and HTTP/2 (h2c: prior knowledge or Upgrade) on the same port, so ``/query-stream``
and ``/inserts-stream`` work for ksqlDB's Java client (HTTP/2) and for curl/httpx (HTTP/1.1
chunked); ``/inserts-stream`` acknowledges each row as it arrives. uvicorn (HTTP/1.1 only,
C parser) remains available with ``--http-server uvicorn``.
"""

from __future__ import annotations

from telemetry_lib.ksql.rest.app import RestSettings, create_app
from telemetry_lib.ksql.rest.auth import BasicAuthConfig
from telemetry_lib.ksql.rest.backend import (
    EngineBackend,
    InMemoryReader,
    KsqlBackend,
    QueryStream,
    RecordReader,
    in_memory_backend,
)

__all__ = [
    "BasicAuthConfig",
    "EngineBackend",
    "InMemoryReader",
    "KsqlBackend",
    "QueryStream",
    "RecordReader",
    "RestSettings",
    "create_app",
    "in_memory_backend",
]
