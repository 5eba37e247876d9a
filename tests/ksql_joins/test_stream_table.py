"""Stream-table joins on the in-memory driver: expected rows derived by hand from ksqlDB's
documented semantics (docs/developer-guide/joins/join-streams-and-tables.md): a stream record
joins the table's latest row for its key at that point of the input, table updates emit
nothing, INNER drops unmatched records, LEFT keeps them with null table columns, the output
carries the stream record's timestamp; plus a restart from a state snapshot and a batch
cross-check against a polars join + group-by.
"""

from __future__ import annotations

import json
import random

import polars as pl
import pytest

from telemetry_lib.ksql.driver import InMemoryDriver
from telemetry_lib.ksql.runtime.io import RECORD_SCHEMA
from tests.ksql_joins.support import driver_with, enc, outputs

DDL = (
    "CREATE STREAM EV (ID STRING KEY, PLAYER STRING, KILLS INT) "
    "WITH (KAFKA_TOPIC='ev', VALUE_FORMAT='JSON', PARTITIONS=1);"
    "CREATE TABLE PL (ID STRING PRIMARY KEY, TEAM STRING) "
    "WITH (KAFKA_TOPIC='pl', VALUE_FORMAT='JSON', PARTITIONS=1);"
)

# (topic, key, value, timestamp), in input order.
INPUTS: list[tuple[str, str, dict[str, object] | None, int]] = [
    ("pl", "a", {"TEAM": "red"}, 0),
    ("ev", "x1", {"PLAYER": "a", "KILLS": 2}, 10),
    ("ev", "x2", {"PLAYER": "b", "KILLS": 1}, 11),
    ("pl", "b", {"TEAM": "blue"}, 12),
    ("pl", "a", None, 13),
    ("ev", "x3", {"PLAYER": "a", "KILLS": 5}, 14),
    # an earlier timestamp still joins the table as it is now (non-versioned table)
    ("ev", "x4", {"PLAYER": "b", "KILLS": 3}, 9),
    ("ev", "x5", None, 15),
    ("pl", "b", {"TEAM": "green"}, 16),
    ("ev", "x6", {"PLAYER": "b", "KILLS": 4}, 17),
]


def _feed(driver: InMemoryDriver, inputs: list[tuple[str, str, dict[str, object] | None, int]]):
    for topic, key, value, ts in inputs:
        driver.pipe(topic, key=key.encode(), value=enc(value), timestamp=ts)


def _query(join: str) -> str:
    return (
        f"CREATE STREAM OUT AS SELECT EV.PLAYER, KILLS, TEAM FROM EV {join} PL "
        "ON EV.PLAYER = PL.ID;"
    )


def test_inner_join_emits_matched_stream_records_only() -> None:
    driver = driver_with(DDL + _query("JOIN"))
    _feed(driver, INPUTS)
    assert outputs(driver, "OUT") == [
        ("a", {"KILLS": 2, "TEAM": "red"}, 10),
        ("b", {"KILLS": 3, "TEAM": "blue"}, 9),
        ("b", {"KILLS": 4, "TEAM": "green"}, 17),
    ]


def test_left_join_keeps_unmatched_stream_records() -> None:
    driver = driver_with(DDL + _query("LEFT JOIN"))
    _feed(driver, INPUTS)
    assert outputs(driver, "OUT") == [
        ("a", {"KILLS": 2, "TEAM": "red"}, 10),
        ("b", {"KILLS": 1, "TEAM": None}, 11),
        ("a", {"KILLS": 5, "TEAM": None}, 14),
        ("b", {"KILLS": 3, "TEAM": "blue"}, 9),
        ("b", {"KILLS": 4, "TEAM": "green"}, 17),
    ]


def test_where_filters_the_joined_rows() -> None:
    driver = driver_with(
        DDL + "CREATE STREAM OUT AS SELECT EV.PLAYER, KILLS, TEAM FROM EV LEFT JOIN PL "
        "ON EV.PLAYER = PL.ID WHERE TEAM IS NOT NULL AND KILLS > 2;"
    )
    _feed(driver, INPUTS)
    assert outputs(driver, "OUT") == [
        ("b", {"KILLS": 3, "TEAM": "blue"}, 9),
        ("b", {"KILLS": 4, "TEAM": "green"}, 17),
    ]


