"""Analysis of joins: ``FROM a [type] JOIN b [WITHIN ...] ON ... [JOIN c ON ...]`` (engine III).

Owns: :func:`analyze_join`, which resolves every source of the FROM clause, builds the joined
scope (each column of source alias ``A`` visible as ``A.COL`` — and as ``COL`` when no other
source has that name — in the batch field ``A_COL``), validates each JOIN step with ksqlDB's
rules and wording (reference §2.4: equi-joins on one expression per side, each side referencing
exactly one source, stream-table on the table's primary key, table-table on the right table's
primary key — a non-key left expression making it a foreign-key join —, WITHIN required for
stream-stream and refused otherwise, supported join types per kind, matching key types, no
self joins, no implicit repartition of windowed sources), classifies each step
(:data:`~telemetry_lib.ksql.plan.join.JoinKind`), decides which side needs a repartition (a
stream whose join expression is not its key), names the join key (the first viable key column
in the projection, ``<ALIAS>_<COL>``; a synthetic ``ROWKEY`` — ``ROWKEY_n`` past the source
columns' ``ROWKEY_m`` — for FULL OUTER joins and criteria without a column), and rewrites the
statement so the single-source analyzer can finish the job over the joined schema:

- every column reference becomes the unqualified batch field (``L.A`` -> ``L_A``; the synthetic
  key -> ``__ksql_jk_0``); an unaliased top-level reference keeps its SQL name as an alias
  (``L.A`` is named ``L_A`` when another source has an ``A``, else ``A``; ksqlDB's naming);
- ``*`` and ``A.*`` expand to the sources' columns with prefixed names (``L_A``, ``R_B``...),
  led by the synthetic key for ``*``.

Helpers live next door: :mod:`~telemetry_lib.ksql.analyzer.join_types` (kinds, WITHIN windows,
key columns, field names), :mod:`~telemetry_lib.ksql.analyzer.join_rewrite` (the AST rewriting)
and :mod:`~telemetry_lib.ksql.analyzer.join_keys` (key columns of the result, co-partitioning).

The joined schema is presented as a virtual :class:`~telemetry_lib.ksql.catalog.DataSource`
(:attr:`JoinAnalysis.joined`): key column ``__ksql_jk_0`` (or the left table's primary key
fields for a foreign-key join), then every side field as a value column. It is a TABLE when
the result of the last step is a table. No polars here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from telemetry_lib.ksql.analyzer.join_rewrite import (
    field_scope,
    qualify,
    rewrite_query,
    sources_of,
    text_of,
    to_fields,
)
from telemetry_lib.ksql.analyzer.join_types import (
    JoinKeyColumn,
    JoinKind,
    JoinType,
    JoinWindow,
    join_key_field,
    side_field,
)
from telemetry_lib.ksql.analyzer.scope import Scope, ScopeColumn
from telemetry_lib.ksql.analyzer.typed import TColumn, TypedExpression
from telemetry_lib.ksql.catalog import (
    PSEUDO_COLUMNS,
    WINDOW_BOUND_COLUMNS,
    Catalog,
    Column,
    ColumnRole,
    DataSource,
    SourceType,
    quote_identifier,
)
from telemetry_lib.ksql.errors import AnalysisError, KsqlEngineError, KsqlStatementError
from telemetry_lib.ksql.parser.ast import (
    AliasedRelation,
    Comparison,
    Expression,
    JoinedSource,
    JoinRelation,
    LogicalBinary,
    Query,
)
from telemetry_lib.ksql.types import BIGINT, INTEGER, SqlType

__all__ = [
    "JoinAnalysis",
    "JoinKeyColumn",
    "JoinKind",
    "JoinSource",
    "JoinStep",
    "JoinType",
    "JoinWindow",
    "analyze_join",
    "column_of",
    "join_key_field",
    "join_type_text",
    "side_field",
]

logger = logging.getLogger(__name__)

_PSEUDO_TYPES: dict[str, SqlType] = {
    "ROWTIME": BIGINT,
    "ROWPARTITION": INTEGER,
    "ROWOFFSET": BIGINT,
    "WINDOWSTART": BIGINT,
    "WINDOWEND": BIGINT,
}
# ksqlDB's synthetic join key column name (ColumnNames.generateSyntheticJoinKey).
_SYNTHETIC_KEY = "ROWKEY"
_MAP_KEY_ISSUE = "https://github.com/confluentinc/ksql/issues/6621"

TypeFn = Callable[[Expression, Scope, str], TypedExpression]


@dataclass(frozen=True)
class JoinSource:
    """One source of the FROM clause with its alias and ``(column, join field)`` pairs (key,
    value, header and pseudo columns, in that order)."""

    source: DataSource
    alias: str
    fields: tuple[tuple[str, str], ...]

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f for _, f in self.fields)

    def star_fields(self) -> list[tuple[str, SqlType]]:
        """``alias.*``: key columns, the window bounds of a windowed source, value and header
        columns, as ``(field, type)``."""
        src = self.source
        out = [(side_field(self.alias, c.name), c.type) for c in src.key_columns]
        if src.is_windowed:
            out += [(side_field(self.alias, b), BIGINT) for b in WINDOW_BOUND_COLUMNS]
        cols = src.value_columns + src.header_columns
        return out + [(side_field(self.alias, c.name), c.type) for c in cols]


@dataclass(frozen=True)
class JoinStep:
    """One JOIN clause, analysed. Expressions are typed over the joined scope's fields."""

    index: int
    kind: JoinKind
    join_type: JoinType
    right: JoinSource
    left_expr: TypedExpression
    right_expr: TypedExpression
    left_repartition: bool
    right_repartition: bool
    within: JoinWindow | None
    #: Output key column of this step (FK joins: the left table's primary key columns).
    keys: tuple[JoinKeyColumn, ...]
    #: FK joins: the left fields holding the left table's primary key.
    left_primary_key: tuple[str, ...] = ()
    left_name: str = ""


