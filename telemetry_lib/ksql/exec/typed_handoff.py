"""Typed hand-off: a sink's typed value columns given to a source reading the same records.

Owns :data:`TYPED_VALUE`, :func:`typed_value_column` (sink side) and :func:`handed_values`
(source side). When one query of an in-process engine (the in-memory driver) writes a topic
that another query of the same engine reads, the reader would decode the very bytes the writer
just encoded. Where the serde guarantees ``decode(encode(x)) == x``
(:func:`telemetry_lib.ksql.serde.json_fast.round_trips_exactly`: wrapped JSON objects of
BOOLEAN, INTEGER, BIGINT, DOUBLE and STRING columns, finite doubles), the writer's typed
columns travel with the stored records instead, and a reader whose value schema and format are
the writer's takes them instead of decoding. The bytes are still written to the topic log
unchanged, so every other reader (REST push and pull queries, ``read_rows``, a query catching
up later) sees the same records as before.

Protocol:

1. The sink asks the topic I/O whether it delivers typed values (``delivers_typed_values``
   attribute, true only for :class:`~telemetry_lib.ksql.driver.InMemoryTopics`); Kafka never
   does, so nothing changes there.
2. If so, and the rule above holds for the batch, it produces its records with one extra
   Struct column :data:`TYPED_VALUE` (one field per value column, named and typed as in the
   value schema; fields are null where the record's value is null). The I/O stores the
   records without it and hands it, beside the stored records, to the readers of the topic.
3. A source whose value format is wrapped JSON and whose value columns are exactly the
   struct's fields (names, order, SQL types inside the rule) uses the struct's fields as its
   decoded values: no errors, ``null_payload`` where the value bytes are null — what the
   decode gives for these bytes. Any other source decodes the bytes as before.

Measured (``bench/bench_joins.py``, 1M events: TEAM_KILL_RATIO reads TELEMETRY_ENRICHED's
seven JSON columns): the second decode — about a third of the run's CPU — disappears; process
CPU per run 2.46 -> 1.64 s (medians of 5 same-process alternations on the shared 2-core box).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import polars as pl

from telemetry_lib.ksql.catalog import Column, DataSource, FormatSpec
from telemetry_lib.ksql.serde.json_exact import is_wrapped
from telemetry_lib.ksql.serde.json_fast import exact_round_trip_schema, round_trips_exactly
from telemetry_lib.ksql.serde.options import SerdeOptions
from telemetry_lib.ksql.types import SqlType, to_polars

__all__ = ["TYPED_VALUE", "delivers_typed_values", "handed_values", "typed_value_column"]

logger = logging.getLogger(__name__)

#: The extra column of produced records carrying the sink's typed values (step 2).
TYPED_VALUE = "__ksql_typed_value"
#: The only value format the rule covers.
_JSON = "JSON"


def delivers_typed_values(io: object) -> bool:
    """Whether the topic I/O hands :data:`TYPED_VALUE` to the readers of a topic (step 1)."""
    return getattr(io, "delivers_typed_values", False) is True


def _schema(columns: Sequence[Column]) -> tuple[tuple[str, SqlType], ...]:
    return tuple((c.name, c.type) for c in columns)


def _wrapped_json(fmt: FormatSpec, schema: Sequence[tuple[str, SqlType]]) -> bool:
    options = SerdeOptions(is_key=False, wrap_single_value=fmt.wrap_single_value)
    return fmt.name == _JSON and is_wrapped(schema, options)


def typed_value_column(
    frame: pl.DataFrame,
    columns: Sequence[Column],
    fmt: FormatSpec,
    *,
    null_value: pl.Series,
) -> pl.Series | None:
    """The :data:`TYPED_VALUE` column for the records a sink writes from ``frame`` (one row
    per record, before any filtering), or None when the bytes must be decoded (step 2)."""
    schema = _schema(columns)
    if not _wrapped_json(fmt, schema):
        return None
    if not round_trips_exactly(frame, schema, wrapped=True):
        return None
    fields = [pl.col(name) for name, _ in schema]
    if bool(null_value.any()):
        fields = [pl.when(pl.lit(null_value)).then(None).otherwise(f).alias(n)
                  for f, (n, _) in zip(fields, schema, strict=True)]  # fmt: skip
    return frame.select(pl.struct(fields).alias(TYPED_VALUE)).to_series()


def handed_values(batch: pl.DataFrame, source: DataSource) -> tuple[pl.DataFrame, pl.Series] | None:
    """``source``'s value columns and null-payload flags taken from ``batch``'s
    :data:`TYPED_VALUE` column, or None when the batch has none or it does not fit ``source``
    (step 3)."""
    if TYPED_VALUE not in batch.columns:
        return None
    schema = _schema(source.value_columns)
    if not _wrapped_json(source.value_format, schema):
        return None
    if not exact_round_trip_schema(schema, wrapped=True):
        return None
    typed = batch.get_column(TYPED_VALUE)
    expected = pl.Struct({name: to_polars(t) for name, t in schema})
    if typed.dtype != expected:
        return None
    return typed.struct.unnest(), batch.get_column("value").is_null().alias("null_payload")
