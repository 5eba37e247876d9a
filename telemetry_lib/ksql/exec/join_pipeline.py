"""The operator graph of a join query: several input topics, one output chain.

Owns: :class:`JoinPipeline` — a :class:`~telemetry_lib.ksql.exec.operator.Pipeline` whose
``push(batch, topic=...)`` routes a batch of one input topic to the leaf chain(s) reading it
(Source -> JoinSide -> JoinKey/Repartition), through the join operators' ``process_side`` (each
join's output flows through the next step's left JoinKey operator into that join), and finally
down the linear chain above the last join (Filter -> [Aggregate | PartitionBy] -> [Limit] ->
Project -> Sink) — and :func:`plan_join_pipeline`, the physical planning of a plan containing a
:class:`~telemetry_lib.ksql.plan.join.JoinNode` (called by the physical planner).

Order: a batch is processed completely (through every join and the sink) before the next one,
so records are joined in the order the batches arrive across topics — the in-memory driver and
the QTT runner hand the inputs in file order, split into runs of one topic. ``operators`` lists
every operator once, leaves first, in a fixed order (the Kafka runtime snapshots them by index).

Merged batches (:meth:`JoinPipeline.merged`, :func:`merged_batch`): the Kafka runtime merges a
batch's inputs by time and pushes it as runs of one topic; when the topics interleave in time
every run is one record. Inside ``with pipeline.merged():`` the runs still go through their side
chains at once, but what reaches a join that has a two-sided call (``process_parts``: the
stream-stream join) is gathered, as (side, rows) parts in arrival order, and handed over in one
call when the block ends — or earlier, the moment anything is about to reach a join above it
(its output must enter that join before that join's next input: every delivery to a join first
flushes the joins below it, innermost first). Each join therefore sees exactly the input
sequence of the run-by-run push; only the batching of its output changes. Joins without a
two-sided call (stream-table, table-table, foreign-key) still run per delivery.

A two-sided join fed on both sides straight by the leaf chains of two distinct topics (no
repartition topic, no nested join) goes further: the raw runs of its topics wait, and at the
flush each topic's records pass their leaf chain (Source -> JoinSide -> JoinKey) ONCE; every row
keeps its place in the merged order through its (partition, offset), which the source operator
carries (records the source drops, e.g. on a deserialization error, simply have no row). Where
(partition, offset) does not tell a topic's records apart (absent offsets, duplicates) the runs
go through their chains one by one. Processing-log entries of a merged batch then come per
topic, not interleaved record by record (their order across topics is the only difference).
:meth:`JoinPipeline.push_merged` takes such a batch whole (a ``topic`` column, processing
order) without splitting it into runs at all — the Kafka runner tries it first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass

import numpy as np
import polars as pl

from telemetry_lib.ksql.errors import InternalError, UnsupportedError
from telemetry_lib.ksql.exec import batch as B
from telemetry_lib.ksql.exec.join_base import JoinOperator
from telemetry_lib.ksql.exec.join_side import JoinKeyOperator, JoinSideOperator
from telemetry_lib.ksql.exec.operator import Emit, ExecContext, Operator, Pipeline
from telemetry_lib.ksql.exec.source import SourceOperator
from telemetry_lib.ksql.plan.join import JoinNode, JoinSideNode, RepartitionNode, Side
from telemetry_lib.ksql.plan.logical import LogicalNode, SinkNode

__all__ = ["JoinPipeline", "join_operator", "merged_batch", "plan_join_pipeline"]

logger = logging.getLogger(__name__)

#: Working column: a raw record's place in a merged batch (double underscore: never a field).
_POS = "__merged_pos"


@dataclass
class _Join:
    """A join operator with the side chains feeding it (leaf chains or a nested join)."""

    operator: JoinOperator
    left: list[Operator]
    right: list[Operator]
    left_child: _Join | None
    right_child: _Join | None
    left_topic: str | None
    right_topic: str | None


class JoinPipeline(Pipeline):
    """Pipeline with several input topics (see the module docstring)."""

    def __init__(self, root: _Join, downstream: list[Operator]) -> None:
        self.root = root
        self.downstream = downstream
        #: topic -> entry callables, filled by _build_chain.
        self.entries: dict[str, list[Emit]] = {}
        #: Kafka runtime (J3): re-keyed sides go out through ``_through(suffix)`` and come back
        #: through the entries in ``_resume`` (see :meth:`cut_repartitions`).
        self._through: Callable[[str], Emit] | None = None
        self._resume: dict[str, Emit] = {}
        #: (index in ``downstream``, topic suffix) of a downstream cut (a re-grouping GROUP BY).
        self._downstream_cut: tuple[int, str] | None = None
        #: Joins innermost first; per join: its emit and the joins below it, innermost first.
        self._joins = _joins(root)
        self._outs: dict[int, Emit] = {}
        self._below = {id(j): _joins(j)[:-1] for j in self._joins}
        #: Inside merged(): id(join) -> (side, rows) parts gathered for its two-sided call.
        self._gathered: dict[int, list[tuple[Side, pl.DataFrame]]] | None = None
        #: topic -> (join, side, leaf chain) when the topic enters one leaf chain that ends
        #: straight in that join (None: several entries); filled by _wire.
        self._leaves: dict[str, tuple[_Join, Side, list[Operator]] | None] = {}
        #: Inside merged(): id(join) -> raw (topic, records) of a join fed only by leaf chains.
        self._raw: dict[int, list[tuple[str, pl.DataFrame]]] = {}
        operators = _collect(root) + downstream
        super().__init__(operators)

    @property
    def source_topics(self) -> tuple[str, ...]:
        return tuple(self.entries)

    def _build_chain(self) -> list[Emit]:
        self.entries = {}
        self._leaves = {}
        terminal = _chain(self.downstream, self, lambda batch: None)
        if self._through is not None and self._downstream_cut is not None:
            index, suffix = self._downstream_cut
            self._resume[suffix] = _chain(self.downstream[index:], self, lambda batch: None)
            terminal = _chain(self.downstream[:index], self, self._through(suffix))
        self._wire(self.root, terminal)
        # The base class uses chain[0] only from its own push(), which this class overrides.
        return [terminal]

    def _wire(self, join: _Join, out: Emit) -> None:
        op = join.operator
        self._outs[id(join)] = out
        two_sided = hasattr(op, "process_parts")

        def side_emit(side: Side) -> Emit:
            def run(batch: pl.DataFrame) -> None:
                if not batch.height:
                    return
                if self._gathered is not None:
                    self._flush(self._below[id(join)])
                    if two_sided:
                        self._gathered.setdefault(id(join), []).append((side, batch))
                        return
                op.process_side(side, batch, self.ctx, out)

            return run

        for side, ops, child, topic in (
            ("left", join.left, join.left_child, join.left_topic),
            ("right", join.right, join.right_child, join.right_topic),
        ):
            last = ops[-1] if ops else None
            suffix = getattr(last, "topic_suffix", None)
            if self._through is not None and suffix:  # re-keyed through a Kafka topic
                self._resume[suffix] = side_emit(side)  # type: ignore[arg-type]
                entry = _chain(ops, self, self._through(suffix))
            else:
                entry = _chain(ops, self, side_emit(side))  # type: ignore[arg-type]
            if child is not None:
                self._wire(child, entry)
            else:
                assert topic is not None
                self.entries.setdefault(topic, []).append(entry)
                straight = not (self._through is not None and suffix)
                known = topic in self._leaves
                self._leaves[topic] = None if known or not straight else (join, side, ops)  # type: ignore[assignment]

    def cut_repartitions(
        self,
        through: Callable[[str], Emit],
        *,
        downstream_cut: tuple[int, str] | None = None,
    ) -> dict[str, Emit]:
        """Kafka runtime: re-wire each re-keyed side (a Repartition key step) so its rows go to
        ``through(suffix)`` (which writes them to ``<appId>-<suffix>``, e.g.
        ``-Join-left-repartition``) instead of into its join; returns suffix -> the entry that
        continues that side at its join with the rows read back from the topic.
        ``downstream_cut`` = (index, suffix) also cuts the chain above the joins before
        ``downstream[index]`` (a GROUP BY that re-groups: ``Aggregate-GroupBy-repartition``)."""
        self._through, self._resume = through, {}
        self._downstream_cut = downstream_cut
        self._build_chain()
        return dict(self._resume)

    @contextmanager
    def merged(self) -> Iterator[None]:
        """Gather the deliveries to two-sided joins while the block runs; hand each join its
        parts in one call at the end (see the module doc). An exception leaving the block
        discards what was gathered (the query stops: its batch is not committed)."""
        if self._gathered is not None:  # nested: the outer block flushes
            yield
            return
        self._gathered, self._raw = {}, {}
        try:
            yield
        except BaseException:
            self._gathered, self._raw = None, {}
            raise
        try:
            if self.error is None:
                self._flush(self._joins)
        except Exception as exc:
            self.error = exc
            logger.error("query %s failed and stopped: %s", self.ctx.query_id, exc)
            raise
        finally:
            self._gathered, self._raw = None, {}

    def _flush(self, joins: list[_Join]) -> None:
        """Hand the gathered parts of ``joins`` (innermost first) to their two-sided call."""
        gathered = self._gathered
        if gathered is None:
            return
        for join in joins:
            raw = self._raw.pop(id(join), None)
            if raw:
                self._flush_raw(join, raw)
            parts = gathered.pop(id(join), None)
            if parts:
                join.operator.process_parts(parts, self.ctx, self._outs[id(join)])  # type: ignore[attr-defined]

    def _raw_join(self, topic: str) -> _Join | None:
        """The join whose raw records of ``topic`` can wait whole (merged mode): a two-sided
        join fed on both sides straight by leaf chains of distinct topics."""
        leaf = self._leaves.get(topic)
        if leaf is None or not hasattr(leaf[0].operator, "process_parts"):
            return None
        join = leaf[0]
        sides = [t for t, v in self._leaves.items() if v is not None and v[0] is join]
        if len(sides) != 2 or join.left_topic == join.right_topic:
            return None
        return join

    def _flush_raw(self, join: _Join, raw: list[tuple[str, pl.DataFrame]]) -> None:
        """Run each topic's raw records through its leaf chain at once, then the join over
        both sides with every row's place in the merged order (records are told apart by
        (partition, offset), which the source operator carries through; when those are not
        unique the runs go through their chains one by one, as without merged())."""
        heights = np.fromiter((b.height for _, b in raw), dtype=np.int64, count=len(raw))
        starts = np.cumsum(heights) - heights
        wholes: dict[str, pl.DataFrame] = {}
        places: dict[str, pl.DataFrame] = {}
        for topic in dict.fromkeys(t for t, _ in raw):
            mine = np.fromiter((t == topic for t, _ in raw), dtype=np.bool_, count=len(raw))
            whole = pl.concat([b for t, b in raw if t == topic], how="vertical_relaxed")
            # each record's place in the merged batch: its run's start + its offset in the run
            h = heights[mine]
            pos = np.repeat(starts[mine] - (np.cumsum(h) - h), h) + np.arange(whole.height)
            wholes[topic] = whole
            places[topic] = whole.select(
                pl.col("partition").fill_null(0).cast(pl.Int32).alias(B.ROWPARTITION),
                pl.col("offset").cast(pl.Int64).alias(B.ROWOFFSET),
                pl.Series(_POS, pos.astype(np.int64)),
            )
        self._join_placed(join, wholes, places, lambda: self._runs_one_by_one(raw))

    def _runs_one_by_one(self, raw: list[tuple[str, pl.DataFrame]]) -> None:
        for topic, batch in raw:
            for entry in self.entries[topic]:
                entry(batch)

    def push_merged(self, records: pl.DataFrame) -> bool:
        """Push a whole merged batch — a ``topic`` column plus RECORD_SCHEMA's, in processing
        order — when every topic in it feeds one two-sided join straight through a leaf chain
        (see the module doc): no split into runs at all. Returns False (nothing done) otherwise:
        the caller then pushes the runs inside :meth:`merged`."""
        if self._ctx is None or self.paused or self.error is not None:
            return False
        if self._gathered is not None:  # inside merged(): keep the order of what waits there
            return False
        if records.height == 0:
            return True
        topics = records.get_column("topic").unique(maintain_order=True).to_list()
        joins = [self._raw_join(t) for t in topics]
        join = joins[0]
        if join is None or any(j is not join for j in joins):
            return False
        ordered = records.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias(_POS))
        wholes: dict[str, pl.DataFrame] = {}
        places: dict[str, pl.DataFrame] = {}
        for topic, part in ordered.partition_by("topic", as_dict=True, maintain_order=True).items():
            name = str(topic[0])
            wholes[name] = part.drop("topic", _POS)
            places[name] = part.select(
                pl.col("partition").fill_null(0).cast(pl.Int32).alias(B.ROWPARTITION),
                pl.col("offset").cast(pl.Int64).alias(B.ROWOFFSET),
                pl.col(_POS),
            )

        def one_by_one() -> None:
            run_id = (pl.col("topic") != pl.col("topic").shift()).fill_null(True).cum_sum()
            runs = records.with_columns(run_id.alias(_POS)).partition_by(
                _POS, maintain_order=True, include_key=False
            )
            self._runs_one_by_one([(str(r.get_column("topic")[0]), r.drop("topic")) for r in runs])

        with self.merged():
            try:
                self._join_placed(join, wholes, places, one_by_one)
            except Exception as exc:
                self.error = exc
                logger.error("query %s failed and stopped: %s", self.ctx.query_id, exc)
                raise
        return True

    def _join_placed(
        self,
        join: _Join,
        wholes: dict[str, pl.DataFrame],
        places: dict[str, pl.DataFrame],
        one_by_one: Callable[[], None],
    ) -> None:
        """Each topic's records (``wholes``) through its leaf chain once, then ``join`` over
        both sides, every row at its place (``places``: partition, offset -> place); when
        (partition, offset) does not tell a topic's records apart, ``one_by_one()`` instead."""
        frames: dict[Side, pl.DataFrame] = {}
        positions: dict[Side, np.ndarray] = {}
        unique = all(
            p.get_column(B.ROWOFFSET).null_count() == 0
            and not p.select(pl.struct(B.ROWPARTITION, B.ROWOFFSET).is_duplicated().any()).item()
            for p in places.values()
        )
        if not unique:
            one_by_one()
            return
        for topic, place in places.items():
            leaf = self._leaves[topic]
            assert leaf is not None
            _, side, ops = leaf
            rows = _through_ops(ops[:1], wholes[topic], self.ctx)
            if rows.height:
                rows = rows.join(
                    place, on=[B.ROWPARTITION, B.ROWOFFSET], how="left", maintain_order="left"
                )
                placed = rows.get_column(_POS)
                rows = _through_ops(ops[1:], rows, self.ctx)
                if placed.null_count() or rows.height != placed.len():
                    raise InternalError(
                        f"a join side chain changed its row count in a merged batch ({topic})"
                    )
                frames[side] = rows
                positions[side] = placed.to_numpy()
        if frames:
            join.operator.process_positioned(frames, positions, self.ctx, self._outs[id(join)])  # type: ignore[attr-defined]

    def _entry(self, topic: str | None) -> Emit:
        if topic is None:
            if len(self.entries) != 1:
                raise InternalError(
                    f"a join query reads {len(self.entries)} topics "
                    f"({', '.join(self.entries)}): push() needs the batch's topic"
                )
            topic = next(iter(self.entries))
        entries = self.entries.get(topic, ())
        raw_join = self._raw_join(topic) if self._gathered is not None else None
        if raw_join is not None:
            waiting = self._raw.setdefault(id(raw_join), [])

            def wait(batch: pl.DataFrame) -> None:
                waiting.append((topic, batch))  # type: ignore[arg-type]

            return wait

        def run(batch: pl.DataFrame) -> None:
            for entry in entries:
                entry(batch)

        return run

    def explain(self) -> str:
        lines = [f"[{d}] {op.describe()}" for d, op in enumerate(reversed(self.downstream))]
        depth = len(self.downstream)

        def visit(join: _Join, level: int) -> None:
            pad = "  " * level
            lines.append(f"{pad}[{level}] {join.operator.describe()}")
            for ops, child in ((join.left, join.left_child), (join.right, join.right_child)):
                for i, op in enumerate(reversed(ops)):
                    lines.append(f"{'  ' * (level + 1 + i)}- {op.describe()}")
                if child is not None:
                    visit(child, level + 1 + len(ops))

        visit(self.root, depth)
        return "\n".join(
            ("  " * min(i, depth)) + line if i < depth else line for i, line in enumerate(lines)
        )


