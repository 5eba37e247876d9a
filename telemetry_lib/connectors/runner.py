"""One thread per connector task: the shared lifecycle (:class:`TaskRunner`), what a runner is
given (:class:`TaskEnv`), the in-memory source offsets (:class:`OffsetBook`) and the retry loop.

Lifecycle of a runner (Connect's task states; RESTARTING is shown by the herder while a new
runner replaces this one)::

    UNASSIGNED --start()--> RUNNING <--pause()/resume()--> PAUSED
         any --error--> FAILED (trace = the Python traceback)      any --stop()--> (thread ends)

A runner never raises out of its thread: an exception that is not handled by the error
policy marks it FAILED and stops the task. ``stop()`` asks the loop to end and waits
:data:`TASK_SHUTDOWN_TIMEOUT_S` (Connect's ``task.shutdown.graceful.timeout.ms``).
"""

from __future__ import annotations

import abc
import enum
import json
import logging
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from telemetry_lib.connectors.api import PluginInfo
from telemetry_lib.connectors.connector_config import ErrorHandling
from telemetry_lib.connectors.converters import Converter
from telemetry_lib.connectors.errors import RetriableError, TaskStateError
from telemetry_lib.connectors.storage import ConnectStorage, canonical_partition
from telemetry_lib.kafka.config import ConfLike

__all__ = [
    "TASK_SHUTDOWN_TIMEOUT_S",
    "OffsetBook",
    "TaskEnv",
    "TaskRunner",
    "TaskState",
]

logger = logging.getLogger(__name__)

# Connect's task.shutdown.graceful.timeout.ms default (5 s).
TASK_SHUTDOWN_TIMEOUT_S = 5.0
# How often a paused runner wakes to check for stop (it wakes at once on resume).
PAUSED_WAIT_S = 0.5

_T = TypeVar("_T")


class TaskState(enum.StrEnum):
    UNASSIGNED = "UNASSIGNED"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    FAILED = "FAILED"
    RESTARTING = "RESTARTING"


