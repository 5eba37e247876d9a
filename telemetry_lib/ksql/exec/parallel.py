"""The engine's second core: one worker thread that runs half of an operator's pure work.

Owns :func:`run_both`, which runs one function on the calling thread and another on a shared
worker thread at the same time and returns both results. polars releases the GIL inside its
kernels and readers, so two polars-heavy functions overlap on a two-core machine even where each
kernel alone is single-threaded. Operators use it only for pure work (decoding the halves of a
batch, encoding keys beside values) and merge the results in record order themselves, so what
they emit and log is exactly what sequential work would give.

The worker never waits on the pool itself, so queries running on several threads at once can
share it without deadlock (their second halves just queue). A process forked after the pool
started gets a fresh pool on first use (the parent's worker thread does not exist there).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TypeVar

__all__ = ["run_both"]

logger = logging.getLogger(__name__)

#: One worker: the machine this is tuned for has two cores, and the calling thread is the other.
_WORKERS = 1

A = TypeVar("A")
B = TypeVar("B")

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _forget_pool() -> None:
    """In a forked child the worker thread does not exist: start a new pool when needed."""
    global _pool
    _pool = None


os.register_at_fork(after_in_child=_forget_pool)


def _worker_pool() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="ksql-worker")
        return _pool


def run_both(here: Callable[[], A], there: Callable[[], B]) -> tuple[A, B]:
    """``(here(), there())`` with ``there`` run on the worker thread meanwhile.

    Both have finished when this returns or raises (no work outlives its batch); an exception
    of ``here`` wins over one of ``there``.
    """
    future = _worker_pool().submit(there)
    try:
        first = here()
    except BaseException:
        wait([future])  # its outcome no longer matters, but it must not outlive the batch
        raise
    return first, future.result()