@dataclass(frozen=True)
class JoinAnalysis:
    """The FROM clause of a join query: its sources, steps and joined schema."""

    sources: tuple[JoinSource, ...]
    steps: tuple[JoinStep, ...]
    scope: Scope
    joined: DataSource
    #: Fields whose value equals the final join key (ksqlDB's viable key columns), in order,
    #: each with its qualified text (``L.A``); empty for a synthetic or foreign key.
    viable: tuple[tuple[str, str], ...]
    synthetic: bool
    foreign_key: bool

    @property
    def is_table(self) -> bool:
        return self.joined.is_table

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.source.topic for s in self.sources))


def join_type_text(join_type: JoinType) -> str:
    """ksqlDB's JoinNode.JoinType text (``[INNER] JOIN``...)."""
    return {
        "INNER": "[INNER] JOIN",
        "LEFT": "LEFT [OUTER] JOIN",
        "RIGHT": "RIGHT [OUTER] JOIN",
        "FULL": "[FULL] OUTER JOIN",
    }[join_type]


# ------------------------------------------------------------------------------ analysis
def analyze_join(query: Query, catalog: Catalog, type_fn: TypeFn) -> tuple[JoinAnalysis, Query]:
    """Analyse ``query``'s JOIN clause; returns the analysis and the query rewritten over the
    joined schema's fields (see the module docstring)."""
    relation = query.from_
    assert isinstance(relation, JoinRelation)
    sources = [_resolve(relation.left, catalog)]
    for joined in relation.joins:
        sources.append(_resolve(joined.relation, catalog))
    _check_duplicates(sources)
    base = _base_scope(sources)
    by_alias = {s.alias: s for s in sources}
    for index, joined in enumerate(relation.joins):  # ksqlDB checks every criteria first
        _criteria(joined, sources[index + 1], base, by_alias)
    kafka = [s.alias for s in sources if s.source.value_format.name == "KAFKA"]
    if kafka:
        raise KsqlStatementError(
            f"Source(s) {', '.join(kafka)} are using the 'KAFKA' value format. This format does "
            "not yet support JOIN."
        )
    steps: list[JoinStep] = []
    # Expressions equal to the current join key (typed), and viable key columns (field, text).
    equivalents: list[TypedExpression] = []
    viable: list[tuple[str, str]] = []
    left_is_table = sources[0].source.is_table
    left_windowed = sources[0].source.window
    synthetic = False
    foreign_key = False
    for index, joined in enumerate(relation.joins):
        right = sources[index + 1]
        left_sources = sources[: index + 1]
        step, equivalents, viable, synthetic = _analyze_step(
            index,
            joined,
            left_sources,
            right,
            base,
            type_fn,
            left_is_table=left_is_table,
            left_windowed=left_windowed is not None,
            equivalents=equivalents,
            viable=viable,
            sources=sources,
        )
        foreign_key = step.kind == "table-table-fk"
        steps.append(step)
        left_is_table = left_is_table and right.source.is_table
    last = steps[-1]
    scope = base
    if synthetic:
        key = last.keys[0]
        scope = base.with_columns(ScopeColumn(None, key.name, key.type, join_key_field(0)))
    joined_source = _joined_source(sources, last, is_table=left_is_table)
    analysis = JoinAnalysis(
        sources=tuple(sources),
        steps=tuple(steps),
        scope=scope,
        joined=joined_source,
        viable=tuple(viable),
        synthetic=synthetic,
        foreign_key=foreign_key,
    )
    return analysis, rewrite_query(query, analysis)


