"""Fixtures: the MongoDB compatibility suite's (the session's NX-27017, a database per test)."""

from __future__ import annotations

from tests.mongo.conftest import client, db, mongo

__all__ = ["client", "db", "mongo"]
