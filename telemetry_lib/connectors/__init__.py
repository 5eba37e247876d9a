"""Kafka Connect for the workbench: a Connect-compatible worker, its REST API and client, and
the connector plugin API the MongoDB connectors implement.

- ``api``: the plugin API (SourceConnector/SourceTask, SinkConnector/SinkTask, records,
  contexts, plugin registry keyed by official class names) — start here to write a connector.
- ``config_def``: declared properties and Connect-style validation (ConfigDef).
- ``connector_config``: the worker's connector-level keys (name, tasks.max, converters,
  errors.*, topics) and error handling / dead letter queue headers.
- ``converters``: JsonConverter, StringConverter, ByteArrayConverter (Connect's wire formats).
- ``errors``: the Connect error tree (RetriableError, DataError, REST 400/404/409/500).
- ``storage``: configs / offsets / statuses in Connect's three topics + the local-disk copy.
- ``runner``, ``source_runner``, ``sink_runner``: one thread per task (the delivery loops).
- ``herder``: connectors' lifecycle and every operation of the REST API.
- ``rest``: Kafka Connect's REST API (starlette + uvicorn); ``server``: the worker process
  (``python -m telemetry_lib.connectors.server``); ``client``: :class:`ConnectClient`.
- ``mongodb``: the MongoDB source and sink connectors (official property names).

Only the plugin API is re-exported here; the worker, REST app and client are imported from
their modules so that writing a connector pulls in neither Kafka clients nor a web framework.
"""

from __future__ import annotations

from telemetry_lib.connectors.api import (
    ConfigDef,
    ConfigValue,
    Connector,
    SinkConnector,
    SinkRecord,
    SinkTask,
    SourceConnector,
    SourceRecord,
    SourceTask,
    plugin,
    plugins,
    register_plugin,
)
from telemetry_lib.connectors.errors import (
    ConnectorConfigError,
    ConnectRestError,
    DataError,
    RetriableError,
)

__all__ = [
    "ConfigDef",
    "ConfigValue",
    "ConnectRestError",
    "Connector",
    "ConnectorConfigError",
    "DataError",
    "RetriableError",
    "SinkConnector",
    "SinkRecord",
    "SinkTask",
    "SourceConnector",
    "SourceRecord",
    "SourceTask",
    "plugin",
    "plugins",
    "register_plugin",
]