def merged_batch(pipeline: Pipeline) -> AbstractContextManager[None]:
    """``pipeline.merged()`` for a join pipeline, else a no-op context: wrap the pushes of one
    merged batch (runs of several topics in processing order) in it."""
    if isinstance(pipeline, JoinPipeline):
        return pipeline.merged()
    return nullcontext()


def _through_ops(ops: list[Operator], batch: pl.DataFrame, ctx: ExecContext) -> pl.DataFrame:
    """``batch`` through ``ops`` (each emitting at most once per batch), the last one's rows."""
    for op in ops:
        caught: list[pl.DataFrame] = []
        if batch.height:
            op.process_batch(batch, ctx, caught.append)
        batch = pl.concat(caught, how="vertical_relaxed") if caught else batch.clear()
    return batch


def _joins(join: _Join) -> list[_Join]:
    """``join`` and every join below it, innermost first (children before their parent)."""
    out: list[_Join] = []
    for child in (join.left_child, join.right_child):
        if child is not None:
            out += _joins(child)
    out.append(join)
    return out


def _collect(join: _Join) -> list[Operator]:
    ops: list[Operator] = []
    if join.left_child is not None:
        ops += _collect(join.left_child)
    ops += join.left
    if join.right_child is not None:
        ops += _collect(join.right_child)
    ops += join.right
    ops.append(join.operator)
    return ops