def _resolve(relation: AliasedRelation, catalog: Catalog) -> JoinSource:
    source = catalog.get_source(relation.name)
    if source is None:
        prefix = ""
        if relation.loc is not None:
            prefix = f"Line: {relation.loc.line}, Col: {relation.loc.column}: "
        known = ", ".join(s.name for s in catalog.sources()) or "none yet"
        raise AnalysisError(
            f"{prefix}{relation.name} does not exist.",
            hint=f"known streams and tables: {known}",
        )
    alias = relation.alias or relation.name
    cols = [c.name for c in source.ordered_columns()] + list(PSEUDO_COLUMNS)
    if source.is_windowed:
        cols += list(WINDOW_BOUND_COLUMNS)
    return JoinSource(source, alias, tuple((c, side_field(alias, c)) for c in cols))


def _check_duplicates(sources: list[JoinSource]) -> None:
    seen: set[str] = set()
    for s in sources:
        name = s.source.name
        if name in seen:
            if len(sources) == 2:
                raise KsqlStatementError(
                    f"Can not join '{name}' to '{name}': self joins are not yet supported."
                )
            raise KsqlStatementError(
                f"N-way joins do not support multiple occurrences of the same source. "
                f"Source: '{name}'."
            )
        seen.add(name)


def _base_scope(sources: list[JoinSource]) -> Scope:
    cols: list[ScopeColumn] = []
    for s in sources:
        for name, fld in s.fields:
            col = s.source.column(name)
            sql_type = col.type if col is not None else _PSEUDO_TYPES[name]
            cols.append(ScopeColumn(s.alias, name, sql_type, fld))
    return Scope(tuple(cols))


def _field_owner(sources: list[JoinSource], fld: str) -> JoinSource | None:
    for s in sources:
        if fld in s.field_names:
            return s
    return None


def _criteria(
    joined: JoinedSource,
    right: JoinSource,
    scope: Scope,
    by_alias: dict[str, JoinSource] | None = None,
) -> tuple[Comparison, Expression, Expression, bool]:
    """The qualified criteria of a JOIN clause and its (left, right) sides, flipped when written
    right-first; ksqlDB's errors for criteria that are not one equality between two sources."""
    criteria = joined.criteria
    qualified = qualify(criteria, scope)
    if isinstance(criteria, LogicalBinary):
        raise KsqlStatementError(
            "Invalid join condition: joins on multiple conditions are not yet supported. "
            f"Got {text_of(qualified)}."
        )
    if not isinstance(criteria, Comparison):
        raise KsqlStatementError(f"Unsupported join expression: {text_of(qualified)}")
    if criteria.op != "=":
        raise KsqlStatementError("Only equality join criteria is supported.")
    assert isinstance(qualified, Comparison)
    left_refs = sources_of(qualified.left)
    right_refs = sources_of(qualified.right)
    for side_refs, side in ((left_refs, qualified.left), (right_refs, qualified.right)):
        if len(side_refs) != 1:
            raise KsqlStatementError(
                f"Invalid comparison expression '{text_of(side)}' in join '{text_of(qualified)}'. "
                "Each side of the join comparision must contain references from exactly one "
                "source."
            )
    (left_ref,), (right_ref,) = tuple(left_refs), tuple(right_refs)
    if left_ref == right_ref:
        raise KsqlEngineError(
            "Each side of the join must reference exactly one source and not the same source. "
            f"Left side references `{left_ref}` and right references `{right_ref}`"
        )
    if by_alias is not None:
        _check_windowing(by_alias[left_ref], by_alias[right_ref])
    flipped = False
    if right.alias not in (left_ref, right_ref):
        raise KsqlEngineError(
            f"A join criteria is expected to reference the source (`{right.alias}`) in the FROM "
            f"clause, instead the right source references `{right_ref}` and the left source "
            f"references `{left_ref}`"
        )
    left_ast, right_ast = qualified.left, qualified.right
    if left_ref == right.alias:
        flipped = True
        left_ast, right_ast = right_ast, left_ast
    return qualified, left_ast, right_ast, flipped


