"""KAFKA format: Kafka's own primitive serializers (reference §4.3; ksqlDB's KafkaSerdeFactory).

Owns :func:`decode_kafka` and :func:`encode_kafka`. One column at most: INT as a 4-byte and
BIGINT as an 8-byte big-endian integer, DOUBLE as an 8-byte IEEE-754 value, STRING as UTF-8
(malformed bytes become U+FFFD, as Java's decoder does), BYTES raw. No coercion. With no
column (a keyless stream's key) the payload is ignored. Decoding is vectorised
(``bin.reinterpret``); encoding packs fixed-width values with ``struct``.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Sequence

import polars as pl

from telemetry_lib.ksql.serde.options import RowError, SerdeOptions, utf8_text
from telemetry_lib.ksql.types import BaseType, SqlType, to_polars

__all__ = ["decode_kafka", "encode_kafka", "pack_kafka", "unpack_kafka"]

logger = logging.getLogger(__name__)

# Width and Kafka deserializer class of each fixed-width type (for ksqlDB's size message).
_FIXED: dict[BaseType, tuple[int, str, pl.DataType, str]] = {
    BaseType.INTEGER: (4, "IntegerDeserializer", pl.Int32(), ">i"),
    BaseType.BIGINT: (8, "LongDeserializer", pl.Int64(), ">q"),
    BaseType.DOUBLE: (8, "DoubleDeserializer", pl.Float64(), ">d"),
}


def decode_kafka(
    payloads: pl.Series, columns: Sequence[tuple[str, SqlType]], options: SerdeOptions
) -> tuple[pl.DataFrame, list[RowError]]:
    """Decode KAFKA payloads into a one-column frame (zero columns: an empty-width frame)."""
    n = payloads.len()
    if not columns:
        return pl.DataFrame({"__n": [None] * n}).drop("__n"), []
    name, t = columns[0]
    errors: list[RowError] = []
    if t.base in _FIXED:
        width, deserializer, dtype, _ = _FIXED[t.base]
        sizes = payloads.bin.size()
        wrong = (sizes != width).fill_null(False)
        values = payloads.bin.reinterpret(dtype=dtype, endianness="big")
        for row in wrong.arg_true().to_list():
            detail = f"Size of data received by {deserializer} is not {width}"
            errors.append(_error(row, detail, options))
        values = pl.select(pl.when(wrong).then(None).otherwise(values)).to_series()
        return pl.DataFrame({name: values.cast(dtype)}), errors
    if t.base is BaseType.STRING:
        return pl.DataFrame({name: utf8_text(payloads, replace=True)}), errors
    if t.base is BaseType.BYTES:
        return pl.DataFrame({name: payloads.cast(pl.Binary)}), errors
    for row in range(n):
        errors.append(
            _error(row, f"The 'KAFKA' format does not support type '{t.base.value}'", options)
        )
    return pl.DataFrame({name: pl.Series([None] * n, dtype=to_polars(t))}), errors


def _error(row: int, detail: str, options: SerdeOptions) -> RowError:
    return RowError(
        row=row,
        message=f"Error deserializing KAFKA message from topic: {options.topic}",
        cause=(detail,),
    )


def encode_kafka(frame: pl.DataFrame, columns: Sequence[tuple[str, SqlType]]) -> pl.Series:
    """KAFKA payloads (Binary) for the single column of ``frame``; null value -> null payload."""
    if not columns:
        return pl.Series("payload", [None] * frame.height, dtype=pl.Binary)
    name, t = columns[0]
    col = frame.get_column(name)
    if t.base is BaseType.STRING:
        return col.cast(pl.Binary).alias("payload")
    if t.base is BaseType.BYTES:
        return col.alias("payload")
    return pl.Series("payload", [pack_kafka(v, t) for v in col.to_list()], dtype=pl.Binary)


def pack_kafka(value: object, t: SqlType) -> bytes | None:
    """One value as KAFKA bytes (None -> None)."""
    if value is None:
        return None
    if t.base in _FIXED:
        return struct.pack(_FIXED[t.base][3], value)
    if t.base is BaseType.STRING:
        assert isinstance(value, str)
        return value.encode("utf-8")
    if t.base is BaseType.BYTES:
        assert isinstance(value, (bytes, bytearray))
        return bytes(value)
    raise ValueError(f"The 'KAFKA' format does not support type '{t.base.value}'")


def unpack_kafka(data: bytes | None, t: SqlType) -> object:
    """KAFKA bytes back to a Python value (raises ValueError on a wrong size)."""
    if data is None:
        return None
    if t.base in _FIXED:
        width, deserializer, _, code = _FIXED[t.base]
        if len(data) != width:
            raise ValueError(f"Size of data received by {deserializer} is not {width}")
        return struct.unpack(code, data)[0]
    if t.base is BaseType.STRING:
        return data.decode("utf-8", errors="replace")
    if t.base is BaseType.BYTES:
        return data
    raise ValueError(f"The 'KAFKA' format does not support type '{t.base.value}'")