class OffsetBook:
    """The latest committed source offsets of every connector (what ``OffsetReader`` reads and
    ``GET /connectors/{name}/offsets`` shows), loaded from the offsets topic at start."""

    def __init__(self, loaded: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None) -> None:
        self._lock = threading.Lock()
        self._book: dict[str, dict[str, tuple[dict[str, Any], dict[str, Any]]]] = {}
        for name, per in (loaded or {}).items():
            for key, offset in per.items():
                partition = _decode_partition(key)
                self._book.setdefault(name, {})[key] = (partition, dict(offset))

    def update(self, connector: str, pairs: Sequence[tuple[Mapping[str, Any], Any]]) -> None:
        with self._lock:
            per = self._book.setdefault(connector, {})
            for partition, offset in pairs:
                key = canonical_partition(partition)
                if offset is None:
                    per.pop(key, None)
                else:
                    per[key] = (dict(partition), dict(offset))

    def offset(self, connector: str, partition: Mapping[str, Any]) -> dict[str, Any] | None:
        with self._lock:
            found = self._book.get(connector, {}).get(canonical_partition(partition))
            return None if found is None else dict(found[1])

    def all(self, connector: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        with self._lock:
            return [(dict(p), dict(o)) for p, o in self._book.get(connector, {}).values()]

    def forget(self, connector: str) -> None:
        with self._lock:
            self._book.pop(connector, None)


@dataclass
class TaskEnv:
    """Everything a runner needs, handed over by the herder."""

    connector: str
    task_id: int
    task_config: dict[str, str]
    connector_config: dict[str, Any]  # parsed connector-level + plugin config
    plugin: PluginInfo
    conf: ConfLike  # Kafka client config (bootstrap.servers, ...)
    key_converter: Converter
    value_converter: Converter
    key_converter_class: str
    value_converter_class: str
    errors: ErrorHandling
    storage: ConnectStorage
    offsets: OffsetBook
    worker_id: str
    offset_flush_interval_s: float
    on_status: Callable[[TaskRunner], None] = field(repr=False)
    producer_overrides: dict[str, str] = field(default_factory=dict)
    consumer_overrides: dict[str, str] = field(default_factory=dict)


class TaskRunner(abc.ABC):
    """A task on its own thread; subclasses implement :meth:`_run` (start, loop, close)."""

    def __init__(self, env: TaskEnv, *, paused: bool = False) -> None:
        self.env = env
        self.state = TaskState.UNASSIGNED
        self.trace: str | None = None
        self._stopping = threading.Event()
        self._resumed = threading.Event()
        self._pause_requested = paused
        # pause()/resume() and the loop's own switch to PAUSED (after its on_pause work, which
        # may take a while) decide together, so a resume during that work is never undone
        self._pause_lock = threading.RLock()
        if not paused:
            self._resumed.set()
        self._thread = threading.Thread(
            target=self._main, name=f"connect-{env.connector}-{env.task_id}", daemon=True
        )

    @property
    def label(self) -> str:
        return f"{self.env.connector}-{self.env.task_id}"

    # ------------------------------------------------------------------ control (herder)
    def start(self) -> None:
        if self._thread.ident is not None:
            raise TaskStateError(f"task {self.label} was already started (state {self.state})",
                                 hint="restarting a task creates a new runner")  # fmt: skip
        self._thread.start()

    def pause(self) -> None:
        with self._pause_lock:
            self._pause_requested = True
            self._resumed.clear()
            if self.state is TaskState.RUNNING:
                self._set_state(TaskState.PAUSED)

    def resume(self) -> None:
        with self._pause_lock:
            self._pause_requested = False
            self._resumed.set()
            if self.state is TaskState.PAUSED:
                self._set_state(TaskState.RUNNING)

    def request_stop(self) -> None:
        """Ask the loop to end without waiting (stop several runners, then join each)."""
        self._stopping.set()
        self._resumed.set()

    def stop(self, *, timeout: float = TASK_SHUTDOWN_TIMEOUT_S) -> bool:
        """Ask the loop to end; True when the thread finished within ``timeout``."""
        self.request_stop()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning("task %s did not stop within %.0f s; abandoning its thread",
                           self.label, timeout)  # fmt: skip
            return False
        return True

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # ------------------------------------------------------------------ loop helpers
    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def wait_if_paused(self, on_pause: Callable[[], None]) -> bool:
        """When paused: run ``on_pause`` once, then block until resumed or stopped. Returns
        True when the caller should re-check its loop condition."""
        if not self._pause_requested:
            return False
        on_pause()
        with self._pause_lock:
            if self._pause_requested and self.state is TaskState.RUNNING:
                self._set_state(TaskState.PAUSED)
        while not self._resumed.wait(PAUSED_WAIT_S):
            if self.stopping:
                break
        return True

    def sleep(self, seconds: float) -> None:
        """Sleep, waking early on stop."""
        self._stopping.wait(seconds)

    def retry_forever(self, what: str, action: Callable[[], _T], *,
                      wait: Callable[[float], None] | None = None) -> _T | None:  # fmt: skip
        """Run ``action``; on RetriableError back off (300 ms doubling, capped by
        errors.retry.delay.max.ms) and try again until it succeeds or the task stops.
        ``wait(seconds)`` replaces the plain sleep (a sink keeps its group membership alive)."""
        attempt = 0
        while True:
            try:
                return action()
            except RetriableError as exc:
                attempt += 1
                delay = max(self.env.errors.backoff_ms(attempt), 100) / 1000
                logger.warning("task %s: %s failed (attempt %d, retrying in %.1f s): %s",
                               self.label, what, attempt, delay, exc)  # fmt: skip
                (wait or self.sleep)(delay)
                if self.stopping:
                    return None

    def retry_with_timeout(self, what: str, action: Callable[[], _T],
                           retriable: tuple[type[BaseException], ...]) -> _T:  # fmt: skip
        """Run ``action``, retrying ``retriable`` errors until errors.retry.timeout
        (0: no retry, -1: forever); then the last error propagates."""
        timeout_ms = self.env.errors.retry_timeout_ms
        deadline = None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000
        attempt = 0
        while True:
            try:
                return action()
            except retriable as exc:
                attempt += 1
                delay = self.env.errors.backoff_ms(attempt) / 1000
                if self.stopping or (deadline is not None and time.monotonic() + delay > deadline):
                    raise
                logger.warning("task %s: %s failed (attempt %d, retrying in %.1f s): %s",
                               self.label, what, attempt, delay, exc)  # fmt: skip
                self.sleep(delay)

    # ------------------------------------------------------------------ thread
    def _main(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # the task's thread must never die silently
            self.fail(exc)
        finally:
            logger.info("task %s stopped (%s)", self.label, self.state)

    def fail(self, exc: BaseException) -> None:
        self.trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        logger.error("task %s failed: %s", self.label, exc)
        self._set_state(TaskState.FAILED)

    def mark_running(self) -> None:
        self._set_state(TaskState.PAUSED if self._pause_requested else TaskState.RUNNING)

    def _set_state(self, state: TaskState) -> None:
        if self.state is TaskState.FAILED and state is not TaskState.FAILED:
            return
        self.state = state
        try:
            self.env.on_status(self)
        except Exception as exc:  # status is informational: never fail a task over it
            logger.warning("status update for %s failed: %s", self.label, exc)

    @abc.abstractmethod
    def _run(self) -> None:
        """Start the task, loop until stopping, commit and stop it."""


def _decode_partition(key: str) -> dict[str, Any]:
    value = json.loads(key)
    return value if isinstance(value, dict) else {}
