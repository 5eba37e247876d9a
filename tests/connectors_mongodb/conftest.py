"""Fixtures for the MongoDB connector tests: the session's NX-27017, a database per test, a
private NX-27017 a test may restart, and task contexts that record what a task reports.

The task contexts stand in for the worker only in the task-level tests (they keep offsets and
reports in memory, as the worker's OffsetBook and error reporter do); the end-to-end tests run
the real worker process.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from telemetry_lib.config import Settings
from telemetry_lib.connectors.api import SinkRecord, TopicPartition
from telemetry_lib.mongo import Document, mongo_client
from telemetry_lib.services import free_port
from tests.mongo.conftest import PrivateMongo


@pytest.fixture
def mongo_uri(embedded_stack: Settings) -> str:
    return embedded_stack.mongo_uri.reveal()


@pytest.fixture
def db(mongo_uri: str) -> Iterator[Database[Document]]:
    """A database of this test's own (dropped afterwards)."""
    client = mongo_client(mongo_uri)
    name = f"conn_{uuid.uuid4().hex[:10]}"
    yield client[name]
    client.drop_database(name)
    client.close()


@pytest.fixture
def private_mongo(tmp_path: Path) -> Iterator[PrivateMongo]:
    server = PrivateMongo(free_port(), tmp_path / "mongo")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Offsets:
    stored: dict[str, dict[str, Any]] = field(default_factory=dict)

    def offset(self, partition: Mapping[str, Any]) -> dict[str, Any] | None:
        return self.stored.get(repr(sorted(partition.items())))

    def offsets(self, partitions: Any) -> list[dict[str, Any] | None]:
        return [self.offset(p) for p in partitions]

    def store(self, partition: Mapping[str, Any], offset: Mapping[str, Any]) -> None:
        self.stored[repr(sorted(partition.items()))] = dict(offset)


@dataclass
class TaskContext:
    """Source and sink task context: offsets kept in memory, reported records collected."""

    offset_reader: Offsets = field(default_factory=Offsets)
    reports: list[tuple[SinkRecord, BaseException]] = field(default_factory=list)
    connector_name: str = "test"
    task_id: int = 0

    def assignment(self) -> list[TopicPartition]:
        return []

    def report(self, record: SinkRecord, error: BaseException) -> None:
        self.reports.append((record, error))

    def request_commit(self) -> None:
        return None


def client_for(uri: str) -> MongoClient[Document]:
    return mongo_client(uri)
