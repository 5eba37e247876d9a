"""Readers for the parser's data-driven fixtures (identity.sql, errors.sql) and the corpus."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
# ksqlDB's own test cases, read in place (never copied into the repository).
CORPUS = Path("/work/shared/ksql-conformance/public")
# Formats substituted for {FORMAT} in parameterised corpus tests.
CORPUS_FORMATS = ("JSON", "DELIMITED", "KAFKA", "AVRO", "PROTOBUF", "JSON_SR", "PROTOBUF_NOSR")


def identity_statements() -> list[str]:
    """Statements of identity.sql, split at top-level ';' (comments skipped)."""
    from telemetry_lib.ksql.parser import split_statements

    text = (FIXTURES / "identity.sql").read_text(encoding="utf-8")
    return [piece.text for piece in split_statements(text)]


def error_cases() -> list[tuple[str, str]]:
    """(expected message substring, statement text) pairs of errors.sql."""
    cases: list[tuple[str, str]] = []
    message: str | None = None
    body: list[str] = []
    for line in (FIXTURES / "errors.sql").read_text(encoding="utf-8").splitlines():
        if line.startswith("--fail="):
            if message is not None:
                cases.append((message, "\n".join(body).strip()))
            message, body = line[len("--fail=") :], []
        elif message is not None and not (line.startswith("--") and not body):
            body.append(line)
    if message is not None:
        cases.append((message, "\n".join(body).strip()))
    return cases


def corpus_tests() -> Iterator[tuple[str, dict[str, object], str | None]]:
    """(file name, test, format) for every public corpus test and format it is run with."""
    files = sorted(CORPUS.glob("*.json"))
    if not files:
        raise FileNotFoundError(f"no ksqlDB conformance corpus at {CORPUS}")
    for path in files:
        for test in json.loads(path.read_text(encoding="utf-8"))["tests"]:
            formats = test.get("format") or [None]
            for fmt in formats:
                yield path.name, test, fmt


def statements_of(test: dict[str, object], fmt: str | None) -> list[str]:
    statements = test["statements"]
    assert isinstance(statements, list)
    return [s.replace("{FORMAT}", fmt) if fmt else s for s in statements]
