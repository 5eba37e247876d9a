"""Running the REST app under uvicorn: in a background thread (tests, CLI, RQTT) or blocking.

Owns: :class:`ServerThread` — ``with ServerThread(app) as server: server.url`` serves ``app`` on
127.0.0.1 and a free port picked by the OS, waits until it accepts connections, and stops it
on exit — and :func:`serve_forever` for a process entry point (R1's ``server.py``).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp

__all__ = ["ServerThread", "free_port", "serve_forever"]

logger = logging.getLogger(__name__)

#: How long to wait for uvicorn to bind and accept (it starts in well under a second when the
#: machine is idle; a loaded 2-core box can take several).
_STARTUP_TIMEOUT_S = 30.0
#: How long to wait for the server thread to finish after asking it to exit (open push-query
#: streams are cancelled by uvicorn's shutdown).
_SHUTDOWN_TIMEOUT_S = 10.0
#: Keep-alive timeout: ksqlDB clients reuse connections between statements.
_KEEP_ALIVE_S = 30


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


class ServerThread:
    """uvicorn serving ``app`` in a daemon thread on 127.0.0.1."""

    def __init__(self, app: ASGIApp, *, port: int | None = None) -> None:
        self.port = port or free_port()
        self._server = uvicorn.Server(_config(app, self.port))
        self._thread = threading.Thread(target=self._server.run, name="ksql-rest", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"the REST server could not start on port {self.port}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the REST server did not start within {_STARTUP_TIMEOUT_S} s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
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


def serve_forever(app: ASGIApp, *, port: int) -> None:
    """Serve ``app`` on 127.0.0.1:``port`` until the process is asked to stop."""
    uvicorn.Server(_config(app, port)).run()
