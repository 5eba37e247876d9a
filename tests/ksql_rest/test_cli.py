"""``telemetry ksql``: statement splitting, the shell, and ``-f script.sql`` as a real process."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from telemetry_lib.ksql.cli import KsqlShell, split_statements
from telemetry_lib.ksql.client import KsqlClient
from tests.ksql_rest.conftest import Server

REPO = Path(__file__).resolve().parents[2]


def test_split_statements_respects_quotes_and_comments() -> None:
    text = "SELECT 'a;b' FROM `x;y`; -- c;\nSHOW STREAMS;/* ; */ DESCRIBE S"
    statements, rest = split_statements(text)
    assert statements == ["SELECT 'a;b' FROM `x;y`;", "-- c;\nSHOW STREAMS;"]
    assert rest == "/* ; */ DESCRIBE S"
    assert split_statements("INSERT INTO S VALUES ('it''s;');")[0] == [
        "INSERT INTO S VALUES ('it''s;');"
    ]


def test_shell_buffers_lines_runs_scripts_and_prints_tables(server: Server, tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    shell = KsqlShell(KsqlClient(server.url), out=out, err=err)
    assert shell.feed("CREATE STREAM S (ID STRING KEY, V INT)")
    assert shell.pending
    assert shell.feed("  WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', PARTITIONS=1);")
    assert not shell.pending
    script = tmp_path / "more.sql"
    script.write_text(
        "INSERT INTO S (ID, V) VALUES ('a', 1);\nINSERT INTO S (ID, V) VALUES ('b', 2);\n"
    )
    assert shell.feed(f"RUN SCRIPT '{script}';")
    assert shell.feed("SET 'auto.offset.reset' = 'earliest';")
    assert shell.feed("SELECT ID, V FROM S EMIT CHANGES LIMIT 2;")
    assert shell.feed("SHOW STREAMS;")
    assert shell.feed("PRINT 's' FROM BEGINNING LIMIT 1;")
    text = out.getvalue()
    assert "Stream created" in text
    assert "| a | 1 |" in text and "| b | 2 |" in text and "(2 rows)" in text
    assert " S           | s " in text
    assert "Value format: JSON" in text and 'key: a, value: {"V":1}' in text
    assert not shell.feed("SELEC nonsense;")
    assert "Syntax Error" in err.getvalue()


def test_telemetry_ksql_dash_f_runs_a_script_in_a_process(server: Server, tmp_path: Path) -> None:
    script = tmp_path / "setup.sql"
    script.write_text(
        "CREATE STREAM S (ID STRING KEY, V INT) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', "
        "PARTITIONS=1);\nCREATE TABLE T AS SELECT ID, SUM(V) AS TOT FROM S GROUP BY ID;\n"
        "SHOW TABLES;\n"
    )
    cmd = [sys.executable, "-m", "telemetry_lib.cli", "ksql", "--url", server.url, "-f"]
    done = subprocess.run(
        [*cmd, str(script)], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "Created query with ID CTAS_T_0" in done.stdout
    assert " T " in done.stdout
    bad = tmp_path / "bad.sql"
    bad.write_text("DROP STREAM NOPE;\nSHOW STREAMS;\n")
    failed = subprocess.run([*cmd, str(bad)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1
    assert "NOPE" in failed.stderr
    assert "Stream Name" not in failed.stdout  # stopped at the failing statement
