"""Meaning-preserving rewrite rules over logical plans (STYLE.md #3), applied in :data:`RULES` order.

Owns: the ordered ``RULES`` tuple and :func:`apply_rules`. Each rule is a pure function
``LogicalNode -> LogicalNode`` that only preserves meaning; validation belongs to the analyzer.

- ``drop_true_filter``: a WHERE that is the literal TRUE filters nothing on streams (on tables it
  would still turn nothing into tombstones), so the Filter node is removed.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from telemetry_lib.ksql.analyzer.typed import TLiteral
from telemetry_lib.ksql.plan.logical import FilterNode, LogicalNode

__all__ = ["RULES", "apply_rules", "drop_true_filter"]

logger = logging.getLogger(__name__)

Rule = Callable[[LogicalNode], LogicalNode]


def _map_children(node: LogicalNode, rule: Rule) -> LogicalNode:
    if not dataclasses.is_dataclass(node):
        return node
    changes = {}
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        if isinstance(value, LogicalNode):
            changes[f.name] = rule(value)
    return dataclasses.replace(node, **changes) if changes else node


def drop_true_filter(node: LogicalNode) -> LogicalNode:
    node = _map_children(node, drop_true_filter)
    if (
        isinstance(node, FilterNode)
        and isinstance(node.predicate, TLiteral)
        and node.predicate.value is True
    ):
        return node.child
    return node


RULES: tuple[Rule, ...] = (drop_true_filter,)


def apply_rules(plan: LogicalNode) -> LogicalNode:
    for rule in RULES:
        plan = rule(plan)
    return plan
