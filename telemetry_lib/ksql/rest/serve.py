"""Running the REST app: in a background thread (tests, CLI, RQTT) or blocking (the server).

Owns: :class:`ServerThread` — ``with ServerThread(app) as server: server.url`` serves ``app`` on
127.0.0.1 and a free port picked by the OS, waits until it accepts connections, and stops it
on exit — :func:`serve_forever` for a process entry point (``server.py``) and :func:`free_port`.

Two HTTP servers, same starlette app (``HttpServer``):

- ``"hypercorn"`` (default): HTTP/1.1 **and** HTTP/2 on the same cleartext port — HTTP/2 with
  prior knowledge (h2c, what ksqlDB's Java client speaks to ``/query-stream`` and
  ``/inserts-stream``) or via ``Upgrade: h2c``; HTTP/1.1 clients (curl, httpx, the CLI) are
  unaffected.
- ``"uvicorn"``: HTTP/1.1 only; its C parser (httptools) makes it a little faster per request.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Literal

import uvicorn
from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config as HypercornConfig
from starlette.types import ASGIApp

__all__ = ["DEFAULT_HTTP_SERVER", "HttpServer", "ServerThread", "free_port", "serve_forever"]

logger = logging.getLogger(__name__)

#: How long to wait for uvicorn to bind and accept (it starts in well under a second when the
#: machine is idle; a loaded 2-core box can take several).
_STARTUP_TIMEOUT_S = 30.0
#: How long to wait for the server thread to finish after asking it to exit (open push-query
#: streams are cancelled by uvicorn's shutdown).
_SHUTDOWN_TIMEOUT_S = 10.0
#: Keep-alive timeout: ksqlDB clients reuse connections between statements.
_KEEP_ALIVE_S = 30
#: How long a stopping server waits for open requests (push queries are cancelled anyway).
_GRACEFUL_S = 1.0
#: How often start() probes the port of a server that reports no "started" flag (hypercorn).
_PROBE_INTERVAL_S = 0.02

HttpServer = Literal["hypercorn", "uvicorn"]
#: HTTP/2 (h2c) is what ksqlDB's Java client needs; see the module doc.
DEFAULT_HTTP_SERVER: HttpServer = "hypercorn"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(app: ASGIApp, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        timeout_keep_alive=_KEEP_ALIVE_S,
        timeout_graceful_shutdown=1,
    )


def _hypercorn_config(port: int) -> HypercornConfig:
    config = HypercornConfig()
    config.bind = [f"127.0.0.1:{port}"]
    config.keep_alive_timeout = _KEEP_ALIVE_S
    config.graceful_timeout = _GRACEFUL_S
    config.loglevel = "WARNING"
    config.accesslog = None
    return config


class _Hypercorn:
    """hypercorn on its own event loop, stoppable from another thread."""

    def __init__(self, app: ASGIApp, port: int) -> None:
        self.app = app
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        await hypercorn_serve(
            self.app,  # type: ignore[arg-type]
            _hypercorn_config(self.port),
            shutdown_trigger=self._stop.wait,
        )

    def stop(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)


class ServerThread:
    """An HTTP server (hypercorn or uvicorn) serving ``app`` in a daemon thread on 127.0.0.1."""

    def __init__(
        self, app: ASGIApp, *, port: int | None = None, server: HttpServer = DEFAULT_HTTP_SERVER
    ) -> None:
        self.port = port or free_port()
        self.server = server
        self._uvicorn: uvicorn.Server | None = None
        self._hypercorn: _Hypercorn | None = None
        target: Callable[[], object]
        if server == "uvicorn":
            self._uvicorn = uvicorn.Server(_config(app, self.port))
            target = self._uvicorn.run
        else:
            self._hypercorn = _Hypercorn(app, self.port)
            target = self._hypercorn.run
        self._thread = threading.Thread(target=target, name="ksql-rest", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        while not self._started():
            if not self._thread.is_alive():
                raise RuntimeError(f"the REST server could not start on port {self.port}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the REST server did not start within {_STARTUP_TIMEOUT_S} s")
            time.sleep(_PROBE_INTERVAL_S)
        return self

    def _started(self) -> bool:
        if self._uvicorn is not None:
            return bool(self._uvicorn.started)
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        if self._hypercorn is not None:
            self._hypercorn.stop()
        self._thread.join(_SHUTDOWN_TIMEOUT_S)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve_forever(app: ASGIApp, *, port: int, server: HttpServer = DEFAULT_HTTP_SERVER) -> None:
    """Serve ``app`` on 127.0.0.1:``port`` until the process is asked to stop."""
    if server == "uvicorn":
        uvicorn.Server(_config(app, port)).run()
    else:
        asyncio.run(hypercorn_serve(app, _hypercorn_config(port)))  # type: ignore[arg-type]
