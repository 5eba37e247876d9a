"""Materialized tables for pull queries: the current row of each key, kept in memory.

Owns: :class:`Materializations` (one :class:`MaterializedTable` per table a running persistent
query writes) and the rule of when a pull query may use one.

ksqlDB answers a pull query from the state store of the persistent query that materializes the
table, never from the topic. Here the state store is the table's current rows: the latest
record of each key (tombstones delete the key) as the query produced them — exactly what
ksqlDB's materialization exposes (the aggregate store with the query's projection and HAVING
applied on top). Two ways of keeping it current:

- **fed** (the Kafka server): the Kafka runtime's topic I/O hands every batch a query produces
  to :meth:`Materializations.feed` when the batch's outputs are captured, before they are
  produced — like Kafka Streams' stores, which change when a record is processed, not when the
  transaction commits. A pull is then a look-up in memory: no consumer, no broker round trip.
- **tailed** (the in-memory backend, whose queries run synchronously): each pull reads only the
  records appended to the topic since the previous pull.

A table is seeded on its first pull by reading its topic once (the runtime does not re-emit
what it produced before this process started). Outputs fed while the seed is read are kept
aside and applied after it, so a key's newest value always wins: every output is fed before it
can be in the topic, so anything the seed read also came later through the feed.

Batches are appended in O(1) and merged into the current rows only when a pull needs them, so
the runtime's hot path pays one list append per batch. A key lookup (``WHERE K = v``,
``K IN (...)``, ORs of those, ANDed with anything) first keeps only the rows of the looked-up
keys (:func:`key_prefilter`, vectorised on the decoded key column), so the query's pipeline —
whose table filter turns every non-matching row into a tombstone it still projects — sees a
handful of rows instead of the whole table.

A pull query falls back to reading the topic (:func:`~telemetry_lib.ksql.rest.transient.
latest_per_key`) when the table is not materialized here: a source table, a table whose query
is not running, or a pull that selects ``ROWOFFSET`` (an offset is unknown until the record is
produced). Known gap, shared with the topic scan: windows past a windowed table's retention
are still returned (ksqlDB's window store drops them).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import polars as pl

from telemetry_lib.ksql.catalog import DataSource
from telemetry_lib.ksql.driver import kafka_partition
from telemetry_lib.ksql.exec.serde_bridge import decode_key
from telemetry_lib.ksql.parser.ast import (
    ColumnRef,
    Comparison,
    DecimalLiteral,
    DoubleLiteral,
    Expression,
    InList,
    IntegerLiteral,
    LogicalBinary,
    LongLiteral,
    StringLiteral,
)
from telemetry_lib.ksql.runtime.io import RECORD_SCHEMA, empty_records

__all__ = ["MaterializedTable", "Materializations", "key_prefilter", "required_keys"]

logger = logging.getLogger(__name__)

#: Merge pending batches into the current rows once this many have piled up, even without a
#: pull, so a table nobody queries for a while does not hold every batch's outputs.
_MAX_PENDING_BATCHES = 256
_COLUMNS = list(RECORD_SCHEMA)


@dataclass
class MaterializedTable:
    """The current rows of one table topic (see module doc)."""

    topic: str
    #: The running query (its RunningQuery object) whose outputs these are.
    owner: object
    partitions: int = 1
    _rows: pl.DataFrame | None = None
    _pending: list[pl.DataFrame] = field(default_factory=list)
    _positions: dict[int, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def seeded(self) -> bool:
        return self._rows is not None

    def append(self, records: pl.DataFrame) -> None:
        """Outputs of one batch, in production order (partition may be null)."""
        if records.height == 0:
            return
        batch = records.select(
            [
                pl.col(c) if c in records.columns else pl.lit(None, dtype=t).alias(c)
                for c, t in RECORD_SCHEMA.items()
            ]
        )
        with self._lock:
            self._pending.append(batch)
            if self._rows is not None and len(self._pending) >= _MAX_PENDING_BATCHES:
                self._merge()

    def seed(self, records: pl.DataFrame, *, partitions: int) -> None:
        """The topic's records read once; outputs appended meanwhile are applied after them.

        A second seed (two first pulls at once) is ignored: the first already holds
        everything fed since it began, which the later read may lack.
        """
        with self._lock:
            if self._rows is not None:
                return
            self.partitions = max(partitions, 1)
            self._rows = empty_records()
            self._pending.insert(0, records.select(_COLUMNS))
            self._advance(records)
            self._merge()

    def tail(self, records: pl.DataFrame) -> None:
        """Records appended to the topic since the last read (the tailed mode)."""
        with self._lock:
            self._advance(records)
        self.append(records)

    @property
    def positions(self) -> dict[int, int]:
        """Per partition, the next offset the tailed mode reads."""
        with self._lock:
            return dict(self._positions)

    def rows(self) -> pl.DataFrame:
        """The current rows: one record per key, no tombstones, partitions filled in."""
        with self._lock:
            self._merge()
            assert self._rows is not None, "rows() before seed()"
            return self._rows

    def _advance(self, records: pl.DataFrame) -> None:
        if records.height == 0:
            return
        ends = records.group_by("partition").agg(pl.col("offset").max())
        for part, last in ends.iter_rows():
            if part is not None and last is not None:
                self._positions[int(part)] = max(self._positions.get(int(part), 0), int(last) + 1)

    def _merge(self) -> None:
        if not self._pending or self._rows is None:
            return
        merged = pl.concat([self._rows, *self._pending], how="vertical_relaxed")
        self._pending.clear()
        latest = merged.unique(subset=["key"], keep="last", maintain_order=True)
        latest = latest.filter(pl.col("value").is_not_null())
        if latest.get_column("partition").null_count():
            computed = pl.Series(
                "partition", kafka_partition(latest.get_column("key"), self.partitions)
            )
            latest = latest.with_columns(
                pl.col("partition").fill_null(computed.cast(pl.Int32)).cast(pl.Int32)
            )
        self._rows = latest


class Materializations:
    """The tables pull queries read from memory; ``fed`` when the runtime feeds their outputs."""

    def __init__(self, *, fed: bool) -> None:
        self.fed = fed
        self._tables: dict[str, MaterializedTable] = {}
        self._lock = threading.Lock()

    def feed(self, captured: Sequence[tuple[str, pl.DataFrame]]) -> None:
        """One batch's captured outputs, ``(topic, records)`` in production order."""
        if not self._tables:
            return
        for topic, records in captured:
            table = self._tables.get(topic)
            if table is not None:
                table.append(records)

    def table(self, topic: str, owner: object) -> tuple[MaterializedTable, bool]:
        """The table over ``topic`` written by ``owner``; True when it still needs its seed.

        A table whose writer changed (the query was re-created) starts afresh.
        """
        with self._lock:
            table = self._tables.get(topic)
            if table is None or table.owner is not owner:
                table = MaterializedTable(topic, owner)
                self._tables[topic] = table
            return table, not table.seeded

    def forget(self, topic: str) -> None:
        with self._lock:
            self._tables.pop(topic, None)

    def retain(self, owners: Sequence[object]) -> None:
        """Drop the tables whose writer is not among ``owners`` (the running queries): a
        terminated query's rows are not kept in memory."""
        alive = {id(owner) for owner in owners}
        with self._lock:
            for topic in [t for t, table in self._tables.items() if id(table.owner) not in alive]:
                del self._tables[topic]

    def topics(self) -> list[str]:
        with self._lock:
            return sorted(self._tables)