@pytest.mark.parametrize("split", [1, 4, 6])
def test_restart_from_a_snapshot_gives_the_same_output(split: int) -> None:
    straight = driver_with(DDL + _query("LEFT JOIN"))
    _feed(straight, INPUTS)

    first = driver_with(DDL + _query("LEFT JOIN"))
    _feed(first, INPUTS[:split])
    (query_id,) = first.engine.running_queries()
    running = first.engine.running_query(query_id)
    assert running is not None
    blobs = [getattr(op, "snapshot", lambda: None)() for op in running.pipeline.operators]

    second = driver_with(DDL + _query("LEFT JOIN"))
    (query_id,) = second.engine.running_queries()
    restarted = second.engine.running_query(query_id)
    assert restarted is not None
    for op, blob in zip(restarted.pipeline.operators, blobs, strict=True):
        if blob is not None:
            op.restore(blob)  # type: ignore[attr-defined]
    _feed(second, INPUTS[split:])
    assert outputs(first, "OUT") + outputs(second, "OUT") == outputs(straight, "OUT")


def test_n_way_stream_table_table_join() -> None:
    driver = driver_with(
        DDL + "CREATE TABLE RG (ID STRING PRIMARY KEY, REGION STRING) "
        "WITH (KAFKA_TOPIC='rg', VALUE_FORMAT='JSON', PARTITIONS=1);"
        "CREATE STREAM OUT AS SELECT EV.PLAYER, KILLS, TEAM, REGION FROM EV "
        "JOIN PL ON EV.PLAYER = PL.ID LEFT JOIN RG ON EV.PLAYER = RG.ID;"
    )
    _feed(
        driver,
        [
            ("pl", "a", {"TEAM": "red"}, 0),
            ("rg", "a", {"REGION": "eu"}, 1),
            ("pl", "b", {"TEAM": "blue"}, 2),
            ("ev", "x1", {"PLAYER": "a", "KILLS": 1}, 3),
            ("ev", "x2", {"PLAYER": "b", "KILLS": 2}, 4),
            ("ev", "x3", {"PLAYER": "c", "KILLS": 3}, 5),
        ],
    )
    assert outputs(driver, "OUT") == [
        ("a", {"KILLS": 1, "TEAM": "red", "REGION": "eu"}, 3),
        ("b", {"KILLS": 2, "TEAM": "blue", "REGION": None}, 4),
    ]


def test_grouped_join_matches_a_polars_batch_join() -> None:
    rng = random.Random(7)
    players = {f"p{i}": rng.choice(["red", "blue", "green"]) for i in range(30)}
    events = [{"PLAYER": f"p{rng.randrange(40)}", "KILLS": rng.randrange(5)} for _ in range(2_000)]
    driver = driver_with(
        DDL + "CREATE TABLE OUT AS SELECT TEAM, SUM(KILLS) AS K, COUNT(*) AS N FROM EV "
        "JOIN PL ON EV.PLAYER = PL.ID GROUP BY TEAM;"
    )
    for pid, team in players.items():
        driver.pipe("pl", key=pid.encode(), value=enc({"TEAM": team}), timestamp=0)
    batch = pl.DataFrame(
        {
            "key": [f"e{i}".encode() for i in range(len(events))],
            "value": [json.dumps(e).encode() for e in events],
            "timestamp": list(range(1, len(events) + 1)),
        },
        schema_overrides={"key": pl.Binary, "value": pl.Binary},
    )
    driver.pipe_batch("ev", batch.with_columns(pl.lit(None, dtype=RECORD_SCHEMA["partition"])))

    truth = (
        pl.DataFrame(events)
        .join(pl.DataFrame({"PLAYER": list(players), "TEAM": list(players.values())}), on="PLAYER")
        .group_by("TEAM")
        .agg(pl.col("KILLS").sum().alias("K"), pl.len().alias("N"))
    )
    final: dict[str, dict[str, int]] = {}
    for key, value, _ts in outputs(driver, "OUT"):
        assert key is not None
        final[key] = value
    assert final == {
        row["TEAM"]: {"K": row["K"], "N": row["N"]} for row in truth.iter_rows(named=True)
    }


def test_query_started_after_the_data_reads_both_topics_in_time_order() -> None:
    """Records already in both topics when the join starts are read as one task reads them:
    by timestamp across the topics (a same-time table row first), not topic after topic."""
    driver = InMemoryDriver(partitioner="single")
    driver.execute(DDL)
    _feed(
        driver,
        [
            ("ev", "x1", {"PLAYER": "a", "KILLS": 1}, 5),  # before a has a team
            ("ev", "x2", {"PLAYER": "a", "KILLS": 2}, 20),
            ("ev", "x3", {"PLAYER": "b", "KILLS": 3}, 30),
            ("pl", "a", {"TEAM": "red"}, 10),
            ("pl", "b", {"TEAM": "blue"}, 30),  # same time as x3: the table row goes first
        ],
    )
    driver.execute(_query("LEFT JOIN"))
    assert outputs(driver, "OUT") == [
        ("a", {"KILLS": 1, "TEAM": None}, 5),
        ("a", {"KILLS": 2, "TEAM": "red"}, 20),
        ("b", {"KILLS": 3, "TEAM": "blue"}, 30),
    ]
