"""Lexer: token kinds and positions, ANTLR's longest-match rules, comments, statement splitting."""

from __future__ import annotations

import pytest

from telemetry_lib.ksql.parser import split_statements
from telemetry_lib.ksql.parser.lexer import expected_set, is_reserved, tokenize


def kinds(text: str) -> list[str]:
    return [t.kind for t in tokenize(text)][:-1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("123", ["INTEGER_VALUE"]),
        ("1.5", ["DECIMAL_VALUE"]),
        ("1.", ["DECIMAL_VALUE"]),
        (".5", ["DECIMAL_VALUE"]),
        ("1e5", ["FLOATING_POINT_VALUE"]),
        ("1.5E-3", ["FLOATING_POINT_VALUE"]),
        (".5e+2", ["FLOATING_POINT_VALUE"]),
        ("1.e3", ["FLOATING_POINT_VALUE"]),
        ("12ab", ["DIGIT_IDENTIFIER"]),
        ("1e5x", ["DIGIT_IDENTIFIER"]),
        ("abc_1@x", ["IDENTIFIER"]),
        ("_x", ["IDENTIFIER"]),
        ("select", ["SELECT"]),
        ("SeLeCt", ["SELECT"]),
        ("string", ["STRING"]),
        ("'it''s'", ["STRING_LITERAL"]),
        ('"a""b"', ["QUOTED_IDENTIFIER"]),
        ("`a``b`", ["BACKQUOTED_IDENTIFIER"]),
        ("${var_1}", ["VARIABLE"]),
        ("a != b <> c", ["IDENTIFIER", "<>", "IDENTIFIER", "<>", "IDENTIFIER"]),
        ("<= >= -> => := ||", ["<=", ">=", "->", "=>", ":=", "||"]),
        ("STRUCT<>", ["STRUCT", "<>"]),
        ("a -- comment\n b", ["IDENTIFIER", "IDENTIFIER"]),
        ("a /* x\n y */ b", ["IDENTIFIER", "IDENTIFIER"]),
        ("a --@directive\nb", ["IDENTIFIER", "IDENTIFIER"]),
        ("'open", ["UNRECOGNIZED", "IDENTIFIER"]),
        ("\u2018x\u2019", ["UNRECOGNIZED", "IDENTIFIER", "UNRECOGNIZED"]),
        ("a ! b", ["IDENTIFIER", "UNRECOGNIZED", "IDENTIFIER"]),
        ("\u00e9", ["UNRECOGNIZED"]),
    ],
)
def test_token_kinds(text: str, expected: list[str]) -> None:
    assert kinds(text) == expected


def test_positions_are_one_based_and_track_lines() -> None:
    tokens = tokenize("SELECT a,\n  b FROM t")
    by_text = {t.text: (t.line, t.column) for t in tokens}
    assert by_text["SELECT"] == (1, 1)
    assert by_text["a"] == (1, 8)
    assert by_text["b"] == (2, 3)
    assert by_text["FROM"] == (2, 5)


def test_start_position_offsets_first_line_only() -> None:
    tokens = tokenize("a\nb", line=3, column=10)
    assert (tokens[0].line, tokens[0].column) == (3, 10)
    assert (tokens[1].line, tokens[1].column) == (4, 1)


def test_reserved_words() -> None:
    assert is_reserved("select") and is_reserved("FROM") and is_reserved("DECIMAL")
    for word in ("timestamp", "key", "value", "id", "name", "type", "date", "string"):
        assert not is_reserved(word), word


def test_expected_set_uses_antlr_order_and_names() -> None:
    assert expected_set({")", ","}) == "{',', ')'}"
    assert expected_set({"INTEGER_VALUE", "STRING"}) == "{'STRING', INTEGER_VALUE}"
    assert expected_set({"STRING_LITERAL", "SELECT"}) == "{'SELECT', STRING}"


def test_split_statements_respects_quotes_and_comments() -> None:
    text = "SELECT 'a;b' FROM x; -- c;\n /* ; */ SHOW STREAMS;;  LIST TOPICS"
    pieces = split_statements(text)
    assert [p.text for p in pieces] == ["SELECT 'a;b' FROM x;", "SHOW STREAMS;", "LIST TOPICS"]
    assert (pieces[1].line, pieces[1].column) == (2, 10)
    assert text[pieces[1].start :].startswith("SHOW STREAMS;")


def test_split_statements_of_blank_text() -> None:
    assert split_statements("  -- only a comment\n") == []


def test_empty_line_comment_ends_at_its_newline() -> None:
    # ANTLR's SIMPLE_COMMENT would swallow the next line after a bare "--"; we do not.
    assert kinds("--\nSELECT") == ["SELECT"]
    assert kinds("a --") == ["IDENTIFIER", "-", "-"]
