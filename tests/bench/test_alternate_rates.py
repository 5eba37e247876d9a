"""alternate_rates: both sides get the same payload, alternate, and are measured as items/s."""

from __future__ import annotations

import pytest

from bench import harness
from bench.harness import alternate_rates


class _Clock:
    """perf_counter stand-in: each side's run advances it by that side's scripted seconds."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_rates_are_count_over_each_runs_wall_time(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = _Clock()
    monkeypatch.setattr(harness.time, "perf_counter", clock)
    payload = object()
    calls: list[tuple[str, object]] = []

    def side(name: str, seconds: float):  # type: ignore[no-untyped-def]
        def run(got: object) -> None:
            calls.append((name, got))
            clock.now += seconds

        return run

    comparison = alternate_rates(side("S", 2.0), side("B", 8.0), payload, 1_000, runs=3, warmup=1)
    # One warm-up pair, then S B, B S, S B; every call sees the same payload object.
    assert [name for name, _ in calls] == ["S", "B", "S", "B", "B", "S", "S", "B"]
    assert all(got is payload for _, got in calls)
    assert comparison.subject == (500.0, 500.0, 500.0)
    assert comparison.baseline == (125.0, 125.0, 125.0)
    assert comparison.ratio == pytest.approx(4.0)
