"""Where generated telemetry goes: a Kafka topic or a MongoDB collection.

Both sinks stream the generator's batches (bounded memory for any run length), pace writes
to ``rate`` events/s when the config sets one (else write as fast as possible), show a tqdm
progress bar, and return a :class:`SinkReport` with counts, timing and the checksum of the
valid events written (see :func:`telemetry_lib.generator.checks.event_checksum`).

Kafka records: key = ``player_id`` (UTF-8), value = the event as compact JSON, record
timestamp = the event's ``timestamp`` (so record-time and event-time windows agree).
The topic must exist, or ``partitions`` must be given to create it: the embedded broker
would silently auto-create an unknown topic with 4 partitions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl
from tqdm.auto import tqdm

from telemetry_lib.config import Settings, load_settings
from telemetry_lib.errors import KafkaError
from telemetry_lib.generator.checks import combine_checksums, event_checksum
from telemetry_lib.generator.config import ResolvedConfig
from telemetry_lib.generator.events import EventBatch, iter_batches, value_columns
from telemetry_lib.generator.players import generate_players
from telemetry_lib.generator.serialize import kafka_records, mongo_documents
from telemetry_lib.kafka import JsonProducer, KafkaAdmin, encode_json_batch
from telemetry_lib.mongo import get_collection, seed

__all__ = [
    "SinkReport",
    "write_kafka",
    "write_mongo",
    "write_players_kafka",
    "write_players_mongo",
]

logger = logging.getLogger(__name__)

#: When pacing, write in slices of this many seconds' worth of events: smooth enough for a
#: live chart, coarse enough that sleeping costs nothing.
PACE_SLICE_S = 0.05
#: Documents per insert_many call: ~2 s of work on NX-27017 (~5k docs/s), so the progress bar
#: moves, while per-call overhead stays negligible on real MongoDB.
MONGO_INSERT_BATCH = 10_000


@dataclass(frozen=True)
class SinkReport:
    """What a sink wrote."""

    sink: Literal["kafka", "mongo"]
    target: str
    events: int
    malformed: int
    seconds: float
    checksum: int

    @property
    def records(self) -> int:
        return self.events + self.malformed

    @property
    def rate(self) -> float:
        """Records written per second (wall clock, pacing included)."""
        return self.records / self.seconds if self.seconds > 0 else float("inf")

    def as_dict(self) -> dict[str, Any]:
        return {
            "sink": self.sink,
            "target": self.target,
            "events": self.events,
            "malformed": self.malformed,
            "records": self.records,
            "seconds": round(self.seconds, 4),
            "records_per_s": round(self.rate, 1),
            "checksum": f"{self.checksum:016x}",
        }


def write_kafka(
    resolved: ResolvedConfig,
    topic: str,
    *,
    settings: Settings | None = None,
    partitions: int | None = None,
    progress: bool = True,
) -> SinkReport:
    """Generate the run into ``topic``; create it with ``partitions`` if it is missing."""
    settings = settings or load_settings()
    _ensure_topic(KafkaAdmin(settings), topic, partitions)
    columns = value_columns(resolved)
    started = time.perf_counter()
    events = malformed = checksum = 0
    with JsonProducer(settings) as producer, _progress(resolved, progress, topic) as bar:
        for batch in iter_batches(resolved):
            records = kafka_records(batch, columns)
            for lo, hi in _slices(resolved, len(records)):
                producer.produce_values(
                    topic,
                    records.values[lo:hi],
                    keys=records.keys[lo:hi],
                    timestamps=records.timestamps[lo:hi],
                    flush=False,
                )
                bar.update(hi - lo)
                _pace(resolved, started, events + malformed + hi)
            events, malformed, checksum = _account(batch, events, malformed, checksum)
        producer.flush()
    return SinkReport("kafka", topic, events, malformed, time.perf_counter() - started, checksum)


def write_mongo(
    resolved: ResolvedConfig,
    collection: str = "telemetry_events",
    *,
    database: str = "game",
    settings: Settings | None = None,
    progress: bool = True,
) -> SinkReport:
    """Generate the run into ``database.collection`` (``_id`` = event_id), in order."""
    coll = get_collection(settings or load_settings(), collection, database=database)
    columns = value_columns(resolved)
    started = time.perf_counter()
    events = malformed = checksum = 0
    name = f"{database}.{collection}"
    step = MONGO_INSERT_BATCH
    if resolved.pace_rate is not None:
        step = max(1, int(resolved.pace_rate * PACE_SLICE_S))
    with _progress(resolved, progress, name) as bar:
        for batch in iter_batches(resolved):
            docs = mongo_documents(batch, columns)
            for lo in range(0, len(docs), step):
                chunk = docs[lo : lo + step]
                seed(coll, chunk, batch_size=step, progress=False)
                bar.update(len(chunk))
                _pace(resolved, started, events + malformed + lo + len(chunk))
            events, malformed, checksum = _account(batch, events, malformed, checksum)
    return SinkReport("mongo", name, events, malformed, time.perf_counter() - started, checksum)


def write_players_kafka(
    resolved: ResolvedConfig,
    topic: str = "players",
    *,
    settings: Settings | None = None,
    partitions: int | None = None,
) -> SinkReport:
    """The player profiles as JSON records keyed by player_id (for a ksqlDB ``players`` table).

    Record timestamps are the run's ``start_ms``: a join reads the table side "as of" each
    event's time, and Kafka Streams processes the smaller timestamps first, so profiles stamped
    with the wall clock would arrive after every (older) event and join as nulls.
    """
    settings = settings or load_settings()
    _ensure_topic(KafkaAdmin(settings), topic, partitions)
    players = generate_players(resolved)
    docs = players.to_dicts()
    started = time.perf_counter()
    with JsonProducer(settings) as producer:
        producer.produce_values(
            topic,
            encode_json_batch(docs),
            keys=[d["player_id"].encode() for d in docs],
            timestamps=[resolved.config.start_ms] * len(docs),
            flush=False,
        )
    seconds = time.perf_counter() - started
    return SinkReport("kafka", topic, len(docs), 0, seconds, _players_checksum(players))


def write_players_mongo(
    resolved: ResolvedConfig,
    collection: str = "players",
    *,
    database: str = "game",
    settings: Settings | None = None,
) -> SinkReport:
    """Replace ``database.collection`` with the player profiles (``_id`` = player_id)."""
    coll = get_collection(settings or load_settings(), collection, database=database)
    coll.drop()
    players = generate_players(resolved)
    docs = players.select(pl.col("player_id").alias("_id"), pl.all()).to_dicts()
    started = time.perf_counter()
    seed(coll, docs, progress=False)
    seconds = time.perf_counter() - started
    name = f"{database}.{collection}"
    return SinkReport("mongo", name, len(docs), 0, seconds, _players_checksum(players))


def _players_checksum(players: pl.DataFrame) -> int:
    """Order-independent checksum of the profiles (sum of row hashes, mod 2**64)."""
    hashes = players.select(pl.struct(pl.all()).hash(seed=0)).to_series().to_numpy()
    return int(np.sum(hashes, dtype=np.uint64))


def _ensure_topic(admin: KafkaAdmin, topic: str, partitions: int | None) -> None:
    """Create ``topic`` with ``partitions`` if missing; without ``partitions`` it must exist
    (the embedded broker would auto-create it with 4 partitions)."""
    if topic not in admin.list_topics(include_internal=True):
        if partitions is None:
            raise KafkaError(
                f"topic {topic!r} does not exist",
                hint="create it first, or pass partitions=N (CLI: --partitions N) to create it",
            )
        admin.create_topic(topic, partitions)
    elif partitions is not None:
        admin.create_topic(topic, partitions)  # raises when it exists with another count


def _account(batch: EventBatch, events: int, malformed: int, checksum: int) -> tuple[int, int, int]:
    return (
        events + batch.events.height,
        malformed + batch.malformed.height,
        combine_checksums(checksum, event_checksum(batch.events)),
    )


def _slices(resolved: ResolvedConfig, total: int) -> Iterator[tuple[int, int]]:
    """Ranges to write one at a time: the whole batch, or pacing-sized slices."""
    if resolved.pace_rate is None:
        yield 0, total
        return
    step = max(1, int(resolved.pace_rate * PACE_SLICE_S))
    for lo in range(0, total, step):
        yield lo, min(lo + step, total)


def _pace(resolved: ResolvedConfig, started: float, written: int) -> None:
    """Sleep until ``written`` records are due at the configured rate (no-op when unpaced)."""
    if resolved.pace_rate is None:
        return
    ahead = started + written / resolved.pace_rate - time.perf_counter()
    if ahead > 0:
        time.sleep(ahead)


def _progress(resolved: ResolvedConfig, enabled: bool, target: str) -> Any:
    """A bar over records written; its total is exact only without malformed records (their
    number is drawn as the run goes)."""
    exact = resolved.config.malformed_fraction == 0
    return tqdm(
        total=resolved.events if exact else None,
        unit="rec",
        unit_scale=True,
        desc=f"generate -> {target}",
        disable=not enabled,
        leave=False,
    )
