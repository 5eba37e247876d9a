"""Fixtures of the notebook tests: the embedded stack with ksqlDB, and one suite run.

``notebook_stack`` reuses the session's ``embedded_stack`` (Tansu + NX-27017 on free ports)
and starts the ksqlDB server and the Connect worker on their free ports (stopped afterwards).
``suite`` runs the notebook suite once per session with SMALL parameters into a temporary report folder; the tests then
check what the notebooks wrote against truth computed here, independently of the library
code the notebooks call.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
import pytest

from telemetry_lib.config import Settings
from telemetry_lib.generator import TelemetryGenerator
from telemetry_lib.services import Stack
from telemetry_lib.workbench import ReportResult, run_report

#: Small enough to run the suite in well under a minute, large enough for several windows
#: per player (1000 events / (2 events per player-minute x 30 players) ~ 17 min: 4 windows).
PARAMS: dict[str, object] = {
    "players": 30,
    "events": 1000,
    "seed": 11,
    "window_minutes": 5,
    "database": "nbtest",
}
#: The source connector's topic for the events collection (official naming).
TOPIC = f"{PARAMS['database']}.telemetry_events"


@pytest.fixture(scope="session")
def notebook_stack(embedded_stack: Settings) -> Iterator[Settings]:
    """The session's Kafka + MongoDB, plus ksqlDB and the Connect worker on their free ports."""
    with Stack(embedded_stack, services=("ksqldb", "connect")):
        yield embedded_stack


@pytest.fixture(scope="session")
def suite(notebook_stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> ReportResult:
    """Notebooks 01-06 in order, small parameters; 06 keeps the pipeline (``skip_teardown``)
    so later tests (JupyterLab, teardown) find it."""
    return run_report(
        notebook_stack,
        parameters={**PARAMS, "skip_teardown": True},
        folder=tmp_path_factory.mktemp("report"),
        progress=False,
    )


def truth_events() -> pl.DataFrame:
    return TelemetryGenerator(
        seed=int(PARAMS["seed"]), players=int(PARAMS["players"]), events=int(PARAMS["events"])
    ).events()

