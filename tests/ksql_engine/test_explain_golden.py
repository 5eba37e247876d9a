"""EXPLAIN goldens: the logical and physical plans of representative queries, pinned as files.

Regenerate (only when a plan change is intended) with::

    KSQL_REGENERATE_GOLDEN=1 .venv/bin/python -m pytest tests/ksql_engine/test_explain_golden.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from telemetry_lib.ksql.driver import InMemoryDriver

GOLDEN = Path(__file__).parent / "golden"
REGENERATE = os.environ.get("KSQL_REGENERATE_GOLDEN") == "1"

SETUP = (
    "CREATE STREAM EVENTS (PLAYER STRING KEY, KIND STRING, DMG INT, TS STRING) "
    "WITH (kafka_topic='events', value_format='JSON', partitions=2, timestamp='TS', "
    "timestamp_format='yyyy-MM-dd HH:mm:ss');"
    "CREATE TABLE PLAYERS (ID STRING PRIMARY KEY, TEAM STRING) "
    "WITH (kafka_topic='players', format='JSON', partitions=1);"
)

CASES = {
    "filter_project": "CREATE STREAM HITS AS SELECT PLAYER, DMG * 2 AS DOUBLED FROM EVENTS "
    "WHERE KIND = 'hit';",
    "partition_by": "CREATE STREAM BY_KIND WITH (KAFKA_TOPIC='by_kind', VALUE_FORMAT='DELIMITED') "
    "AS SELECT * FROM EVENTS PARTITION BY KIND;",
    "table_filter": "CREATE TABLE RED AS SELECT ID, TEAM FROM PLAYERS WHERE TEAM = 'red';",
    "insert_into": "INSERT INTO HITS SELECT PLAYER, DMG AS DOUBLED FROM EVENTS WHERE DMG > 100;",
}


def _explain(name: str) -> str:
    driver = InMemoryDriver()
    driver.execute(SETUP)
    if name == "insert_into":
        driver.execute(CASES["filter_project"])
    result = driver.execute(f"EXPLAIN {CASES[name]}")[0]
    desc = result.fields["queryDescription"]
    return (
        f"-- {CASES[name]}\nLogical plan:\n{desc['executionPlan']}\n\n"
        f"Physical plan:\n{desc['topology']}\n"
    )


@pytest.mark.parametrize("name", sorted(CASES))
def test_explain_matches_golden(name: str) -> None:
    text = _explain(name)
    path = GOLDEN / f"explain_{name}.txt"
    if REGENERATE:
        path.write_text(text)
    assert path.exists(), f"missing golden {path.name}: run with KSQL_REGENERATE_GOLDEN=1"
    assert text == path.read_text()


def test_explain_of_a_statement_has_no_side_effects() -> None:
    driver = InMemoryDriver()
    driver.execute(SETUP)
    driver.execute(f"EXPLAIN {CASES['filter_project']}")
    assert driver.engine.catalog.get_source("HITS") is None
    assert driver.engine.running_queries() == []
    assert driver.engine.io.describe_topic("HITS") is None
