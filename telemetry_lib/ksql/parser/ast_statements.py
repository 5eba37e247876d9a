"""AST nodes for ksqlDB statements, queries, relations, windows and their clauses.

Owns: every statement node ``parse()`` returns, the pieces of a query (select items,
relations, joins, windows, durations) and table elements / WITH properties.

Conventions: as in ``ast_expressions`` (frozen, tuples, ``loc`` keyword-only and not compared,
names normalised: unquoted identifiers upper-cased). Each statement also carries ``text``
(keyword-only, not compared): its own source text up to and including the ``;`` when
``parse()`` produced it — the REST server's ``statementText`` and the catalog's query text.

WITH properties keep the order written; names are upper-cased unless written as a quoted
string (``'key'=...`` keeps case) — ksqlDB treats property names case-insensitively, so use
``properties_dict(stmt.properties)`` (keys upper-cased) to look them up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from telemetry_lib.ksql.parser.ast_expressions import (
    BooleanLiteral,
    DecimalLiteral,
    DoubleLiteral,
    Expression,
    IntegerLiteral,
    Literal_,
    LongLiteral,
    Node,
    NullLiteral,
    StringLiteral,
    TimeUnit,
    TypeNode,
)

__all__ = [
    "AliasedRelation",
    "AllColumns",
    "AlterColumn",
    "AlterSource",
    "AlterSystemProperty",
    "ColumnConstraint",
    "CreateAsSelect",
    "CreateConnector",
    "CreateSource",
    "CreateStream",
    "CreateStreamAsSelect",
    "CreateTable",
    "CreateTableAsSelect",
    "DefineVariable",
    "DescribeConnector",
    "DescribeFunction",
    "DescribeSource",
    "DescribeStreams",
    "DescribeTables",
    "DropConnector",
    "DropSource",
    "DropStream",
    "DropTable",
    "DropType",
    "Duration",
    "EmitMode",
    "Explain",
    "HoppingWindow",
    "InsertInto",
    "InsertValues",
    "JoinRelation",
    "JoinType",
    "JoinedSource",
    "ListConnectorPlugins",
    "ListConnectors",
    "ListFunctions",
    "ListProperties",
    "ListQueries",
    "ListStreams",
    "ListTables",
    "ListTopics",
    "ListTypes",
    "ListVariables",
    "PauseQuery",
    "PrintTopic",
    "Property",
    "Query",
    "RegisterType",
    "Relation",
    "ResumeQuery",
    "SelectItem",
    "SessionWindow",
    "SetProperty",
    "SingleColumn",
    "SourceKind",
    "Statement",
    "StructAll",
    "TableElement",
    "TerminateQuery",
    "TumblingWindow",
    "UndefineVariable",
    "UnsetProperty",
    "WindowExpression",
    "WithinExpression",
    "literal_value",
    "properties_dict",
]

SourceKind = Literal["STREAM", "TABLE"]
EmitMode = Literal["CHANGES", "FINAL"]
JoinType = Literal["INNER", "LEFT", "RIGHT", "FULL"]
ColumnConstraint = Literal["KEY", "PRIMARY KEY", "HEADERS", "HEADER"]

_UNIT_MILLIS: dict[str, int] = {
    "MILLISECONDS": 1,
    "SECONDS": 1_000,
    "MINUTES": 60_000,
    "HOURS": 3_600_000,
    "DAYS": 86_400_000,
}


# --------------------------------------------------------------------------------------
# Clause pieces
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Duration(Node):
    """``n UNIT`` in windows, WITHIN and GRACE PERIOD; ``unit`` is the plural canonical name."""

    value: int
    unit: TimeUnit

    @property
    def millis(self) -> int:
        return self.value * _UNIT_MILLIS[self.unit]


@dataclass(frozen=True)
class Property(Node):
    """One ``name = literal`` of a WITH (...) list."""

    name: str
    value: Literal_


def literal_value(lit: Literal_) -> object:
    """The Python value of a literal node (str, int, float, Decimal, bool or None)."""
    if isinstance(lit, StringLiteral):
        return lit.value
    if isinstance(lit, (IntegerLiteral, LongLiteral, DoubleLiteral)):
        return lit.value
    if isinstance(lit, DecimalLiteral):
        return lit.value
    if isinstance(lit, BooleanLiteral):
        return lit.value
    if isinstance(lit, NullLiteral):
        return None
    raise TypeError(f"not a literal: {lit!r}")


def properties_dict(properties: tuple[Property, ...]) -> dict[str, object]:
    """WITH properties as ``{NAME_UPPER: python value}`` (last one wins on repeats)."""
    return {p.name.upper(): literal_value(p.value) for p in properties}


@dataclass(frozen=True)
class TableElement(Node):
    """A column definition ``name type [KEY | PRIMARY KEY | HEADERS | HEADER('k')]``."""

    name: str
    type: TypeNode
    constraint: ColumnConstraint | None = None
    header_key: str | None = None  # only for constraint == "HEADER"


@dataclass(frozen=True)
class SelectItem(Node):
    """Base of select items."""


@dataclass(frozen=True)
class SingleColumn(SelectItem):
    """``expression [[AS] alias]``."""

    expression: Expression
    alias: str | None = None


@dataclass(frozen=True)
class AllColumns(SelectItem):
    """``*`` (``source`` None) or ``src.*``."""

    source: str | None = None


@dataclass(frozen=True)
class StructAll(SelectItem):
    """``base->*``: every field of a struct as its own column."""

    base: Expression


@dataclass(frozen=True)
class Relation(Node):
    """Base of FROM-clause relations."""


@dataclass(frozen=True)
class AliasedRelation(Relation):
    """A source by name with an optional alias (``FROM s [AS] a``)."""

    name: str
    alias: str | None = None


@dataclass(frozen=True)
class WithinExpression(Node):
    """``WITHIN n unit`` (before == after) or ``WITHIN (b unit, a unit)``, ``[GRACE PERIOD g]``."""

    before: Duration
    after: Duration
    grace: Duration | None = None
    # True when written as a single size (kept for formatting; not part of equality).
    single: bool = field(default=True, compare=False)


@dataclass(frozen=True)
class JoinedSource(Node):
    """``[type] JOIN relation [WITHIN ...] ON criteria``."""

    join_type: JoinType
    relation: AliasedRelation
    criteria: Expression
    within: WithinExpression | None = None


@dataclass(frozen=True)
class JoinRelation(Relation):
    """``left JOIN r1 ... JOIN r2 ...`` (n-way joins keep the written order)."""

    left: AliasedRelation
    joins: tuple[JoinedSource, ...]


@dataclass(frozen=True)
class WindowExpression(Node):
    """Base of WINDOW clauses; ``retention``/``grace`` are None when not written."""

    retention: Duration | None = field(default=None, kw_only=True)
    grace: Duration | None = field(default=None, kw_only=True)


@dataclass(frozen=True)
class TumblingWindow(WindowExpression):
    size: Duration


@dataclass(frozen=True)
class HoppingWindow(WindowExpression):
    size: Duration
    advance: Duration


@dataclass(frozen=True)
class SessionWindow(WindowExpression):
    gap: Duration


# --------------------------------------------------------------------------------------
# Statements
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Statement(Node):
    """Base of statements; ``text`` is the statement's own source text (see module doc)."""

    text: str = field(default="", compare=False, kw_only=True, repr=False)