def _check_windowing(left: JoinSource, right: JoinSource) -> None:
    """ksqlDB's analyzer: windowed sources join only windowed sources of a compatible kind
    (sessions with sessions; tumbling and hopping with each other)."""
    lw, rw = left.source.window, right.source.window
    if (lw is None) != (rw is None):
        left_kind = lw.type.value if lw is not None else "not"
        right_kind = rw.type.value if rw is not None else "not"
        raise KsqlStatementError(
            "Can not join windowed source to non-windowed source.\n"
            f"`{left.alias}` is {left_kind} windowed\n"
            f"`{right.alias}` is {right_kind} windowed"
        )
    if lw is None or rw is None:
        return
    left_session = lw.type.value == "SESSION"
    if left_session != (rw.type.value == "SESSION"):
        raise KsqlStatementError(
            "Incompatible windowed sources.\n"
            f"Left source: {lw.type.value}\n"
            f"Right source: {rw.type.value}\n"
            "Session windowed sources can only be joined to other session windowed sources, and "
            "may still not result in expected behaviour as session bounds must be an exact match "
            "for the join to work\n"
            "Hopping and tumbling windowed sources can only be joined to other hopping and "
            "tumbling windowed sources"
        )


def _analyze_step(  # noqa: C901, PLR0912, PLR0915 - one validation per ksqlDB rule, in its order
    index: int,
    joined: JoinedSource,
    left_sources: list[JoinSource],
    right: JoinSource,
    scope: Scope,
    type_fn: TypeFn,
    *,
    left_is_table: bool,
    left_windowed: bool,
    equivalents: list[TypedExpression],
    viable: list[tuple[str, str]],
    sources: list[JoinSource],
) -> tuple[JoinStep, list[TypedExpression], list[tuple[str, str]], bool]:
    qualified, left_ast, right_ast, flipped = _criteria(joined, right, scope)
    left_expr = type_fn(to_fields(left_ast, scope), field_scope(scope), "JOIN ON")
    right_expr = type_fn(to_fields(right_ast, scope), field_scope(scope), "JOIN ON")
    written = f"{text_of(qualified.left)} = {text_of(qualified.right)}"

    right_is_table = right.source.is_table
    left_name = left_sources[0].alias
    join_type: JoinType = joined.join_type
    # ksqlDB names the sources each side of the criteria references (JoinInfo) in its errors.
    (left_ref,) = tuple(sources_of(left_ast))
    left_source = next(s for s in left_sources if s.alias == left_ref).source.name
    got = f"{left_source} {join_type_text(join_type)} {right.source.name}"
    right_windowed = right.source.window is not None

    # Is each side's expression already its key?
    if index == 0:
        left_keyed = _is_source_key(left_expr, left_sources[0])
    else:
        left_keyed = left_expr in equivalents
    right_keyed = _is_source_key(right_expr, right)
    within = _within(joined)
    kind: JoinKind
    # ksqlDB's LogicalPlanner.verifyJoin, in its order.
    if not left_is_table and right_is_table:
        kind = "stream-table"
        if join_type in ("FULL", "RIGHT"):
            word = "full-outer" if join_type == "FULL" else "right-outer"
            raise KsqlStatementError(
                f"Invalid join type: {word} join not supported for stream-table join. Got {got}."
            )
        if not right_keyed:
            raise KsqlStatementError(
                "Invalid join condition: stream-table joins require to join on the table's "
                f"primary key. Got {written}."
            )
    elif not left_is_table:
        kind = "stream-stream"
    else:
        if not right_is_table:
            raise KsqlStatementError(
                "Invalid join order: table-stream joins are not supported; only stream-table "
                f"joins. Got {got}."
            )
        if not right_keyed:
            raise KsqlStatementError(
                "Invalid join condition: table-table joins require to join on the primary key of "
                f"the right input table. Got {written}."
            )
        # ksqlDB decides primary vs foreign key by the column's own source: a nested join's
        # left expression naming a source's primary key is a primary-key join even when the
        # nested result is keyed otherwise (an outer join's synthetic key) - and a table result
        # cannot be re-keyed.
        source_key = left_keyed or any(_is_source_key(left_expr, s) for s in left_sources)
        kind = "table-table" if source_key else "table-table-fk"
        if source_key and not left_keyed:
            previous = equivalents[0].text if equivalents else "ROWKEY"
            raise KsqlStatementError(
                "Cannot repartition a TABLE source. If this is a join, make sure that the "
                f"criteria uses the TABLE's key column {previous} instead of {left_expr.text}"
            )
    if kind == "table-table-fk":
        if join_type == "FULL":
            raise KsqlStatementError(
                "Invalid join type: full-outer join not supported for foreign-key table-table "
                f"join. Got {got}."
            )
        if join_type == "RIGHT":
            raise KsqlStatementError("RIGHT OUTER JOIN on a foreign key is not supported")
        if index > 0:
            raise KsqlStatementError(
                "Invalid join condition: foreign-key table-table joins are not supported as part "
                f"of n-way joins. Got {written}."
            )
    if left_expr.type != right_expr.type:
        lt, rt = left_expr.type, right_expr.type
        first, second = (right_ast, left_ast) if flipped else (left_ast, right_ast)
        ft, st = (rt, lt) if flipped else (lt, rt)
        raise KsqlStatementError(
            f"Invalid join condition: types don't match. Got {text_of(first)}{{{_sql(ft)}}} = "
            f"{text_of(second)}{{{_sql(st)}}}."
        )
    key_type = left_expr.type
    assert key_type is not None
    if kind == "table-table-fk" and (left_windowed or right_windowed):
        raise KsqlStatementError(
            "Foreign-key table-table joins are not supported on windowed tables."
        )
    if kind == "stream-stream" and within is None:
        raise KsqlStatementError(
            "Stream-Stream joins must have a WITHIN clause specified. None was provided. To learn "
            "about how to specify a WITHIN clause with a stream-stream join, please visit: "
            "https://docs.confluent.io/current/ksql/docs/syntax-reference.html"
            "#create-stream-as-select"
        )
    if kind == "stream-table" and within is not None:
        raise KsqlStatementError(
            "A window definition was provided for a Stream-Table join. These joins are not "
            "windowed. Please drop the window definition (ie. the WITHIN clause) and try to "
            "execute your join again."
        )
    if kind.startswith("table-table") and within is not None:
        raise KsqlStatementError(
            "A window definition was provided for a Table-Table join. These joins are not "
            "windowed. Please drop the window definition (i.e. the WITHIN clause) and try to "
            "execute your Table-Table join again."
        )
    left_repartition = kind != "table-table-fk" and not left_keyed
    right_repartition = not right_keyed
    if (left_repartition and left_windowed) or (right_repartition and right_windowed):
        raise KsqlStatementError(
            "Implicit repartitioning of windowed sources is not supported. See "
            "https://github.com/confluentinc/ksql/issues/4385."
        )
    # Keys containing maps cannot be serialized reliably (checked on the repartition key).
    from telemetry_lib.ksql.serde.formats import contains_map

    if contains_map(key_type):
        name = left_expr.field_name if isinstance(left_expr, TColumn) else _SYNTHETIC_KEY
        raise KsqlStatementError(
            "Map keys, including types that contain maps, are not supported as they may lead to "
            f"unexpected behavior due to inconsistent serialization. Key column name: "
            f"{quote_identifier(name)}. Column type: {key_type.sql()}. See {_MAP_KEY_ISSUE} "
            "for more."
        )

    # The key of this step's output.
    left_primary_key: tuple[str, ...] = ()
    synthetic = False
    if kind == "table-table-fk":
        pk = left_sources[0].source.key_columns
        left_primary_key = tuple(side_field(left_sources[0].alias, c.name) for c in pk)
        keys = tuple(JoinKeyColumn(f, c.type) for f, c in zip(left_primary_key, pk, strict=True))
        # The result is keyed by the left table's primary key: a later step may join on it.
        new_equivalents: list[TypedExpression] = [
            TColumn(f, type=c.type) for f, c in zip(left_primary_key, pk, strict=True)
        ]
        new_viable = [
            (f, f"{left_sources[0].alias}.{c.name}")
            for f, c in zip(left_primary_key, pk, strict=True)
        ]
    else:
        # ksqlDB's join equivalence set: expressions equal to the key. An outer join's key
        # is neither side's expression (either may be null), so its set is empty.
        new_equivalents = (equivalents if left_keyed and index > 0 else []) + [
            left_expr,
            right_expr,
        ]
        if join_type == "FULL":
            new_equivalents = []
        if join_type == "FULL":
            new_viable = []
        else:
            carried = viable if (left_keyed and index > 0) else []
            new_viable = list(carried)
            for expr in (left_expr, right_expr):
                if isinstance(expr, TColumn) and all(f != expr.field_name for f, _ in new_viable):
                    owner = _field_owner(sources, expr.field_name)
                    col = column_of(owner, expr.field_name) if owner else expr.field_name
                    text = f"{owner.alias}.{col}" if owner else expr.field_name
                    new_viable.append((expr.field_name, text))
        synthetic = not new_viable
        name = _synthetic_name(sources) if synthetic else new_viable[0][0]
        keys = (JoinKeyColumn(name, key_type, synthetic=synthetic),)
    step = JoinStep(
        index=index,
        kind=kind,
        join_type=join_type,
        right=right,
        left_expr=left_expr,
        right_expr=right_expr,
        left_repartition=left_repartition,
        right_repartition=right_repartition,
        within=within,
        keys=keys,
        left_primary_key=left_primary_key,
        left_name=left_name,
    )
    return step, new_equivalents, new_viable, synthetic


