"""One persistent query on Kafka, exactly once: consume in batches, process, commit.

Owns: :class:`QueryRunner`. It drives a running query's pipeline (the
same :class:`~telemetry_lib.ksql.exec.operator.Pipeline` the in-memory driver drives) from all
its input topics, and makes every output appear exactly once to ``read_committed`` readers — on
Kafka brokers that filter aborted transactions **and** on brokers that do not (the embedded
Tansu broker; some managed Kafka-compatible services have no transactions at all). Fetching a
batch (step 1 below) and feeding it to the pipeline in order (step 3) live in
:mod:`telemetry_lib.ksql.runtime.batch_input` (``Feed`` and ``interleave`` re-exported here).

Inputs: the query's source topics (a join reads two or more) plus, when its plan re-keys, its
own repartition topics (:mod:`telemetry_lib.ksql.runtime.repartition`: the pipeline is cut in
sub-topologies; one writes the re-keyed rows into a topic inside the batch's transaction, the
next reads them back as one more input, in a later batch). One consumer is assigned every input
partition; intents and snapshots record positions per (topic, partition). The order in which
a batch's records reach the pipeline — one source in (partition, offset) order; a join's inputs
merged by time and handed to the joins whole or in runs of one topic — and the first batch's
wait for lagging sources are described in :mod:`~telemetry_lib.ksql.runtime.batch_input`.

Why transactions alone are not enough: on Tansu the records of an aborted (or crashed) transaction
become visible to ``read_committed`` readers. So the runtime never relies on an abort: after a
crash it replays the interrupted batches deterministically and skips every output already in
the output topics, recognised by its ``ksql-eos`` header (query, epoch, batch, index). Where the
broker does honour aborts, the aborted outputs are invisible to the tail read too and are simply
produced again — the same code is exactly-once on both.

The commit of batch ``b`` (numbered steps; the same numbers mark the code):

1. Poll the input until the commit interval (default 100 ms) has passed or the batch is full
   — or, when the previous commits made re-keyed rows visible, until every one of them has been
   read back (counted per repartition partition): the interval is an upper bound on buffering,
   and those rows already waited one batch. A lagging query (>= BACKLOG_RECORDS queued) takes
   what the fetch thread has queued at once (re-keyed rows not yet read back come with a later
   batch) instead of waiting out the interval. The batch is the exact offset range
   ``[start, end)`` of each input partition
   (:class:`~telemetry_lib.ksql.runtime.batch_input.BatchInput`).
2. Begin a transaction; write the **intent** (batch number + ranges) to the query's checkpoint
   topic and **flush** it before any output is produced (the flush overlaps with step 3, which
   only computes), so no output of batch ``b`` can be visible without its intent.
3. Run the pipeline over the batch's records (in the order of ``batch_input``), capturing what it
   produces (sink records, processing-log entries, re-keyed rows for repartition topics).
4. Stamp each captured record with ``ksql-eos = <query>:<epoch>:<b>:<index>`` and produce it in
   the transaction (during a replay: only those whose (b, index) is not already published).
5. Every snapshot interval (and after a replay): write a **snapshot** (input positions after
   ``b``, every operator's state, and per output partition a floor: its end offset, measured on
   a helper thread from the start of the batch where the snapshot fell due — before it produced
   anything, so every later output lies after it; the first batch finding the measurement done
   writes the snapshot, so no batch waits for those round trips) into the transaction.
6. Send the input positions as the consumer group's offsets (``send_offsets_to_transaction``,
   so Kafka tools see the query's lag) and commit the transaction. The positions are known when
   the batch closes, so the offsets go on a helper thread started right after ``begin`` (their
   coordinator round trips overlap steps 2-5; librdkafka runs one transactional call at a time
   and lets produce/flush overlap it) and joined before the commit.

Recovery when a runner starts (also the first start):

1. ``init_transactions`` with the query's transactional id: fences a zombie instance and ends
   its open transaction (on Tansu its records then become visible; on Kafka they are dropped).
2. Read the checkpoint topic (``read_committed``): the last complete snapshot and the intents
   of later batches. No snapshot: a fresh start at ``auto.offset.reset`` (earliest/latest),
   recorded at once as snapshot 0 so a restart cannot move it.
3. Restore every operator's state from the snapshot; the epoch becomes the snapshot's + 1.
4. Read the output partitions from the snapshot's output offsets to their end and collect the
   (batch, index) pairs this query already published.
5. Replay each later intent in order, reading exactly its ranges, producing only what was not
   published (steps 2-6 without a new intent); then write a fresh snapshot.
6. Assign the input partitions at the positions reached and continue with step 1.

A start overlaps its independent round trips (~0.24 s in a row on the embedded broker, ~0.09 s
now): the fencing, the consumer's metadata (one request for every input), a fresh start's
output floors and repartition-topic ends run side by side; a checkpoint topic the start itself
created is known empty and not read; and a fresh start assigns its inputs and starts fetching
before it writes snapshot 0, so the first batch finds its records queued.

Known limits (documented, not hidden): partitions added to an input topic while the query runs
are picked up only on restart (then from their start); the checkpoint topic is never compacted
(Tansu does not compact) so a restart reads all of it; only the first batch after a start waits
for lagging sources.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import polars as pl

from telemetry_lib.kafka import KafkaError, TransactionalProducer, end_offsets
from telemetry_lib.kafka.assigned import AssignedConsumer
from telemetry_lib.kafka.config import ConfLike, base_config
from telemetry_lib.ksql.runtime.background import Background
from telemetry_lib.ksql.runtime.batch_input import (
    IDLE_POLL_S,
    BatchInput,
    Feed,
    feed_batch,
    interleave,
    unread_record_columns,
)
from telemetry_lib.ksql.runtime.checkpoint import (
    EOS_HEADER,
    Intent,
    Snapshot,
    app_id,
    checkpoint_topic,
    decode_checkpoints,
    decode_schemas,
    encode_intent,
    encode_schema,
    encode_snapshot,
    eos_values,
    published_indexes,
)
from telemetry_lib.ksql.runtime.io import TopicSpec, empty_records
from telemetry_lib.ksql.runtime.kafka_io import KafkaTopicIO
from telemetry_lib.ksql.runtime.repartition import REPARTITION_CONFIG, Topology

if TYPE_CHECKING:
    from telemetry_lib.ksql.exec.operator import Pipeline

__all__ = ["DEFAULT_COMMIT_INTERVAL_MS", "Feed", "QueryRunner", "RunnerStatus", "interleave"]

logger = logging.getLogger(__name__)

#: The issue's default: one transaction per 100 ms keeps end-to-end latency well under 250 ms.
DEFAULT_COMMIT_INTERVAL_MS = 100
# A snapshot pickles every operator's whole state: taking one every 5 s keeps that cost off
# most commits while bounding what a recovery replays to ~5 s of input.
SNAPSHOT_INTERVAL_S = 5.0
# How long stop() waits for the runner to finish its batch and commit (librdkafka's own
# transaction timeouts bound a commit well below this on a live broker).
STOP_JOIN_S = 30.0
# How long closing waits for the fetch thread (it notices stop within one IDLE_POLL_S poll).
FETCH_JOIN_S = 5.0
# The transactional producer compresses its record batches with LZ4 (every Kafka client reads
# it) unless the connection config picks a codec: on the embedded broker it cut the broker's
# CPU per output record ~3x (~0.6 -> ~0.2 us) for a few percent more client CPU.
OUTPUT_COMPRESSION = "lz4"
# A runner waiting for the engine lock re-checks stop() this often: a stopper holding the lock
# (TERMINATE / DROP under the engine lock) is then never waiting on a runner waiting on it.
LOCK_POLL_S = 0.05
RunnerStatus = str  # "starting" | "running" | "stopped" | "failed"
#: ksqlDB's switch between its LogAndFail (true, the default) and LogAndContinue production
#: exception handlers.
FAIL_ON_PRODUCTION_ERROR = "ksql.fail.on.production.error"


class QueryRunner:
    """Runs one persistent query's consume-process-commit loop in its own thread."""

    def __init__(
        self,
        *,
        query_id: str,
        source_topics: tuple[str, ...],
        sink_topics: tuple[str, ...],
        pipeline: Pipeline,
        feed: Feed | None = None,
        io: KafkaTopicIO,
        service_id: str,
        lock: threading.RLock,
        offset_reset: str = "latest",
        commit_interval_ms: int = DEFAULT_COMMIT_INTERVAL_MS,
        on_failure: Callable[[str, BaseException], None] | None = None,
    ) -> None:
        self.query_id = query_id
        self.source_topics = source_topics
        self.sink_topics = sink_topics
        self.pipeline = pipeline
        #: The repartition cuts, when the plan re-keys and that runs through Kafka.
        self.topology: Topology | None = None
        if _flag(pipeline.ctx.config, REPARTITION_CONFIG):
            self.topology = Topology.build(pipeline, service_id=service_id, query_id=query_id)
        self._feed: Feed = feed or self._feed_pipeline
        if self.topology is not None:
            self._feed = self.topology.feed_source
        #: Internal topics this query created (deleted with it, like its checkpoint topic).
        self.internal_topics: tuple[str, ...] = (
            self.topology.topics if self.topology is not None else ()
        )
        self.input_topics = source_topics + self.internal_topics
        self.io = io
        self.conf = io.conf
        self.service_id = service_id
        self._lock = lock
        self.offset_reset = offset_reset
        self.commit_interval_s = commit_interval_ms / 1000
        self._on_failure = on_failure
        self.status: RunnerStatus = "starting"
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stateful = any(hasattr(op, "snapshot") for op in pipeline.operators)
        self.app_id = app_id(service_id, query_id)
        self.checkpoint_topic = checkpoint_topic(service_id, query_id, stateful=self.stateful)
        self.epoch = 0
        self.batch = 0
        self.positions: dict[tuple[str, int], int] = {}
        self.records_processed = 0
        self.batches_committed = 0
        #: Outputs a recovery found already published and did not produce again.
        self.replay_skipped = 0
        #: Outputs the Kafka client refused (each logged as a PRODUCTION_ERROR).
        self.production_errors = 0
        self._outputs: set[str] = set(sink_topics) | set(self.internal_topics)
        self._last_snapshot = 0.0
        self._producer: TransactionalProducer | None = None
        self._consumer: AssignedConsumer | None = None
        self._group_metadata: Any = None
        self._probe: AssignedConsumer | None = None
        #: End offsets of the sources when start() was called (auto.offset.reset=latest).
        self._start_ends: dict[str, dict[int, int]] | None = None
        self._schemas_written: set[str] = set()
        #: The fetch thread and the closing of each batch (step 1).
        self._input = BatchInput(
            query_id=query_id,
            internal_topics=self.internal_topics,
            stop=self._stop,
            commit_interval_s=self.commit_interval_s,
            skip=unread_record_columns(pipeline, self.topology),
        )
        #: The output floors of the next snapshot, being measured on a helper thread.
        self._floors: Background[dict[str, dict[int, int]]] | None = None

    @property
    def source_topic(self) -> str:
        """The first source topic (the only one unless the query joins)."""
        return self.source_topics[0]

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        # "latest" means the end of the input when the statement ran, not when the thread
        # first polls: records written right after CREATE ... AS SELECT returns belong to it.
        if self.offset_reset.lower() != "earliest" and self._start_ends is None:
            try:
                self._start_ends = {t: end_offsets(self.conf, t) for t in self.source_topics}
            except Exception:  # noqa: BLE001 - the thread's own lookup reports a real failure
                logger.debug("end offsets of %s at start failed", self.source_topics, exc_info=True)
        self._thread = threading.Thread(
            target=self._run, name=f"query-{self.query_id}", daemon=True
        )
        self._thread.start()

    def stop(self, *, wait: bool = True) -> bool:
        """Stop after the current batch (a batch not yet processed is abandoned and replayed
        by the next start); with ``wait`` (bounded by STOP_JOIN_S) return once the runner's
        thread ended, i.e. its fetch thread stopped and its Kafka clients were closed by the
        thread that owns them. Safe while holding the engine lock: a stopped runner gives up
        waiting for the lock within LOCK_POLL_S. Returns whether the runner is stopped."""
        self._stop.set()
        thread = self._thread
        if thread is None:
            return True
        if wait and thread is not threading.current_thread():
            thread.join(STOP_JOIN_S)
            if thread.is_alive():
                logger.warning(
                    "query %s: the runner did not stop within %.0f s", self.query_id, STOP_JOIN_S
                )
        return not thread.is_alive()

    def _run(self) -> None:
        try:
            self._recover()
            self.status = "running"
            while not self._stop.is_set():
                self.step()
            self.status = "stopped"
        except _Stopped:
            self.status = "stopped"
        except BaseException as exc:  # noqa: BLE001 - the query stops in ERROR, the server lives
            self.status = "failed"
            self.error = exc
            logger.exception("query %s stopped: %s", self.query_id, exc)
            if self._on_failure is not None:
                self._on_failure(self.query_id, exc)
        finally:
            self._close_clients()

    def _close_clients(self) -> None:
        """Close the runner's clients on its own thread, after the fetch thread (the only other
        user of the consumer) ended: a librdkafka handle closed while another thread is inside
        it crashes the process."""
        self._stop.set()
        fetcher_done = self._input.join(FETCH_JOIN_S)
        if self._producer is not None:
            self._producer.close()
            self._producer = None
        self._join_floors()  # its helper thread may be creating or using the probe
        if self._probe is not None:
            self._probe.close()
            self._probe = None
        if self._consumer is not None:
            if fetcher_done:
                self._consumer.close()
            else:  # leaked, not crashed: the fetch thread is still inside it
                logger.warning(
                    "query %s: fetch thread still running after %.0f s; its consumer is left "
                    "open", self.query_id, FETCH_JOIN_S,
                )  # fmt: skip
            self._consumer = None

    @contextmanager
    def _engine_lock(self) -> Iterator[None]:
        """The engine lock, given up (``_Stopped``) as soon as the runner is stopped."""
        while not self._lock.acquire(timeout=LOCK_POLL_S):
            if self._stop.is_set():
                raise _Stopped
        try:
            if self._stop.is_set():  # terminated while waiting for the lock
                raise _Stopped
            yield
        finally:
            self._lock.release()

    # ------------------------------------------------------------------ recovery
    def _recover(self) -> None:
        fresh = self.io.ensure_topic(TopicSpec(self.checkpoint_topic, 1))
        if self.topology is not None:
            specs = [self.io.describe_topic(t) for t in self.source_topics]
            partitions = max([s.partitions for s in specs if s is not None], default=1)
            for topic in self.topology.topics:
                self.io.create_topic(TopicSpec(topic, partitions))
                self.topology.codecs[topic].partitions = partitions
        # The start's broker round trips overlap where they are independent (each ~10-50 ms on
        # the embedded broker, ~0.24 s in a row): the fencing runs on a helper thread while the
        # consumer fetches its metadata; the checkpoint topic is read only after the fencing
        # (below). A checkpoint topic this start created means a fresh start (nothing to read):
        # its first snapshot's output floors (measured before this runner produces anything: a
        # valid floor for every later output) and its repartition topics' ends (it reads them
        # from there: records an earlier query with this id left are not its own) are measured
        # on helper threads too. A restart measures them where it needs them, as before.
        internal_ends: Background[dict[str, dict[int, int]]] | None = None
        if fresh:
            self._floors = Background(
                lambda: self._output_floors(sorted(self._outputs)), f"floors-{self.query_id}"
            )
            if self.internal_topics:
                internal_ends = Background(
                    lambda: {t: end_offsets(self.conf, t) for t in self.internal_topics},
                    f"ends-{self.query_id}",
                )
        self._consumer = AssignedConsumer(self.conf, self.app_id)
        # Recovery 1. fence older instances; their open transaction ends.
        self._producer = TransactionalProducer(
            self.conf, self.app_id, extra=_producer_extra(self.conf)
        )
        fencing = Background(self._producer.init, f"fence-{self.query_id}")
        try:
            # Static for an assigned consumer; fetched before the fetch thread polls it:
            # librdkafka answers this through the consumer's queue, and a call racing the fetch
            # thread's consume() was seen to hang for good in the server process.
            self._group_metadata = self._consumer.group_metadata()
            counts = self._consumer.partition_counts(self.input_topics)
        finally:
            fencing.join()
            if internal_ends is not None:
                internal_ends.join()
        fencing.result()
        # Recovery 2. the last snapshot and the intents after it — read after the fencing, so
        # an intent of the fenced instance's open transaction is seen (read_committed).
        checkpoints = (
            empty_records()
            if fresh
            else self._consumer.read_available({(self.checkpoint_topic, 0): 0})
        )
        snapshot, intents = decode_checkpoints(checkpoints)
        if self.topology is not None:  # what the records written before this start look like
            for topic, schema in decode_schemas(checkpoints).items():
                if topic in self.topology.codecs:
                    self.topology.codecs[topic].schema = schema
        if snapshot is None:
            known: dict[str, dict[int, int]] = {}
            if internal_ends is not None:
                try:
                    known = internal_ends.result()
                except KafkaError as exc:  # e.g. metadata of a just-created topic lagging
                    logger.debug("end offsets of %s: %s", self.internal_topics, exc)
            self.positions = self._initial_positions(counts, known)  # (measures what is not)
            self.epoch, self.batch = 0, 0
            # Recovery 6 (early): fetching starts while the start snapshot is written.
            self._start_fetching()
            floors, self._floors = self._floors, None
            self._transaction(
                lambda: self._write_snapshot(outputs=floors.result() if floors else None)
            )
            logger.info("query %s starts at %s", self.query_id, self.positions)
        else:
            # Recovery 3. restore state; a new epoch.
            self._restore_states(snapshot)
            self.epoch, self.batch = snapshot.epoch + 1, snapshot.batch
            self.positions = dict(snapshot.positions)
            self._outputs |= set(snapshot.outputs)
            if intents:
                # Recovery 4. what the interrupted batches already published.
                published = self._published(snapshot.outputs)
                # Recovery 5. replay them exactly, skipping what is out already.
                for intent in intents:
                    records = self._consumer_or_fail().read_ranges(intent.ranges)
                    self.batch = intent.batch
                    self._commit_batch(records, intent=None, skip=published, ranges=intent.ranges)
                    self.positions.update(intent.end_positions())
                self._transaction(lambda: self._write_snapshot())
            logger.info(
                "query %s recovered at batch %d (epoch %d, %d batches replayed, %d outputs "
                "already published skipped)",
                self.query_id, self.batch, self.epoch, len(intents), self.replay_skipped,
            )  # fmt: skip
            # Recovery 6. continue from the positions reached (input partitions the checkpoint
            # does not know, e.g. a repartition topic added since it was written, from their
            # start).
            self._add_unknown_inputs()
            self._start_fetching()
        if len(self.source_topics) > 1:
            self._input.catch_up = self._lagging_sources()

    def _start_fetching(self) -> None:
        """Assign the input partitions at the positions reached and start the fetch thread
        (from now on only that thread uses the consumer)."""
        consumer = self._consumer_or_fail()
        consumer.assign(self.positions)
        self._input.start(consumer)

    def _initial_positions(
        self, counts: Mapping[str, int | None], internal_ends: Mapping[str, dict[int, int]]
    ) -> dict[tuple[str, int], int]:
        consumer = self._consumer_or_fail()
        positions = {}
        for topic in self.input_topics:
            count = counts.get(topic)
            if count is None:
                raise KafkaError(f"input topic {topic!r} of {self.query_id} is missing")
            # An internal topic left by an earlier query with this id is skipped: its end.
            latest = topic in self.internal_topics or self.offset_reset.lower() != "earliest"
            ends: dict[int, int] = {}
            if latest:
                ends = (
                    internal_ends.get(topic)
                    or (self._start_ends or {}).get(topic)
                    or end_offsets(self.conf, topic)
                )
            for p in range(count):
                low, _high = consumer.watermarks(topic, p)
                positions[(topic, p)] = ends.get(p, low) if latest else low
        return positions

    def _add_unknown_inputs(self) -> None:
        consumer = self._consumer_or_fail()
        for topic, count in consumer.partition_counts(self.input_topics).items():
            for p in range(count or 0):
                if (topic, p) not in self.positions:
                    self.positions[(topic, p)] = consumer.watermarks(topic, p)[0]
                    logger.info("query %s reads %s[%d] from its start", self.query_id, topic, p)

    def _lagging_sources(self) -> dict[tuple[str, int], int]:
        """Source partitions whose end is past the position reached (data waiting)."""
        lagging = {}
        for topic in self.source_topics:
            for p, end in end_offsets(self.conf, topic).items():
                if self.positions.get((topic, p), 0) < end:
                    lagging[(topic, p)] = end
        return lagging

    def _restore_states(self, snapshot: Snapshot) -> None:
        ops = self.pipeline.operators
        if len(snapshot.states) != len(ops):
            raise KafkaError(
                f"checkpoint of {self.query_id} has {len(snapshot.states)} operator states, "
                f"the query has {len(ops)} operators (its plan changed)",
                hint=f"delete topic {self.checkpoint_topic!r} to restart the query from scratch",
            )
        for op, blob in zip(ops, snapshot.states, strict=True):
            if blob is not None:
                op.restore(blob)  # type: ignore[attr-defined]

    def _published(self, outputs: Mapping[str, Mapping[int, int]]) -> set[tuple[int, int]]:
        frames = []
        for topic in sorted(self._outputs):
            ends = end_offsets(self.conf, topic)
            starts = outputs.get(topic, {})
            ranges = {(topic, p): (starts.get(p, 0), end) for p, end in ends.items()}
            frames.append(self._consumer_or_fail().read_ranges(ranges))
        return published_indexes(frames, self.query_id)

    # ------------------------------------------------------------------ the loop
    def step(self) -> int:
        """One commit cycle; returns how many input records it processed."""
        if self.pipeline.paused:  # PAUSE: leave the input unconsumed until RESUME
            self._stop.wait(IDLE_POLL_S)
            return 0
        # 1. the batch (batch_input: what the fetch thread queued until the commit interval, a
        #    full batch, a backlog or the last awaited re-keyed record), in offset order
        records = self._input.take(self._consumer_or_fail())
        if records is None:
            return 0
        start = dict(self.positions)
        maxima = records.group_by("topic", "partition").agg(pl.col("offset").max())
        end = {(t, p): int(o) + 1 for t, p, o in maxima.rows()}
        ranges = {tp: (start.get(tp, e - 1), e) for tp, e in end.items()}
        self.batch += 1
        intent = Intent(self.epoch, self.batch, ranges)
        self._commit_batch(records, intent=intent, skip=None, ranges=ranges)
        self.positions.update(end)
        return records.height

    def _commit_batch(
        self,
        records: pl.DataFrame,
        *,
        intent: Intent | None,
        skip: set[tuple[int, int]] | None,
        ranges: Mapping[tuple[str, int], tuple[int, int]],
    ) -> None:
        producer = self._producer_or_fail()
        t0 = time.perf_counter()
        producer.begin()
        after = dict(self.positions)
        after.update({tp: e for tp, (_s, e) in ranges.items()})
        # 6. (early) the input positions after the batch are known now: their two coordinator
        #    round trips run on a helper thread while the batch is processed (joined below).
        offsets = Background(lambda: self._send_offsets(after), f"offsets-{self.query_id}")
        # 5. (early) when a snapshot is due, its output floors are measured on a helper thread:
        #    ends measured before this batch produced anything are a valid floor for every
        #    later batch, so the first batch that finds them measured writes the snapshot.
        if self._floors is None and time.monotonic() - self._last_snapshot >= SNAPSHOT_INTERVAL_S:
            topics = sorted(self._outputs)
            self._floors = Background(
                lambda: self._output_floors(topics), f"floors-{self.query_id}"
            )
        try:
            rekeyed = self._process_and_produce(records, intent=intent, skip=skip, after=after)
        finally:
            offsets.join()
        offsets.result()
        t3 = time.perf_counter()
        # 6. commit (the offsets are in the transaction).
        producer.commit()
        self._input.committed(rekeyed)  # visible now: the next batch waits for them
        logger.debug(
            "%s batch %d: %d records, process+produce+snapshot %.1f ms, commit %.1f ms",
            self.query_id, self.batch, records.height, (t3 - t0) * 1e3,
            (time.perf_counter() - t3) * 1e3,
        )  # fmt: skip
        self.batches_committed += 1
        # Under the engine lock: TERMINATE closes the pipeline under it (and stops this runner
        # before releasing it), so a terminated query's operators are never touched again.
        with self._engine_lock():
            for op in self.pipeline.operators:
                op.on_commit(self.pipeline.ctx)

    def _process_and_produce(
        self,
        records: pl.DataFrame,
        *,
        intent: Intent | None,
        skip: set[tuple[int, int]] | None,
        after: Mapping[tuple[str, int], int],
    ) -> dict[tuple[str, int], int]:
        """Steps 2-5 of a batch inside its open transaction; returns how many records it
        produced per repartition topic partition."""
        producer = self._producer_or_fail()
        if intent is not None:
            # 2. the intent first (its flush, below, overlaps with the processing).
            key, value = encode_intent(intent)
            producer.produce(self.checkpoint_topic, value, key=key, partition=0)
        # 3. run the pipeline, capturing its outputs.
        with self._engine_lock(), self.io.capture() as captured:
            feed_batch(
                records,
                pipeline=self.pipeline,
                feed=self._feed,
                topology=self.topology,
                source_topics=self.source_topics,
            )
            if self.topology is not None:  # how to read the re-keyed rows after a restart
                for topic, codec in self.topology.codecs.items():
                    if codec.schema is not None and topic not in self._schemas_written:
                        key, value = encode_schema(topic, codec.schema)
                        producer.produce(self.checkpoint_topic, value, key=key, partition=0)
                        self._schemas_written.add(topic)
        if intent is not None:
            producer.flush()  # 2. (cont.) the intent is on the broker before any output
        # 4. stamp and produce (a replay skips what is already published).
        rekeyed: dict[tuple[str, int], int] = {}
        index = 0
        for topic, out in captured:
            ids = list(range(index, index + out.height))
            index += out.height
            self._outputs.add(topic)
            if skip:
                keep = [(self.batch, i) not in skip for i in ids]
                ids = [i for i, k in zip(ids, keep, strict=True) if k]
                self.replay_skipped += out.height - len(ids)
                out = out.filter(pl.Series(keep, dtype=pl.Boolean))
            if out.height:
                self._produce(topic, out, ids)
                if topic in self.internal_topics:
                    for part in out["partition"].to_list():
                        rekeyed[(topic, part)] = rekeyed.get((topic, part), 0) + 1
        self.records_processed += records.height
        # 5. a snapshot every interval, once its output floors are measured.
        if self._floors is not None and self._floors.done():
            floors, self._floors = self._floors, None
            self._write_snapshot(positions=after, outputs=floors.result())
        return rekeyed

    def _feed_pipeline(self, topic: str, batch: pl.DataFrame) -> None:
        self.pipeline.push(batch)

    def _produce(self, topic: str, out: pl.DataFrame, ids: list[int]) -> None:
        # Each record's header list is made right before its produce() call and freed by it
        # (none are held, so the collector has nothing to promote).
        eos = eos_values(self.query_id, epoch=self.epoch, batch=self.batch, indexes=ids)
        self._producer_or_fail().produce_frame(
            topic, out, extra_header=(EOS_HEADER, eos), on_rejected=self._production_error
        )

    def _production_error(self, _index: int, error: KafkaError) -> None:
        """ksqlDB's production exception handler for an output the Kafka client refused (e.g.
        larger than ``message.max.bytes``): a PRODUCTION_ERROR entry in the processing log,
        written at once outside the batch's transaction (ksqlDB's processing log is written
        by a log appender, outside Kafka Streams' transactions; a replay writes it again), then
        the query fails (``ksql.fail.on.production.error``, default true) or the record is
        left out and the batch goes on (false: its (batch, index) is never published)."""
        with self._engine_lock():
            self.pipeline.ctx.processing_log.production_error(self.query_id, str(error))
        self.production_errors += 1
        if self.pipeline.ctx.config_flag(FAIL_ON_PRODUCTION_ERROR, default=True):
            raise KafkaError(
                f"query {self.query_id}: {error}",
                hint=f"SET '{FAIL_ON_PRODUCTION_ERROR}'='false'; logs such records to the "
                "processing log and leaves them out instead of stopping the query",
            )

    def _write_snapshot(
        self,
        *,
        positions: Mapping[tuple[str, int], int] | None = None,
        outputs: Mapping[str, Mapping[int, int]] | None = None,
    ) -> None:
        """Produce a snapshot into the open transaction. ``outputs``: per output topic partition
        an offset at or below the first output of any later batch (default: measured now)."""
        producer = self._producer_or_fail()
        if outputs is None:
            self._join_floors()  # the probe serves one thread at a time
            outputs = self._output_floors(sorted(self._outputs))
        with self._engine_lock():
            states = tuple(
                op.snapshot() if hasattr(op, "snapshot") else None  # type: ignore[attr-defined]
                for op in self.pipeline.operators
            )
        snapshot = Snapshot(
            self.epoch, self.batch, dict(positions or self.positions), states, outputs
        )
        for key, value in encode_snapshot(snapshot):
            producer.produce(self.checkpoint_topic, value, key=key, partition=0)
        self._last_snapshot = time.monotonic()

    def _join_floors(self) -> None:
        """Wait for (and drop) a floor measurement still running on its helper thread."""
        if self._floors is not None:
            self._floors.join()
            self._floors = None

    def _output_floors(self, topics: list[str]) -> dict[str, dict[int, int]]:
        """Per partition of each output topic, an offset at or below its end (ListOffsets of a
        read_uncommitted client: cheap; Tansu's answer may be low, which only lengthens a
        recovery's tail read). Outputs produced after the call lie at or after it."""
        if self._probe is None:
            self._probe = AssignedConsumer(
                self.conf, self.app_id + "-probe", isolation_level="read_uncommitted"
            )
        probe = self._probe
        return {
            topic: {p: probe.watermarks(topic, p)[1] for p in range(probe.partitions(topic) or 0)}
            for topic in topics
        }

    def _send_offsets(self, positions: Mapping[tuple[str, int], int]) -> None:
        if self._group_metadata is None:  # static for an assigned consumer: fetch it once
            self._group_metadata = self._consumer_or_fail().group_metadata()
        try:
            self._producer_or_fail().send_offsets(dict(positions), self._group_metadata)
        except KafkaError as exc:  # informative only: the checkpoint holds the positions
            logger.debug("send_offsets for %s failed: %s", self.query_id, exc)

    def _transaction(self, body: Callable[[], Any]) -> None:
        producer = self._producer_or_fail()
        producer.begin()
        body()
        producer.commit()

    def _producer_or_fail(self) -> TransactionalProducer:
        if self._producer is None:
            raise KafkaError(f"query {self.query_id}: the runner is not started or was stopped")
        return self._producer

    def _consumer_or_fail(self) -> AssignedConsumer:
        if self._consumer is None:
            raise KafkaError(f"query {self.query_id}: the runner is not started or was stopped")
        return self._consumer


class _Stopped(Exception):
    """The runner was stopped between polling a batch and processing it."""


def _producer_extra(conf: ConfLike) -> dict[str, object]:
    """The runner's producer settings on top of the connection config (which wins)."""
    base = base_config(conf)
    if "compression.type" in base or "compression.codec" in base:
        return {}
    return {"compression.type": OUTPUT_COMPRESSION}


def _flag(config: Mapping[str, object], name: str) -> bool:
    value = config.get(name, True)
    if isinstance(value, str):
        return value.strip().lower() != "false"
    return bool(value)
