"""Running a set of QTT files and reporting the results (text summary and JSON).

Owns :func:`collect_files` (a PATH is a QTT file or a folder of them), :func:`run_paths`
(load, filter, run every case; an unreadable file or test becomes failed results, never a
crash) and the report formats relied upon by other issues and checks:

- one line per file: ``<file>: P passed, F failed, U unsupported of N``;
- the last line exactly: ``conformance: P passed, F failed, U unsupported of N``;
- ``--json``: ``{"results": [{"file", "test", "status", "reason"}]}``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from pathlib import Path

from telemetry_lib.ksql.qtt.model import QttCase, QttFormatError, load_file
from telemetry_lib.ksql.qtt.runner import CaseResult, run_case

__all__ = [
    "collect_files",
    "file_line",
    "results_json",
    "run_paths",
    "select_cases",
    "summary_line",
]

logger = logging.getLogger(__name__)


def collect_files(paths: Iterable[str | Path]) -> list[Path]:
    """QTT files named by ``paths`` (folders are searched for ``*.json``), sorted, unique."""
    found: dict[Path, None] = {}
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.rglob("*.json")):
                found[child] = None
        elif path.is_file():
            found[path] = None
        else:
            raise FileNotFoundError(f"no such QTT file or folder: {path}")
    return sorted(found, key=lambda p: (p.name, str(p)))


def select_cases(cases: Sequence[QttCase], name_filter: str | None) -> list[QttCase]:
    """Cases whose test name or file name contains ``name_filter`` (case-insensitive)."""
    if not name_filter:
        return list(cases)
    needle = name_filter.lower()
    return [c for c in cases if needle in c.name.lower() or needle in c.file.lower()]


def run_paths(
    paths: Iterable[str | Path],
    *,
    name_filter: str | None = None,
    on_file: Callable[[str, list[CaseResult]], None] | None = None,
    jobs: int = 1,
) -> list[CaseResult]:
    """Run every selected case of every file; ``on_file`` sees each file's results in file
    order. ``jobs > 1`` runs files in that many worker processes (results stay in order)."""
    files = collect_files(paths)
    results: list[CaseResult] = []
    if jobs > 1 and len(files) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=jobs) as pool:
            outcomes = pool.map(_run_file, files, [name_filter] * len(files))
            for path, file_results in zip(files, outcomes, strict=True):
                _collect(path, file_results, results, on_file)
    else:
        for path in files:
            _collect(path, _run_file(path, name_filter), results, on_file)
    return results


def _collect(
    path: Path,
    file_results: list[CaseResult],
    results: list[CaseResult],
    on_file: Callable[[str, list[CaseResult]], None] | None,
) -> None:
    if file_results:
        results.extend(file_results)
        if on_file is not None:
            on_file(path.name, file_results)


def _run_file(path: Path, name_filter: str | None) -> list[CaseResult]:
    """Results of one file's selected cases; an unreadable file is one failed result."""
    file_results: list[CaseResult] = []
    try:
        qtt = load_file(path)
    except (OSError, ValueError, QttFormatError) as exc:
        if not name_filter or name_filter.lower() in path.name.lower():
            file_results.append(CaseResult(path.name, "<file>", "failed", f"cannot load: {exc}"))
        return file_results
    for name, reason in qtt.invalid:
        if not name_filter or name_filter.lower() in (name + path.name).lower():
            file_results.append(CaseResult(path.name, name, "failed", reason))
    for case in select_cases(qtt.cases, name_filter):
        file_results.append(run_case(case))
    return file_results


def _counts(results: Sequence[CaseResult]) -> tuple[int, int, int, int]:
    passed = sum(r.status == "passed" for r in results)
    failed = sum(r.status == "failed" for r in results)
    unsupported = sum(r.status == "unsupported" for r in results)
    return passed, failed, unsupported, len(results)


def file_line(file: str, results: Sequence[CaseResult]) -> str:
    p, f, u, n = _counts(results)
    return f"{file}: {p} passed, {f} failed, {u} unsupported of {n}"


def summary_line(results: Sequence[CaseResult]) -> str:
    p, f, u, n = _counts(results)
    return f"conformance: {p} passed, {f} failed, {u} unsupported of {n}"


def results_json(results: Sequence[CaseResult]) -> str:
    return json.dumps({"results": [asdict(r) for r in results]}, indent=1)