def column_of(owner: JoinSource, fld: str) -> str:
    return next(c for c, f in owner.fields if f == fld)


def _is_source_key(expr: TypedExpression, side: JoinSource) -> bool:
    keys = side.source.key_columns
    return (
        len(keys) == 1
        and isinstance(expr, TColumn)
        and expr.field_name == side_field(side.alias, keys[0].name)
    )


def _within(joined: JoinedSource) -> JoinWindow | None:
    w = joined.within
    if w is None:
        return None
    grace = w.grace.millis if w.grace is not None else None
    return JoinWindow(before_ms=w.before.millis, after_ms=w.after.millis, grace_ms=grace)


def _synthetic_name(sources: list[JoinSource]) -> str:
    """``ROWKEY``, or ``ROWKEY_<n+1>`` past the largest ``ROWKEY[_n]`` source column."""
    taken = -1
    for s in sources:
        for col in s.source.columns:
            if col.name == _SYNTHETIC_KEY:
                taken = max(taken, 0)
            elif col.name.startswith(_SYNTHETIC_KEY + "_") and col.name[7:].isdigit():
                taken = max(taken, int(col.name[7:]))
    return _SYNTHETIC_KEY if taken < 0 else f"{_SYNTHETIC_KEY}_{taken + 1}"


def _sql(t: SqlType | None) -> str:
    return t.sql() if t is not None else "NULL"


def _joined_source(sources: list[JoinSource], last: JoinStep, *, is_table: bool) -> DataSource:
    """The joined schema as a virtual source (see the module docstring)."""
    cols: list[Column] = []
    if last.kind == "table-table-fk":
        for k, pk_field in zip(last.keys, last.left_primary_key, strict=True):
            cols.append(Column(pk_field, k.type, ColumnRole.KEY))
    else:
        cols.append(Column(join_key_field(0), last.keys[0].type, ColumnRole.KEY))
    key_names = {c.name for c in cols}
    for s in sources:
        for name, fld in s.fields:
            if fld in key_names:
                continue
            col = s.source.column(name)
            cols.append(Column(fld, col.type if col is not None else _PSEUDO_TYPES[name]))
    left = sources[0].source
    return DataSource(
        name=left.name,
        source_type=SourceType.TABLE if is_table else SourceType.STREAM,
        columns=tuple(cols),
        topic=left.topic,
        key_format=left.key_format,
        value_format=left.value_format,
        window=left.window,
    )
