"""Shared fixtures: the real embedded stack (Tansu + NX-27017) for integration tests.

``embedded_stack`` (session scope) starts Kafka and MongoDB once per test session on free
ports in a temporary workdir, through the same :class:`telemetry_lib.services.Stack` the CLI
uses, and yields the :class:`~telemetry_lib.config.Settings` that point at them::

    @pytest.mark.integration
    def test_round_trip(embedded_stack: Settings) -> None:
        conf = embedded_stack.kafka_config()            # bootstrap.servers=127.0.0.1:<port>
        uri = embedded_stack.mongo_uri.reveal()         # mongodb://127.0.0.1:<port>

Remember the broker is shared by the whole session and keeps everything in memory: use
unique topic / database names per test. Everything is stopped at the end of the session.
The settings ignore the developer's environment and workbench.toml, and never use the
default ports (a user's own stack may be there).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from telemetry_lib.config import Settings, load_settings
from telemetry_lib.services import Stack, free_port

PORT_SETTINGS = ("kafka_port", "mongo_port", "ksqldb_port", "connect_port")


def isolated_settings(workdir: Path, **overrides: object) -> Settings:
    """Embedded-profile settings on distinct free ports in ``workdir``, ignoring the developer's
    environment and workbench.toml; ``overrides`` replace any setting (e.g. ``kafka_port=...``)."""
    ports: set[int] = set()
    while len(ports) < len(PORT_SETTINGS):
        ports.add(free_port())
    values: dict[str, object] = dict(zip(PORT_SETTINGS, sorted(ports), strict=True))
    values.update(profile="embedded", workdir=workdir)
    values.update(overrides)
    return load_settings(config_file=False, environ={}, **values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def embedded_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Tansu + NX-27017 on free ports for the whole session; yields their Settings."""
    settings = isolated_settings(tmp_path_factory.mktemp("workbench"))
    with Stack(settings, services=("kafka", "mongo")):
        yield settings
