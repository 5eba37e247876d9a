"""Name resolution in a Scope: exact matches, qualified names, ksqlDB's error wording."""

from __future__ import annotations

import pytest

from telemetry_lib.ksql.analyzer.scope import Scope
from telemetry_lib.ksql.errors import AnalysisError
from telemetry_lib.ksql.types import INTEGER, STRING

SCOPE = Scope.of(("L", "ID", INTEGER, "L_ID"), ("R", "ID", STRING, "R_ID"), ("L", "NAME", STRING))


def test_resolves_qualified_and_unique_names_to_batch_fields() -> None:
    assert SCOPE.resolve("ID", "R").field_name == "R_ID"
    assert SCOPE.resolve("NAME").field_name == "NAME"


def test_unknown_column_names_the_clause_and_suggests() -> None:
    with pytest.raises(AnalysisError) as exc:
        SCOPE.resolve("NAM", context="WHERE")
    assert exc.value.message == "WHERE column 'NAM' cannot be resolved."
    assert exc.value.hint is not None and "NAME" in exc.value.hint


def test_ambiguous_and_unknown_source() -> None:
    with pytest.raises(
        AnalysisError, match="Column 'ID' is ambiguous. Could be any of: L.ID, R.ID"
    ):
        SCOPE.resolve("ID")
    with pytest.raises(AnalysisError, match="'X' is not a valid stream/table name or alias."):
        SCOPE.resolve("ID", "X")
