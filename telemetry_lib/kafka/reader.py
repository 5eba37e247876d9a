"""Bounded topic reads into polars: ``read_topic`` and ``end_offsets``.

A read is bounded by the end offsets at call time, so it always terminates and returns a
snapshot. Partitions are assigned explicitly (no group join, no waiting for a rebalance).

Tansu gap worked around here: its ListOffsets answer (the high watermark) is the base offset
of the partition's last record batch + 1 — too low when that batch holds several records. The
high watermark carried in Fetch responses is right, so :func:`end_offsets` fetches from
``listed_high - 1`` (at most the last batch; one record on real Kafka) and takes the end from
the fetch response. On real Kafka both answers agree.

Second Tansu gap: while a transaction is open, ListOffsets for ``read_committed`` answers 0
(Kafka: the last stable offset). So the bound always comes from a ``read_uncommitted`` client,
and a ``read_committed`` read ends where the broker's fetch reports end-of-partition (it stops
before the open transaction, as on Kafka).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping, Sequence

import polars as pl
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka import KafkaError as _RdKafkaError

from telemetry_lib.kafka.config import DEFAULT_ISOLATION, ConfLike, IsolationLevel, consumer_config
from telemetry_lib.kafka.consumer import CONSUME_BATCH, REQUEST_TIMEOUT_S, partition_count
from telemetry_lib.kafka.errors import KafkaError, TopicNotFoundError, wrap_kafka_exception
from telemetry_lib.kafka.records import (
    KeyFormat,
    OnMalformed,
    ValueFormat,
    decode_records,
    empty_record_frame,
    messages_to_frame,
)

__all__ = ["end_offsets", "read_records", "read_topic"]

logger = logging.getLogger(__name__)

# A read fails when the broker sends nothing (no record, no end-of-partition) this long:
# far above any fetch round trip, short enough to report a dead broker in a notebook.
IDLE_TIMEOUT_S = 30.0
# Poll period of one consume() call inside a read.
READ_POLL_S = 0.2
# Prefix of the throwaway group id a read uses (librdkafka requires one; no group is joined
# and nothing is committed unless the caller passes its own group_id and commit=True).
READ_GROUP_PREFIX = "telemetry-read-"


def read_topic(
    conf: ConfLike,
    topic: str,
    *,
    from_beginning: bool = True,
    value_format: ValueFormat = "json",
    key_format: KeyFormat = "string",
    isolation_level: IsolationLevel = DEFAULT_ISOLATION,
    partitions: Sequence[int] | None = None,
    group_id: str | None = None,
    commit: bool = False,
    on_malformed: OnMalformed = "raise",
    schema: Mapping[str, pl.DataType] | None = None,
) -> pl.DataFrame:
    """Every record of ``topic`` up to its end at call time, decoded into a DataFrame.

    Columns: ``key``, the value's fields (JSON objects) or ``value``, then ``timestamp``
    (record time, epoch ms), ``partition``, ``offset``; rows sorted by partition and offset.
    A metadata column whose name a value field already has gets a ``kafka_`` prefix.
    ``schema`` fixes the value columns and their types (faster than inferring them).

    ``from_beginning=False`` starts at ``group_id``'s committed offsets (the beginning for a
    new group) — with ``commit=True``, which stores where the read stopped, each call returns
    what is new since the previous one.
    """
    raw = read_records(
        conf,
        topic,
        from_beginning=from_beginning,
        isolation_level=isolation_level,
        partitions=partitions,
        group_id=group_id,
        commit=commit,
    )
    return decode_records(
        raw,
        key_format=key_format,
        value_format=value_format,
        on_malformed=on_malformed,
        schema=schema,
    )


def read_records(
    conf: ConfLike,
    topic: str,
    *,
    from_beginning: bool = True,
    isolation_level: IsolationLevel = DEFAULT_ISOLATION,
    partitions: Sequence[int] | None = None,
    group_id: str | None = None,
    commit: bool = False,
) -> pl.DataFrame:
    """Like :func:`read_topic` but undecoded: a raw record batch (RECORD_COLUMNS)."""
    if not from_beginning and group_id is None:
        raise KafkaError(
            "from_beginning=False reads from a group's committed offsets, "
            "but no group_id was given",
            hint="pass group_id='my-notebook' (and commit=True to remember the position)",
        )
    # The bound: the high watermark at call time, taken by a read_uncommitted client because
    # Tansu answers ListOffsets for read_committed with 0 while a transaction is open.
    parts, ends = _bounds(conf, topic, partitions)
    consumer = _reader(conf, group_id, isolation_level)
    try:
        starts = _start_offsets(consumer, topic, parts, from_beginning=from_beginning)
        frame, reached = _read_range(consumer, topic, starts, ends)
        if commit and group_id is not None:
            # Every partition, also unchanged ones: a first read must store its start position.
            # With read_committed a read stops before an open transaction: commit where each
            # partition's read really stopped, never the bound.
            done = [TopicPartition(topic, p, reached.get(p, starts[p])) for p in parts]
            consumer.commit(offsets=done, asynchronous=False)
    except KafkaException as exc:
        raise wrap_kafka_exception(f"read of topic {topic!r}", exc) from exc
    finally:
        consumer.close()
    return frame.sort("partition", "offset")


def end_offsets(conf: ConfLike, topic: str) -> dict[int, int]:
    """Per partition, the high watermark: the offset the next record will get (Tansu's
    too-low ListOffsets answer corrected, see the module docstring)."""
    return _bounds(conf, topic, None)[1]


def _bounds(
    conf: ConfLike, topic: str, partitions: Sequence[int] | None
) -> tuple[list[int], dict[int, int]]:
    probe = _reader(conf, None, "read_uncommitted")
    try:
        parts = _partitions(probe, topic, partitions)
        return parts, _end_offsets(probe, topic, parts)
    except KafkaException as exc:
        raise wrap_kafka_exception(f"end offsets of {topic!r}", exc) from exc
    finally:
        probe.close()


def _reader(conf: ConfLike, group_id: str | None, isolation_level: IsolationLevel) -> Consumer:
    config = consumer_config(
        conf,
        group_id=group_id or f"{READ_GROUP_PREFIX}{uuid.uuid4().hex[:12]}",
        isolation_level=isolation_level,
        extra={"enable.partition.eof": True},
    )
    return Consumer(config)


def _partitions(consumer: Consumer, topic: str, wanted: Sequence[int] | None) -> list[int]:
    count = partition_count(consumer, topic)
    if count is None:
        raise TopicNotFoundError(
            f"topic {topic!r} does not exist", hint="check the name with list_topics()"
        )
    if wanted is None:
        return list(range(count))
    bad = [p for p in wanted if not 0 <= p < count]
    if bad:
        raise KafkaError(f"topic {topic!r} has partitions 0..{count - 1}, not {bad}")
    return sorted(set(wanted))


def _end_offsets(consumer: Consumer, topic: str, parts: list[int]) -> dict[int, int]:
    listed: dict[int, tuple[int, int]] = {}
    for p in parts:
        low, high = consumer.get_watermark_offsets(
            TopicPartition(topic, p), timeout=REQUEST_TIMEOUT_S, cached=False
        )
        listed[p] = (int(low), int(high))
    ends = {p: high for p, (_low, high) in listed.items()}
    probe = [
        TopicPartition(topic, p, max(low, high - 1))
        for p, (low, high) in listed.items()
        if high > low
    ]
    if not probe:
        return ends
    # Fetch from the last listed record: the fetch response carries the true high watermark.
    consumer.assign(probe)
    _drain_to_eof(consumer, topic, {tp.partition for tp in probe}, ends=None)
    for tp in probe:
        _low, high = consumer.get_watermark_offsets(
            TopicPartition(topic, tp.partition), cached=True
        )
        if high > ends[tp.partition]:
            logger.debug(
                "%s[%d]: listed end %d, fetched end %d (Tansu high-watermark gap)",
                topic,
                tp.partition,
                ends[tp.partition],
                high,
            )
            ends[tp.partition] = int(high)
    _release(consumer, probe)
    return ends


def _start_offsets(
    consumer: Consumer,
    topic: str,
    parts: list[int],
    *,
    from_beginning: bool,
) -> dict[int, int]:
    """Where each partition's read starts: its low watermark, or the group's committed
    offset (the low watermark where the group has none yet)."""
    lows = {}
    for p in parts:
        low, _high = consumer.get_watermark_offsets(
            TopicPartition(topic, p), timeout=REQUEST_TIMEOUT_S, cached=False
        )
        lows[p] = int(low)
    if from_beginning:
        return lows
    committed = consumer.committed(
        [TopicPartition(topic, p) for p in parts], timeout=REQUEST_TIMEOUT_S
    )
    return {
        tp.partition: (max(tp.offset, lows[tp.partition]) if tp.offset >= 0 else lows[tp.partition])
        for tp in committed
    }


def _read_range(
    consumer: Consumer, topic: str, starts: dict[int, int], ends: dict[int, int]
) -> tuple[pl.DataFrame, dict[int, int]]:
    """(records in [start, end) per partition, the offset each partition's read reached)."""
    todo = {p for p in starts if starts[p] < ends[p]}
    if not todo:
        return empty_record_frame(), {}
    consumer.assign([TopicPartition(topic, p, starts[p]) for p in sorted(todo)])
    frames, reached = _drain_to_eof(consumer, topic, todo, ends=ends)
    _release(consumer, [TopicPartition(topic, p) for p in todo])
    reached = {p: min(reached.get(p, starts[p]), ends[p]) for p in todo}
    if not frames:
        return empty_record_frame(), reached
    frame = pl.concat(frames, rechunk=True)
    # Records produced after the call (fetched with the last batch) are cut off here.
    bound = pl.col("partition").replace_strict(ends, return_dtype=pl.Int64)
    return frame.filter(pl.col("offset") < bound), reached


def _release(consumer: Consumer, assigned: list[TopicPartition]) -> None:
    # Paused is a per-partition flag that survives re-assignment: clear it before unassigning.
    consumer.resume(assigned)
    consumer.unassign()


def _drain_to_eof(
    consumer: Consumer,
    topic: str,
    todo: set[int],
    *,
    ends: dict[int, int] | None,
) -> tuple[list[pl.DataFrame], dict[int, int]]:
    """Consume until every partition in ``todo`` reached its end-of-partition event or (with
    ``ends``) its bound. Returns the records as raw frames when ``ends`` is given, and per
    partition the next offset after what was read (the EOF position when one came).

    Per-record work stays in list comprehensions and polars: the Python loop runs per batch.
    """
    pending = set(todo)
    frames: list[pl.DataFrame] = []
    reached: dict[int, int] = {}
    last_progress = time.monotonic()
    while pending:
        batch = consumer.consume(CONSUME_BATCH, READ_POLL_S)
        if batch:
            last_progress = time.monotonic()
        elif time.monotonic() - last_progress > IDLE_TIMEOUT_S:
            raise KafkaError(
                f"reading {topic!r}: partitions {sorted(pending)} sent nothing for "
                f"{IDLE_TIMEOUT_S:.0f} s",
                hint="is the broker still up? (telemetry status)",
            )
        finished: set[int] = set()
        errors = [m for m in batch if m.error() is not None]
        for m in errors:
            err = m.error()
            if err is not None and err.code() != _RdKafkaError._PARTITION_EOF:
                raise KafkaError(f"read of {topic}[{m.partition()}] failed: {err}")
            partition = int(m.partition())  # type: ignore[arg-type]
            finished.add(partition)
            reached[partition] = max(reached.get(partition, 0), int(m.offset()))  # type: ignore[arg-type]
        if ends is not None and len(errors) < len(batch):
            records = [m for m in batch if m.error() is None] if errors else batch
            frame = messages_to_frame(records)
            frames.append(frame)
            last_offsets = frame.group_by("partition").agg(pl.col("offset").max())
            for partition, last in last_offsets.iter_rows():
                reached[partition] = max(reached.get(partition, 0), last + 1)
                if last >= ends[partition] - 1:
                    finished.add(partition)
        done = pending & finished
        if done:
            pending -= done
            consumer.pause([TopicPartition(topic, p) for p in done])
    return frames, reached
