"""Fixtures for the MongoDB compatibility suite: the session's embedded NX-27017 (from
``tests/conftest.py``), a fresh database per test, and a private server a test may restart."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from telemetry_lib.config import Settings
from telemetry_lib.mongo import Document, mongo_client
from telemetry_lib.services import free_port
from telemetry_lib.services.binaries import nx_command_prefix

# NX-27017 answers about half a second after starting; 20 s covers a loaded 2-core machine.
START_TIMEOUT_S = 20.0
# A graceful stop flushes SQLite; it takes well under a second.
STOP_TIMEOUT_S = 10.0


@pytest.fixture
def mongo(embedded_stack: Settings) -> Settings:
    """Settings pointing at the session's NX-27017."""
    return embedded_stack


@pytest.fixture
def client(mongo: Settings) -> Iterator[MongoClient[Document]]:
    c = mongo_client(mongo)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def db(client: MongoClient[Document]) -> Iterator[Database[Document]]:
    """A database of this test's own (dropped afterwards)."""
    name = f"compat_{uuid.uuid4().hex[:10]}"
    yield client[name]
    client.drop_database(name)


@dataclass
class PrivateMongo:
    """An NX-27017 process of one test's own, restartable on the same port and data dir."""

    port: int
    data_dir: Path
    process: subprocess.Popen[bytes] | None = field(default=None)

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.data_dir.parent / "nx.log"
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    *nx_command_prefix(),
                    "--data-dir", str(self.data_dir),
                    "--host", "127.0.0.1",
                    "-p", str(self.port),
                    "--log-file", str(self.data_dir.parent / "nx-server.log"),
                    "--pid-file", str(self.data_dir.parent / "nx.pid"),
                ],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"private NX-27017 did not start: {log.read_text()}"
                    ) from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            self.process = None
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None


@pytest.fixture
def private_mongo(tmp_path: Path) -> Iterator[PrivateMongo]:
    """An NX-27017 of this test's own (free port, own data dir) that it may stop and start."""
    server = PrivateMongo(free_port(), tmp_path / "mongo")
    server.start()
    try:
        yield server
    finally:
        server.stop()