@dataclass(frozen=True)
class Query(Statement):
    """``SELECT ... FROM ... [WINDOW] [WHERE] [GROUP BY] [PARTITION BY] [HAVING] [EMIT] [LIMIT]``.

    ``emit`` None means a pull query when run on its own; inside CSAS/CTAS/INSERT it means
    EMIT CHANGES. ``group_by``/``partition_by`` are None when the clause is absent (an empty
    parenthesised ``GROUP BY ()`` gives an empty tuple, which the analyzer rejects).
    """

    select: tuple[SelectItem, ...]
    from_: Relation
    window: WindowExpression | None = None
    where: Expression | None = None
    group_by: tuple[Expression, ...] | None = None
    partition_by: tuple[Expression, ...] | None = None
    having: Expression | None = None
    emit: EmitMode | None = None
    limit: int | None = None

    @property
    def is_pull(self) -> bool:
        """A standalone SELECT without EMIT is a pull query."""
        return self.emit is None


@dataclass(frozen=True)
class CreateSource(Statement):
    """Base of CREATE [OR REPLACE] [SOURCE] STREAM|TABLE [IF NOT EXISTS] name (...) WITH (...)."""

    name: str
    elements: tuple[TableElement, ...] = ()
    properties: tuple[Property, ...] = ()
    or_replace: bool = False
    if_not_exists: bool = False
    is_source: bool = False  # CREATE SOURCE STREAM/TABLE: read-only, materialized

    @property
    def kind(self) -> SourceKind:
        raise NotImplementedError


