"""Fixtures: a REST server over a fresh in-memory backend, served by uvicorn on a free port."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from telemetry_lib.ksql.rest import EngineBackend, create_app, in_memory_backend
from telemetry_lib.ksql.rest.serve import ServerThread


class Server:
    def __init__(self, backend: EngineBackend, url: str) -> None:
        self.backend = backend
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=30)

    def ksql(self, sql: str, **extra: object) -> httpx.Response:
        return self.http.post("/ksql", json={"ksql": sql, "streamsProperties": {}, **extra})


@pytest.fixture()
def server() -> Iterator[Server]:
    backend = in_memory_backend()
    with ServerThread(create_app(backend)) as thread:
        srv = Server(backend, thread.url)
        try:
            yield srv
        finally:
            srv.http.close()
