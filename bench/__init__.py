"""Benchmarks of the workbench (``make bench`` = ``python -m bench``).

Each ``bench/bench_<area>.py`` holds ``bench_<name>()`` functions returning
:class:`bench.harness.BenchResult` s; :mod:`bench.harness` discovers and runs them, compares
subjects with baselines measured in the same run, and writes ``bench/results/latest.json``
and ``latest.md``.
"""

from __future__ import annotations

__all__: list[str] = []
