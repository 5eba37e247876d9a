"""Bulk serialization of event batches: Kafka records (key, JSON value, timestamp) and Mongo
documents, in delivery order, with the malformed records in their places.

JSON values are built column-wise by one polars string expression per batch (no per-event
Python), which is what lets the Kafka sink beat a ``json.dumps`` + ``produce()`` loop. The
generator only emits ids, event types, match ids and weapon names from fixed alphabets, so
no string needs JSON escaping; :func:`json_values` checks the dtypes it is given.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import polars as pl

from telemetry_lib.errors import GeneratorError
from telemetry_lib.generator.events import BAD_TIMESTAMP_TEXT, EventBatch

__all__ = [
    "KafkaRecords",
    "json_values",
    "kafka_records",
    "malformed_document",
    "mongo_documents",
]

logger = logging.getLogger(__name__)

#: Prefix of the ``_id`` of malformed Mongo documents (valid ones use ``event_id``).
MALFORMED_ID_PREFIX = "malformed-"
_NUMERIC = (pl.Int64, pl.Int32, pl.Float64)


@dataclass(frozen=True)
class KafkaRecords:
    """One batch as parallel lists ready for ``Producer.produce``: key = player_id."""

    keys: list[bytes]
    values: list[bytes]
    timestamps: list[int]

    def __len__(self) -> int:
        return len(self.values)


def json_values(events: pl.DataFrame, columns: list[str]) -> pl.Series:
    """One compact JSON object per row (fields in ``columns`` order), as a Binary series."""
    parts: list[pl.Expr] = []
    for i, name in enumerate(columns):
        dtype = events.schema[name]
        sep = "{" if i == 0 else ","
        if dtype == pl.String:
            parts += [pl.lit(f'{sep}"{name}":"'), pl.col(name), pl.lit('"')]
        elif any(dtype == t for t in _NUMERIC):
            parts += [pl.lit(f'{sep}"{name}":'), pl.col(name).cast(pl.String)]
        else:
            raise GeneratorError(
                f"column {name!r} has type {dtype}, which the bulk JSON writer does not handle",
                hint="only String, Int and Float64 event columns can be serialized",
            )
    parts.append(pl.lit("}"))
    return events.select(pl.concat_str(parts).cast(pl.Binary)).to_series()


def kafka_records(batch: EventBatch, columns: list[str]) -> KafkaRecords:
    """The batch's records in delivery order: valid events as JSON, malformed ones as built."""
    frame = batch.events.select(
        "seq",
        pl.col("player_id").cast(pl.Binary).alias("key"),
        json_values(batch.events, columns).alias("value"),
        "timestamp",
    )
    if batch.malformed.height:
        malformed = batch.malformed.select(
            "seq", pl.col("player_id").cast(pl.Binary).alias("key"), "value", "timestamp"
        )
        frame = pl.concat([frame, malformed]).sort("seq")
    return KafkaRecords(
        keys=frame["key"].to_list(),
        values=frame["value"].to_list(),
        timestamps=frame["timestamp"].to_list(),
    )


def mongo_documents(batch: EventBatch, columns: list[str]) -> list[dict[str, Any]]:
    """The batch as Mongo documents in delivery order; ``_id`` is the event_id."""
    valid = batch.events.select(pl.col("event_id").alias("_id"), *columns).to_dicts()
    if not batch.malformed.height:
        return valid
    docs: list[dict[str, Any]] = []
    taken = 0
    for j, row in enumerate(batch.malformed.iter_rows(named=True)):
        upto = row["seq"] - batch.first_seq - j  # valid records delivered before this one
        docs.extend(valid[taken:upto])
        docs.append(malformed_document(row))
        taken = upto
    docs.extend(valid[taken:])
    return docs


def malformed_document(row: dict[str, Any]) -> dict[str, Any]:
    """The Mongo form of a malformed record.

    BSON cannot hold text that is not JSON, so in MongoDB every malformed kind becomes the
    same wrong-typed document: ``timestamp`` is non-numeric text, which ksqlDB's JSON
    deserializer rejects for a BIGINT column once the source connector has copied it to Kafka.
    """
    return {
        "_id": f"{MALFORMED_ID_PREFIX}{row['seq']}",
        "player_id": row["player_id"],
        "event_type": row["event_type"],
        "timestamp": BAD_TIMESTAMP_TEXT,
    }
