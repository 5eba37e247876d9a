"""Serving the Connect REST app with uvicorn on 127.0.0.1: blocking (the worker process) or in
a daemon thread (tests)."""

from __future__ import annotations

import logging
import signal
import threading
import time

import uvicorn
from starlette.types import ASGIApp

__all__ = ["ServerThread", "serve_forever"]

logger = logging.getLogger(__name__)

# uvicorn binds in well under a second on an idle machine; a loaded 2-core box can take several.
_STARTUP_TIMEOUT_S = 30.0
_SHUTDOWN_TIMEOUT_S = 10.0
# Connect clients (curl, ksqlDB, notebooks) send one request at a time; keep connections a while.
_KEEP_ALIVE_S = 30
_HOST = "127.0.0.1"
# How often the main thread checks that the server thread is still alive while serving.
_SIGNAL_POLL_S = 0.5


def _config(app: ASGIApp, port: int) -> uvicorn.Config:
    return uvicorn.Config(app, host=_HOST, port=port, log_level="warning", lifespan="off",
                          timeout_keep_alive=_KEEP_ALIVE_S, timeout_graceful_shutdown=1)  # fmt: skip


def serve_forever(app: ASGIApp, *, port: int) -> None:
    """Serve until SIGINT/SIGTERM, then return (so the caller can stop its tasks cleanly).

    uvicorn is run in a thread: run in the main thread it re-raises the signal after its own
    shutdown, which would kill the process before the worker commits its tasks' offsets.
    """
    stop = threading.Event()
    signals = (signal.SIGTERM, signal.SIGINT)
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in signals}
    server = ServerThread(app, port=port).start()
    logger.info("Connect REST API on %s", server.url)
    try:
        while not stop.wait(_SIGNAL_POLL_S):
            if not server.alive:
                logger.error("the REST server thread ended unexpectedly")
                break
    finally:
        logger.info("stopping the Connect REST API")
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class ServerThread:
    """uvicorn serving ``app`` in a daemon thread on 127.0.0.1:``port``."""

    def __init__(self, app: ASGIApp, *, port: int) -> None:
        self.port = port
        self._server = uvicorn.Server(_config(app, port))
        self._thread = threading.Thread(target=self._server.run, name="connect-rest", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{_HOST}:{self.port}"

    def start(self) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"the Connect REST server could not start on port {self.port}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the Connect REST server did not start in {_STARTUP_TIMEOUT_S} s"
                )
            time.sleep(0.01)
        return self

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(_SHUTDOWN_TIMEOUT_S)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
