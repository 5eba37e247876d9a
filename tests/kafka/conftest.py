"""Fixtures for the broker compatibility suite: the session's embedded Tansu broker (from
``tests/conftest.py``), unique topic names, and a private broker a test may restart."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from telemetry_lib.config import Settings, load_settings
from telemetry_lib.services import free_port
from telemetry_lib.services.binaries import tansu_binary

# Tansu answers within ~10 ms of starting; 10 s covers a loaded 2-core machine.
START_TIMEOUT_S = 10.0


@pytest.fixture
def kafka(embedded_stack: Settings) -> Settings:
    """Settings pointing at the session's embedded broker."""
    return embedded_stack


@pytest.fixture
def new_topic() -> Callable[[str], str]:
    """A fresh topic name per call (the session broker is shared by every test)."""

    def make(prefix: str = "t") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:10]}"

    return make


@dataclass
class PrivateBroker:
    """A Tansu process of one test's own, restartable on the same port."""

    settings: Settings
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None)

    def start(self) -> None:
        port = self.settings.kafka_port
        url = f"tcp://127.0.0.1:{port}"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(tansu_binary(self.settings)),
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"private Tansu did not start: {self.log.read_text()}"
                    ) from None
                time.sleep(0.02)

    def stop(self) -> None:
        # Memory-only broker: SIGKILL loses nothing a graceful stop would keep.
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None


@pytest.fixture
def private_kafka(tmp_path: Path) -> Iterator[PrivateBroker]:
    """A broker of this test's own (on a free port) that the test may stop and start."""
    port = free_port()
    settings = load_settings(config_file=False, environ={}, kafka_port=port, workdir=tmp_path)
    broker = PrivateBroker(settings, tmp_path / "tansu.log")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
