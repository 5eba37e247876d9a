"""Which record columns a query on Kafka never reads (unread_record_columns): the fetch thread
leaves exactly those unbuilt. Checked on real plans of the in-memory engine."""

from __future__ import annotations

import pytest

from telemetry_lib.ksql.driver import InMemoryDriver
from telemetry_lib.ksql.runtime.batch_input import unread_record_columns
from telemetry_lib.ksql.runtime.repartition import Topology

_STREAM = (
    "CREATE STREAM s (a STRING, b INT, ts BIGINT) "
    "WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', PARTITIONS=2{extra});"
)
_GROUP_BY_VALUE = "CREATE TABLE t AS SELECT a, COUNT(*) AS n FROM s GROUP BY a;"


def _unread(*statements: str, repartition: bool = True) -> frozenset[str]:
    driver = InMemoryDriver()
    for sql in statements:
        driver.execute(sql)
    running = list(driver.engine._state.running.values())
    assert len(running) == 1
    pipeline = running[0].pipeline
    topology = (
        Topology.build(pipeline, service_id="svc_", query_id=running[0].query_id)
        if repartition
        else None
    )
    unread = unread_record_columns(pipeline, topology)
    assert set(unread) <= {"s"}  # only the source topic's records skip anything
    return unread.get("s", frozenset())


@pytest.mark.parametrize(
    ("stream", "query", "unread"),
    [
        # The demo's shape: keyless stream, TIMESTAMP column, GROUP BY a value column.
        (
            _STREAM.format(extra=", TIMESTAMP='ts'"),
            _GROUP_BY_VALUE,
            {"key", "timestamp", "headers"},
        ),
        (_STREAM.format(extra=""), _GROUP_BY_VALUE, {"key", "headers"}),
        # A key column is decoded from the key; header columns come from the headers.
        (
            "CREATE STREAM s (k STRING KEY, a STRING, b INT) WITH (KAFKA_TOPIC='s', "
            "VALUE_FORMAT='JSON', PARTITIONS=2);",
            _GROUP_BY_VALUE,
            {"headers"},
        ),
        (
            "CREATE STREAM s (a STRING, h BYTES HEADER('x'), ts BIGINT) WITH (KAFKA_TOPIC='s', "
            "VALUE_FORMAT='JSON', PARTITIONS=2, TIMESTAMP='ts');",
            _GROUP_BY_VALUE,
            {"key", "timestamp"},
        ),
        (
            "CREATE STREAM s (a STRING, hs ARRAY<STRUCT<key STRING, value BYTES>> HEADERS) "
            "WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', PARTITIONS=2);",
            _GROUP_BY_VALUE,
            {"key"},
        ),
        # A table source: its null keys are dropped, so the key is read.
        (
            "CREATE TABLE s (k STRING PRIMARY KEY, a STRING) WITH (KAFKA_TOPIC='s', "
            "VALUE_FORMAT='JSON', PARTITIONS=2);",
            _GROUP_BY_VALUE,
            {"headers"},
        ),
        # No re-keying (headers and keys reach the sink): everything is read.
        (_STREAM.format(extra=", TIMESTAMP='ts'"), "CREATE STREAM o AS SELECT * FROM s;", set()),
        (
            "CREATE STREAM s (k STRING KEY, a STRING) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', "
            "PARTITIONS=2);",
            "CREATE TABLE t AS SELECT k, COUNT(*) AS n FROM s GROUP BY k;",
            set(),
        ),
    ],
)
def test_unread_columns_of_a_query(stream: str, query: str, unread: set[str]) -> None:
    assert _unread(stream, query) == unread


def test_in_process_rekeying_and_joins_read_everything() -> None:
    stream = _STREAM.format(extra=", TIMESTAMP='ts'")
    assert _unread(stream, _GROUP_BY_VALUE, repartition=False) == set()
    table = (
        "CREATE TABLE p (a STRING PRIMARY KEY, c INT) WITH (KAFKA_TOPIC='p', VALUE_FORMAT='JSON', "
        "PARTITIONS=2);"
    )
    join = "CREATE STREAM j AS SELECT s.a, c FROM s JOIN p ON s.a = p.a;"
    assert _unread(stream, table, join) == set()
