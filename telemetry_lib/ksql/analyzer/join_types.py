"""Small shared vocabulary of join analysis and plans: kinds, types, WITHIN windows, key columns
and the batch field names of join inputs (``<ALIAS>_<COL>``, ``__ksql_jk_<i>``).

Owns: :data:`JoinKind`, :data:`JoinType`, :class:`JoinWindow`, :class:`JoinKeyColumn`,
:func:`side_field`, :func:`join_key_field` (re-exported by :mod:`telemetry_lib.ksql.analyzer.joins`
and :mod:`telemetry_lib.ksql.plan.join`). No polars here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from telemetry_lib.ksql.types import SqlType

__all__ = [
    "JoinKeyColumn",
    "JoinKind",
    "JoinType",
    "JoinWindow",
    "join_key_field",
    "side_field",
]

logger = logging.getLogger(__name__)

JoinKind = Literal["stream-stream", "stream-table", "table-table", "table-table-fk"]
JoinType = Literal["INNER", "LEFT", "RIGHT", "FULL"]

# Prefix of the join-key fields: double underscore like every internal field, so no user column
# (whose join field is always ``<ALIAS>_<COL>``) can take the name.
_JOIN_KEY_PREFIX = "__ksql_jk_"


def side_field(alias: str, column: str) -> str:
    """The join field of ``alias.column`` (ksqlDB's joined-schema name, e.g. ``L_A``)."""
    return f"{alias}_{column}"


def join_key_field(index: int) -> str:
    """Field holding join key ``index`` (input sides) or output key ``index`` (join output)."""
    return f"{_JOIN_KEY_PREFIX}{index}"


@dataclass(frozen=True)
class JoinWindow:
    """``WITHIN (before, after) [GRACE PERIOD g]`` in milliseconds; ``grace_ms`` None: none given
    (ksqlDB's old semantics: 24 h retention, outer results emitted eagerly)."""

    before_ms: int
    after_ms: int
    grace_ms: int | None = None

    def describe(self) -> str:
        grace = f", grace={self.grace_ms}ms" if self.grace_ms is not None else ""
        return f"within=({self.before_ms}ms, {self.after_ms}ms){grace}"


@dataclass(frozen=True)
class JoinKeyColumn:
    """An output key column of a join: its SQL name (``L_A``, ``ROWKEY``...) and type; the value
    is in :func:`join_key_field` ``(index)`` of the join's output."""

    name: str
    type: SqlType
    synthetic: bool = False
