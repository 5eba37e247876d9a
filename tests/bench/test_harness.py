"""The benchmark harness: alternation and medians, discovery, result files, failures."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from bench.harness import (
    RESULT_KEYS,
    BenchResult,
    alternate,
    cpu_seconds,
    discover,
    load_results,
    merge_results,
    run_benchmarks,
    write_results,
)


class _Recorder:
    """A fake benchmark side returning scripted values and logging the call order."""

    def __init__(self, name: str, values: list[float], log: list[str]) -> None:
        self.name, self.values, self.log = name, list(values), log

    def __call__(self) -> float:
        self.log.append(self.name)
        return self.values.pop(0)


def test_alternate_interleaves_flips_order_and_takes_medians() -> None:
    log: list[str] = []
    subject = _Recorder("S", [999.0, 10.0, 30.0, 20.0, 1000.0, 25.0], log)
    baseline = _Recorder("B", [1.0, 5.0, 4.0, 100.0, 6.0, 5.5], log)
    comparison = alternate(subject, baseline, runs=5, warmup=1)
    # Warm-up pair first (ignored), then S B, B S, S B, B S, S B.
    assert log == ["S", "B", "S", "B", "B", "S", "S", "B", "B", "S", "S", "B"]
    assert comparison.subject == (10.0, 30.0, 20.0, 1000.0, 25.0)
    assert comparison.baseline == (5.0, 4.0, 100.0, 6.0, 5.5)
    assert comparison.subject_median == 25.0
    assert comparison.baseline_median == 5.5
    assert comparison.ratio == pytest.approx(25.0 / 5.5)


def test_ratio_for_durations_is_baseline_over_subject() -> None:
    log: list[str] = []
    comparison = alternate(
        _Recorder("S", [2.0, 2.0, 2.0], log),
        _Recorder("B", [6.0, 6.0, 6.0], log),
        runs=3,
        warmup=0,
        higher_is_better=False,
    )
    assert comparison.ratio == pytest.approx(3.0)
    result = comparison.result("x_seconds", "s", "other", notes="n")
    assert result.value == 2.0 and result.baseline_value == 6.0 and result.ratio == 3.0
    assert result.notes.startswith("n; subject runs [2, 2, 2]")
    assert "load avg" in result.notes  # the machine load is recorded with every comparison


def test_alternate_rejects_bad_counts() -> None:
    with pytest.raises(ValueError):
        alternate(lambda: 1.0, lambda: 1.0, runs=0)


def test_result_files_have_the_agreed_shape(tmp_path: Path) -> None:
    results = [
        BenchResult("a_rate", 123456.789, "events/s", "naive", 61728.4, 2.0000001, "x"),
        BenchResult("b_seconds", 1.5, "s"),
    ]
    path = write_results(merge_results([], results), tmp_path)
    data = json.loads(path.read_text())
    assert [list(r) for r in data] == [list(RESULT_KEYS)] * 2
    # Numbers keep 5 significant digits, and at least integer precision.
    assert data[0]["benchmark"] == "a_rate" and data[0]["ratio"] == 2.0
    assert data[0]["value"] == 123457.0 and data[0]["baseline_value"] == 61728.0
    assert data[1]["baseline"] is None and data[1]["ratio"] is None
    md = (tmp_path / "latest.md").read_text()
    assert "| a_rate | 123,457 | events/s | naive | 61,728 | 2 | x |" in md


def test_merge_replaces_remeasured_entries_only(tmp_path: Path) -> None:
    old = [
        BenchResult("keep", 1.0, "s").to_dict(),
        BenchResult("redo", 2.0, "s").to_dict(),
    ]
    merged = merge_results(old, [BenchResult("redo", 3.0, "s"), BenchResult("new", 4.0, "s")])
    assert [(r["benchmark"], r["value"]) for r in merged] == [
        ("keep", 1.0),
        ("redo", 3.0),
        ("new", 4.0),
    ]
    assert load_results(tmp_path / "missing.json") == []


def test_discovery_and_failures_are_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = tmp_path / "fakebench"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "bench_one.py").write_text(
        "from bench.harness import BenchResult\n"
        "def helper():\n    return 1\n"
        "def bench_second():\n    return [BenchResult('second', 2.0, 's')]\n"
        "def bench_first():\n    return BenchResult('first', 1.0, 's')\n"
        "def bench_broken():\n    raise RuntimeError('boom')\n"
    )
    (pkg / "other.py").write_text("def bench_ignored():\n    return None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    found = discover(pkg)
    # Definition order within a module; helpers and non-bench_ modules are ignored.
    assert [name for name, _ in found] == ["second", "first", "broken"]
    results, failures = run_benchmarks(found)
    assert failures == ["broken"]
    assert [(r.benchmark, r.value) for r in results] == [
        ("second", 2.0),
        ("first", 1.0),
        ("broken", None),
    ]
    assert "boom" in results[2].notes
    only, _ = run_benchmarks(found, only=["first"])
    assert [r.benchmark for r in only] == ["first"]
    with pytest.raises(SystemExit, match="unknown benchmark"):
        run_benchmarks(found, only=["nope"])
    sys.modules.pop("fakebench.bench_one", None)
    sys.modules.pop("fakebench", None)


def test_the_real_benchmarks_are_discovered() -> None:
    names = [name for name, _ in discover()]
    assert "generator_kafka_vs_naive" in names
    assert "generator_mongo_vs_insert_many" in names


def test_cpu_seconds_counts_this_process_and_other_pids() -> None:
    import subprocess

    before = cpu_seconds()
    sum(i * i for i in range(300_000))  # burn some CPU in this process
    assert cpu_seconds() > before
    child = subprocess.Popen(
        [sys.executable, "-c", "sum(i * i for i in range(3_000_000)); input()"],
        stdin=subprocess.PIPE,
    )
    try:
        for _ in range(400):  # until the child has burnt its CPU (it then waits on stdin)
            if cpu_seconds([child.pid]) - cpu_seconds() >= 0.05:
                break
            time.sleep(0.05)
        assert cpu_seconds([child.pid]) - cpu_seconds() >= 0.05
    finally:
        child.kill()
        child.wait()
    assert cpu_seconds([child.pid]) == pytest.approx(cpu_seconds(), abs=0.05)  # gone: ignored