def _chain(ops: list[Operator], pipeline: Pipeline, terminal: Emit) -> Emit:
    """``ops`` run in order, the last one emitting into ``terminal``."""
    emit = terminal
    for op in reversed(ops):
        emit = _bind(op, pipeline, emit)
    return emit


def _bind(op: Operator, pipeline: Pipeline, downstream: Emit) -> Emit:
    def run(batch: pl.DataFrame) -> None:
        if batch.height:
            op.process_batch(batch, pipeline.ctx, downstream)

    return run


# -------------------------------------------------------------------------- planning
def join_operator(node: JoinNode) -> JoinOperator:
    """The operator of a join step, by kind (contract in :mod:`telemetry_lib.ksql.plan.join`)."""
    if node.kind == "stream-table":
        from telemetry_lib.ksql.exec.join import StreamTableJoinOperator

        return StreamTableJoinOperator(node)
    if node.kind == "table-table":
        from telemetry_lib.ksql.exec.join import TableTableJoinOperator

        return TableTableJoinOperator(node)
    if node.kind == "stream-stream":
        try:
            from telemetry_lib.ksql.exec.join_stream_stream import (  # type: ignore[import-not-found]
                StreamStreamJoinOperator,
            )
        except ImportError:
            raise UnsupportedError("JOIN of kind stream-stream (WITHIN)") from None
        op: JoinOperator = StreamStreamJoinOperator(node)
        return op
    if node.kind == "table-table-fk":
        try:
            from telemetry_lib.ksql.exec.join_fk import (  # type: ignore[import-not-found]
                ForeignKeyJoinOperator,
            )
        except ImportError:
            raise UnsupportedError("JOIN of kind table-table-fk (foreign-key join)") from None
        fk: JoinOperator = ForeignKeyJoinOperator(node)
        return fk
    raise InternalError(f"unknown join kind {node.kind!r}")


