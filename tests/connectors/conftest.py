"""Fixtures: a Connect worker process on the session's embedded Kafka (own storage topics)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from telemetry_lib.config import Settings
from telemetry_lib.connectors.client import ConnectClient
from tests.connectors.helpers import WorkerProcess


@pytest.fixture(scope="module")
def worker(
    embedded_stack: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    """One worker for a test module (its connectors use unique names per test)."""
    tmp = tmp_path_factory.mktemp("connect")
    proc = WorkerProcess(
        embedded_stack.bootstrap_servers, tmp / "state", tmp / "worker.log"
    ).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture()
def client(worker: WorkerProcess) -> Iterator[ConnectClient]:
    with ConnectClient(worker.url) as c:
        yield c


@pytest.fixture()
def work(tmp_path: Path) -> Path:
    return tmp_path
