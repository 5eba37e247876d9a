"""From a ksqlDB table's output to the K/D table: window decoding and changelog collapse.

Owns:

* :func:`decode_windowed_records` — raw Kafka records of a windowed table's topic (the
  ``key``/``value`` bytes of ``telemetry_lib.kafka.read_records``) into rows: the key column,
  ``window_start``/``window_end``, the value's fields in lower case, ``tombstone``, and the
  record's ``timestamp``/``partition``/``offset``. Windowed keys are split by
  ``telemetry_lib.ksql.serde.windowed.decode_windowed_keys`` (the same code the engine writes
  them with); the end of a TUMBLING/HOPPING window is ``start + window_size_ms``.
* :func:`normalize_ksql_frame` — a frame from ``KsqlClient.pull`` / ``stream_df`` (windows
  already decoded into ``WINDOWSTART``/``WINDOWEND``) into the same lower-case columns.
* :func:`collapse_changelog` — the table as of the end of the changelog: the latest row per
  key (player, window); a tombstone as the latest row deletes the key.
* :func:`kd_table` — either input, decoded, collapsed and given the ``kd`` column.

Order of a changelog: every update of one key is written to the same partition (the key picks
the partition), so the offset orders a key's updates. Rows are sorted by ``partition`` then
``offset`` when the frame has them, else kept in the order given (the arrival order of a push
query).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import polars as pl

from telemetry_lib.analytics.schema import (
    DEATHS,
    KD,
    KILLS,
    PLAYER,
    RATIO,
    TIME_DTYPE,
    WINDOW_END,
    WINDOW_MS,
    WINDOW_START,
    AnalyticsError,
    ZeroDeaths,
    kd_expr,
    require_columns,
)
from telemetry_lib.ksql.serde.windowed import decode_windowed_keys
from telemetry_lib.ksql.windows import WindowInfo, parse_window_type

__all__ = [
    "KEY_COLUMNS",
    "TOMBSTONE",
    "collapse_changelog",
    "decode_windowed_records",
    "empty_kd_table",
    "kd_table",
    "normalize_ksql_frame",
]

logger = logging.getLogger(__name__)

#: The key of the K/D table: one row per player and window.
KEY_COLUMNS: tuple[str, ...] = (PLAYER, WINDOW_START)
#: Column marking a record with a null value (a deleted key).
TOMBSTONE = "tombstone"
#: Record metadata kept by decode_windowed_records (they order the changelog).
_META = ("timestamp", "partition", "offset")
#: ksqlDB's window pseudo columns and their names here.
_WINDOW_RENAMES = {"WINDOWSTART": WINDOW_START, "WINDOWEND": WINDOW_END}

#: Temporary row-number column (a name no ksqlDB column can have: identifiers are upper case
#: unless quoted, and this one is lower case with a leading underscore pair).
_ROW = "__changelog_row"

KeyFormat = Literal["KAFKA", "JSON"]


def decode_windowed_records(
    records: pl.DataFrame,
    *,
    window_size_ms: int = WINDOW_MS,
    window_type: str = "TUMBLING",
    key_column: str = PLAYER,
    key_format: KeyFormat = "KAFKA",
) -> pl.DataFrame:
    """Raw records of a windowed ksqlDB table topic as rows (module docstring).

    ``records`` needs binary ``key`` and ``value`` columns (``read_records`` gives them, with
    ``timestamp``, ``partition``, ``offset``, which are kept). ``key_format`` is the table's
    KEY_FORMAT: ``KAFKA`` (the inner key is the UTF-8 string) or ``JSON`` (a single JSON
    value). The value is ksqlDB's JSON object; its field names are lower-cased
    (``KILL_COUNT`` -> ``kill_count``). A null value is a tombstone: its value fields are null
    and ``tombstone`` is true. Raises :class:`AnalyticsError` for a key too short to carry a
    window (the topic is not windowed, or the window type is wrong).
    """
    require_columns(records, ("key", "value"), what="decode_windowed_records")
    info = WindowInfo(parse_window_type(window_type), window_size_ms)
    keys = records.get_column("key").cast(pl.Binary)
    decoded = decode_windowed_keys(keys, info)
    bad = int(decoded.bad.sum())
    if bad:
        raise AnalyticsError(
            f"{bad} of {records.height} record keys are too short for a {info.describe()} "
            "windowed key",
            hint="read the output topic of a windowed table (WINDOW TUMBLING/HOPPING/SESSION) "
            "and pass its window_type",
        )
    inner = decoded.keys.cast(pl.String)
    if key_format == "JSON":
        inner = inner.str.json_decode(infer_schema_length=None)
    elif key_format != "KAFKA":
        raise AnalyticsError(f"unknown key_format {key_format!r}", hint="use KAFKA or JSON")
    values = _decode_values(records.get_column("value"))
    columns: list[pl.Series] = [
        inner.alias(key_column),
        decoded.start.cast(pl.Int64).cast(TIME_DTYPE).alias(WINDOW_START),
        decoded.end.cast(pl.Int64).cast(TIME_DTYPE).alias(WINDOW_END),
    ]
    columns += [values.get_column(c) for c in values.columns if c not in (key_column,)]
    columns.append(records.get_column("value").is_null().alias(TOMBSTONE))
    columns += [records.get_column(c) for c in _META if c in records.columns]
    return pl.DataFrame(columns)


def normalize_ksql_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """A ``KsqlClient`` result frame with lower-case names and the K/D table's dtypes.

    ``WINDOWSTART``/``WINDOWEND`` become ``window_start``/``window_end`` (UTC datetimes; epoch
    ms integers are converted), DECIMAL columns become Float64, the others keep their type.
    """
    renames = {c: _WINDOW_RENAMES.get(c, c.lower()) for c in frame.columns}
    out = frame.rename(renames)
    casts: list[pl.Expr] = []
    for name, dtype in out.schema.items():
        if name in (WINDOW_START, WINDOW_END):
            if dtype.is_integer():
                casts.append(pl.col(name).cast(pl.Int64).cast(TIME_DTYPE))
            elif isinstance(dtype, pl.Datetime):
                casts.append(pl.col(name).dt.convert_time_zone("UTC").dt.cast_time_unit("ms"))
        elif isinstance(dtype, pl.Decimal):
            casts.append(pl.col(name).cast(pl.Float64))
    return out.with_columns(casts) if casts else out


def collapse_changelog(
    frame: pl.DataFrame,
    *,
    keys: Sequence[str] = KEY_COLUMNS,
    order_by: Sequence[str] | None = ("partition", "offset"),
) -> pl.DataFrame:
    """The table as of the end of the changelog: the latest row per ``keys``.

    Rows are ordered by ``order_by`` (the columns of it that the frame has; none: the frame's
    own order), the last row of each key wins, and a key whose last row is a tombstone (the
    ``tombstone`` column true) is removed. The result has no ``tombstone`` column and is sorted
    by ``keys``.
    """
    require_columns(frame, keys, what="collapse_changelog")
    present = [c for c in (order_by or ()) if c in frame.columns]
    ordered = frame.sort(present, maintain_order=True) if present else frame
    # The last row of each key, whole (a tombstone's null values included).
    latest = (
        ordered.with_row_index(_ROW)
        .filter(pl.col(_ROW) == pl.col(_ROW).max().over(list(keys)))
        .drop(_ROW)
    )
    if TOMBSTONE in latest.columns:
        latest = latest.filter(~pl.col(TOMBSTONE).fill_null(False)).drop(TOMBSTONE)
    return latest.sort(list(keys), maintain_order=True)


def kd_table(
    frame: pl.DataFrame,
    *,
    window_size_ms: int = WINDOW_MS,
    key_column: str = PLAYER,
    key_format: KeyFormat = "KAFKA",
    zero_deaths: ZeroDeaths = "kills",
) -> pl.DataFrame:
    """The K/D table (see ``analytics.schema``) from a windowed ratio table's output.

    ``frame`` is either raw records of its topic (binary ``key``/``value``: decoded with
    :func:`decode_windowed_records`) or a ``KsqlClient.pull``/``stream_df`` frame
    (:func:`normalize_ksql_frame`). The changelog is collapsed (:func:`collapse_changelog`),
    ``kd`` is computed from the counts, and the rows are sorted by window then player. Columns:
    ``player_id`` (from ``key_column``), ``window_start``, ``window_end``, ``kill_count``,
    ``death_count``, ``kill_ratio`` (when the input has it), ``kd``.
    """
    raw = frame.schema.get("key") == pl.Binary and frame.schema.get("value") == pl.Binary
    if raw:
        rows = decode_windowed_records(
            frame, window_size_ms=window_size_ms, key_column=key_column, key_format=key_format
        )
    else:
        rows = normalize_ksql_frame(frame)
        if WINDOW_END not in rows.columns and WINDOW_START in rows.columns:
            rows = rows.with_columns(
                (pl.col(WINDOW_START) + pl.duration(milliseconds=window_size_ms)).alias(WINDOW_END)
            )
    deleted = TOMBSTONE in rows.columns and bool(rows.get_column(TOMBSTONE).all())
    if rows.height == 0 or deleted:  # an empty topic, or only tombstones: an empty table
        return empty_kd_table()
    require_columns(rows, (key_column, WINDOW_START, WINDOW_END, KILLS, DEATHS), what="kd_table")
    rows = rows.rename({key_column: PLAYER}) if key_column != PLAYER else rows
    table = collapse_changelog(rows)
    keep = [PLAYER, WINDOW_START, WINDOW_END, KILLS, DEATHS]
    if RATIO in table.columns:
        keep.append(RATIO)
    return (
        table.select(keep)
        .with_columns(
            pl.col(KILLS).cast(pl.Int64),
            pl.col(DEATHS).cast(pl.Int64),
            *([pl.col(RATIO).cast(pl.Float64)] if RATIO in keep else []),
        )
        .with_columns(kd_expr(zero_deaths=zero_deaths))
        .sort([WINDOW_START, PLAYER])
        .select([*keep, KD])
    )


def empty_kd_table() -> pl.DataFrame:
    """A K/D table without rows (the columns and dtypes of :func:`kd_table`'s result)."""
    return pl.DataFrame(
        schema={
            PLAYER: pl.String,
            WINDOW_START: TIME_DTYPE,
            WINDOW_END: TIME_DTYPE,
            KILLS: pl.Int64,
            DEATHS: pl.Int64,
            RATIO: pl.Float64,
            KD: pl.Float64,
        }
    )


def _decode_values(values: pl.Series) -> pl.DataFrame:
    """JSON object values (null = tombstone) as columns with lower-case names."""
    text = values.cast(pl.String)
    present = text.drop_nulls()
    if present.len() == 0:
        return pl.DataFrame()
    structs = text.str.json_decode(infer_schema_length=None)
    if not isinstance(structs.dtype, pl.Struct):
        raise AnalyticsError(
            f"record values decode to {structs.dtype}, not JSON objects",
            hint="read a table topic with VALUE_FORMAT='JSON'",
        )
    frame = structs.struct.unnest()
    return frame.rename({c: c.lower() for c in frame.columns})
