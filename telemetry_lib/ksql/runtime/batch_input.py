"""The input side of a persistent query on Kafka: fetching a batch, feeding it to the pipeline.

Owns: :class:`BatchInput`, :func:`feed_batch`, :func:`interleave`, :func:`runs` and the
:data:`Feed` type. A :class:`~telemetry_lib.ksql.runtime.query_runner.QueryRunner` gets each
batch from its :class:`BatchInput` (step 1 of the commit protocol in the runner's docstring) and
hands it to the pipeline with :func:`feed_batch` (step 3); the runner owns everything else (the
checkpoint protocol, transactions, recovery).

Fetching: a **fetch thread** polls the runner's assigned consumer (every input partition:
sources and repartition topics) into frames of up to :data:`POLL_RECORDS` records, held in a
bounded queue (:data:`FETCH_QUEUE_FRAMES`), so polling overlaps the processing and commit of
the previous batch (librdkafka and polars release the GIL). A fetch error is handed over and
raised by :meth:`BatchInput.take`. Record columns the query cannot read
(:func:`unread_record_columns`: the key, headers or timestamp of a re-keying query's source
records) are not built: typed nulls / empty header lists instead, ~0.17 s less fetch-thread CPU
per 1M records of the demo CTAS (0.81 -> 0.64 s).

Closing a batch (:meth:`BatchInput.take`): wait for a first frame (:data:`IDLE_POLL_S`), then
take frames until the commit interval passed or the batch is full (:data:`MAX_BATCH_RECORDS`).
Re-keyed records the previous commits made visible (:attr:`BatchInput.awaited`, counted per
repartition partition) close it the moment the last of them is read back — they already waited
one batch. A backlog (>= :data:`BACKLOG_RECORDS` queued) is taken at once, without waiting for
those re-keyed records (they sit behind the queued source records and come with a later batch;
waiting idled the runner ~0.1 s a batch during a catch-up). The first batch of a multi-source
query waits up to :data:`CATCH_UP_WAIT_S` for source partitions that had data at the start but none fetched yet
(:attr:`BatchInput.catch_up`), so a pre-loaded table side is not overtaken by the stream side
(Kafka Streams' ``max.task.idle.ms`` idea). The frames come back as one frame in (topic,
partition, offset) order — the order a replay of the batch's offset ranges reads.

Order into the pipeline (:func:`feed_batch`): one source topic with at most a GROUP BY cut gets
its records in (partition, offset) order, then the re-keyed rows read back (the two
sub-topologies are independent). A join's inputs — sources and repartition topics — are merged
by time the way Kafka Streams picks the partition whose head record has the smallest timestamp
(:func:`interleave`: a stable sort on each partition's running maximum timestamp, which keeps
every partition's own order; ties: later-listed sources first — a stream-table join's table is
its right side — then repartition topics, partition, offset). The merged batch then reaches the
joins (:mod:`telemetry_lib.ksql.exec.join_pipeline`) in one of two ways. When every topic in it
feeds one two-sided (stream-stream) join straight — no repartition topic, no nested join — it
goes whole in one call (``JoinPipeline.push_merged``): each topic's records pass their leaf
chain once and the join takes both sides in processing order at once. Otherwise it is split
into runs of one topic (:func:`runs`) pushed inside ``JoinPipeline.merged()``: the runs go
through their side chains in order, what reaches a two-sided join is gathered and handed to it
in one call (before anything reaches a join above it), and stream-table, table-table and
foreign-key joins take each run as it comes. Either way every join sees the input sequence of a
run-by-run push.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

import polars as pl

from telemetry_lib.kafka.assigned import AssignedConsumer
from telemetry_lib.kafka.records import SkippableColumn
from telemetry_lib.ksql.exec.join_pipeline import JoinPipeline, merged_batch
from telemetry_lib.ksql.exec.source import SourceOperator
from telemetry_lib.ksql.runtime.batch_order import order_records, topic_slices
from telemetry_lib.ksql.runtime.io import RECORD_SCHEMA

if TYPE_CHECKING:
    from telemetry_lib.ksql.exec.operator import Pipeline
    from telemetry_lib.ksql.runtime.repartition import Topology

__all__ = [
    "BACKLOG_RECORDS",
    "CATCH_UP_WAIT_S",
    "IDLE_POLL_S",
    "MAX_BATCH_RECORDS",
    "BatchInput",
    "Feed",
    "feed_batch",
    "interleave",
    "runs",
    "unread_record_columns",
]

logger = logging.getLogger(__name__)

# At most this many records per batch: bounds memory and the size of one transaction. Only a
# lagging query reaches it (steady input closes a batch at the commit interval); measured on
# 1M pre-loaded events: ~205k events/s at 200k per batch, ~250k at 500k, no gain at 1M.
MAX_BATCH_RECORDS = 500_000
# Records per consume() call (the throughput-tuned size of the Kafka helpers).
POLL_RECORDS = 10_000
# An idle runner polls this long per round, so stop() is noticed quickly.
IDLE_POLL_S = 0.2
# librdkafka's consume(n, timeout) returns only when n records arrived or the timeout passed:
# a short timeout hands records on within 10 ms at any rate (an idle poll costs ~nothing).
FETCH_POLL_S = 0.01
# Frames (of up to POLL_RECORDS records) the fetch thread may hold ahead of processing:
# bounds memory to ~50 x 10k records while keeping the runner busy during catch-up.
FETCH_QUEUE_FRAMES = 50
# A batch starting with at least this many records queued is a backlog: it takes what is
# queued at once instead of waiting out the commit interval (steady input at the issue's
# 20k events/s queues a few thousand records per interval, far below it).
BACKLOG_RECORDS = 50_000
# A multi-source query's batch waits at most this long for source partitions that had data at
# the start but delivered none yet (librdkafka fetches every assigned partition within a few
# fetch round trips; 2 s covers a loaded machine without stalling a dead partition for long).
CATCH_UP_WAIT_S = 2.0

#: Hands one source topic's records (RECORD_SCHEMA, in order) to the query's pipeline.
Feed = Callable[[str, pl.DataFrame], None]

_Fetched = queue.Queue[pl.DataFrame | BaseException]


class BatchInput:
    """One runner's fetch thread and the closing of its batches (see the module doc)."""

    def __init__(
        self,
        *,
        query_id: str,
        internal_topics: tuple[str, ...],
        stop: threading.Event,
        commit_interval_s: float,
        skip: Mapping[str, frozenset[SkippableColumn]] | None = None,
    ) -> None:
        self.query_id = query_id
        #: Per input topic, record columns the query never reads (:func:`unread_record_columns`):
        #: the fetch thread leaves them unbuilt (typed nulls / empty header lists).
        self.skip: dict[str, frozenset[SkippableColumn]] = dict(skip or {})
        #: The query's repartition topics: their records are counted off :attr:`awaited`.
        self.internal_topics = internal_topics
        self.commit_interval_s = commit_interval_s
        self._stop = stop  # the runner's: set, the fetch thread ends within one IDLE_POLL_S
        self._fetched: _Fetched | None = None
        self._fetcher: threading.Thread | None = None
        #: Re-keyed records the runner committed to its repartition topics and not yet read
        #: back, per (topic, partition): the next batch waits for them (see :meth:`take`).
        self.awaited: dict[tuple[str, int], int] = {}
        #: Multi-source queries: source partitions with data at the start not yet fetched
        #: (set by the runner's recovery; only the first batch waits for them).
        self.catch_up: dict[tuple[str, int], int] = {}

    def take(self, consumer: AssignedConsumer) -> pl.DataFrame | None:
        """Step 1 of a batch: its records (a ``topic`` column plus RECORD_SCHEMA's) in (topic,
        partition, offset) order, or None when nothing arrived within IDLE_POLL_S. The first
        call starts the fetch thread on ``consumer`` unless :meth:`start` did; an error of that
        thread is raised here."""
        fetched = self.start(consumer)
        # 1. take what the fetch thread polled: wait for the first frame, then until the commit
        #    interval passed or the batch is full (a lagging query drains the queue at once).
        try:
            first = fetched.get(timeout=IDLE_POLL_S)
        except queue.Empty:
            return None
        if isinstance(first, BaseException):
            raise first
        frames = [first]
        total = first.height
        began = time.monotonic()
        deadline = began + self.commit_interval_s
        # Re-keyed rows read back already waited one batch. When earlier commits made some
        # visible (counted in awaited), the batch waits for them and closes the moment the last
        # arrives, taking only what is queued by then; a batch holding re-keyed rows nobody
        # counted (a restart's backlog) closes as soon as nothing more is queued. Either way not
        # a whole commit interval after the batch that wrote them.
        expecting = bool(self.awaited)
        rekeyed = self._take_rekeyed(first)
        # A backlog (a lagging query: much input already queued): take what is queued and go,
        # without waiting out the commit interval — the fetch thread keeps filling the queue
        # while this batch is processed — and without waiting for the re-keyed records the
        # previous commits made visible: they sit behind the source records queued here and in
        # librdkafka, so waiting rarely brings them and only idles the runner (~0.1 s a batch);
        # they come with a later batch, still counted in awaited.
        backlog = _is_backlog(fetched, first.height)
        while total < MAX_BATCH_RECORDS:
            wait = max(deadline - time.monotonic(), 0.0)
            if backlog:
                wait = 0.0
            elif expecting and not self.awaited:
                wait = 0.0  # everything awaited is here: take what is queued, do not wait
            elif rekeyed and not expecting:
                wait = min(wait, FETCH_POLL_S)
            # Without waiting, everything queued is taken under one lock (one GIL hand-off
            # with the fetch thread instead of one per frame: ~5 ms each when it is busy).
            got = _drain(fetched, MAX_BATCH_RECORDS - total) if wait == 0 else []
            try:
                if not got:
                    got = [fetched.get(timeout=wait) if wait > 0 else fetched.get_nowait()]
            except queue.Empty:
                if self.catch_up and time.monotonic() - began < CATCH_UP_WAIT_S:
                    if self._still_lagging(frames):
                        backlog = False  # the first batch waits for lagging sources first
                        deadline = time.monotonic() + FETCH_POLL_S
                        continue
                break
            for frame in got:
                if isinstance(frame, BaseException):
                    raise frame
                frames.append(frame)
                total += frame.height
                rekeyed = self._take_rekeyed(frame) or rekeyed
            # A batch that gathered a backlog's worth while waiting goes now (a lagging query's
            # first batch; steady input queues far less per commit interval).
            backlog = backlog or total >= BACKLOG_RECORDS
        if self.awaited and time.monotonic() >= deadline:
            # Counted rows that did not come within a commit interval (a broker keeping them
            # behind another transaction, a deleted topic): stop waiting for them.
            self.awaited.clear()
        self.catch_up = {}  # only the first batch waits (Kafka Streams idles per fetch)
        return order_records(frames)  # (topic, partition, offset), as a replay reads

    def start(self, consumer: AssignedConsumer) -> _Fetched:
        """Start the fetch thread on ``consumer`` (assigned at its positions; from now on only
        that thread may call it) unless it runs already; returns its queue. The runner starts it
        as soon as its positions are final, so the first records arrive while it still writes
        its start snapshot."""
        if self._fetched is None:
            self._fetched = queue.Queue(maxsize=FETCH_QUEUE_FRAMES)
            self._fetcher = threading.Thread(
                target=self._fetch,
                args=(consumer, self._fetched),
                name=f"fetch-{self.query_id}",
                daemon=True,
            )
            self._fetcher.start()
        return self._fetched

    def committed(self, rekeyed: Mapping[tuple[str, int], int]) -> None:
        """Re-keyed records a commit just made visible, per repartition topic partition: the
        next batch waits for them."""
        for tp, count in rekeyed.items():
            self.awaited[tp] = self.awaited.get(tp, 0) + count

    def join(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` s, after the stop event was set) for the fetch thread to
        end; whether it ended or never started — only then may its consumer be closed."""
        if self._fetcher is None:
            return True
        self._fetcher.join(timeout)
        return not self._fetcher.is_alive()

    def _take_rekeyed(self, frame: pl.DataFrame) -> bool:
        """Whether ``frame`` holds re-keyed records (of this query's repartition topics); they
        are counted off :attr:`awaited`."""
        # Series comparisons and a Python count over the few re-keyed records (a handful per
        # batch): ~10 us per frame, where a filter + group_by cost ~0.2-0.4 ms.
        found = False
        topics = frame.get_column("topic")
        for topic in self.internal_topics:
            mask = topics == topic
            if not mask.any():
                continue
            found = True
            for part in frame.get_column("partition").filter(mask).to_list():
                want = self.awaited.pop((topic, part), 0)
                if want > 1:
                    self.awaited[(topic, part)] = want - 1
        return found

    def _still_lagging(self, frames: list[pl.DataFrame]) -> bool:
        """Whether a source partition with data at the start has no record in ``frames``."""
        seen: set[tuple[str, int]] = set()
        for frame in frames:
            seen.update(frame.select("topic", "partition").unique().rows())  # type: ignore[arg-type]
        return any(tp not in seen for tp in self.catch_up)

    def _fetch(self, consumer: AssignedConsumer, out: _Fetched) -> None:
        """The fetch thread: poll the input into frames while the runner processes and commits
        the previous batch (librdkafka and polars release the GIL, so the two overlap)."""
        try:
            while not self._stop.is_set():
                frame = consumer.poll(
                    max_records=POLL_RECORDS, timeout=FETCH_POLL_S, skip=self.skip
                )
                while frame.height and not self._stop.is_set():
                    try:
                        out.put(frame, timeout=IDLE_POLL_S)
                        break
                    except queue.Full:
                        continue
        except BaseException as exc:  # noqa: BLE001 - handed to the runner thread
            while not self._stop.is_set():
                try:
                    out.put(exc, timeout=IDLE_POLL_S)
                    break
                except queue.Full:
                    continue


def _drain(fetched: _Fetched, room: int) -> list[pl.DataFrame | BaseException]:
    """The queued frames, in order, up to ``room`` records (at least one frame when any is
    queued; a queued error ends the list), taken under the queue's lock in one go."""
    out: list[pl.DataFrame | BaseException] = []
    with fetched.not_full:  # holds fetched.mutex
        while fetched.queue and room > 0:
            item = fetched.queue.popleft()
            out.append(item)
            if isinstance(item, BaseException):
                break
            room -= item.height
        if out:
            fetched.not_full.notify_all()  # room for the fetch thread again
    return out


def _is_backlog(fetched: _Fetched, first: int) -> bool:
    """Whether, with ``first`` records already taken, at least BACKLOG_RECORDS are queued."""
    with fetched.mutex:
        queued = sum(f.height for f in fetched.queue if isinstance(f, pl.DataFrame))
    return first + queued >= BACKLOG_RECORDS


def unread_record_columns(
    pipeline: Pipeline, topology: Topology | None
) -> dict[str, frozenset[SkippableColumn]]:
    """Per source topic, record columns of a query's input that nothing in it can read, so its
    fetch thread need not build them (together ~20% of that thread's CPU on the demo CTAS).

    Only a query cut before its GROUP BY through a repartition topic (a linear
    :class:`~telemetry_lib.ksql.runtime.repartition.Topology`) with one source qualifies: its
    source records reach nothing but the source operator and the operators up to the cut, whose
    re-keyed rows carry only the columns the aggregate reads (never the raw key nor the record
    headers). (Its repartition records, read by value alone, are few: they are built whole, so
    their ``ksql-eos`` headers stay visible.) In the source operator:

    - ``key`` is read to decode key columns (and window bounds) and to drop a table's null
      keys; the null-key flag it also derives reaches only sinks, none before the cut. Unread
      for a non-windowed STREAM without key columns.
    - ``headers`` are read for HEADER(S) columns and carried to sinks (none before the cut).
      Unread for a source without header columns.
    - ``timestamp`` becomes ROWTIME, which a source with a TIMESTAMP column replaces for every
      row it keeps by the column's value. Unread for such a source.

    Every other query (joins, no re-keying, the in-process re-keying) reads all of them."""
    if topology is None or not topology.linear:
        return {}
    sources = [op.source for op in pipeline.operators if isinstance(op, SourceOperator)]
    if len(sources) != 1:
        return {}
    source = sources[0]
    unread: set[SkippableColumn] = set()
    if not source.is_table and not source.is_windowed and not source.key_columns:
        unread.add("key")
    if not source.header_columns:
        unread.add("headers")
    declared = {c.name for c in (*source.key_columns, *source.value_columns)}
    if source.timestamp_column and source.timestamp_column in declared:
        unread.add("timestamp")
    return {source.topic: frozenset(unread)} if unread else {}


def feed_batch(
    records: pl.DataFrame,
    *,
    pipeline: Pipeline,
    feed: Feed,
    topology: Topology | None,
    source_topics: tuple[str, ...],
) -> None:
    """Feed one batch's records (a ``topic`` column plus RECORD_SCHEMA, in (topic, partition,
    offset) order) to ``pipeline``: source records through ``feed``, re-keyed rows read back
    through ``topology``, in the order of the module doc."""
    columns = list(RECORD_SCHEMA)
    internal = topology.topics if topology is not None else ()
    if len(source_topics) == 1 and (topology is None or topology.linear):
        slices = topic_slices(records)  # sorted by topic: slices, no copies
        sources = [rows for topic, rows in slices.items() if topic not in internal]
        if sources:
            batch = sources[0] if len(sources) == 1 else pl.concat(sources)
            feed(source_topics[0], batch.select(columns))
        for topic in internal:
            rows = slices.get(topic)
            if rows is not None and rows.height and topology is not None:
                topology.feed_repartition(topic, rows.select(columns))
        return
    # Ties in the time merge: later sources first (a stream-table join's table is its right
    # side: a profile and an event of the same millisecond join), re-keyed rows last.
    ordered = interleave(records, tuple(reversed(source_topics)) + internal)
    if isinstance(pipeline, JoinPipeline) and pipeline.push_merged(
        ordered.select("topic", *columns)
    ):
        return  # every topic feeds one stream-stream join straight: no split into runs
    # the runs go through their side chains in order; two-sided joins get the batch at once
    with merged_batch(pipeline):
        for topic, run in runs(ordered):
            if topic in internal and topology is not None:
                topology.feed_repartition(topic, run.select(columns))
            else:
                feed(topic, run.select(columns))


def interleave(records: pl.DataFrame, topics: tuple[str, ...]) -> pl.DataFrame:
    """Records of several topics in the order Kafka Streams processes them: repeatedly the
    partition whose head record has the smallest timestamp. That is a stable sort on each
    partition's running maximum timestamp (a late record follows the record that held it
    back), so every partition keeps its offset order; ties go by ``topics`` order, partition,
    offset. ``records`` has a ``topic`` column and RECORD_SCHEMA's columns."""
    if records.height == 0:
        return records
    rank = {t: i for i, t in enumerate(topics)}
    return (
        records.sort("topic", "partition", "offset")
        .with_columns(
            pl.col("timestamp").fill_null(0).cum_max().over("topic", "partition").alias("__t"),
            pl.col("topic")
            .replace_strict(rank, default=len(rank), return_dtype=pl.Int32)
            .alias("__rank"),
        )  # fmt: skip
        .sort("__t", "__rank", "partition", "offset")
        .drop("__t", "__rank")
    )


def runs(records: pl.DataFrame) -> Iterator[tuple[str, pl.DataFrame]]:
    """Consecutive records of one topic, in order."""
    if records.height == 0:
        return
    run_id = (pl.col("topic") != pl.col("topic").shift()).fill_null(True).cum_sum()
    for sub in records.with_columns(run_id.alias("__run")).partition_by(
        "__run", maintain_order=True, include_key=False
    ):
        yield str(sub["topic"][0]), sub
