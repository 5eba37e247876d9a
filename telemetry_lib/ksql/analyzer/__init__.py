"""Analysis: name resolution, typing and validation of statements, with ksqlDB's wording.

Statement level (C1): ``ddl`` (CREATE STREAM/TABLE, CREATE TYPE), ``properties`` (WITH clauses,
formats), ``formats`` (which schemas each format holds), ``query`` (SELECT of persistent queries:
scope, naming, keys, PARTITION BY). Expression level (F): ``scope``, ``expressions``, ``typed``.
No polars in this package.
"""

from __future__ import annotations

__all__: list[str] = []
