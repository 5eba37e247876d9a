"""Building the logical plan of a persistent query from its analysis.

Owns: :func:`build_logical_plan` — Source -> [Filter] -> [PartitionBy] -> [Limit] -> Project -> Sink, in
ksqlDB's order (WHERE before PARTITION BY, PARTITION BY before the projection) — followed by the
rewrite rules of :mod:`telemetry_lib.ksql.plan.rules`. No polars here.
"""

from __future__ import annotations

import logging

from telemetry_lib.ksql.analyzer.query import AnalyzedQuery
from telemetry_lib.ksql.catalog import DataSource
from telemetry_lib.ksql.plan.logical import (
    FilterNode,
    LimitNode,
    LogicalNode,
    PartitionByNode,
    ProjectNode,
    SinkNode,
)
from telemetry_lib.ksql.plan.rules import apply_rules

__all__ = ["build_logical_plan"]

logger = logging.getLogger(__name__)


def build_logical_plan(analysis: AnalyzedQuery, sink: DataSource) -> SinkNode:
    if analysis.aggregation is not None:
        from telemetry_lib.ksql.plan.aggregate import build_aggregate_plan

        return build_aggregate_plan(analysis, sink)
    from telemetry_lib.ksql.plan.join import source_plan

    node: LogicalNode = source_plan(analysis)
    if analysis.where is not None:
        node = FilterNode(node, analysis.where, emit_tombstones=analysis.source.is_table)
    if analysis.partition_by is not None:
        node = PartitionByNode(node, analysis.partition_by)
    if analysis.limit is not None:
        node = LimitNode(node, analysis.limit)
    node = ProjectNode(node, analysis.key_columns, analysis.value_columns)
    plan = SinkNode(
        node,
        sink,
        key_format=sink.key_format,
        value_format=sink.value_format,
        timestamp_column=sink.timestamp_column,
        timestamp_format=sink.timestamp_format,
        window=sink.window,
        output_columns=analysis.columns,
    )
    result = apply_rules(plan)
    assert isinstance(result, SinkNode)
    return result
