"""The conformance ratchet: every test listed in passing.txt must still pass.

Runs ksqlDB's public QTT corpus (read from ../shared/ksql-conformance/public at test time) on
the in-memory driver once per session and fails listing each listed test that no longer
passes, with the runner's reason. New passes do not fail the suite; record them with
``python -m tests.conformance.regenerate``.
"""

from __future__ import annotations

import pytest

from telemetry_lib.ksql.qtt import CaseResult
from tests.conformance.corpus import entry, read_passing, run_corpus


@pytest.fixture(scope="module")
def corpus_results() -> dict[str, CaseResult]:
    return {entry(r): r for r in run_corpus()}


def test_every_listed_test_still_passes(corpus_results: dict[str, CaseResult]) -> None:
    listed = read_passing()
    assert listed, (
        "tests/conformance/passing.txt is empty: run python -m tests.conformance.regenerate"
    )
    regressions: list[str] = []
    for line in listed:
        result = corpus_results.get(line)
        if result is None:
            regressions.append(f"{line}\n    no such test in the corpus any more")
        elif result.status != "passed":
            reason = result.reason.splitlines()[0] if result.reason else ""
            regressions.append(f"{line}\n    {result.status}: {reason[:300]}")
    assert not regressions, f"{len(regressions)} conformance test(s) no longer pass:\n" + "\n".join(
        regressions
    )


def test_passing_list_is_sorted_and_unique() -> None:
    listed = read_passing()
    assert listed == sorted(set(listed)), "passing.txt must be sorted and free of duplicates"
