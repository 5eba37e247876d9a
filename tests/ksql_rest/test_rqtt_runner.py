"""The RQTT runner (qtt/rest_runner.py) on small rest- files written here: pass and fail paths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from telemetry_lib.ksql.qtt import run_paths

DDL = "CREATE STREAM S (K STRING KEY, V INT) WITH (kafka_topic='t', value_format='JSON');"
INPUTS = [
    {"topic": "t", "key": "a", "value": {"V": 1}, "timestamp": 10},
    {"topic": "t", "key": "b", "value": {"V": 2}, "timestamp": 20},
]


def _run(tmp_path: Path, test: dict[str, Any]) -> tuple[str, str]:
    path = tmp_path / "rest-mine.json"
    path.write_text(json.dumps({"tests": [test]}))
    (result,) = run_paths([path])
    return result.status, result.reason


def test_admin_query_and_row_responses_pass(tmp_path: Path) -> None:
    test = {
        "name": "push",
        "statements": [DDL, "SELECT K, V * 2 AS D FROM S EMIT CHANGES LIMIT 2;"],
        "inputs": INPUTS,
        "responses": [
            {"admin": {"@type": "currentStatus", "commandStatus": {"message": "Stream created"}}},
            {
                "query": [
                    {"header": {"schema": "`K` STRING, `D` INTEGER"}},
                    {"row": {"columns": ["a", 2]}},
                    {"row": {"columns": ["b", 4]}},
                    {"finalMessage": "Limit Reached"},
                ]
            },
        ],
    }
    assert _run(tmp_path, test) == ("passed", "")


def test_wrong_row_fails_with_the_path(tmp_path: Path) -> None:
    test = {
        "name": "wrong",
        "statements": [DDL, "SELECT K FROM S EMIT CHANGES LIMIT 1;"],
        "inputs": INPUTS,
        "responses": [
            {"admin": {"@type": "currentStatus"}},
            {"query": [{"header": {"schema": "`K` STRING"}}, {"row": {"columns": ["zzz"]}}]},
        ],
    }
    status, reason = _run(tmp_path, test)
    assert status == "failed"
    assert "responses[1]" in reason


def test_expected_error_matches_type_status_and_message(tmp_path: Path) -> None:
    test = {
        "name": "error",
        "statements": [DDL, "CREATE STREAM X AS SELECT * FROM NOPE;"],
        "expectedError": {
            "type": "io.confluent.ksql.rest.entity.KsqlStatementErrorMessage",
            "message": "NOPE does not exist",
            "status": 400,
        },
    }
    assert _run(tmp_path, test) == ("passed", "")
    test["expectedError"] = {"message": "something else", "status": 400}
    status, reason = _run(tmp_path, test)
    assert status == "failed" and "message" in reason


def test_outputs_of_insert_values_are_checked(tmp_path: Path) -> None:
    test = {
        "name": "insert",
        "statements": [DDL, "INSERT INTO S (K, V) VALUES ('k', 7);"],
        "outputs": [{"topic": "t", "key": "k", "value": {"V": 7}}],
    }
    assert _run(tmp_path, test) == ("passed", "")
    test["outputs"] = [{"topic": "t", "key": "k", "value": {"V": 8}}]
    assert _run(tmp_path, test)[0] == "failed"
