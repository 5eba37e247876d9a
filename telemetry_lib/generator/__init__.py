"""Telemetry generator: deterministic players, matches and paired kill/death events.

``TelemetryGenerator(GeneratorConfig(...))`` (or keyword parameters) gives:

- ``players()``: the player profiles (player_id, name, team, region, skill);
- ``batches()``: the delivered stream as :class:`EventBatch` es (valid events + malformed
  records, in delivery order), generated vectorised in chunks;
- ``events()`` / ``kafka_records()``: the whole run as one DataFrame / record lists;
- ``to_kafka(topic)`` / ``to_mongo(collection)``: stream the run into a sink;
- ``players_to_kafka(topic)`` / ``players_to_mongo(collection)``: the profiles likewise.

The same seed and config always give the same output. The event schema, the malformed
kinds and the disorder model are documented in ``data/README.md``; the CLI is
``telemetry generate``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import polars as pl

from telemetry_lib.config import Settings
from telemetry_lib.generator.checks import (
    CHECKSUM_COLUMNS,
    StreamStats,
    combine_checksums,
    event_checksum,
    stream_stats,
)
from telemetry_lib.generator.config import (
    DEFAULT_EVENTS,
    DEFAULT_EVENTS_PER_PLAYER_MINUTE,
    DEFAULT_START_MS,
    GeneratorConfig,
    ResolvedConfig,
)
from telemetry_lib.generator.events import (
    EVENT_SCHEMA,
    MALFORMED_KINDS,
    MALFORMED_SCHEMA,
    EventBatch,
    iter_batches,
    value_columns,
)
from telemetry_lib.generator.players import PLAYER_SCHEMA, generate_players, player_ids
from telemetry_lib.generator.serialize import (
    KafkaRecords,
    json_values,
    kafka_records,
    mongo_documents,
)
from telemetry_lib.generator.sinks import (
    SinkReport,
    write_kafka,
    write_mongo,
    write_players_kafka,
    write_players_mongo,
)

__all__ = [
    "CHECKSUM_COLUMNS",
    "DEFAULT_EVENTS",
    "DEFAULT_EVENTS_PER_PLAYER_MINUTE",
    "DEFAULT_START_MS",
    "EVENT_SCHEMA",
    "MALFORMED_KINDS",
    "MALFORMED_SCHEMA",
    "PLAYER_SCHEMA",
    "EventBatch",
    "GeneratorConfig",
    "KafkaRecords",
    "ResolvedConfig",
    "SinkReport",
    "StreamStats",
    "TelemetryGenerator",
    "combine_checksums",
    "event_checksum",
    "generate_players",
    "iter_batches",
    "json_values",
    "kafka_records",
    "mongo_documents",
    "player_ids",
    "stream_stats",
    "value_columns",
    "write_kafka",
    "write_mongo",
    "write_players_kafka",
    "write_players_mongo",
]

logger = logging.getLogger(__name__)


class TelemetryGenerator:
    """The generator for one config: profiles, the event stream, and sinks for it."""

    def __init__(self, config: GeneratorConfig | None = None, **params: Any) -> None:
        if config is not None and params:
            raise TypeError("pass either a GeneratorConfig or keyword parameters, not both")
        self.config = config if config is not None else GeneratorConfig(**params)
        self.resolved: ResolvedConfig = self.config.resolve()

    def __repr__(self) -> str:
        return f"TelemetryGenerator({self.config!r})"

    @property
    def columns(self) -> list[str]:
        """Fields of each event (JSON value / Mongo document), in order."""
        return value_columns(self.resolved)

    def players(self) -> pl.DataFrame:
        """Player profiles: player_id, name, team, region, skill (one row per player)."""
        return generate_players(self.resolved)

    def batches(self) -> Iterator[EventBatch]:
        """The delivered stream, chunk by chunk (bounded memory)."""
        return iter_batches(self.resolved)

    def events(self) -> pl.DataFrame:
        """Every valid event in delivery order (``seq`` numbers malformed records too)."""
        frames = [b.events for b in self.batches()]
        return pl.concat(frames) if frames else pl.DataFrame(schema=EVENT_SCHEMA)

    def malformed(self) -> pl.DataFrame:
        """Every malformed record of the run (seq, player_id, timestamp, kind, value bytes)."""
        frames = [b.malformed for b in self.batches()]
        return pl.concat(frames) if frames else pl.DataFrame(schema=MALFORMED_SCHEMA)

    def kafka_records(self) -> KafkaRecords:
        """The whole run as Kafka (key, value, timestamp) lists in delivery order."""
        keys: list[bytes] = []
        values: list[bytes] = []
        timestamps: list[int] = []
        for batch in self.batches():
            part = kafka_records(batch, self.columns)
            keys += part.keys
            values += part.values
            timestamps += part.timestamps
        return KafkaRecords(keys=keys, values=values, timestamps=timestamps)

    def to_kafka(
        self,
        topic: str = "telemetry_events",
        *,
        settings: Settings | None = None,
        partitions: int | None = None,
        progress: bool = True,
    ) -> SinkReport:
        """Write the run to a Kafka topic (key = player_id); see :func:`write_kafka`."""
        return write_kafka(
            self.resolved, topic, settings=settings, partitions=partitions, progress=progress
        )

    def to_mongo(
        self,
        collection: str = "telemetry_events",
        *,
        database: str = "game",
        settings: Settings | None = None,
        progress: bool = True,
    ) -> SinkReport:
        """Write the run to ``database.collection``; see :func:`write_mongo`."""
        return write_mongo(
            self.resolved, collection, database=database, settings=settings, progress=progress
        )

    def players_to_kafka(
        self,
        topic: str = "players",
        *,
        settings: Settings | None = None,
        partitions: int | None = None,
    ) -> SinkReport:
        """Write the profiles to a Kafka topic; see :func:`write_players_kafka`."""
        return write_players_kafka(self.resolved, topic, settings=settings, partitions=partitions)

    def players_to_mongo(
        self,
        collection: str = "players",
        *,
        database: str = "game",
        settings: Settings | None = None,
    ) -> SinkReport:
        """Replace ``database.collection`` with the profiles; see :func:`write_players_mongo`."""
        return write_players_mongo(self.resolved, collection, database=database, settings=settings)
