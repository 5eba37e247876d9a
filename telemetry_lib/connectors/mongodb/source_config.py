"""The MongoDB source connector's properties (official names) and their parsed form.

Supported as the official connector documents them: ``connection.uri``, ``database``,
``collection``, ``pipeline``, ``topic.prefix``, ``topic.suffix``, ``topic.separator``,
``publish.full.document.only`` (+ ``.tombstone.on.delete``), ``change.stream.full.document``,
``change.stream.document.key.as.key``, ``startup.mode`` (``copy_existing`` / ``latest`` /
``timestamp``), ``startup.mode.timestamp.start.at.operation.time``,
``startup.mode.copy.existing.pipeline``, ``copy.existing`` (the deprecated switch),
``poll.await.time.ms``, ``poll.max.batch.size``, ``batch.size``, ``output.format.key|value``,
``output.json.formatter``, ``offset.partition.name``, ``heartbeat.interval.ms``, ``heartbeat.topic.name``.

Differences, each rejected or documented rather than silently ignored:

- ``database`` and ``collection`` are required: one task watches one collection (watching a
  whole database or cluster is not built).
- ``output.format.key|value``: ``json`` (the document as JSON text in the formatter's format —
  use ``StringConverter`` to write it as is, as with the official connector) and ``schema``
  (the document as a structured value without a Connect schema, SimplifiedJson values — use
  ``JsonConverter`` with ``schemas.enable=false``); ``bson`` is rejected.
- ``pipeline`` applies to the change stream; copied documents are filtered by
  ``startup.mode.copy.existing.pipeline`` only.
- ``batch.size=0`` (the default) asks for 5,000 events per getMore (or ``poll.max.batch.size``
  if larger) instead of leaving it to the server (MongoDB: up to 16 MB; NX-27017: 101 events,
  which took ~3x the round trips and server time of 1,000 for a backlog); polls still hand
  out at most ``poll.max.batch.size`` records.
- The official default formatter, DefaultJson, writes 64-bit integers as
  ``{"$numberLong": "..."}``; a ksqlDB stream reading a BIGINT (the demo's ``timestamp``) needs
  ``output.json.formatter=...SimplifiedJson`` (plain numbers).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from telemetry_lib.connectors.api import ConfigDef, ConnectorConfigError, Range, ValidString
from telemetry_lib.mongo import JsonFormatter

__all__ = [
    "FORMATTER_CLASSES",
    "SOURCE_CONFIG",
    "SourceSettings",
    "parse_pipeline",
    "parse_source_settings",
]

logger = logging.getLogger(__name__)

_FORMATTER_PACKAGE = "com.mongodb.kafka.connect.source.json.formatter."
#: output.json.formatter class names -> our formatter names.
FORMATTER_CLASSES: dict[str, JsonFormatter] = {
    _FORMATTER_PACKAGE + "DefaultJson": "DefaultJson",
    _FORMATTER_PACKAGE + "ExtendedJson": "ExtendedJson",
    _FORMATTER_PACKAGE + "SimplifiedJson": "SimplifiedJson",
}
StartupMode = Literal["copy_existing", "latest", "timestamp"]
OutputFormat = Literal["json", "schema"]


def _pipeline_validator(name: str, value: Any) -> None:
    parse_pipeline(name, value)


def _formatter_validator(name: str, value: Any) -> None:
    if value not in FORMATTER_CLASSES:
        raise ConnectorConfigError(
            name, value, "Class not found; use one of: " + ", ".join(FORMATTER_CLASSES)
        )


def _output_format_validator(name: str, value: Any) -> None:
    if value == "bson":
        raise ConnectorConfigError(
            name, value, "bson output is not supported by this worker; use json or schema"
        )
    ValidString(("json", "schema"))(name, value)


def _operation_time_validator(name: str, value: Any) -> None:
    if value:
        operation_time_seconds(name, value)


def _non_empty(name: str, value: Any) -> None:
    if not str(value or "").strip():
        raise ConnectorConfigError(
            name, value, "watching a whole database or cluster is not supported here; "
            "name the collection to watch"
        )  # fmt: skip


SOURCE_CONFIG = (
    ConfigDef()
    .define("connection.uri", "PASSWORD", importance="HIGH", group="Connection",
            documentation="The MongoDB connection URI (mongodb:// or mongodb+srv://).",
            validator=lambda n, v: _non_empty_uri(n, v))
    .define("database", "STRING", default="", importance="MEDIUM", group="Connection",
            documentation="The database to watch.", validator=_non_empty)
    .define("collection", "STRING", default="", importance="MEDIUM", group="Connection",
            documentation="The collection to watch.", validator=_non_empty)
    .define("pipeline", "STRING", default="[]", importance="MEDIUM", group="Change stream",
            documentation="An aggregation pipeline (JSON array) applied to the change stream.",
            validator=_pipeline_validator)
    .define("change.stream.full.document", "STRING", default="", group="Change stream",
            validator=ValidString(("", "default", "updateLookup", "whenAvailable", "required")),
            documentation="fullDocument option of the change stream (when unset: updateLookup "
                          "with publish.full.document.only, else the server's default).")
    .define("change.stream.document.key.as.key", "BOOLEAN", default=True, group="Change stream",
            documentation="Use the document key ({\"_id\": ...}) as the record key; false: the "
                          "resume token.")
    .define("publish.full.document.only", "BOOLEAN", default=False, group="Change stream",
            documentation="Publish only the fullDocument of each change (deletes are skipped).")
    .define("publish.full.document.only.tombstone.on.delete", "BOOLEAN", default=False,
            group="Change stream",
            documentation="With publish.full.document.only, publish a tombstone for deletes.")
    .define("topic.prefix", "STRING", default="", group="Topic",
            documentation="Prefix of the topic name <prefix>.<database>.<collection>.")
    .define("topic.suffix", "STRING", default="", group="Topic",
            documentation="Suffix of the topic name <database>.<collection>.<suffix>.")
    .define("topic.separator", "STRING", default=".", group="Topic",
            documentation="Separator between the parts of the topic name.")
    .define("startup.mode", "STRING", default="latest", group="Startup",
            validator=ValidString(("latest", "timestamp", "copy_existing")),
            documentation="Where a connector without an offset starts.")
    .define("startup.mode.timestamp.start.at.operation.time", "STRING", default="",
            group="Startup", validator=_operation_time_validator,
            documentation="startup.mode=timestamp: epoch seconds or an ISO-8601 instant.")
    .define("startup.mode.copy.existing.pipeline", "STRING", default="[]", group="Startup",
            validator=_pipeline_validator,
            documentation="An aggregation pipeline (JSON array) applied to the copied documents.")
    .define("copy.existing", "BOOLEAN", default=False, group="Startup",
            documentation="Deprecated: same as startup.mode=copy_existing.")
    .define("poll.await.time.ms", "LONG", default=5000, validator=Range(at_least=1),
            group="Polling",
            documentation="How long a poll waits for changes (capped at 200 ms per server "
                          "round trip: the embedded MongoDB serves one command at a time).")
    .define("poll.max.batch.size", "INT", default=1000, validator=Range(at_least=1),
            group="Polling", documentation="Records per poll.")
    .define("batch.size", "INT", default=0, validator=Range(at_least=0), group="Polling",
            documentation="Cursor batch size (0: 5000, or poll.max.batch.size if larger).")
    .define("output.format.key", "STRING", default="json", validator=_output_format_validator,
            group="Output", documentation="json or schema.")
    .define("output.format.value", "STRING", default="json", validator=_output_format_validator,
            group="Output", documentation="json or schema.")
    .define("output.json.formatter", "STRING", default=_FORMATTER_PACKAGE + "DefaultJson",
            validator=_formatter_validator, group="Output",
            documentation="DefaultJson, ExtendedJson or SimplifiedJson (full class names).")
    .define("offset.partition.name", "STRING", default="", group="Offsets",
            documentation="Name of the source partition the offsets are stored under.")
    .define("heartbeat.interval.ms", "LONG", default=0, validator=Range(at_least=0),
            group="Offsets",
            documentation="At most this often an idle stream whose position moved (events "
                          "filtered out by the pipeline) publishes a heartbeat carrying it as "
                          "the offset; 0: never.")
    .define("heartbeat.topic.name", "STRING", default="__mongodb_heartbeats", group="Offsets",
            documentation="The topic heartbeats go to.")
)  # fmt: skip


def _non_empty_uri(name: str, value: Any) -> None:
    text = str(value or "").strip()
    if not text.startswith(("mongodb://", "mongodb+srv://")):
        raise ConnectorConfigError(
            name, "[hidden]" if text else value,
            "The connection string is invalid. Connection strings must start with either "
            "'mongodb://' or 'mongodb+srv://",
        )  # fmt: skip


@dataclass(frozen=True)
class SourceSettings:
    """Parsed source properties (see the module docstring)."""

    uri: str
    database: str
    collection: str
    pipeline: tuple[dict[str, Any], ...]
    full_document: str
    document_key_as_key: bool
    full_document_only: bool
    tombstone_on_delete: bool
    topic: str
    startup_mode: StartupMode
    start_at_seconds: int | None
    copy_pipeline: tuple[dict[str, Any], ...]
    poll_await_ms: int
    max_batch: int
    batch_size: int
    key_format: OutputFormat
    value_format: OutputFormat
    formatter: JsonFormatter
    partition_name: str
    heartbeat_ms: int = 0
    heartbeat_topic: str = "__mongodb_heartbeats"

    @property
    def source_partition(self) -> dict[str, str]:
        """The offsets' partition: ``{"ns": "<db>.<coll>"}`` (or ``offset.partition.name``)."""
        return {"ns": self.partition_name or f"{self.database}.{self.collection}"}


