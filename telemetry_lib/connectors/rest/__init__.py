"""Kafka Connect's REST API over the :class:`~telemetry_lib.connectors.herder.Herder`
(the only connectors package importing starlette and uvicorn).

- ``app``: :func:`create_app` — the routes, Connect's JSON bodies and error shapes.
- ``serve``: uvicorn on 127.0.0.1 (blocking, or in a thread for tests).
"""

from __future__ import annotations

from telemetry_lib.connectors.rest.app import create_app
from telemetry_lib.connectors.rest.serve import ServerThread, serve_forever

__all__ = ["ServerThread", "create_app", "serve_forever"]
