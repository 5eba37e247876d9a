# ruff: noqa: E501 - the demo statements are kept verbatim
"""Windowed aggregation throughput and state size: the demo's kill-ratio CTAS.

- ``driver_vs_polars_batch``: the demo's CTAS (5-minute tumbling windows, EMIT CHANGES) over 1M
  generated events (10k players) piped into the in-memory driver with caching on, in batches of
  100k (decode, CASE/SUM per window, coalesced table updates, encode, store), vs a polars batch
  job computing the same final table (``read_ndjson`` + window + ``group_by``) from the same
  JSON bytes, measured alternately. Target ratio >= 0.6. The notes also give the aggregate
  state's snapshot bytes per (player, window).
- ``emit_final_peak_memory``: peak RSS of a child process running the demo's query with
  EMIT FINAL and event time over 10M generated events fed straight to the engine (the driver's
  input log is bypassed so only the query's state grows), sampled after 2M and after 10M
  events: flat when only open windows are kept.
"""

from __future__ import annotations

import json
import logging
import resource
import subprocess
import sys
import time
from dataclasses import dataclass

import polars as pl

from bench.harness import BenchResult, alternate_rates
from telemetry_lib.generator import TelemetryGenerator
from telemetry_lib.ksql.driver import InMemoryDriver
from telemetry_lib.ksql.runtime.io import RECORD_SCHEMA, TopicSpec

__all__ = [
    "bench_driver_vs_polars_batch",
    "bench_emit_final_peak_memory",
    "build_payload",
    "run_driver",
    "run_polars",
]

logger = logging.getLogger(__name__)

#: The issue's sizes: 1M events, 10k players.
EVENTS = 1_000_000
PLAYERS = 10_000
#: Records per driver batch (a Kafka poll's worth at the fetch sizes measured on Tansu).
BATCH = 100_000
#: Runs per side: the harness default; each run is one to a few seconds.
RUNS = 5
SEED = 5
WINDOW_MS = 300_000
#: Events of the memory run, and the checkpoint at which the first peak is sampled.
MEMORY_EVENTS = 10_000_000
MEMORY_CHECKPOINT = 2_000_000
#: Cache size that turns caching on (ksqlDB's default cache.max.bytes.buffering).
CACHE_BYTES = 10_000_000

_STREAM = """CREATE STREAM telemetry_stream (player_id VARCHAR, event_type VARCHAR, timestamp BIGINT)
  WITH (KAFKA_TOPIC='telemetry_events', VALUE_FORMAT='JSON'{ts});"""
_TABLE = """CREATE TABLE player_kill_ratio AS
SELECT player_id,
       SUM(CASE WHEN event_type = 'kill' THEN 1 ELSE 0 END) as kill_count,
       SUM(CASE WHEN event_type = 'death' THEN 1 ELSE 0 END) as death_count,
       (SUM(CASE WHEN event_type = 'kill' THEN 1 ELSE 0 END) * 1.0) / NULLIF(SUM(CASE WHEN event_type = 'death' THEN 1 ELSE 0 END), 0) as kill_ratio
FROM telemetry_stream
WINDOW TUMBLING (SIZE 5 MINUTES)  -- Adjust the window size as needed
GROUP BY player_id
EMIT {emit};"""


@dataclass(frozen=True)
class Payload:
    batches: tuple[pl.DataFrame, ...]
    values: tuple[bytes, ...]
    timestamps: tuple[int, ...]


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


def build_payload(events: int = EVENTS) -> Payload:
    """The generator's records (key = player id, JSON value, record time = event time)."""
    recs = TelemetryGenerator(players=PLAYERS, events=events, seed=SEED).kafka_records()
    batches = tuple(
        _frame(
            recs.keys[start : start + BATCH],
            recs.values[start : start + BATCH],
            recs.timestamps[start : start + BATCH],
        )
        for start in range(0, len(recs), BATCH)
    )
    return Payload(batches, tuple(recs.values), tuple(recs.timestamps))


def run_driver(payload: Payload) -> tuple[int, int]:
    """The demo's CTAS with caching on; returns (final table rows, state bytes)."""
    driver = InMemoryDriver(config={"cache.max.bytes.buffering": CACHE_BYTES})
    driver.create_topic("telemetry_events", partitions=1)
    driver.execute(_STREAM.format(ts="") + "\n" + _TABLE.format(emit="CHANGES"))
    for batch in payload.batches:
        driver.pipe_batch("telemetry_events", batch)
    out = driver.topics.records("PLAYER_KILL_RATIO")
    rows = out.select(pl.col("key").n_unique()).item()
    state_bytes = _state_bytes(driver)
    driver.close()
    return int(rows), state_bytes


def _state_bytes(driver: InMemoryDriver) -> int:
    from telemetry_lib.ksql.exec.aggregate import AggregateOperator

    total = 0
    for query_id in driver.engine.running_queries():
        running = driver.engine.running_query(query_id)
        assert running is not None
        for op in running.pipeline.operators:
            if isinstance(op, AggregateOperator):
                total += op.state.approximate_bytes()
    return total


