"""MongoDB client factory from the profile, and the wrapping of pymongo errors.

Accepts the profile's :class:`~telemetry_lib.config.Settings` (the URI is revealed only to
hand it to pymongo, never logged) or a URI string.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.errors import PyMongoError

from telemetry_lib.config import Settings
from telemetry_lib.errors import MongoError

__all__ = [
    "DEFAULT_DATABASE",
    "Document",
    "close_shared_clients",
    "MongoLike",
    "get_collection",
    "mongo_client",
    "wrap_mongo_error",
]

logger = logging.getLogger(__name__)

#: A MongoDB document as pymongo hands it out.
Document = dict[str, Any]
#: What the factory accepts: the profile's Settings or a MongoDB URI.
MongoLike = Settings | str

# The demo's database (game.telemetry_events, game.player_kill_ratio).
DEFAULT_DATABASE = "game"
# pymongo waits 30 s by default to find a server; 5 s is plenty for a local or Atlas server
# that is up, and makes a stopped one fail fast in a notebook.
SERVER_SELECTION_TIMEOUT_MS = 5_000
# Connecting to a reachable host takes milliseconds locally and well under a second remote.
CONNECT_TIMEOUT_MS = 5_000
# Clients shared by get_collection(), keyed by URI (kept in memory only, never logged).
_SHARED: dict[str, MongoClient[Document]] = {}
_SHARED_LOCK = threading.Lock()
# Shows in the server's logs / Atlas metrics as the connection's source.
APP_NAME = "telemetry-workbench"


def mongo_client(
    target: MongoLike,
    *,
    server_selection_timeout_ms: int = SERVER_SELECTION_TIMEOUT_MS,
    **kwargs: Any,
) -> MongoClient[Document]:
    """A pymongo client for the profile's MongoDB (extra ``kwargs`` go to MongoClient)."""
    uri = target.mongo_uri.reveal() if isinstance(target, Settings) else target
    options: dict[str, Any] = {
        "serverSelectionTimeoutMS": server_selection_timeout_ms,
        "connectTimeoutMS": CONNECT_TIMEOUT_MS,
        "appname": APP_NAME,
        "tz_aware": True,
    }
    options.update(kwargs)
    try:
        return MongoClient(uri, **options)
    except PyMongoError as exc:  # e.g. a malformed URI or a failing SRV lookup
        raise MongoError(
            f"cannot set up a MongoDB client: {_first_line(exc)}",
            hint="check the profile's mongo_uri (TELEMETRY_MONGO_URI or workbench.toml)",
        ) from None


def get_collection(
    target: MongoLike | MongoClient[Document],
    collection: str,
    *,
    database: str = DEFAULT_DATABASE,
) -> Collection[Document]:
    """``database.collection`` on the profile's MongoDB (or on a client you already hold).

    Given Settings or a URI, it uses one shared client per URI for the whole process (what
    pymongo recommends: a client holds a connection pool and monitor threads).
    """
    if isinstance(target, MongoClient):
        client = target
    else:
        uri = target.mongo_uri.reveal() if isinstance(target, Settings) else target
        client = _shared_client(uri)
    return client[database][collection]


def close_shared_clients() -> None:
    """Close the clients :func:`get_collection` shares (e.g. before a fork)."""
    with _SHARED_LOCK:
        for client in _SHARED.values():
            client.close()
        _SHARED.clear()


def _shared_client(uri: str) -> MongoClient[Document]:
    with _SHARED_LOCK:
        client = _SHARED.get(uri)
        if client is None:
            client = _SHARED[uri] = mongo_client(uri)
        return client


def wrap_mongo_error(action: str, exc: PyMongoError, *, hint: str | None = None) -> MongoError:
    """A :class:`MongoError` for a pymongo failure while doing ``action`` (URI-free message)."""
    error = MongoError(f"MongoDB {action} failed: {_first_line(exc)}", hint=hint)
    error.retryable = bool(
        getattr(exc, "has_error_label", lambda _label: False)("RetryableWriteError")
    ) or exc.__class__.__name__ in {
        "AutoReconnect",
        "ServerSelectionTimeoutError",
        "NetworkTimeout",
    }
    return error


def _first_line(exc: BaseException) -> str:
    """A pymongo message without its topology dump (which may name hosts)."""
    return str(exc).split(", Timeout:")[0].split("\n")[0]
