"""The serde entry points: Binary Series <-> typed frames, and Python <-> bytes for tooling.

Owns :func:`deserialize`, :func:`serialize`, :func:`python_to_bytes`, :func:`bytes_to_python`.

``deserialize(format, columns, payloads, options=...)`` returns a :class:`Decoded` with one
column per ``(name, SqlType)`` (dtypes per ``telemetry_lib.ksql.types``), a ``null_payload``
mask (tombstones / null keys, and JSON ``null`` documents, which ksqlDB reads the same way)
and per-row :class:`RowError` entries for DESERIALIZATION_ERROR processing-log records.
JSON (``json_fast``) and DELIMITED (``delimited_fast``) take vectorised paths and fall back
to the exact per-record paths only for the rows they defer; KAFKA is vectorised.

``serialize(format, columns, frame, options=..., null_rows=...)`` returns a Binary Series;
rows flagged in ``null_rows`` (table deletes) become null payloads, and so do keys whose
columns are all null and unwrapped single values that are null (as ksqlDB writes them).

``python_to_bytes`` / ``bytes_to_python`` convert between payload bytes and the QTT
representation used in ksqlDB's test files: JSON -> the parsed document (numbers as int or
Decimal), DELIMITED -> the record text, KAFKA -> the scalar (BYTES as base64 text), NONE ->
None. ``columns`` gives the KAFKA type.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from typing import Any

import polars as pl

from telemetry_lib.ksql.errors import SerdeError, UnsupportedError
from telemetry_lib.ksql.serde import delimited, delimited_fast, json_exact
from telemetry_lib.ksql.serde.constant import constant
from telemetry_lib.ksql.serde.formats import Format, get_format
from telemetry_lib.ksql.serde.json_fast import decode_fast, has_map
from telemetry_lib.ksql.serde.json_write import encode_fast
from telemetry_lib.ksql.serde.kafka import decode_kafka, encode_kafka, pack_kafka, unpack_kafka
from telemetry_lib.ksql.serde.options import Decoded, RowError, SerdeOptions
from telemetry_lib.ksql.serde.values import column_series, dump_json, parse_json
from telemetry_lib.ksql.types import BaseType, SqlType, to_polars

__all__ = ["bytes_to_python", "deserialize", "python_to_bytes", "serialize"]

logger = logging.getLogger(__name__)

# A value (not a key), wrapped per the format default, "," delimiter: the common case.
_DEFAULT_OPTIONS = SerdeOptions()


def _format(fmt: str | Format) -> Format:
    found = get_format(fmt) if isinstance(fmt, str) else fmt
    if not found.implemented:
        raise UnsupportedError(f"{found.name} format")
    return found


def deserialize(
    fmt: str | Format,
    columns: Sequence[tuple[str, SqlType]],
    payloads: pl.Series,
    *,
    options: SerdeOptions = _DEFAULT_OPTIONS,
) -> Decoded:
    """Decode a Binary Series of payloads into typed columns (see the module doc)."""
    found = _format(fmt)
    payloads = payloads.cast(pl.Binary)
    null_payload = payloads.is_null().alias("null_payload")
    if not columns:
        frame = pl.DataFrame({"__rows": payloads}).drop("__rows")
        return Decoded(frame, null_payload, ())
    if found.name == "JSON":
        return _deserialize_json(columns, payloads, options)
    if found.name == "KAFKA":
        frame, kafka_errors = decode_kafka(payloads, columns, options)
        return Decoded(frame, null_payload, tuple(kafka_errors))
    if found.name == "DELIMITED":
        frame, exact = delimited_fast.decode_fast(payloads, columns, delimiter=options.delimiter)
        exact_idx = (exact & payloads.is_not_null()).arg_true()
        errors: tuple[RowError, ...] = ()
        if exact_idx.len():
            positions = exact_idx.to_list()
            rows, errs = delimited.decode_rows(
                payloads.gather(exact_idx).to_list(), columns, options, row_numbers=positions
            )
            errors = tuple(errs)
            frame = _scatter_rows(frame, exact_idx, _frame(rows, columns))
        return Decoded(frame, null_payload, errors)
    raise SerdeError(f"The '{found.name}' format can only be used when no columns are defined")


def _frame(
    rows: Sequence[Sequence[Any] | None], columns: Sequence[tuple[str, SqlType]]
) -> pl.DataFrame:
    data = [
        column_series(name, [None if r is None else r[i] for r in rows], t)
        for i, (name, t) in enumerate(columns)
    ]
    return pl.DataFrame(data)


def _deserialize_json(
    columns: Sequence[tuple[str, SqlType]], payloads: pl.Series, options: SerdeOptions
) -> Decoded:
    wrapped = json_exact.is_wrapped(columns, options)
    if any(has_map(t) for _, t in columns):
        rows, errs = json_exact.decode_rows(payloads.to_list(), columns, options)
        nulls = pl.Series("null_payload", [r is None for r in rows], dtype=pl.Boolean)
        failed = {e.row for e in errs}
        nulls = nulls.scatter(list(failed), False) if failed else nulls
        return Decoded(_frame(rows, columns), nulls, tuple(errs))

    fast = decode_fast(payloads, columns, wrapped=wrapped)
    frame = fast.frame
    exact_idx = fast.exact.arg_true()
    null_payload = payloads.is_null()
    errors: tuple[RowError, ...] = ()
    if exact_idx.len():
        positions = exact_idx.to_list()
        subset = payloads.gather(exact_idx).to_list()
        rows, errs = json_exact.decode_rows(subset, columns, options, row_numbers=positions)
        errors = tuple(errs)
        failed = {e.row for e in errs}
        patch = _frame(rows, columns)
        frame = _scatter_rows(frame, exact_idx, patch)
        null_flags = [r is None and p not in failed for r, p in zip(rows, positions, strict=False)]
        null_payload = null_payload.scatter(exact_idx, pl.Series(null_flags, dtype=pl.Boolean))
    # A JSON document that is the literal null reads as a null row (fast path: all-null struct).
    return Decoded(frame, null_payload.alias("null_payload"), errors)


def _scatter_rows(frame: pl.DataFrame, idx: pl.Series, patch: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with the rows at ``idx`` replaced by ``patch``'s rows (same columns)."""
    n = frame.height
    keep = constant(True, n, pl.Boolean).alias("keep").scatter(idx, False)
    left = frame.with_columns(pl.int_range(0, n, dtype=pl.Int64).alias("__i")).filter(keep)
    right = patch.cast(frame.schema).with_columns(idx.cast(pl.Int64).alias("__i"))
    return pl.concat([left, right]).sort("__i").drop("__i")


