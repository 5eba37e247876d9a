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
from telemetry_lib.ksql.qtt.runner import CASE_TIMEOUT_SECONDS, CaseResult, run_case

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
    isolate: bool = True,
    timeout: float = CASE_TIMEOUT_SECONDS,
) -> list[CaseResult]:
    """Run every selected case of every file; ``on_file`` sees each file's results, in file
    order, as soon as that file is complete.

    With ``isolate`` (the default) cases run in ``jobs`` worker processes and a case that
    exceeds ``timeout`` seconds is killed and reported failed (see ``qtt.pool``); without it
    they run in this process (no protection against a hang inside native code).
    """
    plans = [_plan_file(path, name_filter) for path in collect_files(paths)]
    flat: list[tuple[int, int, QttCase]] = []
    for f, (_, slots, cases) in enumerate(plans):
        offset = len(slots) - len(cases)
        flat.extend((f, offset + j, case) for j, case in enumerate(cases))
    results: list[CaseResult] = []
    emitted = 0

    def flush() -> None:
        nonlocal emitted
        while emitted < len(plans) and all(r is not None for r in plans[emitted][1]):
            name, slots, _ = plans[emitted]
            done = [r for r in slots if r is not None]
            if done:
                results.extend(done)
                if on_file is not None:
                    on_file(name, done)
            emitted += 1

    def store(index: int, result: CaseResult) -> None:
        f, slot, _ = flat[index]
        plans[f][1][slot] = result
        flush()

    if isolate and flat:
        from telemetry_lib.ksql.qtt.pool import run_isolated

        run_isolated([c for _, _, c in flat], jobs=jobs, timeout=timeout, on_result=store)
    else:
        for index, (_, _, case) in enumerate(flat):
            store(index, run_case(case, timeout=timeout))
    flush()  # files with no runnable case at all
    return results


def _plan_file(
    path: Path, name_filter: str | None
) -> tuple[str, list[CaseResult | None], list[QttCase]]:
    """``(file name, result slots, cases to run)``; unreadable files/tests fill slots now."""
    preset: list[CaseResult | None] = []
    try:
        qtt = load_file(path)
    except (OSError, ValueError, QttFormatError) as exc:
        if not name_filter or name_filter.lower() in path.name.lower():
            preset.append(CaseResult(path.name, "<file>", "failed", f"cannot load: {exc}"))
        return path.name, preset, []
    for name, reason in qtt.invalid:
        if not name_filter or name_filter.lower() in (name + path.name).lower():
            preset.append(CaseResult(path.name, name, "failed", reason))
    cases = select_cases(qtt.cases, name_filter)
    return path.name, preset + [None] * len(cases), cases


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
