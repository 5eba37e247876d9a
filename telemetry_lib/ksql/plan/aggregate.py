"""Logical plan of aggregating queries (GROUP BY, WINDOW, HAVING, EMIT FINAL).

Owns: :class:`AggregateNode` (group rows by the GROUP BY values — within windows when windowed —
and fold the aggregate calls; a table source retracts the old row first) and
:func:`build_aggregate_plan`: Source -> [Filter WHERE] -> Aggregate -> Project -> Sink. The
aggregate applies HAVING itself: a key that stops qualifying becomes a tombstone only when its
previous row qualified (Kafka Streams' KTable filter with old values). No polars here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from telemetry_lib.ksql.analyzer.aggregation import AggregateAnalysis
from telemetry_lib.ksql.analyzer.query import AnalyzedQuery
from telemetry_lib.ksql.catalog import DataSource
from telemetry_lib.ksql.plan.logical import (
    FilterNode,
    LimitNode,
    LogicalNode,
    ProjectNode,
    SinkNode,
)

__all__ = ["AggregateNode", "build_aggregate_plan"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AggregateNode(LogicalNode):
    child: LogicalNode
    aggregation: AggregateAnalysis

    def children(self) -> tuple[LogicalNode, ...]:
        return (self.child,)

    def label(self) -> str:
        a = self.aggregation
        window = f", window={a.window.describe()}" if a.window is not None else ""
        final = ", emit=FINAL" if a.emit_final else ""
        calls = ", ".join(c.text for c in a.calls)
        having = f", having={a.having.text}" if a.having is not None else ""
        return f"Aggregate[group by {', '.join(a.group_by_text)}; {calls}{window}{having}{final}]"


def build_aggregate_plan(analysis: AnalyzedQuery, sink: DataSource) -> SinkNode:
    aggregation = analysis.aggregation
    assert isinstance(aggregation, AggregateAnalysis)
    from telemetry_lib.ksql.plan.join import source_plan

    node: LogicalNode = source_plan(analysis)
    if analysis.where is not None:
        node = FilterNode(node, analysis.where, emit_tombstones=analysis.source.is_table)
    node = AggregateNode(node, aggregation)
    if analysis.limit is not None:
        node = LimitNode(node, analysis.limit)
    node = ProjectNode(node, analysis.key_columns, analysis.value_columns)
    return SinkNode(
        node,
        sink,
        key_format=sink.key_format,
        value_format=sink.value_format,
        timestamp_column=sink.timestamp_column,
        timestamp_format=sink.timestamp_format,
        window=sink.window,
        output_columns=analysis.columns,
    )
