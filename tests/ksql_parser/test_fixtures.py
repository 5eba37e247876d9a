"""Data-driven fixtures: identity.sql round-trips, errors.sql fails with the given messages."""

from __future__ import annotations

import pytest

from telemetry_lib.ksql.errors import ParseError
from telemetry_lib.ksql.parser import parse
from telemetry_lib.ksql.parser.formatter import format_statement

from .helpers import error_cases, identity_statements

IDENTITY = identity_statements()
ERRORS = error_cases()


def test_fixtures_are_not_empty() -> None:
    assert len(IDENTITY) > 100
    assert len(ERRORS) > 30


@pytest.mark.parametrize("text", IDENTITY, ids=[s[:60] for s in IDENTITY])
def test_identity(text: str) -> None:
    (statement,) = parse(text)
    formatted = format_statement(statement)
    (again,) = parse(formatted)
    assert again == statement, formatted
    # The canonical text is a fixed point.
    assert format_statement(again) == formatted


@pytest.mark.parametrize(("message", "text"), ERRORS, ids=[m[:50] for m, _ in ERRORS])
def test_error(message: str, text: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(text)
    assert message in str(info.value)
    assert info.value.line >= 1
    assert info.value.column >= 1
