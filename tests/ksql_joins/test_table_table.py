"""Primary-key table-table joins on the in-memory driver. Expected rows derived by hand from
Kafka Streams' KTable-KTable join semantics that ksqlDB documents (join-streams-and-tables.md):
every change of either side is joined with the other side's current row; INNER emits when both
exist and a tombstone when a side is deleted while the other exists; an outer side's change
always emits; the inner side's change emits only when the outer side exists; FULL OUTER emits a
tombstone once both sides are gone. The result time is the max of the two rows' times.
"""

from __future__ import annotations

import pytest

from telemetry_lib.ksql.driver import InMemoryDriver
from tests.ksql_joins.support import driver_with, enc, outputs

DDL = (
    "CREATE TABLE P (ID STRING PRIMARY KEY, TEAM STRING) "
    "WITH (KAFKA_TOPIC='p', VALUE_FORMAT='JSON', PARTITIONS=1);"
    "CREATE TABLE Q (ID STRING PRIMARY KEY, REGION STRING) "
    "WITH (KAFKA_TOPIC='q', VALUE_FORMAT='JSON', PARTITIONS=1);"
)
Input = tuple[str, str, dict[str, object] | None, int]


def _run(join: str, inputs: list[Input], key: str = "P.ID") -> list[tuple[object, object, int]]:
    driver = driver_with(
        DDL + f"CREATE TABLE OUT AS SELECT {key}, TEAM, REGION FROM P {join} Q ON P.ID = Q.ID;"
    )
    for topic, k, value, ts in inputs:
        driver.pipe(topic, key=k.encode(), value=enc(value), timestamp=ts)
    return outputs(driver, "OUT")


def test_inner_join() -> None:
    rows = _run(
        "JOIN",
        [
            ("p", "a", {"TEAM": "red"}, 1),
            ("q", "a", {"REGION": "eu"}, 5),
            ("p", "a", {"TEAM": "blue"}, 3),
            ("q", "b", {"REGION": "us"}, 6),
            ("p", "a", None, 7),
            ("q", "a", None, 8),
        ],
    )
    assert rows == [
        ("a", {"TEAM": "red", "REGION": "eu"}, 5),
        ("a", {"TEAM": "blue", "REGION": "eu"}, 5),
        ("a", None, 7),
    ]


def test_left_join() -> None:
    rows = _run(
        "LEFT JOIN",
        [
            ("p", "a", {"TEAM": "red"}, 1),
            ("q", "a", {"REGION": "eu"}, 5),
            ("p", "a", {"TEAM": "blue"}, 3),
            ("q", "b", {"REGION": "us"}, 6),
            ("q", "a", None, 7),
            ("p", "a", None, 8),
        ],
    )
    assert rows == [
        ("a", {"TEAM": "red", "REGION": None}, 1),
        ("a", {"TEAM": "red", "REGION": "eu"}, 5),
        ("a", {"TEAM": "blue", "REGION": "eu"}, 5),
        ("a", {"TEAM": "blue", "REGION": None}, 7),
        ("a", None, 8),
    ]


def test_right_join_mirrors_left() -> None:
    rows = _run(
        "RIGHT JOIN",
        [
            ("q", "a", {"REGION": "eu"}, 1),
            ("p", "a", {"TEAM": "red"}, 5),
            ("p", "b", {"TEAM": "blue"}, 6),
            ("p", "a", None, 7),
            ("q", "a", None, 8),
        ],
        key="Q.ID",
    )
    assert rows == [
        ("a", {"TEAM": None, "REGION": "eu"}, 1),
        ("a", {"TEAM": "red", "REGION": "eu"}, 5),
        ("a", {"TEAM": None, "REGION": "eu"}, 7),
        ("a", None, 8),
    ]


def test_full_outer_join() -> None:
    rows = _run(
        "FULL OUTER JOIN",
        [
            ("p", "a", {"TEAM": "red"}, 1),
            ("q", "b", {"REGION": "us"}, 2),
            ("p", "b", {"TEAM": "blue"}, 3),
            ("p", "b", None, 4),
            ("q", "b", None, 5),
        ],
        key="ROWKEY",
    )
    assert rows == [
        ("a", {"TEAM": "red", "REGION": None}, 1),
        ("b", {"TEAM": None, "REGION": "us"}, 2),
        ("b", {"TEAM": "blue", "REGION": "us"}, 3),
        ("b", {"TEAM": None, "REGION": "us"}, 4),
        ("b", None, 5),
    ]


