"""Analytics on the workbench's results: polars in, polars out, no I/O.

What the notebooks compute from the windowed kill/death table and the events; every function
is pure (a frame in, a new frame out) and unit-tested with hand-computed expectations.

* schema — the K/D table's columns, :func:`kd_expr`/:func:`with_kd` (K/D as DOUBLE from the
  counts, with the documented 0-deaths rule), :class:`AnalyticsError`;
* changelog — :func:`decode_windowed_records` (raw records of a windowed table topic),
  :func:`normalize_ksql_frame` (``KsqlClient`` frames), :func:`collapse_changelog`,
  :func:`kd_table` (either input to the K/D table);
* truth — :func:`kd_truth` (the K/D table straight from seeded events), :func:`compare_kd`;
* trends — :func:`kd_trends`, :func:`leaderboard`, :func:`kd_distribution`, :func:`kd_stats`;
* streaks — :func:`kill_streaks`, :func:`streak_summary`;
* anomalies — :func:`anomaly_flags` (leave-one-out z-scores per player);
* heatmap — :func:`death_heatmap`, :func:`has_positions`;
* teams — :func:`team_kd` (the enrichment: K/D per team and region).

Typical notebook use::

    raw = read_records(settings, "PLAYER_KILL_RATIO")      # or client.pull("SELECT * ...")
    table = analytics.kd_table(raw)                         # decoded, collapsed, kd added
    check = analytics.compare_kd(table, analytics.kd_truth(events))
    board = analytics.leaderboard(table, top=10)
"""

from __future__ import annotations

import logging

from telemetry_lib.analytics.anomalies import DEFAULT_K, DEFAULT_MIN_WINDOWS, anomaly_flags
from telemetry_lib.analytics.changelog import (
    KEY_COLUMNS,
    TOMBSTONE,
    collapse_changelog,
    decode_windowed_records,
    empty_kd_table,
    kd_table,
    normalize_ksql_frame,
)
from telemetry_lib.analytics.heatmap import MAP_EXTENT, death_heatmap, has_positions
from telemetry_lib.analytics.schema import (
    DEATHS,
    KD,
    KILLS,
    PLAYER,
    RATIO,
    TIME_DTYPE,
    WINDOW_END,
    WINDOW_MS,
    WINDOW_START,
    AnalyticsError,
    ZeroDeaths,
    kd_expr,
    with_kd,
)
from telemetry_lib.analytics.streaks import kill_streaks, streak_summary
from telemetry_lib.analytics.teams import UNKNOWN, team_kd
from telemetry_lib.analytics.trends import (
    Ties,
    kd_distribution,
    kd_stats,
    kd_trends,
    leaderboard,
)
from telemetry_lib.analytics.truth import KdComparison, compare_kd, kd_truth, window_start_ms

__all__ = [
    "DEATHS",
    "DEFAULT_K",
    "DEFAULT_MIN_WINDOWS",
    "KD",
    "KEY_COLUMNS",
    "KILLS",
    "MAP_EXTENT",
    "PLAYER",
    "RATIO",
    "TIME_DTYPE",
    "TOMBSTONE",
    "UNKNOWN",
    "WINDOW_END",
    "WINDOW_MS",
    "WINDOW_START",
    "AnalyticsError",
    "KdComparison",
    "Ties",
    "ZeroDeaths",
    "anomaly_flags",
    "collapse_changelog",
    "compare_kd",
    "death_heatmap",
    "decode_windowed_records",
    "empty_kd_table",
    "has_positions",
    "kd_distribution",
    "kd_expr",
    "kd_stats",
    "kd_table",
    "kd_trends",
    "kd_truth",
    "kill_streaks",
    "leaderboard",
    "normalize_ksql_frame",
    "streak_summary",
    "team_kd",
    "window_start_ms",
    "with_kd",
]

logger = logging.getLogger(__name__)
