"""The QTT runner itself, on small synthetic QTT files run through the real engine:
pass, fail (with expected vs actual), unsupported, expected exceptions, variants, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from telemetry_lib.ksql.qtt import load_file, run_case, run_paths, summary_line

REPO = Path(__file__).resolve().parents[2]

_SOURCE = (
    "CREATE STREAM INPUT (ID STRING KEY, V STRING, N INT) "
    "WITH (kafka_topic='in', value_format='JSON');"
)
_FILTER = "CREATE STREAM OUTPUT AS SELECT ID, V, N * 2 AS N2 FROM INPUT WHERE V <> 'x';"
_INPUTS = [
    {"topic": "in", "key": "a", "value": {"V": "one", "N": 1}, "timestamp": 10},
    {"topic": "in", "key": "b", "value": {"V": "x", "N": 2}, "timestamp": 20},
    {"topic": "in", "key": "c", "value": {"v": "three", "n": 3}, "timestamp": 30},
]
_OUTPUTS = [
    {"topic": "OUTPUT", "key": "a", "value": {"V": "one", "N2": 2}, "timestamp": 10},
    {"topic": "OUTPUT", "key": "c", "value": {"V": "three", "N2": 6}, "timestamp": 30},
]


def _file(tmp_path: Path, tests: list[dict], name: str = "synthetic.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"tests": tests}))
    return path


def _results(path: Path) -> dict[str, tuple[str, str]]:
    return {c.name: (r.status, r.reason) for c in load_file(path).cases for r in [run_case(c)]}


def test_passing_and_failing_cases(tmp_path: Path) -> None:
    wrong = [dict(_OUTPUTS[0]), dict(_OUTPUTS[1], value={"V": "three", "N2": 7})]
    short = _OUTPUTS[:1]
    bad_ts = [dict(_OUTPUTS[0], timestamp=11), _OUTPUTS[1]]
    post_ok = {
        "sources": [
            {"name": "OUTPUT", "type": "stream", "schema": "ID STRING KEY, V STRING, N2 INT"}
        ]
    }
    post_bad = {"sources": [{"name": "OUTPUT", "type": "table"}]}
    path = _file(
        tmp_path,
        [
            {
                "name": "ok",
                "statements": [_SOURCE, _FILTER],
                "inputs": _INPUTS,
                "outputs": _OUTPUTS,
                "post": post_ok,
            },
            {
                "name": "wrong value",
                "statements": [_SOURCE, _FILTER],
                "inputs": _INPUTS,
                "outputs": wrong,
            },
            {
                "name": "wrong count",
                "statements": [_SOURCE, _FILTER],
                "inputs": _INPUTS,
                "outputs": short,
            },
            {
                "name": "wrong timestamp",
                "statements": [_SOURCE, _FILTER],
                "inputs": _INPUTS,
                "outputs": bad_ts,
            },
            {
                "name": "wrong post",
                "statements": [_SOURCE, _FILTER],
                "inputs": _INPUTS,
                "outputs": _OUTPUTS,
                "post": post_bad,
            },
        ],
    )
    results = _results(path)
    assert results["ok"] == ("passed", "")
    status, reason = results["wrong value"]
    assert status == "failed"
    assert "message 1 (value differs)" in reason and '"N2":7' in reason and '"N2":6' in reason
    status, reason = results["wrong count"]
    assert status == "failed" and "Expected <1> records but it was <2>" in reason
    status, reason = results["wrong timestamp"]
    assert status == "failed" and "timestamp differs" in reason
    status, reason = results["wrong post"]
    assert status == "failed" and "is a STREAM, expected a TABLE" in reason


def test_expected_exceptions(tmp_path: Path) -> None:
    unknown = "CREATE STREAM OUTPUT AS SELECT * FROM NOPE;"
    path = _file(
        tmp_path,
        [
            {
                "name": "parse error",
                "statements": ["CREATE STREAM ("],
                "expectedException": {
                    "type": "io.confluent.ksql.parser.exception.ParseFailedException"
                },
            },
            {
                "name": "unknown source",
                "statements": [unknown],
                "expectedException": {
                    "type": "io.confluent.ksql.util.KsqlStatementException",
                    "message": "NOPE",
                },
            },
            {
                "name": "wrong message",
                "statements": [unknown],
                "expectedException": {"message": "certainly not this text"},
            },
            {
                "name": "no exception",
                "statements": [_SOURCE, _FILTER],
                "inputs": _INPUTS,
                "outputs": _OUTPUTS,
                "expectedException": {"type": "io.confluent.ksql.util.KsqlStatementException"},
            },
        ],
    )
    rest_error = {
        "type": "io.confluent.ksql.rest.entity.KsqlStatementErrorMessage",
        "message": "Syntax Error",
        "status": 400,
    }
    extra = [
        {"name": "rest error", "statements": ["CREATE STREAM ("], "expectedError": rest_error},
        {
            "name": "rest status",
            "statements": ["CREATE STREAM ("],
            "expectedError": dict(rest_error, status=500),
        },
    ]
    path.write_text(json.dumps({"tests": json.loads(path.read_text())["tests"] + extra}))
    results = _results(path)
    assert results["rest error"] == ("passed", "")
    status, reason = results["rest status"]
    assert status == "failed" and "HTTP status 500" in reason
    assert results["parse error"] == ("passed", "")
    assert results["unknown source"] == ("passed", "")
    status, reason = results["wrong message"]
    assert status == "failed" and "certainly not this text" in reason
    status, reason = results["no exception"]
    assert status == "failed" and "none was raised" in reason


def test_variants_unsupported_and_disabled(tmp_path: Path) -> None:
    stmt = (
        "CREATE STREAM INPUT (ID STRING KEY, V STRING) "
        "WITH (kafka_topic='in', key_format='{FORMAT}', value_format='JSON');"
    )
    path = _file(
        tmp_path,
        [
            {
                "name": "key formats",
                "format": ["JSON", "KAFKA", "DELIMITED", "AVRO"],
                "statements": [stmt, "CREATE STREAM OUTPUT AS SELECT * FROM INPUT;"],
                "inputs": [{"topic": "in", "key": "k1", "value": {"V": "v"}}],
                "outputs": [{"topic": "OUTPUT", "key": "k1", "value": {"V": "v"}}],
            },
            {
                "name": "disabled",
                "enabled": False,
                "statements": [stmt],
                "inputs": [{"topic": "in", "value": {}}],
            },
        ],
    )
    results = _results(path)
    assert results == {
        "key formats - JSON": ("passed", ""),
        "key formats - KAFKA": ("passed", ""),
        "key formats - DELIMITED": ("passed", ""),
        "key formats - AVRO": ("unsupported", "schema registry formats"),
    }
    rest = _file(
        tmp_path,
        [{"name": "r", "statements": ["SHOW STREAMS;"], "responses": []}],
        name="rest-x.json",
    )
    assert [r.status for r in run_paths([rest])] == ["passed"]  # run over HTTP (rest_runner)


def test_cli_prints_per_file_lines_and_summary_and_writes_json(tmp_path: Path) -> None:
    folder = tmp_path / "qtt"
    folder.mkdir()
    _file(
        folder,
        [
            {
                "name": "ok",
                "statements": [_SOURCE, _FILTER],
                "inputs": _INPUTS,
                "outputs": _OUTPUTS,
            },
            {
                "name": "bad",
                "statements": [_SOURCE, _FILTER],
                "inputs": _INPUTS,
                "outputs": _OUTPUTS[:1],
            },
        ],
        name="a.json",
    )
    out = tmp_path / "out.json"
    proc = subprocess.run(
        [sys.executable, "-m", "telemetry_lib.ksql.conformance", "--json", str(out), str(folder)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines == [
        "a.json: 1 passed, 1 failed, 0 unsupported of 2",
        "conformance: 1 passed, 1 failed, 0 unsupported of 2",
    ]
    data = json.loads(out.read_text())
    assert [(r["file"], r["test"], r["status"]) for r in data["results"]] == [
        ("a.json", "ok", "passed"),
        ("a.json", "bad", "failed"),
    ]
    filtered = run_paths([folder], name_filter="BAD")
    assert summary_line(filtered) == "conformance: 0 passed, 1 failed, 0 unsupported of 1"


def test_a_case_past_its_deadline_is_killed_and_reported(tmp_path: Path) -> None:
    # A fresh worker process cannot even import the engine within 50 ms, so both cases miss
    # the deadline: each is reported failed and the run goes on with a fresh worker.
    path = _file(
        tmp_path,
        [
            {
                "name": "one",
                "statements": [_SOURCE, _FILTER],
                "inputs": _INPUTS,
                "outputs": _OUTPUTS,
            },
            {
                "name": "two",
                "statements": [_SOURCE, _FILTER],
                "inputs": _INPUTS,
                "outputs": _OUTPUTS,
            },
        ],
    )
    results = run_paths([path], timeout=0.05)
    assert [(r.test, r.status, r.reason) for r in results] == [
        ("one", "failed", "timed out after 0.05 s (killed)"),
        ("two", "failed", "timed out after 0.05 s (killed)"),
    ]


def test_post_topics_and_blacklist(tmp_path: Path) -> None:
    topic = {
        "name": "OUTPUT",
        "keyFormat": {"format": "KAFKA"},
        "valueFormat": {"format": "JSON"},
        "partitions": 4,
    }
    case = {"statements": [_SOURCE, _FILTER], "inputs": _INPUTS, "outputs": _OUTPUTS}
    path = _file(
        tmp_path,
        [
            dict(
                case, name="ok", post={"topics": {"blacklist": ".*-repartition", "topics": [topic]}}
            ),
            dict(case, name="partitions", post={"topics": {"topics": [dict(topic, partitions=2)]}}),
            dict(
                case,
                name="format",
                post={"topics": {"topics": [dict(topic, valueFormat={"format": "DELIMITED"})]}},
            ),
            dict(case, name="blacklisted", post={"topics": {"blacklist": "OUT.*"}}),
            dict(case, name="missing", post={"topics": {"topics": [dict(topic, name="NOPE")]}}),
        ],
    )
    results = _results(path)
    assert results["ok"] == ("passed", "")
    assert results["partitions"] == ("failed", "post: topic OUTPUT has 4 partitions, expected 2")
    assert results["format"][0] == "failed" and "value format is JSON" in results["format"][1]
    assert results["blacklisted"] == ("failed", "post: blacklisted topics found: OUTPUT")
    assert (
        results["missing"][0] == "failed" and "topic NOPE does not exist" in results["missing"][1]
    )


def test_an_expected_statement_error_must_come_from_the_last_statement(tmp_path: Path) -> None:
    unknown = "CREATE STREAM OUTPUT AS SELECT * FROM NOPE;"
    error = {"type": "io.confluent.ksql.util.KsqlStatementException", "message": "NOPE"}
    path = _file(
        tmp_path,
        [
            {"name": "last", "statements": [_SOURCE, unknown], "expectedException": error},
            {"name": "not last", "statements": [unknown, _SOURCE], "expectedException": error},
        ],
    )
    results = _results(path)
    assert results["last"] == ("passed", "")
    status, reason = results["not last"]
    assert status == "failed" and "statement 1 of 2 failed" in reason
