"""Running QTT cases in worker processes with a hard per-case deadline.

Owns the runner's protection against an engine that hangs: a case can spin inside native
polars code, where no Python signal reaches it, so a deadline inside the process cannot stop
it. Cases therefore run in long-lived worker processes (``spawn`` start method: polars' thread
pool does not survive ``fork``); the parent hands each worker one case at a time and waits
for its result. A worker that misses the deadline is killed, its case is reported ``failed``
("timed out"), and a fresh worker takes its place. Results come back as they finish; the
caller orders them.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

from telemetry_lib.ksql.qtt.model import QttCase
from telemetry_lib.ksql.qtt.runner import CaseResult, run_case

__all__ = ["run_isolated"]

logger = logging.getLogger(__name__)

# After this many workers in a row died without returning a result, the engine cannot run
# at all (a broken import, say); the remaining cases are reported failed without running.
_MAX_CONSECUTIVE_DEATHS = 3
# A worker that does not answer a shutdown request within this many seconds is killed.
_SHUTDOWN_GRACE_SECONDS = 5.0


def _worker_main(conn: Connection) -> None:
    """Worker loop: receive ``(index, case)``, send back ``(index, result)``; None stops."""
    while True:
        message = conn.recv()
        if message is None:
            return
        index, case = message
        conn.send((index, run_case(case, timeout=None)))


class _Worker:
    def __init__(self, ctx: Any) -> None:
        parent, child = ctx.Pipe()
        self.conn: Connection = parent
        self.process = ctx.Process(target=_worker_main, args=(child,), daemon=True)
        self.process.start()
        child.close()
        self.busy_with: int | None = None
        self.deadline = 0.0

    def send(self, index: int, case: QttCase, timeout: float) -> None:
        self.conn.send((index, case))
        self.busy_with = index
        self.deadline = time.monotonic() + timeout

    def kill(self) -> None:
        self.process.kill()
        self.process.join()
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (OSError, BrokenPipeError):
            pass
        self.process.join(_SHUTDOWN_GRACE_SECONDS)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


def run_isolated(
    cases: Sequence[QttCase],
    *,
    jobs: int,
    timeout: float,
    on_result: Callable[[int, CaseResult], None],
) -> None:
    """Run ``cases`` on ``jobs`` worker processes; ``on_result(index, result)`` per case."""
    if not cases:
        return
    ctx = multiprocessing.get_context("spawn")
    workers = [_Worker(ctx) for _ in range(max(1, min(jobs, len(cases))))]
    pending = list(range(len(cases)))
    pending.reverse()  # pop() from the end hands cases out in order
    done = 0
    deaths = 0
    try:
        for worker in workers:
            if pending:
                i = pending.pop()
                worker.send(i, cases[i], timeout)
        while done < len(cases):
            busy = [w for w in workers if w.busy_with is not None]
            now = time.monotonic()
            wait_for = max(0.0, min(w.deadline for w in busy) - now)
            ready = wait([w.conn for w in busy], timeout=wait_for)
            for worker in busy:
                index = worker.busy_with
                assert index is not None
                result: CaseResult | None = None
                if worker.conn in ready:
                    try:
                        got_index, result = worker.conn.recv()
                        assert got_index == index
                    except (EOFError, OSError):  # the worker died (e.g. a crash in native code)
                        result = _died(cases[index], worker)
                        deaths += 1
                        worker = _swap(ctx, workers, worker)
                    else:
                        deaths = 0
                elif time.monotonic() >= worker.deadline:
                    case = cases[index]
                    result = CaseResult(
                        case.file, case.name, "failed", f"timed out after {timeout:g} s (killed)"
                    )
                    worker = _swap(ctx, workers, worker)
                if result is None:
                    continue
                worker.busy_with = None
                done += 1
                on_result(index, result)
                if deaths >= _MAX_CONSECUTIVE_DEATHS:
                    # Workers die before finishing anything (e.g. the engine no longer
                    # imports): report the rest at once instead of spawning per case.
                    while pending:
                        i = pending.pop()
                        case = cases[i]
                        reason = f"not run: {deaths} engine processes died in a row"
                        done += 1
                        on_result(i, CaseResult(case.file, case.name, "failed", reason))
                elif pending:
                    i = pending.pop()
                    worker.send(i, cases[i], timeout)
    finally:
        for worker in workers:
            worker.stop()


def _swap(ctx: Any, workers: list[_Worker], worker: _Worker) -> _Worker:
    """Kill ``worker`` and put a fresh one in its place in ``workers``."""
    position = workers.index(worker)
    worker.kill()
    fresh = _Worker(ctx)
    workers[position] = fresh
    return fresh


def _died(case: QttCase, worker: _Worker) -> CaseResult:
    code = worker.process.exitcode
    return CaseResult(case.file, case.name, "failed", f"engine process died (exit code {code})")
