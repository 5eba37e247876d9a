"""The workbench: thin notebook-facing helpers, the notebook suite runner and its report.

Modules:

- ``facade.py`` — :class:`Workbench`, one method per notebook step (seed MongoDB, the events
  topic, the ksqlDB pipeline, ratios into polars, connectors, lineage, summaries);
- ``pipeline.py`` — the demo's statements with the window size as a parameter, create/drop,
  wait until RUNNING and caught up;
- ``enrichment.py`` — notebook 03's players table, enriched stream and per-team K/D table;
- ``lineage.py`` — the stream lineage graph from the ksqlDB catalog and the connectors;
- ``connect.py`` — the official MongoDB source/sink connector configs (sent with the
  connectors package's ConnectClient);
- ``live.py`` — the live dashboard's push query feeding a plotly FigureWidget;
- ``report.py`` — papermill runs of notebooks 01-06 into ``reports/<timestamp>/`` and one
  HTML report (``make run``, ``telemetry report``);
- ``command.py`` — the ``telemetry report`` subcommand.
"""

from __future__ import annotations

from telemetry_lib.workbench.facade import SeedResult, Workbench, find_config_file
from telemetry_lib.workbench.lineage import Lineage, LineageNode, build_lineage, lineage_figure
from telemetry_lib.workbench.live import LiveFeed, LiveSummary
from telemetry_lib.workbench.pipeline import PipelineNames, pipeline_sql
from telemetry_lib.workbench.report import (
    NOTEBOOKS,
    NotebookFailed,
    NotebookRun,
    ReportResult,
    run_report,
)

__all__ = [
    "NOTEBOOKS",
    "Lineage",
    "LineageNode",
    "LiveFeed",
    "LiveSummary",
    "NotebookFailed",
    "NotebookRun",
    "PipelineNames",
    "ReportResult",
    "SeedResult",
    "Workbench",
    "build_lineage",
    "find_config_file",
    "lineage_figure",
    "pipeline_sql",
    "run_report",
]
