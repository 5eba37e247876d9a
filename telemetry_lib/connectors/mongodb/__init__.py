"""The MongoDB Kafka connectors under their official class names.

- ``com.mongodb.kafka.connect.MongoSourceConnector`` (``source``): a collection's change stream,
  after an optional copy of its documents, as Kafka records; the resume token is the offset.
- ``com.mongodb.kafka.connect.MongoSinkConnector`` (``sink``): Kafka records as bulk upserts,
  with the official id strategies and write models, and readable ids for ksqlDB windowed keys.

Importing this package registers both with the worker's plugin registry. Modules:
``source_config`` / ``source_records`` / ``source`` and ``sink_config`` / ``sink_models`` /
``windowed_keys`` / ``sink``. MongoDB is reached only through ``telemetry_lib.mongo``.
"""

from __future__ import annotations

from telemetry_lib.connectors.mongodb.sink import SINK_CLASS, MongoSinkConnector, MongoSinkTask
from telemetry_lib.connectors.mongodb.source import (
    SOURCE_CLASS,
    MongoSourceConnector,
    MongoSourceTask,
)

__all__ = [
    "SINK_CLASS",
    "SOURCE_CLASS",
    "MongoSinkConnector",
    "MongoSinkTask",
    "MongoSourceConnector",
    "MongoSourceTask",
]
