"""Consumption of explicitly assigned partitions from explicit offsets (no group membership).

Owns: :class:`AssignedConsumer`, used by the ksqlDB runtime: a persistent query keeps its own
input positions in its checkpoints, so it assigns its input partitions at exact offsets (no group
join — which takes ~3.3 s on Tansu — and no rebalance), polls raw record frames, reads exact
offset ranges for deterministic replay, and still has a ``group.id`` so its positions can be
committed with a transaction (``group_metadata()`` for ``send_offsets``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import polars as pl
from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from confluent_kafka import KafkaError as _RdKafkaError

from telemetry_lib.kafka.config import DEFAULT_ISOLATION, ConfLike, IsolationLevel, consumer_config
from telemetry_lib.kafka.consumer import CONSUME_BATCH, REQUEST_TIMEOUT_S, raise_for_message_errors
from telemetry_lib.kafka.errors import KafkaError, wrap_kafka_exception
from telemetry_lib.kafka.gc_pause import gc_paused
from telemetry_lib.kafka.records import SkippableColumn, empty_record_frame, record_batch

__all__ = ["AssignedConsumer"]

logger = logging.getLogger(__name__)

# A range read fails when the broker sends nothing for this long while records are still
# expected: far above a fetch round trip, short enough to report a dead broker.
RANGE_IDLE_TIMEOUT_S = 30.0
# Poll period of one consume() call inside a range read.
RANGE_POLL_S = 0.05


# The empty poll result, built once: an idle runner polls ~100 times a second and building it
# each time cost ~0.17 ms (a clone costs ~1 us).
_EMPTY = empty_record_frame().with_columns(pl.lit(None, pl.String).alias("topic"))


def _empty() -> pl.DataFrame:
    """A zero-row raw record batch with a ``topic`` column (a clone: callers own frames)."""
    return _EMPTY.clone()


class AssignedConsumer:
    """A consumer of explicitly assigned ``(topic, partition)`` pairs at explicit offsets."""

    def __init__(
        self,
        conf: ConfLike,
        group_id: str,
        *,
        isolation_level: IsolationLevel = DEFAULT_ISOLATION,
        extra: Mapping[str, object] | None = None,
    ) -> None:
        self.group_id = group_id
        self._consumer = Consumer(
            consumer_config(
                conf,
                group_id=group_id,
                isolation_level=isolation_level,
                extra={"enable.partition.eof": True, **dict(extra or {})},
            )
        )
        self._positions: dict[tuple[str, int], int] = {}
        self._closed = False

    def partitions(self, topic: str) -> int | None:
        """Partition count of ``topic`` from full metadata (None when absent)."""
        return self.partition_counts([topic])[topic]

    def partition_counts(self, topics: Iterable[str]) -> dict[str, int | None]:
        """Partition count of each of ``topics`` (None when absent) from one metadata request
        (each request is a broker round trip: a runner's start asks for all its inputs at once)."""
        try:
            meta = self._consumer.list_topics(timeout=REQUEST_TIMEOUT_S)
        except KafkaException as exc:
            raise wrap_kafka_exception("metadata request", exc) from exc
        counts: dict[str, int | None] = {}
        for topic in topics:
            found = meta.topics.get(topic)
            ok = found is not None and found.error is None
            counts[topic] = len(found.partitions) if ok else None  # type: ignore[union-attr]
        return counts

    def watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        """(low, high) from ListOffsets (Tansu's high may be too low: a lower bound)."""
        try:
            low, high = self._consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=REQUEST_TIMEOUT_S, cached=False
            )
        except KafkaException as exc:
            raise wrap_kafka_exception(f"watermarks of {topic}[{partition}]", exc) from exc
        return int(low), int(high)

    def assign(self, positions: Mapping[tuple[str, int], int]) -> None:
        """Consume exactly these partitions, each from the given offset."""
        self._positions = dict(positions)
        tps = [TopicPartition(t, p, o) for (t, p), o in sorted(positions.items())]
        try:
            self._consumer.assign(tps)
        except KafkaException as exc:
            raise wrap_kafka_exception("assign", exc) from exc

    def positions(self) -> dict[tuple[str, int], int]:
        """Next offset per assigned partition after what poll() returned."""
        return dict(self._positions)

    def poll(
        self,
        *,
        max_records: int = CONSUME_BATCH,
        timeout: float,
        skip: Mapping[str, Collection[SkippableColumn]] | None = None,
    ) -> pl.DataFrame:
        """Up to ``max_records`` records of the assigned partitions as one raw frame with a
        ``topic`` column (empty after ``timeout``); ``skip``: per topic, columns the caller
        never reads, left unbuilt (:func:`~telemetry_lib.kafka.records.record_batch`).

        What librdkafka already fetched is taken at once and converted with the garbage
        collector paused (:mod:`~telemetry_lib.kafka.gc_pause`); only when nothing is there does
        the call wait, collector on, for the first record (then takes what came with it)."""
        frame = self._take(max_records, skip=skip)
        if frame is None:
            try:
                first = self._consumer.consume(1, timeout)
            except KafkaException as exc:
                raise wrap_kafka_exception("consume", exc) from exc
            if first:
                frame = self._take(max_records - 1, first, skip=skip)
        if frame is None:
            return _empty()
        return frame

    def _take(
        self,
        max_records: int,
        head: list[Message] | None = None,
        *,
        skip: Mapping[str, Collection[SkippableColumn]] | None = None,
    ) -> pl.DataFrame | None:
        """``head`` plus up to ``max_records`` records librdkafka holds already (no waiting), as
        a frame with a ``topic`` column; None when there are none. Advances the positions."""
        with gc_paused():
            try:
                messages = self._consumer.consume(max_records, 0) if max_records > 0 else []
            except KafkaException as exc:
                raise wrap_kafka_exception("consume", exc) from exc
            if head:
                messages = head + messages
            if any(map(Message.error, messages)):
                messages = raise_for_message_errors(messages)
            if not messages:
                return None
            # One input topic (the common case): no topic() per message.
            topics = {t for t, _p in self._positions}
            batch = record_batch(
                messages, topic=next(iter(topics)) if len(topics) == 1 else None, skip=skip or ()
            )
            del messages, head  # the messages go before the collector is back
        for tp, end in batch.ends.items():
            if end > self._positions.get(tp, 0):
                self._positions[tp] = end
        return batch.frame

    def read_available(self, starts: Mapping[tuple[str, int], int]) -> pl.DataFrame:
        """Every record from each (topic, partition)'s start offset up to its end as the broker
        reports it (end-of-partition: the true end even where Tansu's ListOffsets is low; the
        last stable offset for ``read_committed``), with a ``topic`` column, sorted. Leaves
        the consumer unassigned. One reused client: cheap enough to call many times a second."""
        if not starts:
            return _empty()
        self.assign(starts)
        pending = set(starts)
        frames: list[pl.DataFrame] = []
        last_progress = time.monotonic()
        while pending:
            try:
                messages = self._consumer.consume(CONSUME_BATCH, RANGE_POLL_S)
            except KafkaException as exc:
                raise wrap_kafka_exception("consume", exc) from exc
            data = []
            for m in messages:
                err = m.error()
                if err is None:
                    data.append(m)
                elif err.code() == _RdKafkaError._PARTITION_EOF:
                    pending.discard((m.topic(), m.partition()))  # type: ignore[arg-type]
                else:
                    raise KafkaError(f"consume from {m.topic()}[{m.partition()}] failed: {err}")
            if data:
                last_progress = time.monotonic()
                frames.append(record_batch(data).frame)
            elif messages:
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > RANGE_IDLE_TIMEOUT_S:
                raise KafkaError(
                    f"reading {sorted(pending)}: no end-of-partition within "
                    f"{RANGE_IDLE_TIMEOUT_S:.0f} s",
                    hint="is the broker still up? (telemetry status)",
                )
        self.unassign()
        if not frames:
            return _empty()
        return pl.concat(frames, rechunk=True).sort("topic", "partition", "offset")

    def read_ranges(self, ranges: Mapping[tuple[str, int], tuple[int, int]]) -> pl.DataFrame:
        """Every record in ``[start, end)`` of each (topic, partition), sorted by topic,
        partition and offset, with a ``topic`` column. Leaves the consumer unassigned."""
        todo = {tp: (s, e) for tp, (s, e) in ranges.items() if s < e}
        frames: list[pl.DataFrame] = []
        if not todo:
            return _empty()
        self.assign({tp: s for tp, (s, _e) in todo.items()})
        reached = {tp: s for tp, (s, _e) in todo.items()}
        last_progress = time.monotonic()
        # Done when the records reached the end, or the broker reports end-of-partition at or
        # past it (transaction markers take offsets: the last data record may sit below end-1).
        while any(reached[tp] < todo[tp][1] for tp in todo):
            try:
                messages = self._consumer.consume(CONSUME_BATCH, RANGE_POLL_S)
            except KafkaException as exc:
                raise wrap_kafka_exception("consume", exc) from exc
            data = []
            for m in messages:
                err = m.error()
                tp = (m.topic(), m.partition())
                if err is None:
                    data.append(m)
                elif err.code() == _RdKafkaError._PARTITION_EOF:
                    if tp in reached:
                        reached[tp] = max(reached[tp], int(m.offset()))  # type: ignore[arg-type]
                else:
                    raise KafkaError(f"consume from {tp[0]}[{tp[1]}] failed: {err}")
            if data:
                last_progress = time.monotonic()
                frames.append(record_batch(data).frame)
                for m in data:
                    tp = (m.topic(), m.partition())  # type: ignore[assignment]
                    if tp in reached:
                        reached[tp] = max(reached[tp], int(m.offset()) + 1)  # type: ignore[arg-type]
            elif time.monotonic() - last_progress > RANGE_IDLE_TIMEOUT_S:
                missing = {
                    tp: (reached[tp], todo[tp][1]) for tp in todo if reached[tp] < todo[tp][1]
                }
                raise KafkaError(
                    f"range read stalled: still expecting records {missing}",
                    hint="the records may have been deleted (retention) or the broker is down",
                )
        self.unassign()
        if not frames:
            return _empty()
        out = pl.concat(frames, rechunk=True)
        keep = pl.lit(False)
        for (topic, part), (start, end) in todo.items():
            keep = keep | (
                (pl.col("topic") == topic)
                & (pl.col("partition") == part)
                & (pl.col("offset") >= start)
                & (pl.col("offset") < end)
            )
        return out.filter(keep).sort("topic", "partition", "offset")

    def unassign(self) -> None:
        try:
            self._consumer.unassign()
        except KafkaException as exc:
            raise wrap_kafka_exception("unassign", exc) from exc
        self._positions = {}

    def group_metadata(self) -> Any:
        """Opaque group metadata for ``TransactionalProducer.send_offsets()``."""
        return self._consumer.consumer_group_metadata()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._consumer.close()

