"""The physical operator contract and the per-query execution context.

Owns: :class:`Operator` (one required method ``process_batch(batch, ctx, out)``; lifecycle hooks
``on_start`` / ``on_watermark`` / ``on_checkpoint`` / ``on_commit`` / ``on_close`` that default to
doing nothing — STYLE.md #5), :class:`ExecContext` (what an operator may touch: the query id, the
engine config, the processing log, the topic I/O) and :class:`Pipeline` (a linear chain of
operators, the shape of every stateless query: Source -> Filter -> [PartitionBy] -> Project -> Sink).

Batch conventions shared by all operators (see also :mod:`telemetry_lib.ksql.exec.batch`): a batch
is a polars DataFrame holding one field per column in scope (named by the analyzer's field names),
the pseudo columns ``ROWTIME`` / ``ROWPARTITION`` / ``ROWOFFSET``, and the internal fields
``__ksql_null_value`` (the record's value was null: a tombstone or a null stream value) and
``__ksql_headers`` (the input record's headers, propagated to the output like Kafka Streams does).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from telemetry_lib.ksql.exec.processing_log import ProcessingLog
    from telemetry_lib.ksql.runtime.io import TopicIO

__all__ = ["Emit", "ExecContext", "Operator", "Pipeline"]

logger = logging.getLogger(__name__)

#: The downstream callback an operator hands its output batches to.
Emit = Callable[[pl.DataFrame], None]


@dataclass
class ExecContext:
    """Everything an operator may use besides its batch."""

    query_id: str
    io: TopicIO
    processing_log: ProcessingLog
    config: Mapping[str, object] = field(default_factory=dict)

    def config_flag(self, name: str, *, default: bool = False) -> bool:
        """A boolean property, accepting ``true``/``false`` strings as ksqlDB's config does."""
        value = self.config.get(name, default)
        if isinstance(value, str):
            return value.strip().lower() == "true"
        return bool(value)


class Operator:
    """Base of physical operators: subclasses implement :meth:`process_batch`.

    ``step`` names the plan step in processing-log logger names
    (``processing.<QUERY_ID>.<step>``), following ksqlDB's ``KsqlTopic.Source`` style.
    """

    step: str = "Operator"

    def process_batch(self, batch: pl.DataFrame, ctx: ExecContext, out: Emit) -> None:
        raise NotImplementedError

    def on_start(self, ctx: ExecContext) -> None:
        """Called once before the first batch."""

    def on_watermark(self, ctx: ExecContext, stream_time: int) -> None:
        """Stream time advanced (used by windowed operators in engine II)."""

    def on_checkpoint(self, ctx: ExecContext) -> None:
        """State should be made durable (Kafka runtime)."""

    def on_commit(self, ctx: ExecContext) -> None:
        """The transaction that covered the last batches committed."""

    def on_close(self, ctx: ExecContext) -> None:
        """The query stops; release resources."""

    def describe(self) -> str:
        """One line for EXPLAIN's physical plan."""
        return type(self).__name__


class Pipeline:
    """A linear chain of operators; ``push`` runs one batch through all of them in order."""

    def __init__(self, operators: list[Operator]) -> None:
        if not operators:
            raise ValueError("a pipeline needs at least one operator")
        self.operators = operators
        self._chain = self._build_chain()
        self._ctx: ExecContext | None = None
        #: (topic, batch) held while the query is paused (PAUSE); RESUME processes them in order.
        self._backlog: list[tuple[str | None, pl.DataFrame]] | None = None
        #: The error that stopped the query (ksqlDB's ERROR state); later batches are ignored.
        self.error: BaseException | None = None

    def _build_chain(self) -> list[Emit]:
        chain: list[Emit] = []
        terminal: Emit = _discard
        for index in range(len(self.operators) - 1, -1, -1):
            op = self.operators[index]
            downstream = terminal if not chain else chain[0]
            chain.insert(0, _bind(op, self, downstream))
        return chain

    def start(self, ctx: ExecContext) -> None:
        self._ctx = ctx
        for op in self.operators:
            op.on_start(ctx)

    def push(self, batch: pl.DataFrame, *, topic: str | None = None) -> None:
        """Run ``batch`` through the chain; ``topic`` (the batch's input topic) matters only to
        pipelines with several inputs (joins)."""
        if self._ctx is None:
            raise RuntimeError("Pipeline.push() called before start()")
        if batch.height == 0:
            return
        if self.error is not None:
            return
        if self._backlog is not None:
            self._backlog.append((topic, batch))
            return
        entry = self._entry(topic)
        try:
            entry(batch)
        except Exception as exc:
            self.error = exc
            logger.error("query %s failed and stopped: %s", self.ctx.query_id, exc)
            raise

    def _entry(self, topic: str | None) -> Emit:
        """Where a batch of ``topic`` enters the chain (pipelines with several inputs pick by
        topic)."""
        return self._chain[0]

    @property
    def paused(self) -> bool:
        return self._backlog is not None

    def pause(self) -> None:
        """Stop processing; later batches wait (like an unconsumed Kafka topic) until resume()."""
        if self._backlog is None:
            self._backlog = []

    def resume(self) -> None:
        """Process the batches that arrived while paused, in order, then continue normally."""
        backlog, self._backlog = self._backlog or [], None
        for topic, batch in backlog:
            self.push(batch, topic=topic)

    def close(self) -> None:
        if self._ctx is None:
            return
        for op in self.operators:
            op.on_close(self._ctx)
        self._ctx = None

    @property
    def ctx(self) -> ExecContext:
        if self._ctx is None:
            raise RuntimeError("pipeline not started")
        return self._ctx

    def explain(self) -> str:
        """Numbered physical plan, root (sink) first, like the logical plan's explain()."""
        lines = []
        for depth, op in enumerate(reversed(self.operators)):
            lines.append(f"{'  ' * depth}[{depth}] {op.describe()}")
        return "\n".join(lines)


def _discard(batch: pl.DataFrame) -> None:
    """End of the chain: the sink already produced its output."""


def _bind(op: Operator, pipeline: Pipeline, downstream: Emit) -> Emit:
    def run(batch: pl.DataFrame) -> None:
        if batch.height == 0:
            return
        op.process_batch(batch, pipeline.ctx, downstream)

    return run
