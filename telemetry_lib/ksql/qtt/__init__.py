"""ksqlDB query-validation tests (QTT) on the in-memory driver: the conformance runner's bulk.

Public API::

    load_file(path) -> QttFile                      # variants expanded, ksqlDB's test names
    run_case(case) -> CaseResult        # passed | failed (reason) | unsupported (feature)
    run_paths(paths, name_filter=None) -> list[CaseResult]
    file_line(file, results) / summary_line(results) / results_json(results)

The command line is ``python -m telemetry_lib.ksql.conformance`` (module
``telemetry_lib/ksql/conformance.py``).
Modules: ``model`` (loading, variants), ``records`` (the harness's serdes and ksqlDB's record
comparator), ``checks`` (expected exceptions, post conditions), ``runner`` (one case),
``pool`` (worker processes with a hard per-case deadline), ``report`` (many files, output
formats).
"""

from __future__ import annotations

from telemetry_lib.ksql.qtt.model import QttCase, QttFile, load_file
from telemetry_lib.ksql.qtt.report import (
    collect_files,
    file_line,
    results_json,
    run_paths,
    summary_line,
)
from telemetry_lib.ksql.qtt.runner import CaseResult, run_case

__all__ = [
    "CaseResult",
    "QttCase",
    "QttFile",
    "collect_files",
    "file_line",
    "load_file",
    "results_json",
    "run_case",
    "run_paths",
    "summary_line",
]