def parse_source_settings(props: Mapping[str, Any]) -> SourceSettings:
    """Typed settings; raises ConnectorConfigError naming the first bad property."""
    c = SOURCE_CONFIG.parse(props)
    mode: StartupMode = c["startup.mode"]
    if c["copy.existing"] and "startup.mode" not in props:
        mode = "copy_existing"
    start_at = None
    if mode == "timestamp" and c["startup.mode.timestamp.start.at.operation.time"]:
        start_at = operation_time_seconds(
            "startup.mode.timestamp.start.at.operation.time",
            c["startup.mode.timestamp.start.at.operation.time"],
        )
    return SourceSettings(
        uri=str(c["connection.uri"]),
        database=c["database"],
        collection=c["collection"],
        pipeline=tuple(parse_pipeline("pipeline", c["pipeline"])),
        # as the official connector: updateLookup when only full documents are published
        full_document=c["change.stream.full.document"]
        or ("updateLookup" if c["publish.full.document.only"] else "default"),
        document_key_as_key=c["change.stream.document.key.as.key"],
        full_document_only=c["publish.full.document.only"],
        tombstone_on_delete=c["publish.full.document.only.tombstone.on.delete"],
        topic=topic_name(
            c["topic.prefix"],
            c["database"],
            c["collection"],
            c["topic.suffix"],
            separator=c["topic.separator"],
        ),  # fmt: skip
        startup_mode=mode,
        start_at_seconds=start_at,
        copy_pipeline=tuple(
            parse_pipeline(
                "startup.mode.copy.existing.pipeline", c["startup.mode.copy.existing.pipeline"]
            )  # fmt: skip
        ),
        poll_await_ms=c["poll.await.time.ms"],
        max_batch=c["poll.max.batch.size"],
        batch_size=c["batch.size"],
        key_format=c["output.format.key"],
        value_format=c["output.format.value"],
        formatter=FORMATTER_CLASSES[c["output.json.formatter"]],
        partition_name=c["offset.partition.name"],
        heartbeat_ms=c["heartbeat.interval.ms"],
        heartbeat_topic=c["heartbeat.topic.name"],
    )


def topic_name(prefix: str, database: str, collection: str, suffix: str, *,
               separator: str = ".") -> str:  # fmt: skip
    """``<prefix>.<database>.<collection>.<suffix>`` without the empty parts (the official
    DefaultTopicMapper)."""
    return separator.join(p for p in (prefix, database, collection, suffix) if p)


def parse_pipeline(name: str, value: Any) -> list[dict[str, Any]]:
    """A pipeline property (JSON array of stage objects)."""
    text = str(value or "").strip() or "[]"
    try:
        stages = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConnectorConfigError(name, value, f"not valid JSON: {exc.msg}") from None
    if not isinstance(stages, list) or not all(isinstance(s, dict) for s in stages):
        raise ConnectorConfigError(name, value, "must be a JSON array of pipeline stages")
    return stages


def operation_time_seconds(name: str, value: Any) -> int:
    """Epoch seconds from an integer or an ISO-8601 instant (``2024-01-01T00:00:00Z``)."""
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        instant = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConnectorConfigError(
            name, value, "expected epoch seconds or an ISO-8601 instant such as "
            "2024-01-01T00:00:00Z"
        ) from None  # fmt: skip
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=dt.UTC)
    return int(instant.timestamp())
