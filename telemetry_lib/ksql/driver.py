"""In-memory test driver for the engine, like Kafka Streams' TopologyTestDriver.

Owns :class:`InMemoryTopics` — the in-memory implementation of the engine's
:class:`~telemetry_lib.ksql.runtime.io.TopicIO`: topics with partitions held as in-memory
logs, per-partition offsets, Kafka's default partitioner (murmur2 of the key bytes, exactly as
Kafka's Java client computes it), topic auto-creation — and :class:`InMemoryDriver`, the
pleasant front door for tests and notebooks::

    driver = InMemoryDriver()
    driver.execute("CREATE STREAM S (ID INT KEY, V STRING) "
                   "WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON');"
                   "CREATE STREAM T AS SELECT * FROM S WHERE V <> 'x';")
    driver.pipe("s", key=b"\\x00\\x00\\x00\\x01", value=b'{"V": "a"}', timestamp=10)
    driver.read("T")            # -> [Record(topic='T', key=..., value=b'{"V":"a"}', ...)]
    driver.read_frame("T")      # the same as a polars frame (RECORD_SCHEMA + window columns)
    driver.read_rows("T")       # decoded: ID, V, ROWTIME, ROWPARTITION, ROWOFFSET

Delivery. Records handed to :meth:`InMemoryDriver.pipe` / :meth:`InMemoryDriver.pipe_batch` are
appended to the topic's log and given to every running persistent query that reads the topic
(``KsqlEngine.process``). Records a query produces into a topic that other queries read are
delivered to those queries too, after the current batch, depth-first in production order —
like piping between TopologyTestDrivers. A query started after records already sit in its
source topics first reads them from the earliest offset (``auto.offset.reset=earliest``, the
QTT base config); a join's topics are then merged by record time, as one task reads them.
With record caching off (the driver's default config) every input that
changes a result gives exactly one output. :meth:`InMemoryDriver.pipe_per_query` instead
feeds inputs the way ksqlDB's QTT runner does (one query after another, each pulling its own
sources; the conformance runner uses it).

Engine hooks used: ``execute``, ``process``, ``running_queries``, ``running_query(id)``
(``.source_topic`` and ``.pipeline.push`` to feed a single query) and ``catalog``.

Partitioning. ``partitioner="murmur2"`` (default) places a record whose ``partition`` is null by
``toPositive(murmur2(key)) % partitions``; a null key goes to partition 0 (Kafka's client
would use a sticky partition; 0 keeps runs deterministic). ``partitioner="single"`` puts every
record in partition 0 whatever the topic's partition count: that is what Kafka Streams'
TopologyTestDriver does, so ksqlDB's QTT expectations of ROWPARTITION/ROWOFFSET hold.

Typed hand-off. :class:`InMemoryTopics` delivers typed values
(:mod:`telemetry_lib.ksql.exec.typed_handoff`): a query's sink may produce its records with the
typed value columns beside them; the log stores the records alone and the batch handed to the
topic's readers carries the typed columns too, so a query reading another query's output in
the same driver need not decode bytes whose decode is known to give those columns back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import polars as pl

from telemetry_lib.ksql.errors import InternalError, KsqlEngineError
from telemetry_lib.ksql.exec.typed_handoff import TYPED_VALUE
from telemetry_lib.ksql.runtime.io import RECORD_SCHEMA, TopicSpec, empty_records

if TYPE_CHECKING:
    from telemetry_lib.ksql.engine import KsqlEngine

__all__ = [
    "DEFAULT_DRIVER_CONFIG",
    "InMemoryDriver",
    "InMemoryTopics",
    "Partitioner",
    "Record",
    "WindowBounds",
    "kafka_partition",
    "murmur2",
]

logger = logging.getLogger(__name__)

Partitioner = Literal["murmur2", "single"]

#: The QTT runner's base config (ksqlDB TestExecutor.BASE_CONFIG): caching off gives one
#: output per input; earliest makes a new query read what its topics already hold.
DEFAULT_DRIVER_CONFIG: Mapping[str, object] = {
    "cache.max.bytes.buffering": 0,
    "auto.offset.reset": "earliest",
}

# Kafka's broker default ``num.partitions`` for auto-created topics is 1, but ksqlDB's QTT
# runner and the Tansu broker both auto-create with 4 partitions; the driver follows them.
_DEFAULT_AUTO_CREATE_PARTITIONS = 4

# murmur2 constants from Kafka's org.apache.kafka.common.utils.Utils.murmur2.
_MURMUR_SEED = 0x9747B28C
_MURMUR_M = np.uint32(0x5BD1E995)
_MURMUR_R = 24
_POSITIVE_MASK = 0x7FFFFFFF

# Kafka Streams writes window bounds as 8-byte big-endian longs; a time window's end is
# capped at Java's Long.MAX_VALUE.
_WINDOW_BOUND_BYTES = 8
_LONG_MAX = 2**63 - 1

# Internal column holding a record's position in its topic's production order, so read()
# returns records in the order they were produced even across partitions.
_SEQ = "__seq"


@dataclass(frozen=True)
class WindowBounds:
    """A windowed key's window: start and end in epoch ms (end exclusive for time windows)."""

    start: int
    end: int


