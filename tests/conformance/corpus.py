"""Shared by the ratchet test and ``python -m tests.conformance.regenerate``: where ksqlDB's
public QTT corpus lives, how it is run, and how passing.txt is read and written."""

from __future__ import annotations

import os
from pathlib import Path

from telemetry_lib.ksql.qtt import CaseResult, run_paths

__all__ = ["CORPUS", "PASSING", "entry", "read_passing", "run_corpus", "write_passing"]

REPO = Path(__file__).resolve().parents[2]
#: CI checks out shared/ beside the clone; the corpus is read from there, never copied.
CORPUS = REPO.parent / "shared" / "ksql-conformance" / "public"
PASSING = Path(__file__).with_name("passing.txt")
# Each worker process imports polars and the engine once; the machine's cores (up to 4) are
# enough: more workers than cores only add memory.
_MAX_JOBS = 4

_HEADER = (
    "# Every public ksqlDB QTT test that passes on the in-memory driver, as `file :: test`.\n"
    "# tests/conformance/test_ratchet.py fails when one of them stops passing.\n"
    "# Regenerate (sorted, stable) with: python -m tests.conformance.regenerate  (make passing)\n"
)


def entry(result: CaseResult) -> str:
    return f"{result.file} :: {result.test}"


def run_corpus() -> list[CaseResult]:
    if not CORPUS.is_dir():
        raise FileNotFoundError(
            f"ksqlDB conformance corpus not found at {CORPUS}: check out shared/ beside the repo"
        )
    jobs = max(1, min(_MAX_JOBS, os.cpu_count() or 1))
    return run_paths([CORPUS], jobs=jobs)


def read_passing() -> list[str]:
    if not PASSING.exists():
        return []
    lines = PASSING.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


def write_passing(results: list[CaseResult]) -> list[str]:
    entries = sorted({entry(r) for r in results if r.status == "passed"})
    PASSING.write_text(_HEADER + "".join(e + "\n" for e in entries), encoding="utf-8")
    return entries
