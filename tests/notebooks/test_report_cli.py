"""``telemetry report``: parameters parsed as the docs say, and the command runs a notebook into
a new report folder (printed) with the parameters applied."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from telemetry_lib.cli import main
from telemetry_lib.config import Settings
from telemetry_lib.errors import ConfigError
from telemetry_lib.services import free_port
from telemetry_lib.workbench.command import parse_parameters


def test_parameters_are_json_when_they_parse_else_strings() -> None:
    got = parse_parameters(["events=5000", "skip_teardown=true", "database=g2", "ratio=0.5"])
    assert got == {"events": 5000, "skip_teardown": True, "database": "g2", "ratio": 0.5}
    with pytest.raises(ConfigError, match="not KEY=VALUE"):
        parse_parameters(["events 5000"])


@pytest.mark.integration
@pytest.mark.timeout(900)  # may be the first test to start the session's ksqlDB + Connect
def test_report_command_runs_a_notebook_with_parameters(
    notebook_stack: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["--workdir", str(notebook_stack.workdir)]
    for name in ("kafka_port", "mongo_port", "ksqldb_port", "connect_port"):
        flags += ["--" + name.replace("_", "-"), str(getattr(notebook_stack, name))]
    code = main(["report", *flags, "--notebooks", "01_seed_mongo", "-p", "players=12",
                 "-p", "events=200", "-p", "database=clitest", "--reports-dir",
                 str(tmp_path), "--no-progress", "--no-html"])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    folders = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(folders) == 1 and str(folders[0]) in out
    summary = json.loads((folders[0] / "01_seed_mongo.json").read_text())
    assert (summary["players"], summary["events"], summary["database"]) == (12, 200, "clitest")
    assert summary["mongo_events"] == 200
    # The settings reach the kernel through its environment: neither the injected parameters
    # nor any output carry the connection URI (which may hold a password on other profiles).
    executed = (folders[0] / "01_seed_mongo.ipynb").read_text()
    assert notebook_stack.mongo_uri.reveal() not in executed
    assert "injected-parameters" in executed and "clitest" in executed
    report = json.loads((folders[0] / "summary.json").read_text())
    assert report["parameters"] == {"players": 12, "events": 200, "database": "clitest"}


def test_report_command_says_which_services_are_down(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["--workdir", str(tmp_path / "wd")]
    for name in ("kafka_port", "mongo_port", "ksqldb_port", "connect_port"):
        flags += ["--" + name.replace("_", "-"), str(free_port())]
    code = main(["report", *flags, "--notebooks", "01_seed_mongo,04_ratio_to_polars",
                 "--reports-dir", str(tmp_path / "reports")])  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert "need kafka, ksqldb, mongo" in err and "telemetry up" in err
    assert not (tmp_path / "reports").exists()  # nothing ran
