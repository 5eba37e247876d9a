"""Stream–table join throughput: the enrichment demo's per-team K/D in the driver vs. polars.

- ``join_vs_polars_batch``: the enrichment demo (:mod:`telemetry_lib.demo_statements`: the
  ``players`` table, ``telemetry_stream LEFT JOIN players`` into ``TELEMETRY_ENRICHED``, and the
  per-team 5-minute ``TEAM_KILL_RATIO`` table on top) over 1M generated events and 10k player
  profiles piped into the in-memory driver with caching on, in batches of 100k (the profiles
  first), vs. a polars batch job computing the same final table from the same JSON bytes
  (``read_ndjson`` of events and profiles, left join, tumbling window, ``group_by``), measured
  alternately in the same process. The driver's final table is checked against the polars
  answer (:func:`telemetry_lib.demo_statements.team_kd_truth`) before timing. Target ratio >= 0.5.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import msgspec
import polars as pl

from bench.harness import BenchResult, alternate_rates
from telemetry_lib import demo_statements as ds
from telemetry_lib.generator import TelemetryGenerator
from telemetry_lib.ksql.driver import InMemoryDriver
from telemetry_lib.ksql.runtime.io import RECORD_SCHEMA

__all__ = ["bench_join_vs_polars_batch", "build_payload", "run_driver", "run_polars"]

logger = logging.getLogger(__name__)

#: The issue's sizes: 1M events, 10k players.
EVENTS = 1_000_000
PLAYERS = 10_000
#: Records per driver batch (a Kafka poll's worth at the fetch sizes measured on Tansu).
BATCH = 100_000
#: Runs per side: the harness default; each run is one to a few seconds.
RUNS = 5
SEED = 7
#: Cache size that turns caching on (ksqlDB's default cache.max.bytes.buffering).
CACHE_BYTES = 10_000_000
_EVENT_SCHEMA = {"player_id": pl.String, "event_type": pl.String, "timestamp": pl.Int64}
_PLAYER_SCHEMA = {"player_id": pl.String, "name": pl.String, "team": pl.String,
                  "region": pl.String, "skill": pl.Float64}  # fmt: skip


@dataclass(frozen=True)
class Payload:
    """The same bytes for both sides: event batches and profile records."""

    batches: tuple[pl.DataFrame, ...]
    players: pl.DataFrame
    start_ms: int


def _frame(keys: list[bytes], values: list[bytes], timestamps: list[int]) -> pl.DataFrame:
    n = len(values)
    return pl.DataFrame(
        {
            "key": pl.Series(keys, dtype=pl.Binary),
            "value": pl.Series(values, dtype=pl.Binary),
            "timestamp": pl.Series(timestamps, dtype=pl.Int64),
            "partition": pl.Series([0] * n, dtype=pl.Int32),
            "offset": pl.Series([None] * n, dtype=pl.Int64),
            "headers": pl.Series([[]], dtype=RECORD_SCHEMA["headers"]).new_from_index(0, n),
        }
    )


def build_payload(events: int = EVENTS, players: int = PLAYERS) -> Payload:
    """Generator records (events: key = player id, JSON value, record time = event time;
    profiles: key = player id, JSON value, record time = the run's start, as the generator
    writes them to Kafka)."""
    gen = TelemetryGenerator(players=players, events=events, seed=SEED)
    recs = gen.kafka_records()
    batches = tuple(
        _frame(recs.keys[i : i + BATCH], recs.values[i : i + BATCH], recs.timestamps[i : i + BATCH])
        for i in range(0, len(recs), BATCH)
    )
    profiles = gen.players()
    docs = profiles.to_dicts()
    encoder = msgspec.json.Encoder()
    start_ms = gen.config.start_ms
    player_frame = _frame(
        [d["player_id"].encode() for d in docs],
        [encoder.encode(d) for d in docs],
        [start_ms] * len(docs),
    )
    return Payload(batches, player_frame, start_ms)


def run_driver(payload: Payload) -> pl.DataFrame:
    """The enrichment demo with caching on; returns the final per-team table (TEAM,
    WINDOWSTART, KILLS, DEATHS, KD_RATIO)."""
    driver = InMemoryDriver(config={"cache.max.bytes.buffering": CACHE_BYTES})
    driver.create_topic(ds.EVENTS_TOPIC, partitions=1)
    driver.create_topic(ds.PLAYERS_TOPIC, partitions=1)
    driver.execute(ds.CREATE_STREAM + "\n" + ds.ENRICHMENT_SCRIPT)
    driver.pipe_batch(ds.PLAYERS_TOPIC, payload.players)
    for batch in payload.batches:
        driver.pipe_batch(ds.EVENTS_TOPIC, batch)
    table = final_table(driver)
    driver.close()
    return table


def final_table(driver: InMemoryDriver) -> pl.DataFrame:
    """The last row per (team, window) of the driver's TEAM_KILL_RATIO topic."""
    rows = driver.read_rows(ds.TEAM_TABLE)
    return (
        rows.group_by("TEAM", "WINDOWSTART", maintain_order=True)
        .last()
        .select(
            "TEAM",
            pl.col("WINDOWSTART").cast(pl.Int64),
            pl.col("KILLS").cast(pl.Int64),
            pl.col("DEATHS").cast(pl.Int64),
            pl.col("KD_RATIO").cast(pl.Float64),
        )
        .sort("TEAM", "WINDOWSTART")
    )