def serialize(
    fmt: str | Format,
    columns: Sequence[tuple[str, SqlType]],
    frame: pl.DataFrame,
    *,
    options: SerdeOptions = _DEFAULT_OPTIONS,
    null_rows: pl.Series | None = None,
) -> pl.Series:
    """Encode ``frame``'s ``columns`` into a Binary Series; ``null_rows`` True -> null payload."""
    found = _format(fmt)
    if not columns:
        return pl.Series("payload", [None] * frame.height, dtype=pl.Binary)
    null_rows = _null_rows(frame, columns, options, null_rows)
    if found.name == "JSON":
        wrapped = json_exact.is_wrapped(columns, options)
        if not any(has_map(t) for _, t in columns):
            encoded = encode_fast(frame, columns, wrapped=wrapped, null_rows=null_rows)
            return _patch_non_finite(encoded, frame, columns, options, null_rows)
        out = json_exact.encode_rows(_rows(frame, columns, null_rows), columns, options)
        return pl.Series("payload", out, dtype=pl.Binary)
    if found.name == "KAFKA":
        encoded = encode_kafka(frame, columns)
        if null_rows is not None:
            encoded = pl.select(pl.when(null_rows).then(None).otherwise(encoded)).to_series()
        return encoded.alias("payload")
    if found.name == "DELIMITED":
        out = delimited.encode_rows(_rows(frame, columns, null_rows), columns, options)
        return pl.Series("payload", out, dtype=pl.Binary)
    raise SerdeError(f"The '{found.name}' format can only be used when no columns are defined")


