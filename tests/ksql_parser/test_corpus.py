"""Every statement of ksqlDB's public conformance corpus parses (or fails as the test expects)
and round-trips through the formatter at AST level."""

from __future__ import annotations

import pytest

from telemetry_lib.ksql.errors import ParseError
from telemetry_lib.ksql.parser import parse
from telemetry_lib.ksql.parser.formatter import format_statement

from .helpers import corpus_tests, statements_of

PARSE_FAILED = "io.confluent.ksql.parser.exception.ParseFailedException"


def _expected(test: dict[str, object]) -> dict[str, str]:
    for key in ("expectedException", "expectedError"):
        value = test.get(key)
        if isinstance(value, dict):
            return value
    return {}


def test_every_corpus_script_parses_or_fails_as_expected() -> None:
    checked = 0
    problems: list[str] = []
    for name, test, fmt in corpus_tests():
        expected = _expected(test)
        # As ksqlDB's QTT runner: the test's statements form one script, one per line.
        script = "\n".join(statements_of(test, fmt))
        try:
            parse(script)
        except ParseError as exc:
            message = expected.get("message", "")
            if expected.get("type") == PARSE_FAILED or (message and message in str(exc)):
                if message not in str(exc):
                    problems.append(f"{name} / {test['name']}: {message!r} not in {str(exc)!r}")
            else:
                problems.append(f"{name} / {test['name']}: unexpected {exc}")
        else:
            if expected.get("type") == PARSE_FAILED:
                problems.append(f"{name} / {test['name']}: parsed but ksqlDB rejects it")
        checked += 1
    assert not problems, "\n".join(problems)
    assert checked > 1000  # the corpus is really there


def test_parse_failed_cases_are_present() -> None:
    """The corpus holds ParseFailedException cases with message substrings; all were checked."""
    cases = [t for _, t, _ in corpus_tests() if _expected(t).get("type") == PARSE_FAILED]
    assert len(cases) >= 10
    assert any("Expecting {" in _expected(t).get("message", "") for t in cases)


def test_every_corpus_statement_round_trips() -> None:
    problems: list[str] = []
    count = 0
    for name, test, fmt in corpus_tests():
        for text in statements_of(test, fmt):
            try:
                statements = parse(text)
            except ParseError:
                continue
            for statement in statements:
                formatted = format_statement(statement)
                try:
                    again = parse(formatted)
                except ParseError as exc:
                    problems.append(f"{name}: {text}\n  -> {formatted}\n  {exc}")
                    continue
                if again != [statement]:
                    problems.append(f"{name}: {text}\n  -> {formatted}")
                count += 1
    assert not problems, "\n".join(problems[:20])
    assert count > 2000


@pytest.mark.parametrize("fmt", ["JSON", "AVRO"])
def test_format_placeholder_substitution_parses(fmt: str) -> None:
    statement = parse(
        f"CREATE STREAM S (ID INT KEY) WITH (kafka_topic='t', value_format='{fmt}');"
    )[0]
    assert statement.properties[-1].value.value == fmt  # type: ignore[attr-defined]
