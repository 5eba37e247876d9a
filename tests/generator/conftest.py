"""A private embedded stack (Tansu + NX-27017 on free ports) for the generator's sink tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from telemetry_lib.config import Settings, load_settings
from telemetry_lib.services import Stack, free_port


@pytest.fixture(scope="session")
def generator_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings of a running Kafka + MongoDB pair, stopped at the end of the session."""
    workdir: Path = tmp_path_factory.mktemp("generator-stack")
    settings = load_settings(
        config_file=False,
        environ={},
        workdir=workdir,
        kafka_port=free_port(),
        mongo_port=free_port(),
    )
    with Stack(settings, services=["kafka", "mongo"]):
        yield settings
