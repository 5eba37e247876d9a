"""The notebooks' connectors: official MongoDB source/sink configs over the Kafka Connect REST API.

Owns :func:`source_config` and :func:`sink_config` (the official connector property names, so
the same JSON runs on Kafka Connect or Confluent Cloud), :func:`masked` (a config safe to show:
``connection.uri`` credentials masked) and :func:`source_topic` (the official topic naming).
The configs are sent with :class:`~telemetry_lib.connectors.client.ConnectClient` (Kafka
Connect's REST API: the same calls against our worker and a real one).

The sink decodes the ksqlDB table's windowed key into a readable string ``_id``
(``P00001|<window start>|<window end>``) plus ``PLAYER_ID`` / ``WINDOWSTART`` / ``WINDOWEND``
fields: the ``ksql.*`` properties are our worker's addition (see
``telemetry_lib.connectors.mongodb.windowed_keys``); a stock Kafka Connect ignores them and
stores the raw key bytes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from telemetry_lib.config import Settings, mask_uri

__all__ = ["masked", "sink_config", "source_config", "source_topic"]

logger = logging.getLogger(__name__)

#: The official MongoDB connector classes.
SOURCE_CLASS = "com.mongodb.kafka.connect.MongoSourceConnector"
SINK_CLASS = "com.mongodb.kafka.connect.MongoSinkConnector"
_ID_STRATEGY = "com.mongodb.kafka.connect.sink.processor.id.strategy.ProvidedInKeyStrategy"
_FORMATTER = "com.mongodb.kafka.connect.source.json.formatter.SimplifiedJson"
_STRING = "org.apache.kafka.connect.storage.StringConverter"
_BYTES = "org.apache.kafka.connect.converters.ByteArrayConverter"
_JSON = "org.apache.kafka.connect.json.JsonConverter"


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
