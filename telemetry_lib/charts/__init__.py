"""Charts for the notebooks: plotly figure builders, the workbench theme, static export.

* figures — one builder per chart, each taking the frame of an ``analytics`` function:
  :func:`kd_trend_figure` (player dropdown), :func:`leaderboard_figure` (window slider),
  :func:`kd_histogram_figure`, :func:`streaks_figure`, :func:`anomaly_figure`,
  :func:`death_heatmap_figure`, :func:`team_kd_figure`;
* theme — the ``telemetry`` plotly template (:func:`apply_theme`);
* exporter — :func:`export` (offline HTML with plotly.js embedded, PNG and SVG through kaleido
  and Debian's chromium), :func:`to_image`, the export server's start/stop,
  :class:`ChartExportError`.

Typical notebook use::

    fig = charts.leaderboard_figure(analytics.leaderboard(table, top=10))
    fig                                             # interactive in JupyterLab
    charts.export(fig, report_dir, "leaderboard")   # leaderboard.html / .png / .svg
"""

from __future__ import annotations

import logging

from telemetry_lib.charts.exporter import (
    BROWSER_CANDIDATES,
    ChartExportError,
    ExportFormat,
    export,
    export_browser_pid,
    export_server_running,
    find_browser,
    start_export_server,
    stop_export_server,
    to_image,
)
from telemetry_lib.charts.figures import (
    anomaly_figure,
    death_heatmap_figure,
    kd_histogram_figure,
    kd_trend_figure,
    leaderboard_figure,
    streaks_figure,
    team_kd_figure,
)
from telemetry_lib.charts.theme import TEMPLATE, apply_theme, register_theme

__all__ = [
    "BROWSER_CANDIDATES",
    "TEMPLATE",
    "ChartExportError",
    "ExportFormat",
    "anomaly_figure",
    "apply_theme",
    "death_heatmap_figure",
    "export",
    "export_browser_pid",
    "export_server_running",
    "find_browser",
    "kd_histogram_figure",
    "kd_trend_figure",
    "leaderboard_figure",
    "register_theme",
    "start_export_server",
    "stop_export_server",
    "streaks_figure",
    "team_kd_figure",
    "to_image",
]

logger = logging.getLogger(__name__)