def _patch_non_finite(
    encoded: pl.Series,
    frame: pl.DataFrame,
    columns: Sequence[tuple[str, SqlType]],
    options: SerdeOptions,
    null_rows: pl.Series | None,
) -> pl.Series:
    """Re-encode rows holding a NaN or infinite DOUBLE column exactly.

    polars writes them as null; ksqlDB (Jackson) writes ``"NaN"`` / ``"Infinity"``. Only
    top-level DOUBLE columns are checked (doubles nested in STRUCT/ARRAY stay null).
    """
    doubles = [name for name, t in columns if t.base is BaseType.DOUBLE]
    if not doubles:
        return encoded
    odd = frame.select(
        pl.any_horizontal([pl.col(n).is_nan() | pl.col(n).is_infinite() for n in doubles])
        .fill_null(False)
        .alias("odd")
    ).to_series()
    if null_rows is not None:
        odd = odd & ~null_rows.fill_null(False)
    idx = odd.arg_true()
    if not idx.len():
        return encoded
    rows = _rows(frame[idx], columns, None)
    patch = json_exact.encode_rows(rows, columns, options)
    return encoded.scatter(idx, pl.Series(patch, dtype=pl.Binary))


def _null_rows(
    frame: pl.DataFrame,
    columns: Sequence[tuple[str, SqlType]],
    options: SerdeOptions,
    null_rows: pl.Series | None,
) -> pl.Series | None:
    """Rows written as a null payload.

    ksqlDB writes a null key (its key object is null when every key column is null, e.g. a
    record read with a null key) and an unwrapped null value (the inner serializer gets null)
    as a Kafka null; callers add table deletes through ``null_rows``.
    """
    implied: pl.Series | None = None
    if options.is_key or not json_exact.is_wrapped(columns, options):
        implied = frame.select(
            pl.all_horizontal([pl.col(name).is_null() for name, _ in columns])
        ).to_series()
    if implied is None:
        return null_rows
    return implied if null_rows is None else (implied | null_rows.fill_null(False))


def _rows(
    frame: pl.DataFrame, columns: Sequence[tuple[str, SqlType]], null_rows: pl.Series | None
) -> list[list[Any] | None]:
    data = [_python_values(frame.get_column(name), t) for name, t in columns]
    nulls = null_rows.to_list() if null_rows is not None else [False] * frame.height
    return [None if nulls[i] else [col[i] for col in data] for i in range(frame.height)]


def _python_values(series: pl.Series, t: SqlType) -> list[Any]:
    return series.cast(to_polars(t)).to_list()


def python_to_bytes(
    fmt: str | Format,
    columns: Sequence[tuple[str, SqlType]],
    obj: Any,
    *,
    options: SerdeOptions = _DEFAULT_OPTIONS,
) -> bytes | None:
    """Payload bytes for a QTT-style value (see the module doc); None -> None."""
    found = _format(fmt)
    if obj is None or found.name == "NONE" or not columns:
        return None
    if found.name == "JSON":
        return dump_json(obj).encode("utf-8")
    if found.name == "DELIMITED":
        return str(obj).encode("utf-8")
    if found.name == "KAFKA":
        t = columns[0][1]
        if t.base.value == "BYTES" and isinstance(obj, str):
            return base64.b64decode(obj)
        if t.base.value == "DOUBLE":
            obj = float(obj)
        elif t.base.value in ("INTEGER", "BIGINT"):
            obj = int(obj)
        return pack_kafka(obj, t)
    raise UnsupportedError(f"{found.name} format")


def bytes_to_python(
    fmt: str | Format,
    columns: Sequence[tuple[str, SqlType]],
    data: bytes | None,
    *,
    options: SerdeOptions = _DEFAULT_OPTIONS,
) -> Any:
    """The QTT-style value of payload bytes (see the module doc)."""
    found = _format(fmt)
    if data is None or found.name == "NONE" or not columns:
        return None
    if found.name == "JSON":
        return _plain_json(parse_json(data))
    if found.name == "DELIMITED":
        return data.decode("utf-8", errors="replace")
    if found.name == "KAFKA":
        value = unpack_kafka(data, columns[0][1])
        if isinstance(value, bytes):
            return base64.b64encode(value).decode("ascii")
        return value
    raise UnsupportedError(f"{found.name} format")


def _plain_json(node: Any) -> Any:
    from telemetry_lib.ksql.serde.values import JsonObject

    if isinstance(node, JsonObject):
        return {k: _plain_json(v) for k, v in node}
    if isinstance(node, list):
        return [_plain_json(v) for v in node]
    return node