@pytest.mark.parametrize("join", ["JOIN", "LEFT JOIN", "FULL OUTER JOIN"])
def test_a_batch_of_changes_equals_the_same_changes_one_by_one(join: str) -> None:
    """Within a batch the other side is fixed: several changes of one key in one batch give
    the outputs of the same changes piped one at a time."""
    import polars as pl

    key = "ROWKEY" if join.startswith("FULL") else "P.ID"
    sql = DDL + f"CREATE TABLE OUT AS SELECT {key}, TEAM, REGION FROM P {join} Q ON P.ID = Q.ID;"
    changes = [("a", {"TEAM": "t1"}), ("b", {"TEAM": "t2"}), ("a", None), ("a", {"TEAM": "t3"})]
    one_by_one = driver_with(sql)
    batched = driver_with(sql)
    for d in (one_by_one, batched):
        d.pipe("q", key=b"a", value=enc({"REGION": "eu"}), timestamp=0)
    for i, (k, v) in enumerate(changes):
        one_by_one.pipe("p", key=k.encode(), value=enc(v), timestamp=10 + i)
    batched.pipe_batch(
        "p",
        pl.DataFrame(
            {
                "key": [k.encode() for k, _ in changes],
                "value": [enc(v) for _, v in changes],
                "timestamp": [10 + i for i in range(len(changes))],
            },
            schema_overrides={"key": pl.Binary, "value": pl.Binary},
        ),
    )
    assert outputs(batched, "OUT") == outputs(one_by_one, "OUT")


def test_windowed_tables_join_within_the_same_window() -> None:
    import struct

    driver = driver_with(
        "CREATE TABLE A (K STRING PRIMARY KEY, X INT) WITH (KAFKA_TOPIC='a', VALUE_FORMAT='JSON', "
        "PARTITIONS=1, WINDOW_TYPE='TUMBLING', WINDOW_SIZE='1 SECOND');"
        "CREATE TABLE B (K STRING PRIMARY KEY, Y INT) WITH (KAFKA_TOPIC='b', VALUE_FORMAT='JSON', "
        "PARTITIONS=1, WINDOW_TYPE='TUMBLING', WINDOW_SIZE='1 SECOND');"
        "CREATE TABLE OUT AS SELECT A.K, X, Y FROM A JOIN B ON A.K = B.K;"
    )

    def key(k: str, start: int) -> bytes:
        return k.encode() + struct.pack(">q", start)

    driver.pipe("a", key=key("k", 0), value=enc({"X": 1}), timestamp=10)
    driver.pipe("b", key=key("k", 1000), value=enc({"Y": 2}), timestamp=1010)  # other window
    driver.pipe("b", key=key("k", 0), value=enc({"Y": 3}), timestamp=20)
    rows = [(r.key, r.value, r.timestamp, r.window) for r in driver.read("OUT")]
    assert len(rows) == 1
    out_key, value, ts, window = rows[0]
    assert (out_key, value, ts) == (key("k", 0), b'{"X":1,"Y":3}', 20)
    assert window is not None and (window.start, window.end) == (0, 1000)


@pytest.mark.parametrize("split", [1, 2, 3, 4])
def test_full_outer_join_restarted_from_a_snapshot(split: int) -> None:
    sql = (
        DDL
        + "CREATE TABLE OUT AS SELECT ROWKEY, TEAM, REGION FROM P FULL OUTER JOIN Q ON P.ID = Q.ID;"
    )
    inputs: list[Input] = [
        ("p", "a", {"TEAM": "red"}, 1),
        ("q", "b", {"REGION": "us"}, 2),
        ("p", "b", {"TEAM": "blue"}, 3),
        ("p", "b", None, 4),
        ("q", "b", None, 5),
    ]

    def feed(driver: InMemoryDriver, rows: list[Input]) -> None:
        for topic, k, value, ts in rows:
            driver.pipe(topic, key=k.encode(), value=enc(value), timestamp=ts)

    straight = driver_with(sql)
    feed(straight, inputs)
    first = driver_with(sql)
    feed(first, inputs[:split])
    (qid,) = first.engine.running_queries()
    running = first.engine.running_query(qid)
    assert running is not None
    blobs = [getattr(op, "snapshot", lambda: None)() for op in running.pipeline.operators]
    second = driver_with(sql)
    (qid,) = second.engine.running_queries()
    restarted = second.engine.running_query(qid)
    assert restarted is not None
    for op, blob in zip(restarted.pipeline.operators, blobs, strict=True):
        if blob is not None:
            op.restore(blob)  # type: ignore[attr-defined]
    feed(second, inputs[split:])
    assert outputs(first, "OUT") + outputs(second, "OUT") == outputs(straight, "OUT")


@pytest.mark.parametrize(
    ("join", "key", "expected"),
    [
        # Kafka Streams' outer KTable joins drop a delete of a key the side never had when the
        # other side has none either; with the other side present a LEFT join still emits
        # the delete (its result row had only ever been the outer side's)
        ("LEFT JOIN", "P.ID", [("b", None, 3)]),
        ("FULL OUTER JOIN", "ROWKEY", [("b", {"TEAM": None, "REGION": "us"}, 3)]),
        ("JOIN", "P.ID", [("b", None, 3)]),
    ],
)
def test_deletes_of_keys_a_side_never_had(
    join: str, key: str, expected: list[tuple[object, object, int]]
) -> None:
    rows = _run(
        join,
        [
            ("p", "a", None, 1),  # never existed, nothing on the other side
            ("q", "b", {"REGION": "us"}, 2),
            ("p", "b", None, 3),  # never existed, the other side has b
        ],
        key=key,
    )
    kept = [r for r in rows if r[0] == "b" and r[2] == 3]
    assert [r for r in rows if r[0] == "a"] == []
    assert kept == expected
