"""Logical plan nodes of a persistent query (STYLE.md #4: plans are data).

Owns: the frozen node dataclasses — :class:`SourceNode`, :class:`FilterNode`,
:class:`PartitionByNode`, :class:`ProjectNode`, :class:`SinkNode` — each with ``children()`` and
a one-line ``label()``, and :func:`explain`, the numbered-tree text EXPLAIN prints and the goldens
pin. Expressions are typed expressions (analyzer output); no polars here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from telemetry_lib.ksql.analyzer.query import OutputColumn, PartitionKey
from telemetry_lib.ksql.analyzer.typed import TypedExpression
from telemetry_lib.ksql.catalog import DataSource, FormatSpec
from telemetry_lib.ksql.windows import WindowInfo

__all__ = [
    "FilterNode",
    "LimitNode",
    "LogicalNode",
    "PartitionByNode",
    "ProjectNode",
    "SinkNode",
    "SourceNode",
    "explain",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LogicalNode:
    """Base of logical plan nodes."""

    def children(self) -> tuple[LogicalNode, ...]:
        return ()

    def label(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class SourceNode(LogicalNode):
    """Read ``source``'s topic: deserialize, pseudo columns, timestamp extraction."""

    source: DataSource
    alias: str

    def label(self) -> str:
        s = self.source
        ts = f", timestamp={s.timestamp_column}" if s.timestamp_column else ""
        window = f", window={s.window.describe()}" if s.window else ""
        return (
            f"Source[{s.source_type.value} {s.name} AS {self.alias}, topic={s.topic}, "
            f"key={s.key_format.name}, value={s.value_format.name}{ts}{window}]"
        )


@dataclass(frozen=True)
class FilterNode(LogicalNode):
    child: LogicalNode
    predicate: TypedExpression
    #: Tables turn filtered-out rows into tombstones instead of dropping them.
    emit_tombstones: bool = False

    def children(self) -> tuple[LogicalNode, ...]:
        return (self.child,)

    def label(self) -> str:
        mode = ", tombstones" if self.emit_tombstones else ""
        return f"Filter[{self.predicate.text}{mode}]"


@dataclass(frozen=True)
class PartitionByNode(LogicalNode):
    """Re-key a stream by expressions (empty ``keys``: PARTITION BY NULL, keyless)."""

    child: LogicalNode
    keys: tuple[PartitionKey, ...]

    def children(self) -> tuple[LogicalNode, ...]:
        return (self.child,)

    def label(self) -> str:
        inner = ", ".join(k.text for k in self.keys) if self.keys else "NULL"
        return f"PartitionBy[{inner}]"


@dataclass(frozen=True)
class LimitNode(LogicalNode):
    """LIMIT n: pass the first ``limit`` rows of the query's lifetime, then none."""

    child: LogicalNode
    limit: int

    def children(self) -> tuple[LogicalNode, ...]:
        return (self.child,)

    def label(self) -> str:
        return f"Limit[{self.limit}]"


@dataclass(frozen=True)
class ProjectNode(LogicalNode):
    child: LogicalNode
    key_columns: tuple[OutputColumn, ...]
    value_columns: tuple[OutputColumn, ...]

    def children(self) -> tuple[LogicalNode, ...]:
        return (self.child,)

    def label(self) -> str:
        cols = [f"{c.expression.text or c.name} AS {c.name}" for c in self.key_columns]
        cols = [f"{c} KEY" for c in cols]
        cols += [f"{c.expression.text or c.name} AS {c.name}" for c in self.value_columns]
        return f"Project[{', '.join(cols)}]"


@dataclass(frozen=True)
class SinkNode(LogicalNode):
    """Serialize and produce into ``sink``'s topic (the C*AS target or the INSERT INTO target)."""

    child: LogicalNode
    sink: DataSource
    key_format: FormatSpec
    value_format: FormatSpec
    timestamp_column: str | None
    timestamp_format: str | None
    window: WindowInfo | None
    #: Casts needed by INSERT INTO (result column -> sink type), by column name.
    output_columns: tuple[OutputColumn, ...]

    def children(self) -> tuple[LogicalNode, ...]:
        return (self.child,)

    def label(self) -> str:
        ts = f", timestamp={self.timestamp_column}" if self.timestamp_column else ""
        return (
            f"Sink[{self.sink.source_type.value} {self.sink.name}, topic={self.sink.topic}, "
            f"key={self.key_format.name}, value={self.value_format.name}{ts}]"
        )


def explain(node: LogicalNode) -> str:
    """Numbered tree, root first, children indented: ``[0] Sink[...]`` / ``  [1] Project[...]``."""
    lines: list[str] = []
    counter = 0

    def visit(n: LogicalNode, depth: int) -> None:
        nonlocal counter
        lines.append(f"{'  ' * depth}[{counter}] {n.label()}")
        counter += 1
        for child in n.children():
            visit(child, depth + 1)

    visit(node, 0)
    return "\n".join(lines)