# ---------------------------------------------------------------------- key look-ups
def required_keys(where: Expression | None, key: str) -> list[Any] | None:
    """Literal values the key column ``key`` must take for a row to pass ``where``; None when
    the clause does not pin the key (a scan, a range, a non-literal comparison...)."""
    if where is None:
        return None
    if isinstance(where, LogicalBinary):
        left, right = required_keys(where.left, key), required_keys(where.right, key)
        if where.op == "AND":
            if left is not None and right is not None:
                return [v for v in left if any(_same(v, w) for w in right)]
            return left if left is not None else right
        return left + right if left is not None and right is not None else None
    if isinstance(where, Comparison) and where.op == "=":
        for col, lit in ((where.left, where.right), (where.right, where.left)):
            if isinstance(col, ColumnRef) and col.name == key:
                value = _literal(lit)
                return [value] if value is not _NOT_LITERAL else None
        return None
    if isinstance(where, InList) and isinstance(where.value, ColumnRef):
        if where.value.name != key:
            return None
        values = [_literal(item) for item in where.items]
        return None if any(v is _NOT_LITERAL for v in values) else values
    return None


def key_prefilter(
    records: pl.DataFrame, source: DataSource, where: Expression | None
) -> pl.DataFrame:
    """``records`` (a table's current rows) narrowed to the keys ``where`` looks up; all of
    them when it looks up none or the literals' types do not match the key's."""
    keys = source.key_columns
    if len(keys) != 1 or records.height == 0:
        return records
    wanted = required_keys(where, keys[0].name)
    if wanted is None:
        return records
    column = decode_key(records.get_column("key"), source).columns.get_column(keys[0].name)
    if column.dtype == pl.String and all(isinstance(v, str) for v in wanted):
        mask = column.is_in(list(wanted))
    elif column.dtype.is_numeric() and all(_numeric(v) for v in wanted):
        mask = column.cast(pl.Float64).is_in([float(v) for v in wanted])
    else:
        return records
    return records.filter(mask.fill_null(False))


_NOT_LITERAL = object()


def _literal(expr: Expression) -> Any:
    if isinstance(expr, (StringLiteral, IntegerLiteral, LongLiteral, DoubleLiteral)):
        return expr.value
    if isinstance(expr, DecimalLiteral):
        return Decimal(expr.text)
    return _NOT_LITERAL


def _numeric(value: object) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def _same(a: object, b: object) -> bool:
    if _numeric(a) and _numeric(b):
        return float(a) == float(b)  # type: ignore[arg-type]
    return a == b
