"""Reading the change stream ahead of ``poll`` on a thread of the task's own.

The worker's source loop is sequential: poll, then produce and wait for Kafka's
acknowledgements, then poll again. Without read-ahead MongoDB sits idle while Kafka
acknowledges and the other way round. :class:`StreamPrefetcher` keeps reading the change stream
(and converting the events into records) while the worker produces, holding at most
``PREFETCH_DEPTH`` batches. Offsets are unaffected: a batch carries its own offsets and only
records handed out by ``poll`` and acknowledged by Kafka are ever committed; batches still
queued when the task stops are dropped and read again after the committed offset.

The ChangeFeed belongs to the prefetcher's thread from :meth:`StreamPrefetcher.start` until
:meth:`StreamPrefetcher.close` returns; a failure there (MongoDB unreachable) ends the thread and
is raised by the next :meth:`take`.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from telemetry_lib.connectors.api import SourceRecord
from telemetry_lib.mongo import ChangeEvent, ChangeFeed

__all__ = ["StreamPrefetcher"]

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

Batch = tuple[list[SourceRecord], Mapping[str, Any] | None]


class StreamPrefetcher:
    """Reads ``feed`` on its own thread; :meth:`take` hands out converted batches in order."""

    def __init__(
        self,
        feed: ChangeFeed,
        convert: Callable[[Sequence[ChangeEvent]], list[SourceRecord]],
        *,
        max_events: int,
        name: str = "mongo-source-prefetch",
    ) -> None:
        self._feed = feed
        self._convert = convert
        self._max_events = max_events
        self._queue: queue.Queue[Batch | BaseException] = queue.Queue(maxsize=PREFETCH_DEPTH)
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> StreamPrefetcher:
        self._thread.start()
        return self

    def take(self, timeout: float) -> Batch | None:
        """The next batch (records, token after its last event), or None after ``timeout``;
        raises what ended the reading thread."""
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        """Stop reading and wait for the thread (the feed is then the caller's again)."""
        self._closing.set()
        if self._thread.is_alive():
            self._thread.join(JOIN_TIMEOUT_S)
            if self._thread.is_alive():
                logger.warning("%s did not stop within %.0f s", self._thread.name, JOIN_TIMEOUT_S)

    def _run(self) -> None:
        try:
            while not self._closing.is_set():
                events = self._feed.next_batch(max_events=self._max_events, timeout=READ_WAIT_S)
                if events:
                    self._hand_over((self._convert(events), events[-1].resume_token))
        except BaseException as exc:  # noqa: BLE001 - handed to take(), which raises it
            self._hand_over(exc)

    def _hand_over(self, item: Batch | BaseException) -> None:
        while not self._closing.is_set():
            try:
                self._queue.put(item, timeout=PUT_WAIT_S)
                return
            except queue.Full:
                continue
