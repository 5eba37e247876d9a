"""Reading MongoDB ahead of ``poll`` on a thread of the task's own (the copy and the change
stream).

The worker's source loop is sequential: poll, then produce and wait for Kafka's
acknowledgements, then poll again. Without read-ahead MongoDB sits idle while Kafka
acknowledges and the other way round. :class:`Prefetcher` keeps reading (the copy's documents,
or the change stream's raw getMore batches, which poll decodes) while the worker converts and
produces, holding at most ``PREFETCH_DEPTH`` batches. Offsets are unaffected: a batch carries its own offsets and only
records handed out by ``poll`` and acknowledged by Kafka are ever committed; batches still
queued when the task stops are dropped and read again after the committed offset.

The cursor being read belongs to the prefetcher's thread from :meth:`Prefetcher.start` until
:meth:`Prefetcher.close` returns; a failure there (MongoDB unreachable) ends the thread and is
raised by the next :meth:`Prefetcher.take`.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["READ_WAIT_S", "Prefetcher"]

logger = logging.getLogger(__name__)

# Batches read ahead: two keep MongoDB busy while Kafka acknowledges one, and bound memory to
# 2 x poll.max.batch.size records.
PREFETCH_DEPTH = 2
# One read's wait for the first event: short, so close() is answered quickly.
READ_WAIT_S = 0.2
# How often a blocked hand-over re-checks for close().
PUT_WAIT_S = 0.1
# close() waits this long for the thread (one read plus one hand-over attempt, with slack).
JOIN_TIMEOUT_S = 10.0

T = TypeVar("T")


class Prefetcher(Generic[T]):
    """Calls ``read`` on its own thread and queues what it returns (None: nothing yet, read
    again; ``last(item)`` true: the final item, the thread ends after it); :meth:`take` hands
    the items out in order."""

    def __init__(
        self,
        read: Callable[[], T | None],
        *,
        last: Callable[[T], bool] = lambda item: False,
        name: str = "mongo-source-prefetch",
    ) -> None:
        self._read = read
        self._last = last
        self._queue: queue.Queue[T | BaseException] = queue.Queue(maxsize=PREFETCH_DEPTH)
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Prefetcher[T]:
        self._thread.start()
        return self

    def take(self, timeout: float) -> T | None:
        """The next item, or None after ``timeout``; raises what ended the reading thread."""
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        """Stop reading and wait for the thread (what it read from is then the caller's)."""
        self._closing.set()
        if self._thread.is_alive():
            self._thread.join(JOIN_TIMEOUT_S)
            if self._thread.is_alive():
                logger.warning("%s did not stop within %.0f s", self._thread.name, JOIN_TIMEOUT_S)

    def _run(self) -> None:
        try:
            while not self._closing.is_set():
                item = self._read()
                if item is not None:
                    self._hand_over(item)
                    if self._last(item):
                        return
        except BaseException as exc:  # noqa: BLE001 - handed to take(), which raises it
            self._hand_over(exc)

    def _hand_over(self, item: T | BaseException) -> None:
        while not self._closing.is_set():
            try:
                self._queue.put(item, timeout=PUT_WAIT_S)
                return
            except queue.Full:
                continue