@dataclass(frozen=True)
class CreateStream(CreateSource):
    @property
    def kind(self) -> SourceKind:
        return "STREAM"


@dataclass(frozen=True)
class CreateTable(CreateSource):
    @property
    def kind(self) -> SourceKind:
        return "TABLE"


@dataclass(frozen=True)
class CreateAsSelect(Statement):
    """Base of CREATE [OR REPLACE] STREAM|TABLE [IF NOT EXISTS] name [WITH (...)] AS query."""

    name: str
    query: Query
    properties: tuple[Property, ...] = ()
    or_replace: bool = False
    if_not_exists: bool = False

    @property
    def kind(self) -> SourceKind:
        raise NotImplementedError


@dataclass(frozen=True)
class CreateStreamAsSelect(CreateAsSelect):
    @property
    def kind(self) -> SourceKind:
        return "STREAM"


@dataclass(frozen=True)
class CreateTableAsSelect(CreateAsSelect):
    @property
    def kind(self) -> SourceKind:
        return "TABLE"


@dataclass(frozen=True)
class InsertInto(Statement):
    """``INSERT INTO target [WITH (QUERY_ID='...')] query``."""

    target: str
    query: Query
    properties: tuple[Property, ...] = ()


@dataclass(frozen=True)
class InsertValues(Statement):
    """``INSERT INTO target [(c1, ...)] VALUES (v1, ...)``; ``columns`` empty when not listed."""

    target: str
    columns: tuple[str, ...]
    values: tuple[Expression, ...]


@dataclass(frozen=True)
class DropSource(Statement):
    """Base of DROP STREAM|TABLE [IF EXISTS] name [DELETE TOPIC]."""

    name: str
    if_exists: bool = False
    delete_topic: bool = False

    @property
    def kind(self) -> SourceKind:
        raise NotImplementedError


@dataclass(frozen=True)
class DropStream(DropSource):
    @property
    def kind(self) -> SourceKind:
        return "STREAM"


@dataclass(frozen=True)
class DropTable(DropSource):
    @property
    def kind(self) -> SourceKind:
        return "TABLE"


@dataclass(frozen=True)
class ListStreams(Statement):
    extended: bool = False


@dataclass(frozen=True)
class ListTables(Statement):
    extended: bool = False


@dataclass(frozen=True)
class ListQueries(Statement):
    extended: bool = False


@dataclass(frozen=True)
class ListTopics(Statement):
    """``SHOW [ALL] TOPICS [EXTENDED]`` (ALL includes internal topics)."""

    all: bool = False
    extended: bool = False


@dataclass(frozen=True)
class ListProperties(Statement):
    pass


@dataclass(frozen=True)
class ListFunctions(Statement):
    pass


@dataclass(frozen=True)
class ListTypes(Statement):
    pass


@dataclass(frozen=True)
class ListVariables(Statement):
    pass