def plan_join_pipeline(plan: SinkNode, operator_of: Callable[[LogicalNode], Operator]) -> Pipeline:
    """Operators for a plan whose single-input chain ends (at the bottom) in a JoinNode."""
    downstream_nodes: list[LogicalNode] = []
    node: LogicalNode = plan
    while not isinstance(node, JoinNode):
        downstream_nodes.append(node)
        children = node.children()
        if len(children) != 1:
            raise InternalError(f"{node.label()} has {len(children)} inputs above a join")
        node = children[0]
    downstream = [operator_of(n) for n in reversed(downstream_nodes)]
    return JoinPipeline(_plan_join(node), downstream)


def _plan_join(node: JoinNode) -> _Join:
    left_ops, left_child, left_topic = _plan_side(node.left, node.left_key)
    right_ops, right_child, right_topic = _plan_side(node.right, node.right_key)
    return _Join(
        operator=join_operator(node),
        left=left_ops,
        right=right_ops,
        left_child=left_child,
        right_child=right_child,
        left_topic=left_topic,
        right_topic=right_topic,
    )


def _plan_side(
    node: LogicalNode, keys: tuple[object, ...]
) -> tuple[list[Operator], _Join | None, str | None]:
    key_op: Operator
    if isinstance(node, RepartitionNode):
        key_op = JoinKeyOperator(node.keys, repartition=True, context=node.context)
        node = node.child
    else:
        key_op = JoinKeyOperator(keys)  # type: ignore[arg-type]
    if isinstance(node, JoinNode):
        return [key_op], _plan_join(node), None
    if isinstance(node, JoinSideNode):
        source = node.child.source
        ops: list[Operator] = [
            SourceOperator(source),
            JoinSideOperator(node.alias, node.fields),
            key_op,
        ]
        return ops, None, source.topic
    raise InternalError(f"unexpected join input {node.label()}")