def run_polars(payload: Payload) -> int:
    """The baseline: the same final table from the same JSON bytes; returns its row count."""
    frame = pl.read_ndjson(
        b"\n".join(payload.values),
        schema={"player_id": pl.String, "event_type": pl.String, "timestamp": pl.Int64},
    ).with_columns(pl.Series("rowtime", payload.timestamps, dtype=pl.Int64))
    table = (
        frame.with_columns((pl.col("rowtime") - pl.col("rowtime") % WINDOW_MS).alias("ws"))
        .group_by("player_id", "ws")
        .agg(
            (pl.col("event_type") == "kill").sum().alias("kill_count"),
            (pl.col("event_type") == "death").sum().alias("death_count"),
        )
        .with_columns(
            (
                pl.col("kill_count").cast(pl.Float64)
                / pl.when(pl.col("death_count") == 0).then(None).otherwise(pl.col("death_count"))
            ).alias("kill_ratio")
        )
    )
    return table.height


def bench_driver_vs_polars_batch() -> BenchResult:
    payload = build_payload()
    expected = run_polars(payload)
    produced, state_bytes = run_driver(payload)
    if produced != expected:
        raise AssertionError(
            f"driver's table has {produced} (player, window) rows but polars computes "
            f"{expected}: the two sides do not compute the same query"
        )

    comparison = alternate_rates(run_driver, run_polars, payload, EVENTS, runs=RUNS)
    return comparison.result(
        "driver_vs_polars_batch",
        "events/s",
        "polars read_ndjson + tumbling window + group_by over the same JSON bytes",
        notes=(
            f"{EVENTS} generated events, {PLAYERS} players, {expected} (player, window) rows, "
            f"batches of {BATCH}, caching on; state snapshot "
            f"{state_bytes / expected:.0f} bytes per (player, window); target ratio >= 0.6"
        ),
    )


class _CountingIO:
    """A TopicIO that keeps topic specs and counts produced records without storing them, so
    the memory run measures the query's state rather than the output topics' contents."""

    def __init__(self) -> None:
        self.specs: dict[str, TopicSpec] = {}
        self.produced: dict[str, int] = {}

    def create_topic(self, spec: TopicSpec) -> None:
        self.specs.setdefault(spec.name, spec)

    def describe_topic(self, name: str) -> TopicSpec | None:
        return self.specs.get(name)

    def delete_topic(self, name: str) -> None:
        self.specs.pop(name, None)

    def list_topics(self) -> list[TopicSpec]:
        return list(self.specs.values())

    def produce(self, topic: str, records: pl.DataFrame) -> None:
        self.produced[topic] = self.produced.get(topic, 0) + records.height


def _memory_child(events: int, checkpoint: int) -> dict[str, float]:
    """Runs in a child process: EMIT FINAL over ``events`` events fed to the engine."""
    from telemetry_lib.generator import kafka_records
    from telemetry_lib.ksql.engine import KsqlEngine
    from telemetry_lib.ksql.exec.aggregate import AggregateOperator

    io = _CountingIO()
    io.create_topic(TopicSpec("telemetry_events", partitions=1))
    engine = KsqlEngine(io, config={"cache.max.bytes.buffering": CACHE_BYTES})
    engine.execute(
        _STREAM.format(ts=", TIMESTAMP='timestamp'") + "\n" + _TABLE.format(emit="FINAL")
    )
    (query_id,) = engine.running_queries()
    running = engine.running_query(query_id)
    assert running is not None
    op = next(o for o in running.pipeline.operators if isinstance(o, AggregateOperator))
    gen = TelemetryGenerator(players=PLAYERS, events=events, seed=SEED)
    fed = 0
    sample: dict[str, float] = {}
    began = time.perf_counter()
    for batch in gen.batches():
        recs = kafka_records(batch, gen.columns)
        frame = _frame(recs.keys, recs.values, recs.timestamps).with_columns(
            pl.int_range(fed, fed + len(recs), dtype=pl.Int64).alias("offset")
        )
        engine.process("telemetry_events", frame)
        fed += len(recs)
        if not sample and fed >= checkpoint:
            sample["rss_mb_at_checkpoint"] = _peak_rss_mb()
            sample["windows_at_checkpoint"] = op.state.entries()
    sample["rss_mb_at_end"] = _peak_rss_mb()
    sample["windows_at_end"] = op.state.entries()
    sample["events"] = fed
    sample["seconds"] = time.perf_counter() - began
    sample["emitted"] = io.produced.get("PLAYER_KILL_RATIO", 0)
    return sample


def _peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM belongs to the current address space, so unlike
    ``ru_maxrss`` it does not inherit the parent's peak across fork + exec."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_emit_final_peak_memory() -> BenchResult:
    code = (
        "import json; from bench.bench_aggregation import _memory_child; "
        f"print(json.dumps(_memory_child({MEMORY_EVENTS}, {MEMORY_CHECKPOINT})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    sample = json.loads(done.stdout.strip().splitlines()[-1])
    growth = sample["rss_mb_at_end"] - sample["rss_mb_at_checkpoint"]
    return BenchResult(
        benchmark="emit_final_peak_memory",
        value=sample["rss_mb_at_end"],
        unit="MB peak RSS",
        notes=(
            f"{sample['events']} events ({PLAYERS} players) through the demo CTAS with EMIT FINAL "
            f"and event time in {sample['seconds']:.0f} s, {sample['emitted']} final rows; peak "
            f"RSS {sample['rss_mb_at_checkpoint']:.0f} MB after {MEMORY_CHECKPOINT} events and "
            f"{sample['rss_mb_at_end']:.0f} MB at the end (+{growth:.0f} MB); open windows in the "
            f"store {sample['windows_at_checkpoint']:.0f} -> {sample['windows_at_end']:.0f}"
        ),
    )
