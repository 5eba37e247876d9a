"""The one place operators call the serde package: decode and encode keys and values of a source.

Owns: :func:`decode_key` / :func:`decode_value` (Binary Series -> typed columns + per-row error
messages + window bounds for windowed keys) and :func:`encode_key` / :func:`encode_value`
(columns -> Binary Series + per-row error messages), mapping a catalog
:class:`~telemetry_lib.ksql.catalog.FormatSpec` onto :mod:`telemetry_lib.ksql.serde`'s options.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from telemetry_lib.ksql.catalog import Column, DataSource, FormatSpec
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


def _options(fmt: FormatSpec, *, is_key: bool, topic: str) -> object:
    from telemetry_lib.ksql.serde.options import SerdeOptions

    return SerdeOptions(
        is_key=is_key,
        wrap_single_value=fmt.wrap_single_value,
        delimiter=fmt.delimiter or ",",
        topic=topic,
    )


def _errors_series(n: int, errors: Sequence[object]) -> pl.Series:
    messages: list[str | None] = [None] * n
    for err in errors:
        messages[err.row] = err.message  # type: ignore[attr-defined]
    return pl.Series("errors", messages, dtype=pl.String)


def _columns(cols: Sequence[Column]) -> tuple[tuple[str, SqlType], ...]:
    return tuple((c.name, c.type) for c in cols)


def decode_key(data: pl.Series, source: DataSource) -> DecodedColumns:
    import telemetry_lib.ksql.serde as serde

    cols = _columns(source.key_columns)
    options = _options(source.key_format, is_key=True, topic=source.topic)
    window_start = window_end = None
    if source.window is not None:
        data, window_start, window_end = _split_window(data, source.window)
    if not cols:
        # A keyless source: nothing to decode (the frame has no columns).
        return DecodedColumns(
            pl.DataFrame(),
            pl.Series("errors", [None] * data.len(), dtype=pl.String),
            window_start,
            window_end,
        )
    decoded = serde.deserialize(data, source.key_format.name, cols, options)
    return DecodedColumns(
        decoded.frame, _errors_series(data.len(), decoded.errors), window_start, window_end
    )


def decode_value(data: pl.Series, source: DataSource) -> DecodedColumns:
    import telemetry_lib.ksql.serde as serde

    cols = _columns(source.value_columns)
    options = _options(source.value_format, is_key=False, topic=source.topic)
    decoded = serde.deserialize(data, source.value_format.name, cols, options)
    return DecodedColumns(decoded.frame, _errors_series(data.len(), decoded.errors))


def encode_key(
    frame: pl.DataFrame,
    columns: Sequence[Column],
    fmt: FormatSpec,
    *,
    topic: str,
    window: WindowInfo | None = None,
    window_start: pl.Series | None = None,
    window_end: pl.Series | None = None,
) -> tuple[pl.Series, pl.Series]:
    """Key bytes (all null for a keyless result) and per-row error messages (null = fine)."""
    import telemetry_lib.ksql.serde as serde

    n = frame.height
    if not columns:
        return pl.Series("key", [None] * n, dtype=pl.Binary), pl.Series(
            "errors", [None] * n, dtype=pl.String
        )
    options = _options(fmt, is_key=True, topic=topic)
    encoded, errors = serde.serialize(frame, fmt.name, _columns(columns), options)
    if window is not None and window_start is not None:
        encoded = _join_window(encoded, window, window_start, window_end)
    return encoded, _errors_series(n, errors)


def encode_value(
    frame: pl.DataFrame,
    columns: Sequence[Column],
    fmt: FormatSpec,
    *,
    topic: str,
    null_value: pl.Series,
) -> tuple[pl.Series, pl.Series]:
    import telemetry_lib.ksql.serde as serde

    n = frame.height
    options = _options(fmt, is_key=False, topic=topic)
    encoded, errors = serde.serialize(frame, fmt.name, _columns(columns), options)
    encoded = pl.select(
        pl.when(null_value).then(None).otherwise(encoded).alias("value")
    ).get_column("value")
    return encoded, _errors_series(n, errors)


def _split_window(
    data: pl.Series, window: WindowInfo
) -> tuple[pl.Series, pl.Series, pl.Series]:
    from telemetry_lib.ksql.serde import windowed

    inner, start, end = windowed.decode_windowed_keys(data, window)
    return inner, start, end


def _join_window(
    encoded: pl.Series, window: WindowInfo, start: pl.Series, end: pl.Series | None
) -> pl.Series:
    from telemetry_lib.ksql.serde import windowed

    return windowed.encode_windowed_keys(encoded, window, start, end)
