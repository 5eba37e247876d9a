"""Name resolution for expressions: which columns an expression may refer to.

Owns: :class:`ScopeColumn` and :class:`Scope` — the ordered columns visible to an expression
(source alias, column name, SQL type, batch field name) and the resolution of ``col`` and
``src.col`` with ksqlDB's error wording. Built by the statement analyzer (C1) for each clause;
consumed by :func:`telemetry_lib.ksql.analyzer.expressions.type_expression`.

API::

    Scope(columns: tuple[ScopeColumn, ...])
    scope.resolve(name, source=None, *, context="SELECT") -> ScopeColumn   # raises AnalysisError
    scope.with_columns(*cols) -> Scope
    Scope.of(*(source, name, type[, field])) -> Scope  # convenience for tests/tools

Resolution rules: an unqualified name must match exactly one column (names are already
normalised by the parser: unquoted upper-cased); a qualified ``src.col`` matches the column
of that source alias. When a join makes an unqualified name ambiguous, ksqlDB's error lists the
candidates.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from telemetry_lib.ksql.errors import AnalysisError
from telemetry_lib.ksql.types import SqlType

__all__ = ["Scope", "ScopeColumn"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScopeColumn:
    """One visible column: ``source`` alias (None for a source-less scope), name, type, field."""

    source: str | None
    name: str
    type: SqlType
    field_name: str


@dataclass(frozen=True)
class Scope:
    """The ordered columns an expression can see."""

    columns: tuple[ScopeColumn, ...]

    @classmethod
    def of(
        cls, *cols: tuple[str | None, str, SqlType] | tuple[str | None, str, SqlType, str]
    ) -> Scope:
        """Build a scope from ``(source, name, type[, field])`` tuples; field defaults to name."""
        built = []
        for c in cols:
            field_name = c[3] if len(c) == 4 else c[1]
            built.append(ScopeColumn(c[0], c[1], c[2], field_name))
        return cls(tuple(built))

    def with_columns(self, *cols: ScopeColumn) -> Scope:
        """A scope with ``cols`` appended."""
        return Scope(self.columns + tuple(cols))

    def find(self, name: str, source: str | None = None) -> list[ScopeColumn]:
        """All columns matching ``name`` (and ``source`` when given)."""
        return [
            c for c in self.columns if c.name == name and (source is None or c.source == source)
        ]

    def resolve(
        self, name: str, source: str | None = None, *, context: str = "SELECT"
    ) -> ScopeColumn:
        """The column ``[source.]name`` refers to; ksqlDB's errors when none or several match."""
        matches = self.find(name, source)
        if len(matches) == 1:
            return matches[0]
        if not matches:
            if source is not None and not any(c.source == source for c in self.columns):
                raise AnalysisError(
                    f"'{source}' is not a valid stream/table name or alias.",
                    hint="use the name or alias given in the FROM clause",
                )
            shown = f"{source}.{name}" if source is not None else name
            raise AnalysisError(
                f"{context} column '{shown}' cannot be resolved.",
                hint=_suggest(name, self.columns),
            )
        candidates = ", ".join(f"{c.source}.{c.name}" for c in matches)
        raise AnalysisError(
            f"Column '{name}' is ambiguous. Could be any of: {candidates}",
            hint="qualify the column with its source name or alias",
        )


def _suggest(name: str, columns: tuple[ScopeColumn, ...]) -> str | None:
    names = sorted({c.name for c in columns})
    if not names:
        return None
    import difflib

    close = difflib.get_close_matches(name, names, n=1)
    if close:
        return f"did you mean {close[0]}? Known columns: {', '.join(names)}"
    return f"known columns: {', '.join(names)}"
