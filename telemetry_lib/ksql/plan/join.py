"""Logical plan nodes of joins (engine III) and the operator contract every join operator keeps.

Owns: :class:`JoinNode` (one JOIN step: two inputs, a kind, a type, the key expressions of each
side, an optional WITHIN window), :class:`RepartitionNode` (re-key one side by its join
expression before the join), :class:`JoinSideNode` (give a leaf source's columns their join
field names), :class:`JoinWindow`, :class:`JoinKeyColumn`, the field-name helpers
:func:`side_field` / :func:`join_key_field` (the last four defined in
:mod:`telemetry_lib.ksql.analyzer.join_types`, re-exported here), :func:`build_join_tree` and
:func:`source_plan`. No polars here.

Plan shape of ``SELECT ... FROM a JOIN b ON ... JOIN c ON ... [WHERE] [GROUP BY|PARTITION BY]``::

    Sink <- Project <- [Limit] <- [PartitionBy | Aggregate] <- [Filter WHERE]
         <- Join#1(kind, type)
              left:  Join#0(...)                       (N-way: each step's output feeds the next)
                       left:  [Repartition] <- JoinSide[a] <- Source[a]
                       right: [Repartition] <- JoinSide[b] <- Source[b]
              right: [Repartition] <- JoinSide[c] <- Source[c]

A :class:`RepartitionNode` sits on a side whose join expression is not its key (only streams can
be repartitioned; the analyzer rejects tables with ksqlDB's error). In memory it changes nothing
but the key; on Kafka the runtime writes the side through the internal topic
``<appId>-<context>-repartition`` (``context`` is :attr:`RepartitionNode.context`:
``Join-left`` / ``Join-right`` for stream-stream sides, ``Join`` for the stream of a stream-table
join, with one ``L_`` prefix per level a nested join sits below the last one, as ksqlDB names
them — reference §4.8) and reads it back before the join.

Operator contract (what the physical planner builds and every join operator must keep)
==========================================================================================

Kinds (:data:`JoinKind`) and the operator of each (``exec`` modules; constructor in brackets):

- ``stream-table`` (INNER, LEFT)  -> ``exec.join.StreamTableJoinOperator(node)``
- ``table-table`` (INNER, LEFT, RIGHT, FULL; on the primary key)
                                  -> ``exec.join.TableTableJoinOperator(node)``
- ``stream-stream`` (INNER, LEFT, RIGHT, FULL; WITHIN required)
                                  -> ``exec.join_stream_stream.StreamStreamJoinOperator(node)``
- ``table-table-fk`` (INNER, LEFT; left table's non-key expression = right table's key)
                                  -> ``exec.join_fk.ForeignKeyJoinOperator(node)``

Every constructor takes exactly one positional argument, the :class:`JoinNode`, and derives
everything else from it. Operators subclass ``exec.join_base.JoinOperator``: the pipeline calls
``process_side(side, batch, ctx, out)`` with ``side`` = ``"left"`` or ``"right"`` (never
``process_batch``); ``snapshot() -> bytes`` / ``restore(bytes)`` hold the join state
(checkpointed by the Kafka runtime like the aggregate state); lifecycle hooks as for any
:class:`~telemetry_lib.ksql.exec.operator.Operator` (``on_watermark`` is not called for joins:
stream time is the max ROWTIME an operator has seen, kept in its own state).

Input frames. A batch handed to ``process_side`` comes from ONE side and holds, in input order:

- the side's data fields, listed in :attr:`JoinNode.left_fields` / :attr:`JoinNode.right_fields`.
  For a leaf source with alias ``A`` these are ``A_<COL>`` for each key, value and header column
  and for the pseudo columns ``A_ROWTIME``, ``A_ROWPARTITION``, ``A_ROWOFFSET`` (plus
  ``A_WINDOWSTART`` / ``A_WINDOWEND`` for a windowed source) — :func:`side_field` spells them.
  For a nested join (N-way) they are all data fields of that join's output.
- the join key: ``__ksql_jk_<i>`` (:func:`join_key_field`) for ``i`` in
  ``range(len(left_key))``, the value of the side's key expression ``i`` (already evaluated by
  the planner's key step, or read back from the repartition topic). Null keys are possible.
- ``ROWTIME`` (Int64): the record's timestamp (event time after TIMESTAMP extraction; for a
  nested join: that join's result time).
- ``__ksql_null_value`` (Boolean): a tombstone (table side) or a null stream value. A stream
  record with a null value is dropped by every join (Kafka Streams skips null values).
- ``__ksql_null_key`` and ``__ksql_headers`` (the record's headers); ``WINDOWSTART`` /
  ``WINDOWEND`` when the sides are windowed.

Table sides arrive as changelogs: each row is the new value of its key (or a tombstone).

Output frames. An operator emits, in the order the triggering inputs arrived:

- every field of ``left_fields`` then every field of ``right_fields``; a side without a match
  (LEFT/RIGHT/FULL) has nulls there;
- the output key ``__ksql_jk_<i>`` for each :attr:`JoinNode.key_columns` entry: the join key
  value (FULL OUTER: the non-null side's key; ``table-table-fk``: the LEFT table's primary key,
  taken from the left fields named by :attr:`JoinNode.left_primary_key`);
- ``ROWTIME``: stream-table: the stream record's; stream-stream and table-table:
  ``max(left, right)`` over the rows joined (the present side's when one is missing);
  table-table-fk: ``max`` of the two rows' times;
- ``__ksql_null_value``: True for a tombstone of the result (table results only);
- ``__ksql_null_key`` False; ``__ksql_headers`` of the triggering record;
  ``WINDOWSTART`` / ``WINDOWEND`` carried through when windowed.

Semantics per kind (ksqlDB / Kafka Streams, cache off: one output per triggering input):

- stream-table: each stream row is joined with the table's latest value for its key at that
  point of the input order; table updates emit nothing. INNER drops unmatched stream rows, LEFT
  emits them with null right fields. Stream rows with a null key are dropped (INNER) or emitted
  unmatched (LEFT).
- table-table (primary key): a change on one side joins the other side's current value;
  INNER emits a result when both sides exist after the change and a tombstone when the changed
  side was deleted (or its row no longer matches) while the other side exists; LEFT/RIGHT keep
  the outer side's rows; FULL emits whenever either side exists, a tombstone when both are gone;
  an outer side's delete of a key it never had, with the other side absent, emits nothing.
- stream-stream: see ``exec.join_stream_stream`` (J2): WITHIN (before, after), GRACE.
- table-table-fk: see ``exec.join_fk`` (J2).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from telemetry_lib.ksql.analyzer.joins import (
    JoinAnalysis,
    JoinKeyColumn,
    JoinKind,
    JoinType,
    JoinWindow,
    join_key_field,
    side_field,
)
from telemetry_lib.ksql.analyzer.query import AnalyzedQuery
from telemetry_lib.ksql.analyzer.typed import TypedExpression
from telemetry_lib.ksql.catalog import DataSource
from telemetry_lib.ksql.plan.logical import LogicalNode, SourceNode
from telemetry_lib.ksql.types import SqlType

__all__ = [
    "JOIN_KINDS",
    "JoinKeyColumn",
    "JoinKind",
    "JoinNode",
    "JoinSideNode",
    "JoinType",
    "JoinWindow",
    "RepartitionNode",
    "Side",
    "build_join_tree",
    "join_key_field",
    "side_field",
    "source_plan",
]

logger = logging.getLogger(__name__)

Side = Literal["left", "right"]

JOIN_KINDS: tuple[JoinKind, ...] = (
    "stream-stream",
    "stream-table",
    "table-table",
    "table-table-fk",
)


@dataclass(frozen=True)
class JoinSideNode(LogicalNode):
    """A leaf source as a join input: columns renamed to ``<ALIAS>_<COL>`` join fields."""

    child: SourceNode
    alias: str
    #: (column name in the source frame, join field name), key/value/header/pseudo columns.
    fields: tuple[tuple[str, str], ...]

    def children(self) -> tuple[LogicalNode, ...]:
        return (self.child,)

    def label(self) -> str:
        return f"JoinSide[{self.alias}]"

    @property
    def source(self) -> DataSource:
        return self.child.source


@dataclass(frozen=True)
class RepartitionNode(LogicalNode):
    """Re-key one join side by ``keys`` (typed over the side's join fields).

    ``context``: ksqlDB's operator name for the internal topic suffix (``Join-left`` gives
    ``<appId>-Join-left-repartition``)."""

    child: LogicalNode
    keys: tuple[TypedExpression, ...]
    context: str

    def children(self) -> tuple[LogicalNode, ...]:
        return (self.child,)

    def label(self) -> str:
        return f"Repartition[{', '.join(k.text for k in self.keys)}; topic=-{self.context}-repartition]"


@dataclass(frozen=True)
class JoinNode(LogicalNode):
    """One JOIN step (see the module docstring for the operator contract)."""

    left: LogicalNode
    right: LogicalNode
    kind: JoinKind
    join_type: JoinType
    #: Key expressions of each side, typed over that side's join fields (one today: ksqlDB
    #: joins on a single expression).
    left_key: tuple[TypedExpression, ...]
    right_key: tuple[TypedExpression, ...]
    within: JoinWindow | None
    #: Output key columns (their values in ``join_key_field(i)`` of the output).
    key_columns: tuple[JoinKeyColumn, ...]
    left_fields: tuple[str, ...]
    right_fields: tuple[str, ...]
    #: ``table-table-fk``: the left fields holding the left table's primary key (output key).
    left_primary_key: tuple[str, ...] = ()
    #: Position of the step in an N-way join (0 for the first JOIN), for state/topic names.
    step: int = 0
    #: Source names on each side, for EXPLAIN and error messages.
    left_name: str = ""
    right_name: str = ""
    #: SQL type of every data field of both sides (and of the key fields), so an operator can
    #: emit typed nulls for a side it has not seen yet.
    field_types: tuple[tuple[str, SqlType], ...] = ()

    def children(self) -> tuple[LogicalNode, ...]:
        return (self.left, self.right)

    @property
    def output_fields(self) -> tuple[str, ...]:
        """Data fields of the output (left then right), before the key and internal fields."""
        return self.left_fields + self.right_fields

    def label(self) -> str:
        criteria = " AND ".join(
            f"{lk.text} = {rk.text}" for lk, rk in zip(self.left_key, self.right_key, strict=True)
        )
        window = f", {self.within.describe()}" if self.within is not None else ""
        keys = ", ".join(
            f"{k.name}{' (synthetic)' if k.synthetic else ''}" for k in self.key_columns
        )
        return (
            f"Join[{self.kind} {self.join_type} {self.left_name} x {self.right_name} "
            f"ON {criteria}{window}; key={keys}]"
        )


def _context(kind: str, side: Side, step: int, steps: int) -> str:
    """ksqlDB's operator name of a repartition before join ``step`` (``Join-left``,
    ``Join`` for the stream of a stream-table join; nested joins of an N-way join get ``L_``
    prefixes, one per level below the last join)."""
    prefix = "L_" * (steps - 1 - step)
    if kind == "stream-table":
        return f"{prefix}Join"
    return f"{prefix}Join-{side}"


def build_join_tree(join: JoinAnalysis) -> JoinNode:
    """The JoinNode tree of ``join`` (leaves: JoinSide <- Source, with Repartition where a side
    is re-keyed), each step's output feeding the next step's left input."""
    first = join.sources[0]
    node: LogicalNode = JoinSideNode(
        SourceNode(first.source, first.alias), first.alias, first.fields
    )
    left_fields = first.field_names
    types = {col.name: col.type for col in join.joined.columns}
    steps = len(join.steps)
    for step in join.steps:
        left = node
        if step.left_repartition:
            left = RepartitionNode(
                left, (step.left_expr,), context=_context(step.kind, "left", step.index, steps)
            )
        r = step.right
        right: LogicalNode = JoinSideNode(SourceNode(r.source, r.alias), r.alias, r.fields)
        if step.right_repartition:
            right = RepartitionNode(
                right, (step.right_expr,), context=_context(step.kind, "right", step.index, steps)
            )
        fields = left_fields + r.field_names
        field_types = tuple((f, types[f]) for f in fields if f in types)
        node = JoinNode(
            left=left,
            right=right,
            kind=step.kind,
            join_type=step.join_type,
            left_key=(step.left_expr,),
            right_key=(step.right_expr,),
            within=step.within,
            key_columns=step.keys,
            left_fields=left_fields,
            right_fields=r.field_names,
            left_primary_key=step.left_primary_key,
            step=step.index,
            left_name=step.left_name,
            right_name=r.alias,
            field_types=field_types
            + tuple((join_key_field(i), k.type) for i, k in enumerate(step.keys)),
        )
        left_fields = fields
    assert isinstance(node, JoinNode)
    return node


def source_plan(analysis: AnalyzedQuery) -> LogicalNode:
    """The input of a query's plan: its source, or the join tree of a JOIN query."""
    if analysis.join is not None:
        return build_join_tree(analysis.join)
    return SourceNode(analysis.source, analysis.alias)
