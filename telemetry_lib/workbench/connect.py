"""The notebooks' connectors: official MongoDB source/sink configs over the Kafka Connect REST API.

Owns :func:`source_config` and :func:`sink_config` (the official connector property names, so
the same JSON runs on Kafka Connect or Confluent Cloud), :func:`masked` (a config safe to show:
``connection.uri`` credentials masked), and :class:`ConnectRest`, a small client of Kafka
Connect's documented REST API (``PUT /connectors/{name}/config`` creates or updates,
``GET .../status``, ``DELETE``), used identically against our worker and a real one.

The sink decodes the ksqlDB table's windowed key into a readable string ``_id``
(``P00001|<window start>|<window end>``) plus ``PLAYER_ID`` / ``WINDOWSTART`` / ``WINDOWEND``
fields: the ``ksql.*`` properties are our worker's addition (see
``telemetry_lib.connectors.mongodb.windowed_keys``); a stock Kafka Connect ignores them and
stores the raw key bytes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import httpx

from telemetry_lib.config import Settings, mask_uri
from telemetry_lib.errors import ConnectError

__all__ = ["ConnectRest", "masked", "sink_config", "source_config", "source_topic"]

logger = logging.getLogger(__name__)

#: The official MongoDB connector classes.
SOURCE_CLASS = "com.mongodb.kafka.connect.MongoSourceConnector"
SINK_CLASS = "com.mongodb.kafka.connect.MongoSinkConnector"
_ID_STRATEGY = "com.mongodb.kafka.connect.sink.processor.id.strategy.ProvidedInKeyStrategy"
_FORMATTER = "com.mongodb.kafka.connect.source.json.formatter.SimplifiedJson"
_STRING = "org.apache.kafka.connect.storage.StringConverter"
_BYTES = "org.apache.kafka.connect.converters.ByteArrayConverter"
_JSON = "org.apache.kafka.connect.json.JsonConverter"
#: Connect answers in milliseconds locally; 30 s covers a managed worker creating a connector.
REQUEST_TIMEOUT_S = 30.0
#: A connector and its task are RUNNING within a second or two here; 60 s covers a busy worker.
RUNNING_TIMEOUT_S = 60.0
#: Status poll period.
POLL_S = 0.5


def source_topic(database: str, collection: str, *, prefix: str = "") -> str:
    """The source connector's topic: ``[prefix.]database.collection`` (official naming)."""
    return ".".join(p for p in (prefix, database, collection) if p)


def source_config(
    settings: Settings, *, database: str, collection: str, prefix: str = ""
) -> dict[str, str]:
    """Copy the collection, then follow its change stream; each document's JSON as the value."""
    return {
        "connector.class": SOURCE_CLASS,
        "connection.uri": settings.mongo_uri.reveal(),
        "database": database,
        "collection": collection,
        "topic.prefix": prefix,
        "startup.mode": "copy_existing",
        "publish.full.document.only": "true",
        "output.format.key": "json",
        "output.format.value": "json",
        "output.json.formatter": _FORMATTER,
        "key.converter": _STRING,
        "value.converter": _STRING,
        "tasks.max": "1",
    }


def sink_config(
    settings: Settings, *, topic: str, database: str, collection: str, window_minutes: int
) -> dict[str, str]:
    """Upsert the ratio table's rows by a readable (player, window) ``_id``."""
    return {
        "connector.class": SINK_CLASS,
        "connection.uri": settings.mongo_uri.reveal(),
        "topics": topic,
        "database": database,
        "collection": collection,
        "key.converter": _BYTES,
        "value.converter": _JSON,
        "value.converter.schemas.enable": "false",
        "document.id.strategy": _ID_STRATEGY,
        "ksql.key.columns": "PLAYER_ID STRING",
        "ksql.key.format": "KAFKA",
        "ksql.window.type": "TUMBLING",
        "ksql.window.size": f"{window_minutes} MINUTES",
        "delete.on.null.values": "true",
        "tasks.max": "1",
    }


def masked(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with the connection URI's credentials masked (safe to display or save)."""
    out = dict(config)
    if "connection.uri" in out:
        out["connection.uri"] = mask_uri(str(out["connection.uri"]))
    return out


class ConnectRest:
    """Kafka Connect's REST API: the calls the notebooks need."""

    def __init__(self, url: str, *, timeout: float = REQUEST_TIMEOUT_S) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout)

    def __repr__(self) -> str:
        return f"ConnectRest({self.url!r})"

    def close(self) -> None:
        self._http.close()

    def put_config(self, name: str, config: Mapping[str, str]) -> dict[str, Any]:
        """Create ``name`` or update its config (idempotent)."""
        return dict(self._call("PUT", f"/connectors/{name}/config", json=dict(config)))

    def configs(self) -> dict[str, dict[str, Any]]:
        """Every connector's config."""
        names = self._call("GET", "/connectors")
        return {str(n): dict(self._call("GET", f"/connectors/{n}/config")) for n in names}

    def status(self, name: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/connectors/{name}/status"))

    def delete(self, name: str, *, missing_ok: bool = True) -> bool:
        """Delete ``name``; False when it did not exist (and ``missing_ok``)."""
        try:
            self._call("DELETE", f"/connectors/{name}")
        except ConnectError as exc:
            if missing_ok and "404" in str(exc):
                return False
            raise
        return True

    def wait_running(self, name: str, *, timeout: float = RUNNING_TIMEOUT_S) -> dict[str, Any]:
        """Poll the status until the connector and every task are RUNNING (raise on FAILED)."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(name)
            states = [status.get("connector", {}).get("state")]
            states += [t.get("state") for t in status.get("tasks", [])]
            if "FAILED" in states:
                traces = [t.get("trace", "")[:500] for t in status.get("tasks", [])]
                raise ConnectError(
                    f"connector {name} FAILED: {states} {traces}",
                    hint="see the worker log (telemetry logs connect)",
                )
            if len(states) > 1 and all(s == "RUNNING" for s in states):
                return status
            if time.monotonic() > deadline:
                raise ConnectError(
                    f"connector {name} not RUNNING after {timeout:g} s (states {states})",
                    hint="see the worker log (telemetry logs connect)",
                )
            time.sleep(POLL_S)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ConnectError(
                f"cannot reach Kafka Connect at {self.url}: {type(exc).__name__}",
                hint="start it with `telemetry up` or check the connect_url setting",
            ) from exc
        if response.status_code >= 400:
            try:
                message = response.json().get("message", response.text)
            except ValueError:
                message = response.text
            raise ConnectError(
                f"Kafka Connect {method} {path}: {response.status_code} {message}",
                hint="check the connector config (property names as the official connector)",
            )
        return response.json() if response.content else None