def run_polars(payload: Payload) -> pl.DataFrame:
    """The baseline: the same table from the same JSON bytes with a polars batch join."""
    values = pl.concat([b.select("value", "timestamp") for b in payload.batches])
    events = pl.read_ndjson(b"\n".join(values["value"].to_list()), schema=_EVENT_SCHEMA)
    events = events.with_columns(values["timestamp"].alias("timestamp"))  # ROWTIME
    players = pl.read_ndjson(b"\n".join(payload.players["value"].to_list()), schema=_PLAYER_SCHEMA)
    return ds.team_kd_truth(events, players)


def bench_join_vs_polars_batch() -> BenchResult:
    payload = build_payload()
    expected = run_polars(payload)
    produced = run_driver(payload)
    if not produced.equals(expected):
        raise AssertionError(
            f"driver's TEAM_KILL_RATIO ({produced.height} rows) differs from the polars batch "
            f"join ({expected.height} rows): the two sides do not compute the same query"
        )

    comparison = alternate_rates(run_driver, run_polars, payload, EVENTS, runs=RUNS)
    return comparison.result(
        "join_vs_polars_batch",
        "events/s",
        "polars read_ndjson + left join + tumbling window + group_by over the same JSON bytes",
        notes=(
            f"{EVENTS} generated events, {PLAYERS} players, {expected.height} (team, window) "
            f"rows; stream-table LEFT JOIN into TELEMETRY_ENRICHED (re-keyed by player_id) and "
            f"GROUP BY team, batches of {BATCH}, caching on; target ratio >= 0.5"
        ),
    )


# ------------------------------------------------------------------ stream-stream, interleaved
#: An interleaved merge as the Kafka runtime feeds it: 100k records alternating sides, so every
#: run of one topic is one record. The run-by-run baseline takes ~5-10 ms per record, so it is
#: timed over a prefix (the rate is per record either way).
SS_RECORDS = 100_000
SS_BASELINE_RECORDS = 1_000
SS_SQL = (
    "CREATE STREAM clicks (id BIGINT KEY, x BIGINT) "
    "WITH (KAFKA_TOPIC='clicks', VALUE_FORMAT='JSON', PARTITIONS=1);"
    "CREATE STREAM views (id BIGINT KEY, y BIGINT) "
    "WITH (KAFKA_TOPIC='views', VALUE_FORMAT='JSON', PARTITIONS=1);"
    "CREATE STREAM clicked AS SELECT clicks.id AS id, x, y FROM clicks "
    "JOIN views WITHIN 1 SECOND ON clicks.id = views.id;"
)


def _interleaved_runs(n: int) -> list[tuple[str, pl.DataFrame]]:
    """``n`` records alternating clicks / views (1000 keys, 1 ms apart) as one-record runs,
    with the offsets a topic gives them."""
    import random

    rng = random.Random(7)
    stored = {}
    for topic, field, first in (("clicks", "X", 0), ("views", "Y", 1)):
        idx = range(first, n, 2)
        keys = [rng.randrange(1000).to_bytes(8, "big") for _ in idx]
        values = [msgspec.json.encode({field: i}) for i in idx]
        frame = _frame(keys, values, [1_700_000_000_000 + i for i in idx])
        stored[topic] = frame.with_columns(
            pl.lit(0, dtype=pl.Int32).alias("partition"),
            pl.int_range(frame.height, dtype=pl.Int64).alias("offset"),
        )
    return [
        (
            "clicks" if i % 2 == 0 else "views",
            stored["clicks" if i % 2 == 0 else "views"].slice(i // 2, 1),
        )
        for i in range(n)
    ]


def _run_ss(runs: list[tuple[str, pl.DataFrame]], *, merged: bool) -> int:
    from telemetry_lib.ksql.exec.join_pipeline import merged_batch

    driver = InMemoryDriver(partitioner="single")
    driver.execute(SS_SQL)
    (query_id,) = driver.engine.running_queries()
    pipeline = driver.engine.running_query(query_id).pipeline  # type: ignore[union-attr]
    driver.deliver_automatically = False
    if merged:
        with merged_batch(pipeline):
            for topic, run in runs:
                pipeline.push(run, topic=topic)
    else:
        for topic, run in runs:
            pipeline.push(run, topic=topic)
    return driver.topics.records("CLICKED").height


def bench_stream_join_interleaved() -> BenchResult:
    from bench.harness import alternate, rate_of

    runs = _interleaved_runs(SS_RECORDS)
    prefix = runs[:SS_BASELINE_RECORDS]
    if _run_ss(prefix, merged=True) != _run_ss(prefix, merged=False):
        raise AssertionError("merged and run-by-run stream-stream joins differ on the prefix")
    comparison = alternate(
        rate_of(SS_RECORDS, lambda: _run_ss(runs, merged=True)),
        rate_of(SS_BASELINE_RECORDS, lambda: _run_ss(prefix, merged=False)),
        runs=3,
        warmup=0,
    )
    return comparison.result(
        "stream_join_interleaved",
        "records/s",
        f"the same query pushed run by run (first {SS_BASELINE_RECORDS} records)",
        notes=(
            f"{SS_RECORDS} JSON records alternating two streams (one-record runs, as the Kafka "
            "runtime's time merge gives interleaved topics), stream-stream INNER JOIN WITHIN 1 "
            "SECOND on 1000 keys, pushed in one JoinPipeline.merged() block"
        ),
    )
