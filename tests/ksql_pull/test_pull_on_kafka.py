"""Pull queries on the Kafka server read the table's materialization, not the topic.

A demo-like windowed CTAS runs on the embedded Kafka; key lookups, window bounds and scans
must equal an independent polars truth, the same as the topic scan, and — once the table is
seeded — be answered without reading Kafka at all, including rows produced after the seed.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest

from telemetry_lib.config import Settings
from telemetry_lib.kafka import create_topic, produce_json
from telemetry_lib.ksql.rest.serve import ServerThread
from telemetry_lib.ksql.rest.transient import latest_per_key
from telemetry_lib.ksql.server import KsqlServer
from tests.ksql_runtime.helpers import WINDOW_MS, events, truth

pytestmark = pytest.mark.integration

DELIMITED = "application/vnd.ksqlapi.delimited.v1"
CATCH_UP_S = 60.0


def _pull(url: str, sql: str) -> list[Any]:
    body = {"sql": sql, "properties": {}}
    response = httpx.post(f"{url}/query-stream", json=body, headers={"Accept": DELIMITED},
                          timeout=60)  # fmt: skip
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines() if line.strip()][1:]


def _as_frame(rows: list[Any]) -> pl.DataFrame:
    # SELECT PLAYER_ID, WINDOWSTART, KILLS, EVENTS
    return pl.DataFrame(
        rows, schema=["player_id", "window_start", "KILLS", "EVENTS"], orient="row"
    ).sort("player_id", "window_start")


@pytest.fixture()
def server(embedded_stack: Settings, tmp_path: Path) -> Iterator[tuple[KsqlServer, str]]:
    tag = uuid.uuid4().hex[:8]
    ksql = KsqlServer(embedded_stack.kafka_config(), service_id=f"pull{tag}_",
                      state_dir=tmp_path / "state")  # fmt: skip
    ksql.start()
    try:
        with ServerThread(ksql.app()) as rest:
            yield ksql, rest.url
    finally:
        ksql.close()


def test_pulls_come_from_the_materialization(
    server: tuple[KsqlServer, str], embedded_stack: Settings
) -> None:
    ksql, url = server
    conf = embedded_stack.kafka_config()
    tag = uuid.uuid4().hex[:8]
    topic, table = f"pull_events_{tag}", f"PKR_{tag.upper()}"
    create_topic(conf, topic, 2)
    docs = events(0, 3000)
    produce_json(conf, topic, docs, key="player_id", timestamp_field="ts")
    ksql.execute(
        f"CREATE STREAM ev_{tag} (player_id STRING KEY, kind STRING, ts BIGINT) "
        f"WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON', TIMESTAMP='ts');"
        f"CREATE TABLE {table} AS SELECT player_id, "
        "SUM(CASE WHEN kind = 'kill' THEN 1 ELSE 0 END) AS kills, COUNT(*) AS events "
        f"FROM ev_{tag} WINDOW TUMBLING (SIZE 5 MINUTES) GROUP BY player_id EMIT CHANGES;",
        properties={"auto.offset.reset": "earliest"},
    )
    scan = f"SELECT PLAYER_ID, WINDOWSTART, KILLS, EVENTS FROM {table};"
    expected = truth(docs)
    deadline = time.monotonic() + CATCH_UP_S
    while not _as_frame(_pull(url, scan)).equals(expected):
        assert time.monotonic() < deadline, "the table did not catch up"
        time.sleep(0.3)
    materializations = ksql.backend.materializations
    assert materializations is not None and materializations.fed
    assert materializations.topics() == [table]

    # The materialization equals the topic scan (the fallback) row for row.
    # (Tansu reports a read_committed end offset of 0 while the query's transaction is open —
    # tests/kafka test_gap_* — so a scan that lands inside a transaction sees nothing: retry.)
    records = latest_per_key(ksql.reader.read(table, {}))
    while records.height != expected.height:
        assert time.monotonic() < deadline, f"the topic scan saw {records.height} rows"
        time.sleep(0.1)
        records = latest_per_key(ksql.reader.read(table, {}))

    # From now on no pull reads Kafka, also for rows produced after the seed.
    reads: list[str] = []
    real_read = ksql.reader.read

    def counting_read(name: str, start: Mapping[int, int]) -> pl.DataFrame:
        reads.append(name)
        return real_read(name, start)

    ksql.reader.read = counting_read  # type: ignore[method-assign, assignment]
    more = docs + events(3000, 1200)
    produce_json(conf, topic, events(3000, 1200), key="player_id", timestamp_field="ts")
    expected = truth(more)
    while not _as_frame(_pull(url, scan)).equals(expected):
        assert time.monotonic() < deadline + CATCH_UP_S, "the new rows did not arrive"
        time.sleep(0.3)

    lookup = _as_frame(_pull(url, f"{scan[:-1]} WHERE PLAYER_ID = 'p3';"))
    assert lookup.equals(expected.filter(pl.col("player_id") == "p3"))
    start = int(expected["window_start"].unique().sort()[1])
    bounded = _as_frame(_pull(
        url, f"{scan[:-1]} WHERE PLAYER_ID IN ('p1', 'p5') AND WINDOWSTART >= {start} "
             f"AND WINDOWSTART < {start + 2 * WINDOW_MS};"
    ))  # fmt: skip
    assert bounded.equals(
        expected.filter(
            pl.col("player_id").is_in(["p1", "p5"])
            & (pl.col("window_start") >= start)
            & (pl.col("window_start") < start + 2 * WINDOW_MS)
        )
    )
    assert bounded.height == 4
    assert reads == []
