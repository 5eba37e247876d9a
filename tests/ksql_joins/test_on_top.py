"""What runs on top of a join: GROUP BY over a table-table join (retract the old joined row,
then add the new one, as Kafka Streams' KTable groupBy does), WHERE on a table result
(non-matching rows become tombstones), INSERT INTO from a join, PAUSE/RESUME of a join query.
Expected rows derived by hand.
"""

from __future__ import annotations

from telemetry_lib.ksql.driver import InMemoryDriver
from tests.ksql_joins.support import driver_with, enc, outputs

TABLES = (
    "CREATE TABLE P (ID STRING PRIMARY KEY, TEAM STRING) "
    "WITH (KAFKA_TOPIC='p', VALUE_FORMAT='JSON', PARTITIONS=1);"
    "CREATE TABLE Q (ID STRING PRIMARY KEY, SKILL INT) "
    "WITH (KAFKA_TOPIC='q', VALUE_FORMAT='JSON', PARTITIONS=1);"
)
CHANGES: list[tuple[str, str, dict[str, object] | None, int]] = [
    ("p", "a", {"TEAM": "red"}, 1),
    ("q", "a", {"SKILL": 10}, 2),
    ("p", "b", {"TEAM": "red"}, 3),
    ("q", "b", {"SKILL": 3}, 4),
    ("p", "a", {"TEAM": "blue"}, 5),
    ("q", "a", None, 6),
]


Change = tuple[str, str, dict[str, object] | None, int]


def _feed(driver: InMemoryDriver, changes: list[Change]) -> None:
    for topic, key, value, ts in changes:
        driver.pipe(topic, key=key.encode(), value=enc(value), timestamp=ts)


def test_group_by_over_a_table_table_join_retracts_and_adds() -> None:
    driver = driver_with(
        TABLES + "CREATE TABLE T AS SELECT TEAM, SUM(SKILL) AS S, COUNT(*) AS N "
        "FROM P JOIN Q ON P.ID = Q.ID GROUP BY TEAM;"
    )
    _feed(driver, CHANGES)
    assert outputs(driver, "T") == [
        ("red", {"S": 10, "N": 1}, 2),
        ("red", {"S": 13, "N": 2}, 4),
        # a moves from red to blue: retracted from red, then added to blue
        ("red", {"S": 3, "N": 1}, 5),
        ("blue", {"S": 10, "N": 1}, 5),
        # a's Q row deleted: the joined row is gone, blue loses it
        ("blue", {"S": 0, "N": 0}, 6),
    ]


def test_where_on_a_table_join_turns_failing_rows_into_tombstones() -> None:
    driver = driver_with(
        TABLES + "CREATE TABLE U AS SELECT P.ID, TEAM, SKILL FROM P JOIN Q ON P.ID = Q.ID "
        "WHERE SKILL > 5;"
    )
    _feed(driver, CHANGES)
    assert outputs(driver, "U") == [
        ("a", {"TEAM": "red", "SKILL": 10}, 2),
        ("b", None, 4),
        ("a", {"TEAM": "blue", "SKILL": 10}, 5),
        ("a", None, 6),
    ]


def test_insert_into_a_stream_from_a_join() -> None:
    driver = driver_with(
        "CREATE STREAM S (ID STRING KEY, V INT) "
        "WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', PARTITIONS=1);"
        "CREATE TABLE T (ID STRING PRIMARY KEY, F STRING) "
        "WITH (KAFKA_TOPIC='t', VALUE_FORMAT='JSON', PARTITIONS=1);"
        "CREATE STREAM O (ID STRING KEY, V INT, F STRING) "
        "WITH (KAFKA_TOPIC='o', VALUE_FORMAT='JSON', PARTITIONS=1);"
        "INSERT INTO O SELECT S.ID AS ID, V, F FROM S LEFT JOIN T ON S.ID = T.ID;"
    )
    _feed(driver, [("t", "a", {"F": "x"}, 0), ("s", "a", {"V": 1}, 1), ("s", "b", {"V": 2}, 2)])
    assert outputs(driver, "o") == [("a", {"V": 1, "F": "x"}, 1), ("b", {"V": 2, "F": None}, 2)]


def test_paused_join_query_processes_held_batches_in_arrival_order() -> None:
    driver = driver_with(
        "CREATE STREAM S (ID STRING KEY, V INT) "
        "WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', PARTITIONS=1);"
        "CREATE TABLE T (ID STRING PRIMARY KEY, F STRING) "
        "WITH (KAFKA_TOPIC='t', VALUE_FORMAT='JSON', PARTITIONS=1);"
        "CREATE STREAM O AS SELECT S.ID, V, F FROM S LEFT JOIN T ON S.ID = T.ID;"
    )
    (query_id,) = driver.engine.running_queries()
    driver.execute(f"PAUSE {query_id};")
    _feed(driver, [("s", "a", {"V": 1}, 1), ("t", "a", {"F": "x"}, 2), ("s", "a", {"V": 3}, 3)])
    assert outputs(driver, "O") == []
    driver.execute(f"RESUME {query_id};")
    assert outputs(driver, "O") == [("a", {"V": 1, "F": None}, 1), ("a", {"V": 3, "F": "x"}, 3)]
