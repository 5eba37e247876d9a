"""``telemetry report``: run the notebook suite into ``reports/<timestamp>/`` from the CLI.

    telemetry report [-p key=value ...] [--notebooks 01_seed_mongo,03_ksql_pipeline]
                     [--reports-dir reports] [--no-html] [--no-progress]

``-p`` sets a notebook parameter (``players``, ``events``, ``seed``, ``window_minutes``,
``skip_teardown``, ...); the value is read as JSON when it parses (``-p events=50000``,
``-p skip_teardown=true``) and as a string otherwise (``-p database=game2``). Every notebook
receives the parameters its ``parameters`` cell declares. Prints a progress bar per notebook,
the folder, and a line per notebook; exits 1 when a notebook fails (its executed copy, with
the traceback, is in the folder).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any

from telemetry_lib.config import Settings
from telemetry_lib.errors import ConfigError, ServiceError
from telemetry_lib.services import Stack
from telemetry_lib.workbench.report import DEFAULT_REPORTS_DIR, NOTEBOOKS, run_report

__all__ = ["add_report_arguments", "parse_parameters", "run_report_command"]

logger = logging.getLogger(__name__)

#: The services each notebook talks to (checked before anything runs).
NEEDS: dict[str, tuple[str, ...]] = {
    "01_seed_mongo": ("mongo",),
    "02_source_connector": ("kafka", "mongo", "connect"),
    "03_ksql_pipeline": ("kafka", "mongo", "ksqldb"),
    "04_ratio_to_polars": ("kafka", "mongo", "ksqldb"),
    "05_player_trends": ("kafka", "mongo", "ksqldb"),
    "06_sink_and_teardown": ("kafka", "mongo", "ksqldb", "connect"),
    "live_dashboard": ("kafka", "ksqldb"),
}


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """``telemetry report`` options."""
    parser.add_argument(
        "-p",
        "--parameter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="notebook parameter (repeatable), e.g. -p events=50000 -p window_minutes=10",
    )
    parser.add_argument(
        "--notebooks",
        default=",".join(NOTEBOOKS),
        help="comma-separated notebooks to run, in order (default: the whole suite)",
    )
    parser.add_argument(
        "--reports-dir", type=Path, default=DEFAULT_REPORTS_DIR, help="where report folders go"
    )
    parser.add_argument("--no-html", action="store_true", help="skip the HTML report")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def parse_parameters(items: list[str]) -> dict[str, Any]:
    """``["events=5000", "database=g2"]`` -> ``{"events": 5000, "database": "g2"}``."""
    parsed: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ConfigError(
                f"notebook parameter {item!r} is not KEY=VALUE",
                hint="write e.g. -p events=50000 (no spaces around '=')",
            )
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        parsed[key.strip()] = value
    return parsed


def run_report_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run the suite; print the folder and a line per notebook."""
    parameters = parse_parameters(args.parameter)
    notebooks = [n.strip() for n in args.notebooks.split(",") if n.strip()]
    unknown = [n for n in notebooks if n not in NOTEBOOKS and n != "live_dashboard"]
    if unknown:
        raise ConfigError(
            f"unknown notebook(s): {', '.join(unknown)}",
            hint=f"choose from {', '.join((*NOTEBOOKS, 'live_dashboard'))}",
        )
    _preflight(settings, notebooks)
    config = getattr(args, "config", None)
    if config is not None:
        os.environ["TELEMETRY_CONFIG"] = str(Path(config).resolve())
    result = run_report(
        settings,
        parameters=parameters,
        notebooks=notebooks,
        reports_dir=args.reports_dir,
        progress=not args.no_progress,
        html=not args.no_html,
    )
    for run in result.runs:
        print(f"  {run.name:<24} {run.seconds:6.1f} s  {run.path.name}")
    if result.html is not None:
        print(f"report: {result.html}")
    print(f"notebook suite done in {result.seconds:.1f} s: {result.folder}")
    return 0


def _preflight(settings: Settings, notebooks: list[str]) -> None:
    """Fail before the first kernel starts when a service the notebooks need is down."""
    needed = {service for name in notebooks for service in NEEDS.get(name, ())}
    rows = [r for r in Stack(settings).status() if r.service in needed]
    down = [f"{r.service} ({r.health})" for r in rows if not r.healthy]
    if down:
        raise ServiceError(
            f"the notebooks need {', '.join(sorted(needed))}; not answering: {', '.join(down)}",
            hint="start the stack with `telemetry up` (make run does), or check the profile",
        )
