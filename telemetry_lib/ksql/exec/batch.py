"""Names of the internal fields every operator batch carries (the batch contract).

Owns the constants, so no operator spells them itself:

- ``ROWTIME`` / ``ROWPARTITION`` / ``ROWOFFSET`` (and ``WINDOWSTART`` / ``WINDOWEND`` for windowed
  sources): the pseudo columns, named as in SQL (user columns cannot take these names).
- :data:`NULL_VALUE`: Boolean, the record's value was null (a stream's null value or a table
  tombstone); value columns are null on such rows and the sink writes a null value.
- :data:`HEADERS`: the input record's headers, propagated to the output record.
- :func:`output_field` / :func:`partition_field`: positional names of projected and PARTITION BY
  columns, so user column names (which may even be ``ROWTIME`` after ``PARTITION BY ROWTIME``)
  never clash with internal ones.
"""

from __future__ import annotations

__all__ = [
    "HEADERS",
    "NULL_KEY",
    "NULL_VALUE",
    "ROWOFFSET",
    "ROWPARTITION",
    "ROWTIME",
    "WINDOWEND",
    "WINDOWSTART",
    "output_field",
    "partition_field",
]

ROWTIME = "ROWTIME"
ROWPARTITION = "ROWPARTITION"
ROWOFFSET = "ROWOFFSET"
WINDOWSTART = "WINDOWSTART"
WINDOWEND = "WINDOWEND"
NULL_VALUE = "__ksql_null_value"
#: Boolean, the record's key object is null (a null key read from the topic and not re-keyed):
#: written as a null key even when the key has several columns.
NULL_KEY = "__ksql_null_key"
HEADERS = "__ksql_headers"


def output_field(index: int) -> str:
    """Field of the ``index``-th projected column (keys first, then values)."""
    return f"__ksql_out_{index}"


def partition_field(index: int) -> str:
    """Field of the ``index``-th PARTITION BY key."""
    return f"__ksql_pk_{index}"
