"""Repartition topics of persistent queries on Kafka: cutting a pipeline in two sub-topologies.

Owns: :func:`find_cut` (where a running query's pipeline must be re-keyed through Kafka),
:func:`repartition_topic` (ksqlDB's internal topic name), :class:`RowCodec` (a batch's rows as
Kafka records and back, losslessly) and :class:`Topology` (the two sub-topologies a runner
drives).

Why: a GROUP BY whose grouping is not the source's key (or any GROUP BY over a TABLE), a join
side re-keyed to its join expression (J1's ``RepartitionNode``) and a PARTITION BY feeding an
aggregation all need the rows of one new key together. In one process the engine simply keeps
going with the re-keyed batch (the in-memory driver does that); on Kafka, ksqlDB writes the
re-keyed rows through an internal topic keyed (and so partitioned) by the new key, and a second
sub-topology reads it back — so several instances could each own some of the query's
partitions. The runtime does the same here: the pipeline is cut before the operator that needs
the new key; sub-topology 1 (source ... cut) produces into
``_confluent-ksql-<service id>query_<QUERY_ID>-<operator>-repartition`` (reference §4.8:
``-Aggregate-GroupBy-repartition`` for a GROUP BY, ``-Join-left-repartition`` /
``-Join-right-repartition`` for join sides), sub-topology 2 consumes it as one more input of the
same query. Those records are produced inside the query's exactly-once transaction with the
``ksql-eos`` header like every other output, so a replay skips the ones already written and each
(batch, index) appears once: the second sub-topology reads every re-keyed row exactly once.

Record layout (ours, not ksqlDB's one record per row): each row holds every column the first
sub-topology produced that the second reads (pseudo columns and internal fields included:
``ROWTIME``, ``ROWPARTITION`` of the *original* record, the null-value flag); its partition is
the CRC-32 of its new key (as JSON) modulo the topic's partition count, so all rows of a key
share a partition; the rows of one batch bound for one partition travel together, as records of
at most :data:`CHUNK_BYTES` (key null, timestamp = the chunk's largest ROWTIME) whose value is an
LZ4-compressed Arrow IPC stream of the rows (:mod:`telemetry_lib.ksql.runtime.repartition_wire`:
exact for every type, cut by value size so a replay cuts the same records). Records written as
JSON lines by earlier versions (types JSON cannot carry exactly as text or integers, restored
from the batch schema) are still read. Why many rows per record: the Kafka client produces one
record per Python call (~100k/s with headers here), which made one record per row cost 2-4x the
whole query's throughput; a few records per batch cost nearly nothing. Why Arrow rather than
JSON lines: on the demo CTAS it made the re-keyed rows ~12x smaller on the wire and their
encode + decode ~10x cheaper (~27 ms instead of ~530 ms per 250k rows). Only this runtime reads
these topics.

Cost (measured on the embedded stack, 2 loaded cores): the demo's CTAS (GROUP BY player_id, a
value column) runs ~1.3-2.5x slower with its repartition topic than re-keyed in-process, and an
update reaches readers one (short) batch later: the batch after the one that wrote re-keyed rows
waits for exactly those (counted per partition) and closes the moment they are read back. At
20k events/s, commit interval 100 ms (bench ``e2e_latency_p99_ms``, load ~2.5): p50 ~160 ms /
p99 ~240 ms (was ~220 / ~370; ~110 / ~175 in-process). Where one event's time went: produce to
fetched ~14-20 ms, waiting in its batch ~3-15, that batch's processing + commit ~50 (pipeline
~33, commit flush + EndTxn ~10-15), re-keyed rows committed to read back ~13-20, the next batch
~50, reader ~8. A single instance that never shares partitions can opt out per query or server
with ``SET 'telemetry.kafka.repartition.topics'='false';`` (:data:`REPARTITION_CONFIG`).

Cuts: a linear pipeline (no join) is cut before a re-keying GROUP BY; a join graph
(``JoinPipeline.cut_repartitions``) is cut after every re-keyed side (J1's ``RepartitionNode``),
its records placed by the side's join key, and before a re-grouping GROUP BY above the joins.
Known limits: a repartition topic gets the largest
partition count of the query's sources (Kafka Streams gives a join's repartition topic the
co-partitioned table's count; they differ only when the sources' counts differ, which matters
only once several instances share the query).
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import logging
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from telemetry_lib.ksql.runtime.checkpoint import app_id
from telemetry_lib.ksql.runtime.io import RECORD_SCHEMA
from telemetry_lib.ksql.runtime.repartition_wire import decode_values, encode_chunks, is_ipc
from telemetry_lib.ksql.serde.constant import constant

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

    from telemetry_lib.ksql.exec.operator import Emit, Operator, Pipeline

__all__ = [
    "REPARTITION_CONFIG",
    "Cut",
    "RowCodec",
    "Topology",
    "find_cut",
    "repartition_topic",
]

logger = logging.getLogger(__name__)

#: Engine config: write re-keyed rows through repartition topics on Kafka (default true, as
#: ksqlDB). ``false`` keeps the re-keying in-process (one instance owns every partition).
REPARTITION_CONFIG = "telemetry.kafka.repartition.topics"
#: Largest value of one repartition record: Kafka's (and Tansu's) default record limit is
#: ~1 MB, half of it leaves room for the batch envelope.
CHUNK_BYTES = 512 * 1024
# Field names inside the key object (one per key expression, in order).
_KEY_FIELD = "K{}"
# Key column types whose equal values always have equal JSON text, so a key's text and CRC-32
# can be computed once per distinct key: not floats (-0.0 equals 0.0 but prints differently;
# NaN), nor containers holding them, nor types printed through a cast we do not control.
_DISTINCT_SAFE = (pl.String, pl.Boolean, pl.Date, pl.Datetime, pl.Time, pl.Duration, pl.Binary,
                  pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32,
                  pl.UInt64)  # fmt: skip
# Internal fields an aggregate reads besides its expressions' columns (event time, tombstones,
# the task partition, window bounds of a windowed source).
_ALWAYS_CARRIED = ("ROWTIME", "ROWPARTITION", "__ksql_null_value", "WINDOWSTART", "WINDOWEND")
# Join key fields of a join side's frame (``plan.join.join_key_field``): a re-keyed side's key.
_JOIN_KEY_PREFIX = "__ksql_jk_"


@dataclass(frozen=True)
class Cut:
    """``pipeline.operators[index]`` is the first operator of sub-topology 2; ``operator``
    names the internal topic (``Aggregate-GroupBy``, ``Join-left``...); ``key`` compiles the
    new key's polars expressions over sub-topology 1's output."""

    index: int
    operator: str
    key: Callable[[], list[pl.Expr]]
    #: Batch fields sub-topology 2 reads (the others are not written to the topic).
    columns: frozenset[str] = frozenset()


def repartition_topic(service_id: str, query_id: str, operator: str) -> str:
    """``<appId>-<operator>-repartition`` (reference §4.8)."""
    return f"{app_id(service_id, query_id)}-{operator}-repartition"


def find_cut(operators: Sequence[Operator]) -> Cut | None:
    """Where a linear chain of ``operators`` needs a repartition topic on Kafka, or None.

    A GROUP BY needs one unless its grouping is exactly the stream source's key columns in
    order (ksqlDB's rule; a TABLE source is always re-grouped through a topic)."""
    from telemetry_lib.ksql.analyzer.typed import TColumn
    from telemetry_lib.ksql.exec.aggregate import AggregateOperator
    from telemetry_lib.ksql.exec.expr_bridge import compile_typed

    for index, op in enumerate(operators):
        if not isinstance(op, AggregateOperator):
            continue
        agg = op.aggregation
        fields = [g.field_name if isinstance(g, TColumn) else None for g in agg.group_by]
        if not agg.source_is_table and fields == list(agg.source_key_fields):
            return None
        group = agg.group_by

        def key(group: Sequence[object] = group) -> list[pl.Expr]:
            return [compile_typed(g).value for g in group]  # type: ignore[arg-type]

        used: set[str] = set(_ALWAYS_CARRIED) | set(agg.source_key_fields)
        _columns_of((agg.group_by, [c.args for c in agg.calls], agg.having), used)
        return Cut(index, "Aggregate-GroupBy", key, frozenset(used))
    return None


def _columns_of(node: object, out: set[str]) -> None:
    """Every batch field a typed expression tree reads (its TColumn leaves)."""
    from telemetry_lib.ksql.analyzer.typed import TColumn

    if isinstance(node, TColumn):
        out.add(node.field_name)
    if isinstance(node, list | tuple):
        for item in node:
            _columns_of(item, out)
    elif dataclasses.is_dataclass(node) and not isinstance(node, type):
        for f in dataclasses.fields(node):
            _columns_of(getattr(node, f.name), out)


class RowCodec:
    """A batch's rows as Kafka records (RECORD_SCHEMA) and back, for one batch schema.

    One record per (target partition, chunk of at most :data:`CHUNK_BYTES`): its value is the
    chunk's rows as an LZ4 Arrow IPC stream (:mod:`~telemetry_lib.ksql.runtime.repartition_wire`),
    its partition the CRC-32 of the row's new key (as JSON) modulo ``partitions``, so every row
    of one key lands in one partition; its timestamp the chunk's largest ROWTIME. The schema is
    learnt from the first encoded batch (sub-topology 1's output schema is fixed by the plan)
    and kept in the query's checkpoint topic, so a restarted runner decodes records written
    before the restart before it encoded anything itself."""

    def __init__(self, schema: pl.Schema | None = None, *, partitions: int = 1) -> None:
        self.schema = schema
        self.partitions = partitions

    def encode(
        self, frame: pl.DataFrame, key: list[pl.Expr], *, source: pl.DataFrame | None = None
    ) -> pl.DataFrame:
        """Records holding ``frame``'s rows, grouped by the partition of their new key
        (``key`` evaluated over ``source``, the same rows with every column, when given)."""
        if self.schema is None:
            self.schema = frame.schema
        parts = self._partitions(frame if source is None else source, key)
        ts = (
            frame["ROWTIME"].cast(pl.Int64) if "ROWTIME" in frame.columns
            else constant(None, frame.height, pl.Int64())
        )  # fmt: skip
        values, places, stamps = encode_chunks(frame, parts, ts, budget=CHUNK_BYTES)
        n = len(values)
        return pl.DataFrame(
            {
                "key": constant(None, n, pl.Binary()),
                "value": pl.Series(values, dtype=pl.Binary),
                "timestamp": pl.Series(stamps, dtype=pl.Int64),
                "partition": pl.Series(places, dtype=pl.Int32),
                "offset": constant(None, n, pl.Int64()),
                "headers": constant([], n, RECORD_SCHEMA["headers"]),
            }
        )

    def _partitions(self, frame: pl.DataFrame, key: list[pl.Expr]) -> pl.Series:
        """Per row: CRC-32 of its new key as JSON, modulo the partition count (stable across
        processes and versions, so instances sharing the topic agree).

        The JSON text and its CRC-32 are computed once per distinct key and mapped back to
        the rows (a batch of 250k events holds ~10k players), when equal key values always
        have equal JSON text (:data:`_DISTINCT_SAFE`); other key types are encoded row by row.
        """
        if self.partitions <= 1 or not key:
            return constant(0, frame.height, pl.Int32())
        try:
            keys = frame.select([e.alias(_KEY_FIELD.format(i)) for i, e in enumerate(key)])
            if all(isinstance(t, _DISTINCT_SAFE) for t in keys.dtypes):
                return self._partitions_distinct(keys)
            text = keys.select(_key_json(keys.schema)).to_series()
        except pl.exceptions.PolarsError:  # the key's own errors are logged by the operator
            logger.debug("repartition key could not be computed; rows go to partition 0")
            return constant(0, frame.height, pl.Int32())
        distinct = text.unique()
        placed = [zlib.crc32(k.encode()) % self.partitions if k is not None else 0
                  for k in distinct.to_list()]  # fmt: skip
        mapping = dict(zip(distinct.to_list(), placed, strict=True))
        return text.replace_strict(mapping, return_dtype=pl.Int32)

    def _partitions_distinct(self, keys: pl.DataFrame) -> pl.Series:
        """:meth:`_partitions` over the distinct rows of ``keys`` (null keys included: they are
        a key too, ``{"K0":null}``), mapped back to every row."""
        distinct = keys.unique()
        text = distinct.select(_key_json(keys.schema)).to_series().to_list()
        placed = pl.Series(
            "partition", [zlib.crc32(k.encode()) % self.partitions for k in text], dtype=pl.Int32
        )
        if keys.width == 1:
            return keys.to_series().replace_strict(
                distinct.to_series(), placed, return_dtype=pl.Int32
            )
        names = keys.columns
        mapped = keys.join(
            distinct.with_columns(placed),
            on=names,
            how="left",
            nulls_equal=True,
            maintain_order="left",
        )
        return mapped.get_column("partition")

    def decode(self, records: pl.DataFrame) -> pl.DataFrame:
        """The rows of ``records`` (in record order, each record's rows in order) with the
        columns and types sub-topology 1 produced."""
        values = records["value"].to_list()
        if all(v is not None and is_ipc(v) for v in values):
            return decode_values(values, self.schema)
        # Records written as JSON lines by an earlier version (a restart over its backlog).
        frames = [
            decode_values(list(run), self.schema) if ipc else self._decode_lines(list(run))
            for ipc, run in itertools.groupby(values, key=lambda v: v is not None and is_ipc(v))
        ]
        return pl.concat(frames, how="vertical_relaxed")

    def _decode_lines(self, values: list[bytes]) -> pl.DataFrame:
        """Rows of records in the earlier layout (JSON lines, types in their wire form)."""
        if self.schema is None:
            raise ValueError("repartition records arrived before the codec learnt its schema")
        wire_schema = {n: _wire_dtype(t) for n, t in self.schema.items()}
        text = b"\n".join(values)
        wire = pl.read_ndjson(io.BytesIO(text), schema=wire_schema)
        return wire.select([_from_wire(pl.col(n), t).alias(n) for n, t in self.schema.items()])


class Topology:
    """The sub-topologies of a pipeline cut at its re-keyings: :meth:`feed_source` runs a source
    topic's records up to the cut(s), whose re-keyed rows are produced into the repartition
    topics (:attr:`topics`); :meth:`feed_repartition` decodes records read back from one of them
    and continues from its cut. Errors stop the pipeline as :meth:`Pipeline.push` does (the
    query goes to ERROR). Build one with :meth:`build`."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        #: Repartition topic -> its codec and the entry continuing after the cut.
        self.codecs: dict[str, RowCodec] = {}
        self._resume: dict[str, Emit] = {}
        self._first: Emit | None = None  # linear pipelines: the chain up to the cut

    @classmethod
    def build(cls, pipeline: Pipeline, *, service_id: str, query_id: str) -> Topology | None:
        """The cut topology of ``pipeline``, or None when it needs no repartition topic.

        Linear pipelines are cut before a GROUP BY that re-keys (:func:`find_cut`); a join graph
        (a pipeline with ``cut_repartitions``) is cut after each re-keyed join side (topic
        ``<appId>-Join-left-repartition``...), keyed by the side's join key."""
        topology = cls(pipeline)
        cut_sides = getattr(pipeline, "cut_repartitions", None)
        if cut_sides is not None:
            regroup = find_cut(getattr(pipeline, "downstream", ()))
            group_suffix = f"{regroup.operator}-repartition" if regroup is not None else None

            def through(suffix: str) -> Emit:
                topic = f"{app_id(service_id, query_id)}-{suffix}"
                if regroup is not None and suffix == group_suffix:
                    return topology._writer(topic, regroup.key(), regroup.columns)
                return topology._writer(topic, None)

            downstream_cut = (regroup.index, group_suffix) if regroup is not None else None
            resume = cut_sides(through, downstream_cut=downstream_cut)
            if not resume:
                return None
            for suffix, entry in resume.items():
                topology._resume[f"{app_id(service_id, query_id)}-{suffix}"] = entry
            return topology
        cut = find_cut(pipeline.operators)
        if cut is None:
            return None
        topic = repartition_topic(service_id, query_id, cut.operator)
        ops = pipeline.operators
        writer = topology._writer(topic, cut.key(), cut.columns)
        topology._first = _chain(pipeline, ops[: cut.index], writer)
        topology._resume[topic] = _chain(pipeline, ops[cut.index :], _discard)
        return topology

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(self._resume)

    @property
    def linear(self) -> bool:
        """A linear pipeline cut before its GROUP BY (not a join graph)."""
        return self._first is not None

    def feed_source(self, topic: str, batch: pl.DataFrame) -> None:
        if self._first is None:
            self.pipeline.push(batch, topic=topic)  # type: ignore[call-arg]
        else:
            self._guarded(self._first, batch)

    def feed_repartition(self, topic: str, records: pl.DataFrame) -> None:
        if records.height:
            self._guarded(self._resume[topic], self.codecs[topic].decode(records))

    def _writer(
        self, topic: str, key: list[pl.Expr] | None, columns: frozenset[str] = frozenset()
    ) -> Emit:
        codec = self.codecs.setdefault(topic, RowCodec())

        def write(frame: pl.DataFrame) -> None:
            keys = key
            if keys is None:  # a join side: keyed by its join key fields
                keys = [pl.col(c) for c in frame.columns if c.startswith(_JOIN_KEY_PREFIX)]
            # Only the columns sub-topology 2 reads are written (the key is computed first).
            rows = frame.select([c for c in frame.columns if c in columns]) if columns else frame
            self.pipeline.ctx.io.produce(topic, codec.encode(rows, keys, source=frame))

        return write

    def _guarded(self, emit: Emit, batch: pl.DataFrame) -> None:
        if batch.height == 0 or self.pipeline.error is not None:
            return
        try:
            emit(batch)
        except Exception as exc:
            self.pipeline.error = exc
            logger.error("query %s failed and stopped: %s", self.pipeline.ctx.query_id, exc)
            raise


def _key_json(schema: pl.Schema) -> pl.Expr:
    """The key object's JSON text (``{"K0":...}``, values in their wire form)."""
    fields = [_to_wire(pl.col(n), t).alias(n) for n, t in schema.items()]
    return pl.struct(fields).struct.json_encode().alias("k")


def _chain(pipeline: Pipeline, ops: Sequence[Operator], terminal: Emit) -> Emit:
    emit = terminal
    for op in reversed(ops):
        emit = _bind(pipeline, op, emit)
    return emit


def _bind(pipeline: Pipeline, op: Operator, downstream: Emit) -> Emit:
    def run(batch: pl.DataFrame) -> None:
        if batch.height:
            op.process_batch(batch, pipeline.ctx, downstream)

    return run


def _discard(batch: pl.DataFrame) -> None:
    """End of sub-topology 2: its sink already produced."""


# ---------------------------------------------------------------------- lossless JSON wire form
def _needs_wire(dtype: PolarsDataType) -> bool:
    return _wire_dtype(dtype) != dtype


def _wire_dtype(dtype: PolarsDataType) -> PolarsDataType:
    """The JSON-safe type a column travels as."""
    if isinstance(dtype, pl.Binary | pl.Decimal | pl.Float64 | pl.Float32):
        return pl.String()
    if isinstance(dtype, pl.Datetime | pl.Duration | pl.Time):
        return pl.Int64()
    if isinstance(dtype, pl.Date):
        return pl.Int32()
    if isinstance(dtype, pl.List):
        return pl.List(_wire_dtype(dtype.inner))
    if isinstance(dtype, pl.Struct):
        return pl.Struct({f.name: _wire_dtype(f.dtype) for f in dtype.fields})
    return dtype


def _to_wire(expr: pl.Expr, dtype: PolarsDataType) -> pl.Expr:
    if not _needs_wire(dtype):
        return expr
    if isinstance(dtype, pl.Binary):
        return expr.bin.encode("base64")
    if isinstance(dtype, pl.Decimal | pl.Float64 | pl.Float32):
        return expr.cast(pl.String)
    if isinstance(dtype, pl.Datetime | pl.Duration | pl.Time | pl.Date):
        return expr.to_physical()
    if isinstance(dtype, pl.List):
        return expr.list.eval(_to_wire(pl.element(), dtype.inner))
    if isinstance(dtype, pl.Struct):
        fields = [_to_wire(expr.struct.field(f.name), f.dtype).alias(f.name) for f in dtype.fields]
        return pl.when(expr.is_not_null()).then(pl.struct(fields))
    raise TypeError(f"no JSON wire form for {dtype}")  # pragma: no cover - _needs_wire is exact


def _from_wire(expr: pl.Expr, dtype: PolarsDataType) -> pl.Expr:
    if not _needs_wire(dtype):
        return expr
    if isinstance(dtype, pl.Binary):
        return expr.str.decode("base64")
    if isinstance(dtype, pl.Decimal | pl.Float64 | pl.Float32 | pl.Date):
        return expr.cast(dtype)
    if isinstance(dtype, pl.Datetime | pl.Duration | pl.Time):
        return expr.cast(dtype)
    if isinstance(dtype, pl.List):
        return expr.list.eval(_from_wire(pl.element(), dtype.inner))
    if isinstance(dtype, pl.Struct):
        fields = [
            _from_wire(expr.struct.field(f.name), f.dtype).alias(f.name) for f in dtype.fields
        ]
        return pl.when(expr.is_not_null()).then(pl.struct(fields))
    raise TypeError(f"no JSON wire form for {dtype}")  # pragma: no cover
