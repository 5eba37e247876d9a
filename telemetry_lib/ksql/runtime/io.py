"""The one small I/O interface the engine runs through.

Both the in-memory test driver (``telemetry_lib.ksql.driver``) and the Kafka runtime implement
:class:`TopicIO`; the engine must not know which one it runs on.

Records travel as columnar batches: a polars DataFrame with the columns of
:data:`RECORD_SCHEMA` (one row per Kafka record). Consumption is push-based: whoever owns
the input (driver or Kafka consumer loop) hands each batch of a source topic to the running
queries; queries write their outputs with :meth:`TopicIO.produce`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import polars as pl

__all__ = ["RECORD_SCHEMA", "TopicIO", "TopicSpec", "empty_records"]

#: Columns of a record batch. ``partition`` may be null in a batch handed to ``produce``:
#: the I/O layer then assigns it with Kafka's default partitioner (murmur2 of the key bytes;
#: null keys round-robin/sticky). ``offset`` is null on produce and set on consume.
RECORD_SCHEMA: dict[str, pl.DataType] = {
    "key": pl.Binary(),
    "value": pl.Binary(),
    "timestamp": pl.Int64(),
    "partition": pl.Int32(),
    "offset": pl.Int64(),
    "headers": pl.List(pl.Struct({"key": pl.String(), "value": pl.Binary()})),
}


def empty_records() -> pl.DataFrame:
    """A zero-row record batch with :data:`RECORD_SCHEMA`."""
    return pl.DataFrame(schema=RECORD_SCHEMA)


@dataclass(frozen=True)
class TopicSpec:
    """A topic's name, partition count, replication and explicit configs."""

    name: str
    partitions: int
    replicas: int = 1
    config: Mapping[str, str] = field(default_factory=dict)


class TopicIO(Protocol):
    """Topic administration and production, as the engine needs them."""

    def create_topic(self, spec: TopicSpec) -> None:
        """Create ``spec.name``; a no-op if it exists with the same partition count."""

    def describe_topic(self, name: str) -> TopicSpec | None:
        """The topic's spec, or None when it does not exist."""

    def delete_topic(self, name: str) -> None:
        """Delete the topic (no error if it is absent)."""

    def list_topics(self) -> list[TopicSpec]:
        """Every topic, internal ones included."""

    def produce(self, topic: str, records: pl.DataFrame) -> None:
        """Append ``records`` (RECORD_SCHEMA columns) to ``topic``, in order."""
