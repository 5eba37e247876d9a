"""The one place operators call the serde package: decode and encode keys and values of a source.

Owns: :func:`decode_key` / :func:`decode_value` (Binary Series -> typed columns + per-row error
messages + window bounds for windowed keys) and :func:`encode_key` / :func:`encode_value`
(columns -> Binary Series + per-row error messages), mapping a catalog
:class:`~telemetry_lib.ksql.catalog.FormatSpec` onto :mod:`telemetry_lib.ksql.serde`'s options.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

import polars as pl

from telemetry_lib.ksql.catalog import Column, DataSource, FormatSpec
from telemetry_lib.ksql.errors import SerdeError
from telemetry_lib.ksql.serde.codec import deserialize, serialize
from telemetry_lib.ksql.serde.constant import constant
from telemetry_lib.ksql.serde.options import RowError, SerdeOptions
from telemetry_lib.ksql.serde.windowed import decode_windowed_keys, encode_windowed_keys
from telemetry_lib.ksql.types import SqlType
from telemetry_lib.ksql.windows import WindowInfo

__all__ = ["DecodedColumns", "decode_key", "decode_value", "encode_key", "encode_value"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DecodedColumns:
    """Decoded columns (one row per record), error message per row (null = fine), window bounds."""

    columns: pl.DataFrame
    errors: pl.Series
    window_start: pl.Series | None = None
    window_end: pl.Series | None = None
    #: True where the payload was null (or a JSON ``null``): a null value / tombstone.
    null_payload: pl.Series | None = None


def _options(fmt: FormatSpec, *, is_key: bool, topic: str) -> SerdeOptions:
    return SerdeOptions(
        is_key=is_key,
        wrap_single_value=fmt.wrap_single_value,
        delimiter=fmt.delimiter or ",",
        topic=topic,
    )


def _no_errors(n: int) -> pl.Series:
    return constant(None, n, pl.String).alias("errors")


def _errors_series(n: int, errors: Sequence[RowError]) -> pl.Series:
    if not errors:
        return _no_errors(n)
    messages: list[str | None] = [None] * n
    for err in errors:
        messages[err.row] = err.message
    return pl.Series("errors", messages, dtype=pl.String)


def _columns(cols: Sequence[Column]) -> tuple[tuple[str, SqlType], ...]:
    return tuple((c.name, c.type) for c in cols)


def decode_key(data: pl.Series, source: DataSource) -> DecodedColumns:
    """Key columns of each record (keyless sources give a frame without columns)."""
    cols = _columns(source.key_columns)
    n = data.len()
    window_start = window_end = None
    window_errors: pl.Series | None = None
    if source.window is not None:
        split = decode_windowed_keys(data, source.window)
        # A null key is a null key (no window), not a malformed windowed key.
        too_short = split.bad & data.is_not_null()
        data, window_start, window_end = split.keys, split.start, split.end
        window_errors = pl.select(
            pl.when(pl.lit(too_short))
            .then(
                pl.lit(
                    f"Failed to deserialize windowed key from topic: {source.topic}. "
                    "The key is too short to hold the window bounds."
                )
            )
            .otherwise(None)
            .alias("errors")
        ).get_column("errors")
    if not cols or source.key_format.name == "NONE":
        errors = window_errors if window_errors is not None else _no_errors(n)
        return DecodedColumns(pl.DataFrame(), errors, window_start, window_end)
    options = _options(source.key_format, is_key=True, topic=source.topic)
    decoded = deserialize(source.key_format.name, cols, data, options=options)
    errors = _errors_series(n, decoded.errors)
    if window_errors is not None:
        errors = pl.select(pl.coalesce(pl.lit(window_errors), pl.lit(errors))).to_series()
    return DecodedColumns(decoded.frame, errors, window_start, window_end)


def decode_value(data: pl.Series, source: DataSource) -> DecodedColumns:
    cols = _columns(source.value_columns)
    options = _options(source.value_format, is_key=False, topic=source.topic)
    decoded = deserialize(source.value_format.name, cols, data, options=options)
    return DecodedColumns(
        decoded.frame,
        _errors_series(data.len(), decoded.errors),
        null_payload=decoded.null_payload,
    )


def encode_key(
    frame: pl.DataFrame,
    columns: Sequence[Column],
    fmt: FormatSpec,
    *,
    topic: str,
    window: WindowInfo | None = None,
    window_start: pl.Series | None = None,
    window_end: pl.Series | None = None,
    rows: int | None = None,
    null_key: pl.Series | None = None,
) -> tuple[pl.Series, pl.Series]:
    """Key bytes (all null for a keyless result) and per-row error messages (null = fine).

    ``rows`` is the batch length (a frame without columns has no height of its own)."""
    n = frame.height if rows is None else rows
    no_errors = _no_errors(n)
    if not columns or fmt.name == "NONE":
        encoded = constant(None, n, pl.Binary).alias("key")
    else:
        options = _options(fmt, is_key=True, topic=topic)
        null_rows = None
        if len(columns) > 1:
            # A multi-column key is a record: only a null key object is written as a null key;
            # a key whose columns are all null is still an object (ksqlDB's GenericKey).
            options = replace(options, is_key=False, wrap_single_value=None)
            null_rows = null_key
        try:
            encoded = serialize(
                fmt.name, _columns(columns), frame, options=options, null_rows=null_rows
            )
        except SerdeError as exc:
            return constant(None, n, pl.Binary).alias("key"), pl.Series(
                "errors", [exc.message] * n, dtype=pl.String
            )
    if window is not None and window_start is not None:
        encoded = encode_windowed_keys(encoded, window_start, window_end, window)
    return encoded.alias("key"), no_errors


def encode_value(
    frame: pl.DataFrame,
    columns: Sequence[Column],
    fmt: FormatSpec,
    *,
    topic: str,
    null_value: pl.Series,
) -> tuple[pl.Series, pl.Series]:
    """Value bytes (null where ``null_value``) and per-row error messages (null = fine)."""
    n = null_value.len()
    options = _options(fmt, is_key=False, topic=topic)
    try:
        encoded = serialize(
            fmt.name, _columns(columns), frame, options=options, null_rows=null_value
        )
    except SerdeError as exc:
        return pl.Series("value", [None] * n, dtype=pl.Binary), pl.Series(
            "errors", [exc.message] * n, dtype=pl.String
        )
    return encoded.alias("value"), _no_errors(n)
