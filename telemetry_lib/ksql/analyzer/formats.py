"""Which SQL schemas each key/value format can carry (reference §4.1), checked for a new source.

Owns: :func:`validate_schema_formats`, used by CREATE and by C*AS sinks. The rules and ksqlDB's
wording (map-typed keys refused, KAFKA holds one column of INT/BIGINT/DOUBLE/STRING/BYTES,
DELIMITED no ARRAY/MAP/STRUCT, JSON maps need STRING keys, NONE holds nothing, WRAP_SINGLE_VALUE
only for single-column values of formats that can wrap) live in the serde package's format
registry (:mod:`telemetry_lib.ksql.serde.formats`); this adapts catalog columns to it.
No polars here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from telemetry_lib.ksql.catalog import Column, ColumnRole, FormatSpec
from telemetry_lib.ksql.errors import KsqlStatementError
from telemetry_lib.ksql.serde.formats import (
    get_format,
    resolve_value_features,
    validate_key_schema,
    validate_value_schema,
)

__all__ = ["validate_schema_formats"]

logger = logging.getLogger(__name__)


def validate_schema_formats(
    key_columns: Sequence[Column],
    value_columns: Sequence[Column],
    *,
    key_format: FormatSpec,
    value_format: FormatSpec,
    explicit_wrap: bool,
) -> None:
    """Raise ksqlDB's error (a KsqlStatementError) when a format cannot hold its columns."""
    key_fmt = get_format(key_format.name)
    value_fmt = get_format(value_format.name)
    try:
        validate_key_schema(key_fmt, [(c.name, c.type) for c in key_columns])
    except KsqlStatementError as exc:
        if exc.hint is None and len(key_columns) > 1 and not key_fmt.multi_column:
            # Reference §6 pain point 3: say how to get a multi-column key.
            exc.hint = (
                f"the {key_fmt.name} key format holds one column; add KEY_FORMAT='JSON' (or "
                "DELIMITED) to the WITH clause for a key with several columns"
            )
        raise
    values = [(c.name, c.type) for c in value_columns if c.role is ColumnRole.VALUE]
    features = resolve_value_features(
        value_fmt,
        len(values),
        wrap_single_value=value_format.wrap_single_value if explicit_wrap else None,
    )
    validate_value_schema(value_fmt, values, features=features)
