"""The engine's metastore: streams, tables, persistent queries and custom types.

Owns: the frozen descriptions of a data source (:class:`DataSource` with its :class:`Column` s,
key/value :class:`FormatSpec`, topic, window info and timestamp column), of a running persistent
query (:class:`QueryInfo`), and the mutable :class:`Catalog` that holds them plus the registry of
``CREATE TYPE`` aliases and the persistent-query id counter (reference §2.2: ``CSAS_<SINK>_<n>``,
``CTAS_<SINK>_<n>``, ``INSERTQUERY_<n>`` with one global ``n``).

Names are stored exactly as resolved by the parser (unquoted identifiers already upper-cased), so
lookups are exact. The catalog validates nothing about SQL semantics (that is the analyzer's job);
it only refuses impossible states (a duplicate name without replace, an unknown name) with
ksqlDB's wording. No polars here.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from telemetry_lib.ksql.errors import AnalysisError, KsqlEngineError
from telemetry_lib.ksql.types import SqlType
from telemetry_lib.ksql.windows import WindowInfo

__all__ = [
    "PSEUDO_COLUMNS",
    "Catalog",
    "Column",
    "ColumnRole",
    "DataSource",
    "FormatSpec",
    "QueryInfo",
    "QueryKind",
    "SourceType",
    "WINDOW_BOUND_COLUMNS",
    "quote_identifier",
    "unknown_source_error",
]

logger = logging.getLogger(__name__)

#: Pseudo columns every source exposes (reference §2.4); never stored in a schema.
PSEUDO_COLUMNS: tuple[str, ...] = ("ROWTIME", "ROWPARTITION", "ROWOFFSET")
#: Extra pseudo columns of windowed sources.
WINDOW_BOUND_COLUMNS: tuple[str, ...] = ("WINDOWSTART", "WINDOWEND")

QueryKind = Literal["CSAS", "CTAS", "INSERT"]


def quote_identifier(name: str) -> str:
    """Back-quote a column/source name the way ksqlDB prints schemas (```` `a``b` ````)."""
    return "`" + name.replace("`", "``") + "`"


class ColumnRole(enum.Enum):
    """Where a column's value lives in a Kafka record."""

    KEY = "KEY"
    VALUE = "VALUE"
    HEADER = "HEADER"


class SourceType(enum.Enum):
    STREAM = "STREAM"
    TABLE = "TABLE"

    @property
    def lower(self) -> str:
        return self.value.lower()

    @property
    def title(self) -> str:
        return self.value.capitalize()


@dataclass(frozen=True)
class Column:
    """One declared column. ``header_key`` is set for ``BYTES HEADER('k')`` columns; a header
    column with ``header_key=None`` is the ``ARRAY<STRUCT<KEY STRING, VALUE BYTES>> HEADERS`` form."""

    name: str
    type: SqlType
    role: ColumnRole = ColumnRole.VALUE
    header_key: str | None = None

    def ddl(self) -> str:
        """Column text as ksqlDB prints it in schemas: ```ID` INTEGER KEY``."""
        suffix = ""
        if self.role is ColumnRole.KEY:
            suffix = " KEY"
        elif self.role is ColumnRole.HEADER:
            suffix = " HEADERS" if self.header_key is None else f" HEADER('{self.header_key}')"
        return f"{quote_identifier(self.name)} {self.type.sql()}{suffix}"


@dataclass(frozen=True)
class FormatSpec:
    """A key or value format: its name (upper case) and options.

    ``wrap_single_value`` is None when not given (the format's default applies);
    ``delimiter`` is the DELIMITED separator character (None = ``,``).
    ``properties`` keeps any other format property (schema ids, full names) verbatim.
    """

    name: str
    wrap_single_value: bool | None = None
    delimiter: str | None = None
    properties: Mapping[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        return self.name


@dataclass(frozen=True)
class DataSource:
    """A stream or table registered in the catalog (ksqlDB's DataSource)."""

    name: str
    source_type: SourceType
    columns: tuple[Column, ...]
    topic: str
    key_format: FormatSpec
    value_format: FormatSpec
    timestamp_column: str | None = None
    timestamp_format: str | None = None
    window: WindowInfo | None = None
    #: ``CREATE SOURCE STREAM/TABLE``: read-only (no INSERT, no DELETE TOPIC, no OR REPLACE).
    is_source: bool = False
    #: Statement text that created it (DESCRIBE ``statement``).
    statement_text: str = ""
    #: Id of the C*AS query that writes it, if any (dropped together with the source).
    created_by_query: str | None = None

    @property
    def key_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.role is ColumnRole.KEY)

    @property
    def value_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.role is ColumnRole.VALUE)

    @property
    def header_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.role is ColumnRole.HEADER)

    @property
    def is_windowed(self) -> bool:
        return self.window is not None

    @property
    def is_table(self) -> bool:
        return self.source_type is SourceType.TABLE

    def column(self, name: str) -> Column | None:
        """The column called exactly ``name``, or None."""
        for col in self.columns:
            if col.name == name:
                return col
        return None

    def ordered_columns(self) -> tuple[Column, ...]:
        """Key columns, then value columns, then header columns (ksqlDB's schema order)."""
        return self.key_columns + self.value_columns + self.header_columns

    def schema_text(self) -> str:
        """``ID INT KEY, NAME STRING`` in ksqlDB's back-quoted form, keys first."""
        return ", ".join(c.ddl() for c in self.ordered_columns())

    def with_query(self, query_id: str | None) -> DataSource:
        return replace(self, created_by_query=query_id)


