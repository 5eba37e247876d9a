"""One call on a helper thread, joined by the thread that needs its result.

Owns: :class:`Background`. The Kafka runtime overlaps a batch's coordinator round trips
(``send_offsets_to_transaction``, a snapshot's end-offset probes) with the batch's processing:
the call runs on its own short-lived thread (a few per second at most, so no pool), and an error
it raises is re-raised on the caller's thread by :meth:`Background.result`, never lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Background"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Background(Generic[T]):
    """``fn()`` started on a daemon thread named ``name``; :meth:`result` joins it and returns
    its value or raises its error."""

    def __init__(self, fn: Callable[[], T], name: str) -> None:
        self._fn = fn
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised by result()
            self._error = exc

    def join(self) -> None:
        """Wait for the call to end (its error, if any, stays for :meth:`result`)."""
        self._thread.join()

    def done(self) -> bool:
        return not self._thread.is_alive()

    def result(self) -> T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]
