"""The benchmark harness: result records, subject-vs-baseline alternation with medians,
discovery of ``bench/bench_*.py``, and the result files.

A benchmark is a function ``bench_<name>()`` in a module ``bench/bench_<area>.py``. It starts
whatever services it needs itself (on free ports), and returns one :class:`BenchResult` or a
list of them. Comparisons against a baseline use :func:`alternate`, which runs subject and
baseline in the same process, interleaved (S B, B S, S B, ...) so drift in machine load hits
both alike, and reports medians; :func:`alternate_rates` does so for two functions that each
process the same payload of a known number of items, as items per second.

Results go to ``bench/results/latest.json`` (a list of ``{"benchmark", "value", "unit",
"baseline", "baseline_value", "ratio", "notes"}``) and a readable ``latest.md``. Running a
subset (``--only``) replaces just those entries and keeps the others.
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
import math
import os
import platform
import statistics
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "BenchResult",
    "Comparison",
    "alternate",
    "alternate_rates",
    "cpu_seconds",
    "discover",
    "load_results",
    "merge_results",
    "rate_of",
    "render_markdown",
    "run_benchmarks",
    "write_results",
]

logger = logging.getLogger(__name__)

_Payload = TypeVar("_Payload")

#: Where result files go (committed: the project's record of measured performance).
RESULTS_DIR = Path(__file__).resolve().parent / "results"
#: Runs per side in :func:`alternate`: five gives a median robust to one or two disturbed
#: runs on a shared 2-core machine, and keeps a benchmark within a minute.
DEFAULT_RUNS = 5
#: Untimed runs per side first: warm caches, JIT-less imports, broker topic metadata.
DEFAULT_WARMUP = 1
#: Kernel clock ticks per second, the unit of CPU times in /proc/<pid>/stat.
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
#: Keys of one result record, in file order.
RESULT_KEYS = ("benchmark", "value", "unit", "baseline", "baseline_value", "ratio", "notes")


@dataclass(frozen=True)
class BenchResult:
    """One measured number, optionally with the baseline it is compared to.

    ``ratio`` is oriented so that above 1 means the subject does better than the baseline
    (subject/baseline for throughputs, baseline/subject for durations).
    """

    benchmark: str
    value: float | None
    unit: str
    baseline: str | None = None
    baseline_value: float | None = None
    ratio: float | None = None
    notes: str = ""

    def to_dict(self) -> dict[str, Any]:
        raw = asdict(self)
        for key in ("value", "baseline_value", "ratio"):
            if isinstance(raw[key], float):
                raw[key] = _round(raw[key])
        return {key: raw[key] for key in RESULT_KEYS}


@dataclass(frozen=True)
class Comparison:
    """Measurements of a subject and its baseline taken alternately; medians and ratio."""

    subject: tuple[float, ...]
    baseline: tuple[float, ...]
    higher_is_better: bool = True
    order: tuple[str, ...] = field(default=(), compare=False)
    #: 1-minute load average before and after the runs: on a shared machine it tells whether
    #: other work competed for the CPUs (values near the CPU count or above mean it did).
    load: tuple[float, float] | None = field(default=None, compare=False)

    @property
    def subject_median(self) -> float:
        return statistics.median(self.subject)

    @property
    def baseline_median(self) -> float:
        return statistics.median(self.baseline)

    @property
    def ratio(self) -> float:
        """Above 1 when the subject does better (see :class:`BenchResult`)."""
        s, b = self.subject_median, self.baseline_median
        num, den = (s, b) if self.higher_is_better else (b, s)
        return num / den if den else math.inf

    def result(self, benchmark: str, unit: str, baseline: str, *, notes: str = "") -> BenchResult:
        spread = f"subject runs {_fmt_runs(self.subject)}; baseline runs {_fmt_runs(self.baseline)}"
        if self.load is not None:
            spread += f"; load avg {self.load[0]:.1f} -> {self.load[1]:.1f} on {_cpu_count()} CPUs"
        return BenchResult(
            benchmark=benchmark,
            value=self.subject_median,
            unit=unit,
            baseline=baseline,
            baseline_value=self.baseline_median,
            ratio=self.ratio,
            notes=f"{notes}; {spread}" if notes else spread,
        )


def alternate(
    subject: Callable[[], float],
    baseline: Callable[[], float],
    *,
    runs: int = DEFAULT_RUNS,
    warmup: int = DEFAULT_WARMUP,
    higher_is_better: bool = True,
) -> Comparison:
    """Measure ``subject`` and ``baseline`` ``runs`` times each, interleaved, after ``warmup``
    untimed pairs. Each callable performs one run and returns its measurement (a rate, or a
    duration with ``higher_is_better=False``). Rounds alternate who goes first (S B, B S, ...)
    so neither side always runs on a cold or a hot machine."""
    if runs < 1 or warmup < 0:
        raise ValueError(f"runs must be >= 1 and warmup >= 0, got runs={runs}, warmup={warmup}")
    load_before = _load_average()
    for _ in range(warmup):
        subject()
        baseline()
    measured: dict[str, list[float]] = {"subject": [], "baseline": []}
    sides = {"subject": subject, "baseline": baseline}
    order: list[str] = []
    for i in range(runs):
        pair = ("subject", "baseline") if i % 2 == 0 else ("baseline", "subject")
        for side in pair:
            measured[side].append(float(sides[side]()))
            order.append(side)
    return Comparison(
        subject=tuple(measured["subject"]),
        baseline=tuple(measured["baseline"]),
        higher_is_better=higher_is_better,
        order=tuple(order),
        load=(load_before, _load_average()),
    )


def rate_of(count: int, run: Callable[[], object]) -> Callable[[], float]:
    """Wrap ``run`` so that calling it returns ``count`` divided by its wall time."""

    def measure() -> float:
        began = time.perf_counter()
        run()
        return count / (time.perf_counter() - began)

    return measure


def alternate_rates(
    subject: Callable[[_Payload], object],
    baseline: Callable[[_Payload], object],
    payload: _Payload,
    count: int,
    *,
    runs: int = DEFAULT_RUNS,
    warmup: int = DEFAULT_WARMUP,
) -> Comparison:
    """:func:`alternate` of ``subject(payload)`` and ``baseline(payload)``, each run measured
    as ``count`` (the items in ``payload``: events, records) per wall-clock second."""
    return alternate(
        rate_of(count, lambda: subject(payload)),
        rate_of(count, lambda: baseline(payload)),
        runs=runs,
        warmup=warmup,
    )


def cpu_seconds(pids: Sequence[int] = ()) -> float:
    """CPU seconds used so far by this process (all its threads) plus the processes ``pids``
    (e.g. an embedded broker). Compared before/after a run, it tells the work done regardless
    of how much CPU other programs took meanwhile. Other processes are read from /proc
    (Linux); where that is unavailable they count as 0."""
    total = time.process_time()
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the command name: state is field 3, utime and stime are fields 14 and 15.
        total += (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    return total


def discover(package_dir: Path | None = None) -> list[tuple[str, Callable[[], Any]]]:
    """``(name, function)`` of every ``bench_*`` function in ``bench/bench_*.py``, sorted by
    module then definition order; ``name`` is the function name without ``bench_``."""
    root = package_dir or Path(__file__).resolve().parent
    found: list[tuple[str, Callable[[], Any]]] = []
    for path in sorted(root.glob("bench_*.py")):
        module = importlib.import_module(f"{root.name}.{path.stem}")
        functions = [
            (obj.__code__.co_firstlineno, name, obj)
            for name, obj in vars(module).items()
            if name.startswith("bench_")
            and inspect.isfunction(obj)
            and obj.__module__ == module.__name__
        ]
        found += [(name.removeprefix("bench_"), fn) for _, name, fn in sorted(functions)]
    return found


def run_benchmarks(
    benchmarks: Sequence[tuple[str, Callable[[], Any]]],
    *,
    only: Iterable[str] = (),
) -> tuple[list[BenchResult], list[str]]:
    """Run the benchmarks (those named in ``only`` when given); return results and failures.

    A benchmark that raises is recorded as a result with no value and the error in ``notes``,
    and the run goes on with the next one."""
    wanted = set(only)
    known = {name for name, _ in benchmarks}
    unknown = wanted - known
    if unknown:
        raise SystemExit(
            f"unknown benchmark(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}"
        )
    results: list[BenchResult] = []
    failures: list[str] = []
    for name, fn in benchmarks:
        if wanted and name not in wanted:
            continue
        logger.info("running benchmark %s", name)
        began = time.perf_counter()
        try:
            results += _as_results(fn(), name)
        except Exception as exc:  # a broken benchmark must not hide the others' numbers
            failures.append(name)
            logger.error("benchmark %s failed:\n%s", name, traceback.format_exc())
            results.append(BenchResult(name, None, "", notes=f"FAILED: {exc!r}"))
        logger.info("benchmark %s took %.1f s", name, time.perf_counter() - began)
    return results, failures


def load_results(path: Path) -> list[dict[str, Any]]:
    """The result records of a ``latest.json`` (empty when the file does not exist)."""
    if not path.exists():
        return []
    data = json.loads(path.read_text())
    if not isinstance(data, list):
        raise ValueError(f"{path} does not hold a list of benchmark results")
    return data


def merge_results(
    previous: list[dict[str, Any]], fresh: Sequence[BenchResult]
) -> list[dict[str, Any]]:
    """``previous`` with every benchmark that was measured again replaced, new ones appended."""
    new = [r.to_dict() for r in fresh]
    names = {r["benchmark"] for r in new}
    return [r for r in previous if r.get("benchmark") not in names] + new


def write_results(records: list[dict[str, Any]], results_dir: Path = RESULTS_DIR) -> Path:
    """Write ``latest.json`` and ``latest.md`` into ``results_dir``; return the JSON path."""
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / "latest.json"
    path.write_text(json.dumps(records, indent=2) + "\n")
    (results_dir / "latest.md").write_text(render_markdown(records))
    return path


def render_markdown(records: list[dict[str, Any]]) -> str:
    """A readable table of the results, with when and where they were measured."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmark results",
        "",
        f"Written {when} on {platform.machine()} / Python {platform.python_version()} "
        f"({_cpu_count()} CPUs, load avg {_load_average():.1f}). Ratios above 1 mean the "
        "subject beats its baseline; every baseline ran in the same process run, alternating "
        "with its subject (medians).",
        "",
        "| benchmark | value | unit | baseline | baseline value | ratio | notes |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in records:
        cells = [
            r.get("benchmark", ""),
            _cell(r.get("value")),
            r.get("unit", ""),
            r.get("baseline") or "",
            _cell(r.get("baseline_value")),
            _cell(r.get("ratio")),
            str(r.get("notes", "")).replace("|", "/"),
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _as_results(returned: Any, name: str) -> list[BenchResult]:
    items = returned if isinstance(returned, list | tuple) else [returned]
    out: list[BenchResult] = []
    for item in items:
        if isinstance(item, BenchResult):
            out.append(item)
        elif isinstance(item, dict) and "benchmark" in item:
            fields: dict[str, Any] = {k: item[k] for k in RESULT_KEYS if k in item}
            out.append(BenchResult(**fields))
        else:
            raise TypeError(
                f"benchmark {name} returned {type(item).__name__}; "
                "return a BenchResult (or a list of them)"
            )
    return out


def _round(value: float) -> float:
    if not math.isfinite(value) or value == 0:
        return value
    digits = max(0, 4 - int(math.floor(math.log10(abs(value)))))
    return round(value, digits)


def _fmt_runs(values: Sequence[float]) -> str:
    return "[" + ", ".join(f"{_round(v):g}" for v in values) + "]"


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{_round(value):,g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


def _cpu_count() -> int:
    return os.cpu_count() or 1


def _load_average() -> float:
    """The 1-minute load average (0.0 where the platform has none)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0