@dataclass(frozen=True)
class QueryInfo:
    """A persistent query (CSAS, CTAS or INSERT INTO ... SELECT)."""

    query_id: str
    kind: QueryKind
    statement_text: str
    sink: str
    sink_topic: str
    sources: tuple[str, ...]
    source_topics: tuple[str, ...]
    state: Literal["RUNNING", "PAUSED"] = "RUNNING"


class Catalog:
    """Mutable registry of sources, queries and custom types for one engine.

    ``snapshot()`` / ``restore()`` let the engine validate a whole multi-statement request in a
    sandbox (reference §1.2: validate all statements, then run them) and roll back on failure.
    """

    def __init__(self) -> None:
        self._sources: dict[str, DataSource] = {}
        self._queries: dict[str, QueryInfo] = {}
        self._types: dict[str, SqlType] = {}
        self._next_query_number = 0

    # ------------------------------------------------------------------ sources
    def get_source(self, name: str) -> DataSource | None:
        return self._sources.get(name)

    def require_source(self, name: str, *, kind: SourceType | None = None) -> DataSource:
        """The source called ``name``; raises ksqlDB's ``Stream X does not exist`` otherwise."""
        source = self._sources.get(name)
        if source is None or (kind is not None and source.source_type is not kind):
            label = kind.title if kind is not None else "Source"
            raise KsqlEngineError(f"{label} {name} does not exist.")
        return source

    def sources(self, kind: SourceType | None = None) -> list[DataSource]:
        """Sources in name order, optionally only streams or only tables."""
        return [
            s for _, s in sorted(self._sources.items()) if kind is None or s.source_type is kind
        ]

    def put_source(self, source: DataSource) -> None:
        """Add or replace ``source`` (the caller decided that replacing is allowed)."""
        self._sources[source.name] = source

    def remove_source(self, name: str) -> DataSource:
        source = self._sources.pop(name, None)
        if source is None:
            raise KsqlEngineError(f"Source {name} does not exist.")
        return source

    def similar_source_names(self, name: str) -> list[str]:
        """Existing names equal to ``name`` ignoring case (for the "Did you mean" hint)."""
        return [n for n in self._sources if n.upper() == name.upper() and n != name]

    # ------------------------------------------------------------------ queries
    def next_query_id(self, kind: QueryKind, sink: str) -> str:
        """``CSAS_<SINK>_<n>`` / ``CTAS_<SINK>_<n>`` / ``INSERTQUERY_<n>``; consumes one ``n``."""
        number = self._next_query_number
        self._next_query_number += 1
        if kind == "INSERT":
            return f"INSERTQUERY_{number}"
        return f"{kind}_{sink.upper()}_{number}"

    def put_query(self, query: QueryInfo) -> None:
        self._queries[query.query_id] = query

    def get_query(self, query_id: str) -> QueryInfo | None:
        return self._queries.get(query_id)

    def remove_query(self, query_id: str) -> QueryInfo:
        query = self._queries.pop(query_id, None)
        if query is None:
            raise KsqlEngineError(f"Unknown queryId: {query_id}")
        return query

    def queries(self) -> list[QueryInfo]:
        """Persistent queries in creation order."""
        return list(self._queries.values())

    def queries_reading(self, source: str) -> list[str]:
        return [q.query_id for q in self._queries.values() if source in q.sources]

    def queries_writing(self, source: str) -> list[str]:
        return [q.query_id for q in self._queries.values() if q.sink == source]

    # ------------------------------------------------------------------ types
    def get_type(self, name: str) -> SqlType | None:
        return self._types.get(name.upper())

    def put_type(self, name: str, sql_type: SqlType) -> None:
        self._types[name.upper()] = sql_type

    def remove_type(self, name: str) -> bool:
        return self._types.pop(name.upper(), None) is not None

    def types(self) -> dict[str, SqlType]:
        return dict(sorted(self._types.items()))

    # ------------------------------------------------------------------ sandbox
    def snapshot(self) -> _CatalogState:
        return _CatalogState(
            dict(self._sources), dict(self._queries), dict(self._types), self._next_query_number
        )

    def restore(self, state: _CatalogState) -> None:
        self._sources = dict(state.sources)
        self._queries = dict(state.queries)
        self._types = dict(state.types)
        self._next_query_number = state.next_query_number

    def topics_in_use(self) -> set[str]:
        return {s.topic for s in self._sources.values()}


@dataclass(frozen=True)
class _CatalogState:
    sources: dict[str, DataSource]
    queries: dict[str, QueryInfo]
    types: dict[str, SqlType]
    next_query_number: int


def unknown_source_error(
    name: str, *, line: int | None = None, column: int | None = None
) -> AnalysisError:
    """``Line: 2, Col: 13: Source `X` does not exist.`` (location omitted when unknown)."""
    prefix = f"Line: {line}, Col: {column}: " if line is not None and column is not None else ""
    return AnalysisError(f"{prefix}Source {quote_identifier(name)} does not exist.")
