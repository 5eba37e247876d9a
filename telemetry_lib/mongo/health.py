"""MongoDB reachability probe: one ``ping`` command, used by the services manager's health checks.

Written by the services owner (telemetry_lib.services may not import pymongo itself, see
tests/packaging/test_structure.py).
"""

from __future__ import annotations

import logging

from telemetry_lib.errors import MongoError

__all__ = ["probe_mongo"]

logger = logging.getLogger(__name__)


def probe_mongo(uri: str, *, timeout_s: float) -> None:
    """Run ``ping`` against ``uri``; raise :class:`MongoError` if no answer within ``timeout_s``.

    The error message never contains the URI (it may carry a password); callers name the
    endpoint in masked form.
    """
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    timeout_ms = max(int(timeout_s * 1000), 1)
    try:
        # Constructing the client already resolves a mongodb+srv:// URI through DNS.
        client: MongoClient[dict[str, object]] = MongoClient(
            uri,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            socketTimeoutMS=timeout_ms,
        )
    except PyMongoError as exc:
        raise MongoError(f"MongoDB client could not be set up: {_short(exc)}") from None
    try:
        client.admin.command("ping")
    except PyMongoError as exc:
        raise MongoError(
            f"MongoDB did not answer ping within {timeout_s:g}s: {_short(exc)}"
        ) from None
    finally:
        client.close()


def _short(exc: Exception) -> str:
    """First line of a pymongo error, without its topology dump."""
    return str(exc).split(", Timeout:")[0].split("\n")[0]
