"""JSON format, exact path: one payload at a time with ksqlDB's rules (reference §4.2).

Owns :func:`decode_rows` / :func:`encode_rows` (lists of payloads <-> lists of Python rows) and
:func:`is_wrapped` (the layout rule). The vectorised path (``json_fast``, ``json_write``) calls
these for the rows it cannot handle itself; MAP columns always come here.

Layout: a multi-column key or value is a JSON object keyed by column name. A single value
column is wrapped (``{"COL": v}``) unless ``WRAP_SINGLE_VALUE=false``; a single key column
is never wrapped (declare ``STRUCT`` to get an object). Reading matches names exactly first,
then against upper-cased JSON names (the last duplicate wins), as KsqlJsonDeserializer does.
A JSON ``null`` document reads as a null row, like a null payload.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from telemetry_lib.ksql.serde.options import RowError, SerdeOptions
from telemetry_lib.ksql.serde.values import (
    CoercionError,
    coerce,
    dump_json,
    parse_json,
    to_json_node,
)
from telemetry_lib.ksql.types import SqlStruct, SqlType

__all__ = ["decode_rows", "encode_rows", "is_wrapped"]

logger = logging.getLogger(__name__)


def is_wrapped(columns: Sequence[tuple[str, SqlType]], options: SerdeOptions) -> bool:
    """Whether the payload is an object of columns (True) or the single column's bare value."""
    if len(columns) != 1:
        return True
    if options.wrap_single_value is not None:
        return options.wrap_single_value
    return not options.is_key


def decode_rows(
    payloads: Sequence[bytes | None],
    columns: Sequence[tuple[str, SqlType]],
    options: SerdeOptions,
    *,
    row_numbers: Sequence[int] | None = None,
) -> tuple[list[list[Any] | None], list[RowError]]:
    """Decode payloads into rows (a list of column values, or None for a null row).

    Failed rows come back as None and are listed in the errors with their row number
    (``row_numbers[i]`` when given, else ``i``).
    """
    wrapped = is_wrapped(columns, options)
    struct = SqlStruct(tuple(columns))
    rows: list[list[Any] | None] = []
    errors: list[RowError] = []
    for i, payload in enumerate(payloads):
        if payload is None or not columns:
            rows.append(None)
            continue
        try:
            node = parse_json(payload)
            if node is None:
                rows.append(None)
            elif wrapped:
                value = coerce(node, struct, "$")
                rows.append([value[name] for name, _ in columns])
            else:
                rows.append([coerce(node, columns[0][1], "$")])
        except (CoercionError, ValueError, UnicodeDecodeError, RecursionError) as exc:
            rows.append(None)
            row = row_numbers[i] if row_numbers is not None else i
            errors.append(_error(row, exc, options))
    return rows, errors


def _error(row: int, exc: Exception, options: SerdeOptions) -> RowError:
    detail = str(exc)
    message = f"Failed to deserialize {options.target} from topic: {options.topic}. {detail}"
    return RowError(row=row, message=message, cause=(detail,))


def encode_rows(
    rows: Sequence[Sequence[Any] | None],
    columns: Sequence[tuple[str, SqlType]],
    options: SerdeOptions,
) -> list[bytes | None]:
    """Encode rows (Python values per column, None = null row) as JSON payloads."""
    wrapped = is_wrapped(columns, options)
    out: list[bytes | None] = []
    for row in rows:
        if row is None:
            out.append(None)
            continue
        if wrapped:
            node: Any = {
                name: to_json_node(v, t) for (name, t), v in zip(columns, row, strict=False)
            }
        else:
            node = to_json_node(row[0], columns[0][1])
        out.append(dump_json(node).encode("utf-8"))
    return out