@dataclass(frozen=True)
class ListConnectors(Statement):
    """``SHOW [SOURCE|SINK] CONNECTORS``; ``scope`` None means all."""

    scope: Literal["SOURCE", "SINK"] | None = None


@dataclass(frozen=True)
class ListConnectorPlugins(Statement):
    pass


@dataclass(frozen=True)
class DescribeSource(Statement):
    """``DESCRIBE name [EXTENDED]`` (ksqlDB's ShowColumns)."""

    name: str
    extended: bool = False


@dataclass(frozen=True)
class DescribeStreams(Statement):
    extended: bool = False


@dataclass(frozen=True)
class DescribeTables(Statement):
    extended: bool = False


@dataclass(frozen=True)
class DescribeFunction(Statement):
    name: str


@dataclass(frozen=True)
class DescribeConnector(Statement):
    name: str


@dataclass(frozen=True)
class Explain(Statement):
    """``EXPLAIN query_id`` or ``EXPLAIN statement`` (exactly one of the two is set)."""

    statement: Statement | None = None
    query_id: str | None = None


@dataclass(frozen=True)
class TerminateQuery(Statement):
    """``TERMINATE query_id`` or ``TERMINATE ALL`` (``query_id`` None)."""

    query_id: str | None = None


@dataclass(frozen=True)
class PauseQuery(Statement):
    """``PAUSE query_id`` or ``PAUSE ALL`` (``query_id`` None)."""

    query_id: str | None = None


@dataclass(frozen=True)
class ResumeQuery(Statement):
    """``RESUME query_id`` or ``RESUME ALL`` (``query_id`` None)."""

    query_id: str | None = None


@dataclass(frozen=True)
class SetProperty(Statement):
    """``SET 'name' = 'value'`` (names and values unquoted, case kept)."""

    name: str
    value: str


@dataclass(frozen=True)
class UnsetProperty(Statement):
    name: str


@dataclass(frozen=True)
class AlterSystemProperty(Statement):
    """``ALTER SYSTEM 'name' = 'value'``."""

    name: str
    value: str


@dataclass(frozen=True)
class DefineVariable(Statement):
    """``DEFINE name = 'value'``; ``name`` keeps its case as written (ksqlDB lower-cases
    nothing here: variables are looked up case-insensitively by ``substitute_variables``)."""

    name: str
    value: str


@dataclass(frozen=True)
class UndefineVariable(Statement):
    name: str


@dataclass(frozen=True)
class PrintTopic(Statement):
    """``PRINT topic [FROM BEGINNING] [INTERVAL|SAMPLE n] [LIMIT n]``; ``topic`` exactly as
    written (an unquoted name keeps its case, as in ksqlDB; quotes removed)."""

    topic: str
    from_beginning: bool = False
    interval: int | None = None
    limit: int | None = None


@dataclass(frozen=True)
class RegisterType(Statement):
    """``CREATE TYPE [IF NOT EXISTS] name AS type``."""

    name: str
    type: TypeNode
    if_not_exists: bool = False


@dataclass(frozen=True)
class DropType(Statement):
    name: str
    if_exists: bool = False


@dataclass(frozen=True)
class AlterColumn(Node):
    """``ADD [COLUMN] name type`` inside ALTER STREAM|TABLE."""

    name: str
    type: TypeNode


@dataclass(frozen=True)
class AlterSource(Statement):
    """``ALTER STREAM|TABLE name ADD [COLUMN] c type [, ADD ...]``."""

    kind: SourceKind
    name: str
    columns: tuple[AlterColumn, ...]


@dataclass(frozen=True)
class CreateConnector(Statement):
    """``CREATE SOURCE|SINK CONNECTOR [IF NOT EXISTS] name WITH (...)``.

    Connector property names keep their case when quoted (``'connector.class'``).
    """

    name: str
    connector_type: Literal["SOURCE", "SINK"]
    properties: tuple[Property, ...]
    if_not_exists: bool = False


@dataclass(frozen=True)
class DropConnector(Statement):
    name: str
    if_exists: bool = False