@dataclass(frozen=True)
class Record:
    """One record of a topic as the driver holds it (bytes; window decoded when windowed)."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()
    window: WindowBounds | None = None


# --------------------------------------------------------------------------------------------
# Kafka's default partitioner
# --------------------------------------------------------------------------------------------


def _murmur2_same_length(mat: np.ndarray) -> np.ndarray:
    """murmur2 of ``n`` keys that all have length ``L``, given as an ``(n, L)`` uint8 array."""
    n, length = mat.shape
    h = np.full(n, (_MURMUR_SEED ^ length) & 0xFFFFFFFF, dtype=np.uint32)
    nblocks = length // 4
    if nblocks:
        blocks = np.ascontiguousarray(mat[:, : nblocks * 4]).view("<u4")
        for i in range(nblocks):
            k = blocks[:, i] * _MURMUR_M
            k ^= k >> np.uint32(_MURMUR_R)
            k *= _MURMUR_M
            h *= _MURMUR_M
            h ^= k
    tail = length % 4
    base = nblocks * 4
    if tail >= 3:
        h ^= mat[:, base + 2].astype(np.uint32) << np.uint32(16)
    if tail >= 2:
        h ^= mat[:, base + 1].astype(np.uint32) << np.uint32(8)
    if tail >= 1:
        h ^= mat[:, base].astype(np.uint32)
        h *= _MURMUR_M
    h ^= h >> np.uint32(13)
    h *= _MURMUR_M
    h ^= h >> np.uint32(15)
    return h


def murmur2(keys: Sequence[bytes]) -> np.ndarray:
    """Kafka's murmur2 hash of each key, as signed 32-bit ints (``Utils.murmur2``).

    Vectorised with numpy: keys are grouped by length and each group is hashed as a matrix,
    so the cost is a handful of array operations per distinct key length, not per key.
    """
    out = np.zeros(len(keys), dtype=np.uint32)
    by_length: dict[int, list[int]] = {}
    for i, key in enumerate(keys):
        by_length.setdefault(len(key), []).append(i)
    for length, idx in by_length.items():
        if length == 0:
            mat = np.zeros((len(idx), 0), dtype=np.uint8)
        else:
            buf = b"".join(keys[i] for i in idx)
            mat = np.frombuffer(buf, dtype=np.uint8).reshape(len(idx), length)
        out[np.asarray(idx, dtype=np.int64)] = _murmur2_same_length(mat)
    return out.view(np.int32)


def kafka_partition(keys: Sequence[bytes | None] | pl.Series, partitions: int) -> np.ndarray:
    """Kafka's default partition of each key: ``toPositive(murmur2(key)) % partitions``.

    A null key goes to partition 0 (see the module docstring). Keys may be a Binary series;
    the hashing is vectorised per distinct key length.
    """
    series = keys if isinstance(keys, pl.Series) else pl.Series("key", keys, dtype=pl.Binary)
    n = series.len()
    result = np.zeros(n, dtype=np.int32)
    if partitions <= 1 or n == 0:
        return result
    lengths = series.bin.size().to_numpy()
    nulls = series.is_null().to_numpy()
    for length in np.unique(lengths[~nulls]) if (~nulls).any() else ():
        mask = (lengths == length) & ~nulls
        idx = np.flatnonzero(mask)
        chunk = series.gather(idx).to_list()
        if length == 0:
            mat = np.zeros((len(idx), 0), dtype=np.uint8)
        else:
            mat = np.frombuffer(b"".join(chunk), dtype=np.uint8).reshape(len(idx), int(length))
        hashes = _murmur2_same_length(mat)
        positive = hashes & np.uint32(_POSITIVE_MASK)
        result[idx] = (positive % np.uint32(partitions)).astype(np.int32)
    return result


# --------------------------------------------------------------------------------------------
# TopicIO in memory
# --------------------------------------------------------------------------------------------


@dataclass
class _TopicLog:
    spec: TopicSpec
    chunks: list[pl.DataFrame] = field(default_factory=list)
    next_offsets: list[int] = field(default_factory=list)
    produced: int = 0
    #: Appends and the compaction in frame() exclude each other: the REST server's push
    #: queries read topics from a worker thread while inserts append, and a compaction that
    #: replaced ``chunks`` around a concurrent append lost that append.
    lock: threading.Lock = field(default_factory=threading.Lock)

    def frame(self) -> pl.DataFrame:
        with self.lock:
            if not self.chunks:
                return empty_records().with_columns(pl.lit(0, dtype=pl.Int64).alias(_SEQ)).clear()
            if len(self.chunks) > 1:
                self.chunks = [pl.concat(self.chunks, how="vertical", rechunk=False)]
            return self.chunks[0]


ProduceListener = Callable[[str, pl.DataFrame], None]


class InMemoryTopics:
    """:class:`~telemetry_lib.ksql.runtime.io.TopicIO` over in-memory partition logs.

    ``produce`` assigns partitions (murmur2 or single, see the module docstring) and offsets,
    appends to the log and tells the listener (the driver) about the stored batch, with the
    producer's typed values when it gave them (module docstring, "Typed hand-off").
    """

    #: Produced records may carry typed values for in-process readers (typed_handoff step 1).
    delivers_typed_values = True

    def __init__(
        self,
        *,
        partitioner: Partitioner = "murmur2",
        auto_create_partitions: int = _DEFAULT_AUTO_CREATE_PARTITIONS,
    ) -> None:
        self._topics: dict[str, _TopicLog] = {}
        self._partitioner: Partitioner = partitioner
        self._auto_create_partitions = auto_create_partitions
        self.listener: ProduceListener | None = None

    # -- TopicIO -------------------------------------------------------------------------------

    def create_topic(self, spec: TopicSpec) -> None:
        """Create ``spec.name``; a no-op if it already exists (its spec is kept)."""
        if spec.name in self._topics:
            return
        if spec.partitions < 1:
            raise InternalError(
                f"topic {spec.name!r} needs at least one partition, got {spec.partitions}"
            )
        self._topics[spec.name] = _TopicLog(spec=spec, next_offsets=[0] * spec.partitions)

    def describe_topic(self, name: str) -> TopicSpec | None:
        log = self._topics.get(name)
        return None if log is None else log.spec

    def delete_topic(self, name: str) -> None:
        self._topics.pop(name, None)

    def list_topics(self) -> list[TopicSpec]:
        return [log.spec for log in self._topics.values()]

    def produce(self, topic: str, records: pl.DataFrame) -> None:
        """Append ``records`` to ``topic`` (auto-created with the default partition count)."""
        stored = self.append(topic, records)
        if self.listener is not None and stored.height:
            if TYPED_VALUE in records.columns:
                stored = stored.with_columns(records.get_column(TYPED_VALUE))
            self.listener(topic, stored)

    # -- driver side ---------------------------------------------------------------------------

    def append(self, topic: str, records: pl.DataFrame) -> pl.DataFrame:
        """Store ``records`` and return them with partition and offset set (RECORD_SCHEMA)."""
        log = self._topics.get(topic)
        if log is None:
            self.create_topic(TopicSpec(name=topic, partitions=self._auto_create_partitions))
            log = self._topics[topic]
        batch = _conform(records)
        n = batch.height
        if n == 0:
            return batch
        partitions = log.spec.partitions
        if self._partitioner == "single":
            part = pl.Series("partition", np.zeros(n, dtype=np.int32))
        else:
            given = batch.get_column("partition")
            if given.null_count() == 0:
                part = given
            else:
                computed = pl.Series(
                    "partition", kafka_partition(batch.get_column("key"), partitions)
                )
                part = given.fill_null(computed) if given.null_count() < n else computed
        part_np = part.cast(pl.Int32).to_numpy()
        if part_np.size and (part_np.min() < 0 or part_np.max() >= partitions):
            raise InternalError(
                f"record partition out of range for topic {topic!r} with {partitions} partitions"
            )
        offsets = np.empty(n, dtype=np.int64)
        with log.lock:
            # One partition (checked above): consecutive offsets, no per-partition grouping.
            for p in np.unique(part_np) if partitions > 1 else (0,):
                mask = part_np == p
                count = int(mask.sum())
                start = log.next_offsets[int(p)]
                offsets[mask] = np.arange(start, start + count, dtype=np.int64)
                log.next_offsets[int(p)] = start + count
            stored = batch.with_columns(
                pl.Series("partition", part_np, dtype=pl.Int32),
                pl.Series("offset", offsets, dtype=pl.Int64),
            )
            log.chunks.append(
                stored.with_columns(
                    pl.int_range(log.produced, log.produced + n, dtype=pl.Int64).alias(_SEQ)
                )
            )
            log.produced += n
        return stored

    def records(self, topic: str, *, partition: int | None = None) -> pl.DataFrame:
        """Every record of ``topic`` in production order (RECORD_SCHEMA), or one partition's."""
        log = self._topics.get(topic)
        if log is None:
            return empty_records()
        frame = log.frame()
        if partition is not None:
            frame = frame.filter(pl.col("partition") == partition)
        return frame.drop(_SEQ)

    def has_topic(self, name: str) -> bool:
        return name in self._topics


