"""The live dashboard runs headless with a time bound: the push query fed the widget, and the
live table ends up counting exactly the events the (paced) generator produced."""

from __future__ import annotations

import json

import polars as pl
import pytest

from telemetry_lib.config import Settings
from telemetry_lib.generator import TelemetryGenerator
from telemetry_lib.workbench import run_report

# The session's notebook suite (set up by the first test needing it) takes 1-3 minutes on a
# busy 2-core machine: more than the default per-test timeout leaves room for.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

LIVE = {"players": 20, "rate": 150.0, "duration_s": 6.0, "seed": 5, "window_minutes": 1}


def test_live_dashboard_follows_the_push_query(notebook_stack: Settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = run_report(notebook_stack, parameters=LIVE, notebooks=("live_dashboard",),
                        folder=tmp_path, progress=False, html=False)  # fmt: skip
    s = json.loads((result.folder / "live_dashboard.json").read_text())
    truth = TelemetryGenerator(
        seed=5, players=20, events=900, rate=150.0, start_ms=s["start_ms"]
    ).events()
    assert s["events"] == truth.height == 900
    assert s["events_counted"] == truth.height
    assert s["kills"] == (truth["event_type"] == "kill").sum() == s["deaths"]
    windows = truth.select("player_id", w=pl.col("timestamp") // 60_000).unique()
    assert s["rows"] == windows.height and s["players"] == truth["player_id"].n_unique()
    assert s["changes_received"] > 0 and s["redraws"] >= 1
    assert any("DROP TABLE IF EXISTS LIVE_KILL_RATIO" in x for x in s["stopped"])
