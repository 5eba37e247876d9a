"""Pull-query latency: key lookups answered from the table's materialization vs a topic scan.

- ``pull_lookup_ms``: the median latency of a key lookup (``SELECT * FROM <demo table> WHERE
  PLAYER_ID = '<id>'``, random players, HTTP ``/query-stream`` to a
  :class:`~telemetry_lib.ksql.server.KsqlServer` in this process) when the server reads the
  table's in-memory materialization, against the same server with materializations off, where
  every pull reads the table's topic to its end (what pull queries did before). Ratio =
  baseline / subject (above 1: the materialization is faster).

The demo CTAS runs over :data:`EVENTS` generated events pre-loaded in an embedded Tansu on free
ports and is caught up before anything is timed.
"""

from __future__ import annotations

import logging
import random
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.bench_e2e import CATCH_UP_TIMEOUT_S, PARTITIONS, STREAM, TABLE, _preload, _stack
from bench.harness import BenchResult, alternate
from telemetry_lib.ksql.rest.serve import ServerThread
from telemetry_lib.ksql.server import KsqlServer

__all__ = ["bench_pull_lookup_ms"]

logger = logging.getLogger(__name__)

#: Input size: 100k events over 10k players gives a table of tens of thousands of windows,
#: large enough that reading its topic per pull shows.
EVENTS = 100_000
#: Lookups per measured run (each run's value is their median latency).
LOOKUPS = 20
_DELIMITED = "application/vnd.ksqlapi.delimited.v1"


def bench_pull_lookup_ms() -> BenchResult:
    import bench.bench_e2e as e2e

    with _stack() as settings, tempfile.TemporaryDirectory(prefix="bench-pull-") as tmp:
        topic, table = "bench_pull_events", "PKR_PULL"
        original = e2e.E2E_EVENTS
        e2e.E2E_EVENTS = EVENTS  # the e2e preload's size, for this run only
        try:
            total = _preload(settings, topic)
        finally:
            e2e.E2E_EVENTS = original
        server = KsqlServer(settings.kafka_config(), service_id="benchpull_", state_dir=Path(tmp))
        try:
            server.start()
            server.execute(
                STREAM.format(topic=topic) + TABLE.format(name=table),
                properties={"auto.offset.reset": "earliest"},
            )
            _catch_up(server, topic, total)
            with ServerThread(server.app()) as rest, httpx.Client(base_url=rest.url) as http:
                players = _players(http, table)
                rng = random.Random(7)
                materialized = server.backend.materializations

                def run(use_materialization: bool) -> float:
                    server.backend.materializations = materialized if use_materialization else None
                    return _lookups(http, table, rng, players)

                comparison = alternate(
                    lambda: run(True), lambda: run(False), runs=3, higher_is_better=False
                )
        finally:
            server.close()
    return comparison.result(
        "pull_lookup_ms",
        "ms",
        "the same lookup reading the table's topic to its end per pull",
        notes=f"median of {LOOKUPS} key lookups per run over HTTP /query-stream; demo CTAS over "
        f"{total} generated events ({PARTITIONS} partitions, {len(players)} players) caught up "
        "in embedded Tansu; subject = in-memory materialization fed by the Kafka runtime",
    )


def _catch_up(server: KsqlServer, topic: str, total: int) -> None:
    runner = next(iter(server.runtime.runners.values()))
    deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
    while sum(runner.positions.get((topic, p), 0) for p in range(PARTITIONS)) < total:
        if runner.status == "failed" or time.monotonic() > deadline:
            raise RuntimeError(f"the CTAS did not catch up: {runner.status} {runner.error}")
        time.sleep(0.05)


def _query(http: httpx.Client, sql: str) -> list[str]:
    response = http.post(
        "/query-stream",
        json={"sql": sql, "properties": {}},
        headers={"Accept": _DELIMITED},
        timeout=120,
    )
    response.raise_for_status()
    return [line for line in response.text.splitlines() if line.strip()][1:]


def _players(http: httpx.Client, table: str) -> list[str]:
    rows = _query(http, f"SELECT PLAYER_ID FROM {table};")
    return sorted({row.split('"')[1] for row in rows})


def _lookups(http: httpx.Client, table: str, rng: random.Random, players: list[str]) -> float:
    took = []
    for _ in range(LOOKUPS):
        player = rng.choice(players)
        began = time.perf_counter()
        rows = _query(http, f"SELECT * FROM {table} WHERE PLAYER_ID = '{player}';")
        took.append((time.perf_counter() - began) * 1e3)
        if not rows:
            raise RuntimeError(f"no row for {player}")
    return statistics.median(took)
