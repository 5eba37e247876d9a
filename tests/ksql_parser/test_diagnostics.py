"""Caret rendering of parse errors and the formatter's quoting rules."""

from __future__ import annotations

import pytest

from telemetry_lib.ksql.errors import ParseError
from telemetry_lib.ksql.parser import (
    explain_parse_error,
    format_expression,
    format_statement,
    mark_error,
    parse,
    parse_expression,
    quote_identifier,
)


def test_mark_error_puts_caret_under_column() -> None:
    text = "SELECT a\nFROM s WHERE;"
    assert mark_error(text, 2, 13) == "1 | SELECT a\n2 | FROM s WHERE;\n  |             ^"


def test_explain_parse_error_shows_message_and_caret() -> None:
    text = "SELECT * FROM s WHERE;"
    with pytest.raises(ParseError) as info:
        parse(text)
    rendered = explain_parse_error(info.value, text)
    lines = rendered.splitlines()
    assert lines[0] == "line 1:22: Syntax Error"
    assert lines[-1] == "  | " + " " * 21 + "^"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ABC", "ABC"),
        ("A_1@x".upper(), "A_1@X"),
        ("abc", "`abc`"),
        ("SELECT", "`SELECT`"),
        ("KEY", "`KEY`"),
        ("1A", "`1A`"),
        ("a`b", "`a``b`"),
    ],
)
def test_quote_identifier(name: str, expected: str) -> None:
    assert quote_identifier(name) == expected


def test_formatter_writes_canonical_text() -> None:
    (stmt,) = parse("select a+b*2 as x, `low` from s where not a is null emit changes;")
    assert format_statement(stmt) == (
        "SELECT (A + (B * 2)) AS X, `low` FROM S WHERE (NOT (A IS NULL)) EMIT CHANGES;"
    )


def test_formatter_keeps_unary_minus_apart_from_literals() -> None:
    expr = parse_expression("-(5) - -5")
    text = format_expression(expr)
    assert parse_expression(text) == expr
    assert "--" not in text
