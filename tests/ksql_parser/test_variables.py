"""${var} substitution and DEFINE/UNDEFINE handling across a script."""

from __future__ import annotations

import pytest

from telemetry_lib.ksql.errors import ParseError
from telemetry_lib.ksql.parser import ast, parse_script, substitute_variables


def test_substitutes_tokens_and_inside_strings_case_insensitively() -> None:
    text = "CREATE STREAM ${Name} WITH (kafka_topic='${TOPIC}_x', partitions=${n});"
    out = substitute_variables(text, {"name": "s1", "topic": "events", "N": "3"})
    assert out == "CREATE STREAM s1 WITH (kafka_topic='events_x', partitions=3);"


def test_leaves_comments_quoted_identifiers_and_escapes_alone() -> None:
    text = "SELECT `${a}`, '$${a}' FROM s; -- ${a}"
    assert substitute_variables(text, {"a": "X"}) == "SELECT `${a}`, '${a}' FROM s; -- ${a}"


def test_quotes_in_values_are_doubled_inside_strings() -> None:
    assert substitute_variables("SELECT '${v}' FROM s;", {"v": "it's"}) == "SELECT 'it''s' FROM s;"


def test_undefined_variables_stay_and_fail_at_parse_time() -> None:
    assert substitute_variables("SELECT ${x} FROM s;", {}) == "SELECT ${x} FROM s;"
    with pytest.raises(ParseError, match="Illegal argument at Line: 1, Col: 8"):
        parse_script("SELECT ${x} FROM s;")


def test_parse_script_applies_define_and_undefine_in_order() -> None:
    statements, variables = parse_script(
        "DEFINE fmt = 'JSON';\n"
        "CREATE STREAM s (id INT) WITH (kafka_topic='t', value_format='${FMT}');\n"
        "UNDEFINE fmt;\n"
        "DEFINE other = '1';",
        variables={"keep": "k"},
    )
    create = statements[1]
    assert isinstance(create, ast.CreateStream)
    assert ast.properties_dict(create.properties)["VALUE_FORMAT"] == "JSON"
    assert create.text == "CREATE STREAM s (id INT) WITH (kafka_topic='t', value_format='JSON');"
    assert create.loc == ast.Loc(2, 1)
    assert variables == {"keep": "k", "other": "1"}


def test_parse_script_error_after_undefine_points_into_the_script() -> None:
    with pytest.raises(ParseError) as info:
        parse_script("DEFINE v = 'a';\nUNDEFINE v;\nSELECT ${v} FROM s;")
    assert (info.value.line, info.value.column) == (3, 8)


def test_substitution_can_be_disabled() -> None:
    with pytest.raises(ParseError):
        parse_script("DEFINE v = 'a'; SELECT ${v} FROM s;", substitution=False)
