"""Pausing Python's cyclic garbage collector while a batch of Kafka messages is turned into a frame.

Owns: :func:`gc_paused`. Why: ``Consumer.consume(n)`` creates ``n`` ``Message`` objects, which
CPython tracks as possible members of reference cycles. While a batch is held (and turned into
a polars frame) they survive young collections and are promoted to the oldest generation, so
every ~2 batches of 10k records CPython runs a *full* collection over every object of the
process. Measured on 1M records (embedded Tansu, 10k records per consume): 19 full collections
took ~1.2 s of the 1.6 s the consuming thread spent; with the collector paused while a batch is
converted the same work takes ~0.7 s. Messages hold no cycles, so nothing is lost: whatever
garbage the pause leaves is collected after it.

The collector is process-wide, so pauses are counted: nested or concurrent pauses (several
query runners' fetch threads) re-enable it when the last one ends, and only if it was enabled
when the first began. Callers keep a pause short (no waiting inside): an idle consumer must
never hold the collector off.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gc_paused"]

logger = logging.getLogger(__name__)

_lock = threading.Lock()
# Pauses in progress (all threads) and whether the collector was on when the first began.
_state = {"pauses": 0, "was_enabled": False}


@contextmanager
def gc_paused() -> Iterator[None]:
    """Run the block with the cyclic garbage collector off (see the module docstring)."""
    with _lock:
        if _state["pauses"] == 0:
            _state["was_enabled"] = gc.isenabled()
            gc.disable()
        _state["pauses"] += 1
    try:
        yield
    finally:
        with _lock:
            _state["pauses"] -= 1
            if _state["pauses"] == 0 and _state["was_enabled"]:
                gc.enable()