def _conform(records: pl.DataFrame) -> pl.DataFrame:
    """``records`` with exactly the RECORD_SCHEMA columns and dtypes (missing ones null).

    A null timestamp becomes the current wall-clock time, as Kafka's producer stamps
    CreateTime; null headers become an empty list. Built as one ``select`` so no per-record
    Python runs.
    """
    present = records.schema
    exprs: list[pl.Expr] = []
    for name, dtype in RECORD_SCHEMA.items():
        if name in present:
            expr = pl.col(name) if present[name] == dtype else pl.col(name).cast(dtype)
        else:
            expr = pl.lit(None, dtype=dtype)
        if name == "timestamp":
            expr = expr.fill_null(int(time.time() * 1000))
        elif name == "headers":  # a record without headers has an empty header list
            expr = expr.fill_null(pl.lit([], dtype=dtype))
        exprs.append(expr.alias(name))
    return records.select(exprs)


# --------------------------------------------------------------------------------------------
# The driver
# --------------------------------------------------------------------------------------------


class InMemoryDriver:
    """Engine + in-memory topics: run statements, feed records, read what queries produced."""

    def __init__(
        self,
        *,
        config: Mapping[str, object] | None = None,
        partitioner: Partitioner = "murmur2",
        auto_create_partitions: int = _DEFAULT_AUTO_CREATE_PARTITIONS,
    ) -> None:
        from telemetry_lib.ksql.engine import KsqlEngine

        merged: dict[str, object] = dict(DEFAULT_DRIVER_CONFIG)
        merged.update(config or {})
        self.topics = InMemoryTopics(
            partitioner=partitioner, auto_create_partitions=auto_create_partitions
        )
        self.topics.listener = self._on_produce
        self.engine: KsqlEngine = KsqlEngine(self.topics, config=merged)
        # Batches produced while a delivery is running, per delivery depth (depth-first).
        self._pending: list[list[tuple[str, pl.DataFrame]]] = []
        # Batches produced outside any delivery (e.g. INSERT ... VALUES during execute()).
        self._loose: list[tuple[str, pl.DataFrame]] = []
        self._known_queries: set[str] = set()
        self.deliver_automatically = True

    # -- statements ----------------------------------------------------------------------------

    def execute(
        self,
        sql: str,
        *,
        properties: Mapping[str, object] | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> list[Any]:
        """Run ``sql`` on the engine; new queries first read their topics from the earliest
        offset, and records produced by the statements (INSERT VALUES) are delivered."""
        try:
            results = self.engine.execute(sql, properties=properties, variables=variables)
        finally:
            if self.deliver_automatically:
                self._catch_up_new_queries()
                self._flush_loose()
        return list(results)

    # -- input ---------------------------------------------------------------------------------

    def pipe(
        self,
        topic: str,
        *,
        key: bytes | None = None,
        value: bytes | None = None,
        timestamp: int | None = None,
        partition: int | None = None,
        headers: Iterable[tuple[str, bytes | None]] | None = None,
    ) -> None:
        """Produce one record (bytes) into ``topic`` and deliver it to the queries reading it."""
        header_list = [{"key": k, "value": v} for k, v in (headers or ())]
        frame = pl.DataFrame(
            {
                "key": pl.Series([key], dtype=pl.Binary),
                "value": pl.Series([value], dtype=pl.Binary),
                "timestamp": pl.Series([timestamp], dtype=pl.Int64),
                "partition": pl.Series([partition], dtype=pl.Int32),
                "offset": pl.Series([None], dtype=pl.Int64),
                "headers": pl.Series([header_list], dtype=RECORD_SCHEMA["headers"]),
            }
        )
        self.pipe_batch(topic, frame)

    def pipe_batch(self, topic: str, records: pl.DataFrame) -> None:
        """Produce a batch (RECORD_SCHEMA columns; missing ones null) and deliver it."""
        stored = self.topics.append(topic, records)
        if stored.height and self.deliver_automatically:
            self._deliver(topic, stored)

    def pipe_per_query(self, batches: Sequence[tuple[str, pl.DataFrame]]) -> None:
        """Feed inputs the way ksqlDB's QTT runner does: one query after another.

        All ``batches`` are first appended to their topics. Then each running query, in
        creation order, processes the batches of the topics it reads, in the given order,
        followed by everything the other topics it reads hold at that point (the sinks of
        earlier queries). Outputs are not cascaded: each query pulls its own sources, as each
        TopologyTestDriver does in ksqlDB's TestExecutor.
        """
        stored = [(topic, self.topics.append(topic, batch)) for topic, batch in batches]
        input_topics = {topic for topic, _ in batches}
        previous = self.deliver_automatically
        self.deliver_automatically = False
        try:
            for query_id, sources in self._query_sources():
                for topic, batch in stored:
                    if topic in sources and batch.height:
                        self._process(topic, batch, query_id=query_id)
                for topic in sources:
                    if topic not in input_topics and self.topics.has_topic(topic):
                        held = self.topics.records(topic)
                        if held.height:
                            self._process(topic, held, query_id=query_id)
        finally:
            self.deliver_automatically = previous
            self._pending.clear()
            self._loose.clear()

    # -- output --------------------------------------------------------------------------------

    def read(self, topic: str, *, partition: int | None = None) -> list[Record]:
        """Every record of ``topic`` in production order, window decoded when windowed."""
        frame = self.topics.records(topic, partition=partition)
        windows = self._decode_windows(topic, frame)
        out: list[Record] = []
        for i, row in enumerate(frame.iter_rows(named=True)):
            headers = tuple((h["key"], h["value"]) for h in (row["headers"] or ()))
            out.append(
                Record(
                    topic=topic,
                    partition=int(row["partition"]),
                    offset=int(row["offset"]),
                    timestamp=int(row["timestamp"]),
                    key=row["key"],
                    value=row["value"],
                    headers=headers,
                    window=windows[i] if windows is not None else None,
                )
            )
        return out

    def read_frame(self, topic: str, *, partition: int | None = None) -> pl.DataFrame:
        """``topic``'s records as a frame: RECORD_SCHEMA plus ``window_start``/``window_end``
        (Int64, null unless the topic's source is windowed)."""
        frame = self.topics.records(topic, partition=partition)
        windows = self._decode_windows(topic, frame)
        starts = [w.start if w else None for w in windows] if windows else [None] * frame.height
        ends = [w.end if w else None for w in windows] if windows else [None] * frame.height
        return frame.with_columns(
            pl.Series("window_start", starts, dtype=pl.Int64),
            pl.Series("window_end", ends, dtype=pl.Int64),
        )

    def read_rows(self, topic: str) -> pl.DataFrame:
        """``topic``'s records decoded with the formats and schema of the stream or table
        over it: its key columns, value columns (null for a tombstone), ``ROWTIME``,
        ``ROWPARTITION``, ``ROWOFFSET`` and, for a windowed source, ``WINDOWSTART`` and
        ``WINDOWEND``. Records that fail to decode have null columns (as the engine's
        processing log would record them)."""
        from telemetry_lib.ksql.exec.serde_bridge import decode_key, decode_value

        source = next((s for s in self.engine.catalog.sources() if s.topic == topic), None)
        if source is None:
            names = ", ".join(sorted({s.topic for s in self.engine.catalog.sources()})) or "none"
            raise KsqlEngineError(
                f"No stream or table reads topic {topic!r}, so its records cannot be decoded "
                f"(topics with a source: {names}). Use read() for the raw bytes, or declare "
                "a stream over the topic first."
            )
        frame = self.topics.records(topic)
        key = decode_key(frame.get_column("key"), source)
        value = decode_value(frame.get_column("value"), source)
        pseudo = [
            frame.get_column("timestamp").alias("ROWTIME"),
            frame.get_column("partition").alias("ROWPARTITION"),
            frame.get_column("offset").alias("ROWOFFSET"),
        ]
        if key.window_start is not None and key.window_end is not None:
            pseudo += [key.window_start.alias("WINDOWSTART"), key.window_end.alias("WINDOWEND")]
        parts = [key.columns, value.columns, pl.DataFrame(pseudo)]
        return pl.concat([p for p in parts if p.width], how="horizontal")

    def create_topic(self, name: str, *, partitions: int = 1, replicas: int = 1) -> None:
        """Create a topic explicitly (a no-op when it exists)."""
        self.topics.create_topic(TopicSpec(name=name, partitions=partitions, replicas=replicas))

    def close(self) -> None:
        """Stop the engine's queries (if it can) and drop the topics."""
        close = getattr(self.engine, "close", None)
        if callable(close):
            close()
        self.topics = InMemoryTopics()

    # -- delivery ------------------------------------------------------------------------------

    def _on_produce(self, topic: str, stored: pl.DataFrame) -> None:
        if not self.deliver_automatically:
            return
        if self._pending:
            self._pending[-1].append((topic, stored))
        else:
            self._loose.append((topic, stored))

    def _deliver(self, topic: str, batch: pl.DataFrame) -> None:
        self._pending.append([])
        try:
            self._process(topic, batch, query_id=None)
        finally:
            produced = self._pending.pop()
        for out_topic, out_batch in produced:
            self._deliver(out_topic, out_batch)

    def _flush_loose(self) -> None:
        while self._loose:
            topic, batch = self._loose.pop(0)
            self._deliver(topic, batch)

    def _catch_up_new_queries(self) -> None:
        for query_id, sources in self._query_sources():
            if query_id in self._known_queries:
                continue
            self._known_queries.add(query_id)
            running = self.engine.running_query(query_id)
            ordered = tuple(getattr(running, "source_topics", None) or sorted(sources))
            backlog: list[tuple[str, pl.DataFrame]] = []
            for topic in ordered:
                held = self.topics.records(topic)
                # Records produced during this execute() are delivered by _flush_loose.
                loose = sum(b.height for t, b in self._loose if t == topic)
                if held.height > loose:
                    backlog.append((topic, held.head(held.height - loose)))
            for topic, batch in _merge_by_time(backlog):
                self._pending.append([])
                try:
                    self._process(topic, batch, query_id=query_id)
                finally:
                    produced = self._pending.pop()
                for out_topic, out_batch in produced:
                    self._deliver(out_topic, out_batch)

    # -- engine adapter ------------------------------------------------------------------------

    def _query_sources(self) -> list[tuple[str, frozenset[str]]]:
        """Running persistent queries in start order, each with the topics it reads."""
        out: list[tuple[str, frozenset[str]]] = []
        for query_id in self.engine.running_queries():
            running = self.engine.running_query(query_id)
            if running is None:
                continue
            topics = getattr(running, "source_topics", None)
            if topics is None:
                topics = (running.source_topic,)
            out.append((query_id, frozenset(topics)))
        return out

    def _process(self, topic: str, batch: pl.DataFrame, *, query_id: str | None) -> None:
        """Hand ``batch`` to every query reading ``topic``, or only to ``query_id``."""
        if query_id is None:
            self.engine.process(topic, batch)
            return
        running = self.engine.running_query(query_id)
        if running is not None:
            running.pipeline.push(batch, topic=topic)

    def _decode_windows(self, topic: str, frame: pl.DataFrame) -> list[WindowBounds | None] | None:
        """Window bounds of each record when ``topic`` holds a windowed source, else None."""
        decoder = _window_decoder(self.engine, topic)
        if decoder is None or frame.height == 0:
            return None
        return [decoder(k) for k in frame.get_column("key").to_list()]


def _merge_by_time(batches: list[tuple[str, pl.DataFrame]]) -> list[tuple[str, pl.DataFrame]]:
    """A query reading several topics catches up as one Kafka Streams task would: the topic
    whose next record has the lowest timestamp goes first (each topic keeps its own order;
    ties: the later source first, so a table row is there for a same-time stream record),
    as runs of one topic."""
    if len(batches) <= 1:
        return batches
    merged = pl.concat(
        [
            b.with_columns(
                pl.lit(i, dtype=pl.Int32).alias("__src"),
                pl.int_range(0, b.height, dtype=pl.Int64).alias("__pos"),
                pl.col("timestamp").cum_max().alias("__head"),
            )
            for i, (_, b) in enumerate(batches)
        ],
        how="vertical_relaxed",
    ).sort(["__head", "__src", "__pos"], descending=[False, True, False])
    runs = merged.with_columns(
        (pl.col("__src") != pl.col("__src").shift(1)).fill_null(True).cum_sum().alias("__run")
    )
    out: list[tuple[str, pl.DataFrame]] = []
    for run in runs.partition_by("__run", maintain_order=True):
        topic = batches[int(run.get_column("__src")[0])][0]
        out.append((topic, run.drop("__src", "__pos", "__head", "__run")))
    return out


def _window_decoder(
    engine: KsqlEngine, topic: str
) -> Callable[[bytes | None], WindowBounds | None] | None:
    """A function reading a windowed key's window bounds, for the windowed source over
    ``topic`` (reference §4.5: the inner key, then the big-endian start for TUMBLING/HOPPING
    — the end is start + size, capped at Long.MAX — or end then start for SESSION)."""
    for source in engine.catalog.sources():
        if source.topic != topic or source.window is None:
            continue
        window = source.window
        if window.type.is_time_window:
            size = window.size_ms or 0

            def time_window(key: bytes | None, size: int = size) -> WindowBounds | None:
                if key is None or len(key) < _WINDOW_BOUND_BYTES:
                    return None
                start = int.from_bytes(key[-_WINDOW_BOUND_BYTES:], "big", signed=True)
                end = start + size if start <= _LONG_MAX - size else _LONG_MAX
                return WindowBounds(start, end)

            return time_window

        def session_window(key: bytes | None) -> WindowBounds | None:
            if key is None or len(key) < 2 * _WINDOW_BOUND_BYTES:
                return None
            end = int.from_bytes(key[-16:-8], "big", signed=True)
            start = int.from_bytes(key[-8:], "big", signed=True)
            return WindowBounds(start, end)

        return session_window
    return None
