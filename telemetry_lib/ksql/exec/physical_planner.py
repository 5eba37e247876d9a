"""The only bridge from the logical plan to physical operators (STYLE.md #2).

Owns: :func:`plan_physical`, which walks a logical plan from its source up and builds one
operator per node into a :class:`~telemetry_lib.ksql.exec.operator.Pipeline`
(Source -> Filter -> [Aggregate] -> PartitionBy -> Limit -> Project -> Sink), and
:func:`explain_physical`.
"""

from __future__ import annotations

import logging

from telemetry_lib.ksql.errors import InternalError
from telemetry_lib.ksql.exec.filter import FilterOperator
from telemetry_lib.ksql.exec.limit import LimitOperator
from telemetry_lib.ksql.exec.operator import Operator, Pipeline
from telemetry_lib.ksql.exec.partition_by import PartitionByOperator
from telemetry_lib.ksql.exec.project import ProjectOperator
from telemetry_lib.ksql.exec.sink import SinkOperator
from telemetry_lib.ksql.exec.source import SourceOperator
from telemetry_lib.ksql.plan.logical import (
    FilterNode,
    LimitNode,
    LogicalNode,
    PartitionByNode,
    ProjectNode,
    SinkNode,
    SourceNode,
)

__all__ = ["plan_physical"]

logger = logging.getLogger(__name__)


def plan_physical(plan: SinkNode) -> Pipeline:
    """Operators for ``plan``, source first (a JOIN plan: a JoinPipeline with one input chain
    per source, see :mod:`telemetry_lib.ksql.exec.join_pipeline`)."""
    from telemetry_lib.ksql.plan.join import JoinNode

    if any(isinstance(n, JoinNode) for n in _walk(plan)):
        from telemetry_lib.ksql.exec.join_pipeline import plan_join_pipeline

        return plan_join_pipeline(plan, lambda n: _operator(n, plan))
    chain: list[LogicalNode] = []
    node: LogicalNode = plan
    while True:
        chain.append(node)
        children = node.children()
        if not children:
            break
        if len(children) != 1:
            raise InternalError(
                f"stateless plans are linear; {node.label()} has {len(children)} inputs"
            )
        node = children[0]
    operators: list[Operator] = [_operator(n, plan) for n in reversed(chain)]
    return Pipeline(operators)


def _walk(node: LogicalNode) -> list[LogicalNode]:
    out = [node]
    for child in node.children():
        out += _walk(child)
    return out


def _operator(node: LogicalNode, plan: SinkNode) -> Operator:
    from telemetry_lib.ksql.plan.aggregate import AggregateNode

    if isinstance(node, AggregateNode):
        from telemetry_lib.ksql.exec.aggregate import AggregateOperator

        return AggregateOperator(node.aggregation)
    if isinstance(node, SourceNode):
        return SourceOperator(node.source)
    if isinstance(node, FilterNode):
        return FilterOperator(node.predicate, emit_tombstones=node.emit_tombstones)
    if isinstance(node, PartitionByNode):
        return PartitionByOperator(node.keys)
    if isinstance(node, LimitNode):
        return LimitOperator(node.limit)
    if isinstance(node, ProjectNode):
        return ProjectOperator(node.key_columns + node.value_columns)
    if isinstance(node, SinkNode):
        return SinkOperator(
            topic=node.sink.topic,
            columns=node.output_columns,
            key_format=node.key_format,
            value_format=node.value_format,
            timestamp_column=node.timestamp_column,
            timestamp_format=node.timestamp_format,
            window=node.window,
        )
    raise InternalError(f"no physical operator for logical node {type(node).__name__}")
