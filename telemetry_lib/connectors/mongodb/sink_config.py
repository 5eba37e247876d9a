"""The MongoDB sink connector's properties (official names, plus the ``ksql.*`` key ones) and
their parsed form.

Official properties supported: ``connection.uri``, ``database``, ``collection`` (default: the
topic name), ``document.id.strategy`` (BsonOid, ProvidedInKey, ProvidedInValue, PartialValue,
PartialKey, FullKey, KafkaMetaData, Uuid — full class names),
``document.id.strategy.overwrite.existing``,
``document.id.strategy.partial.value|key.projection.type|list``, ``writemodel.strategy``
(ReplaceOneDefault, ReplaceOneBusinessKey, UpdateOneDefault, UpdateOneTimestamps,
UpdateOneBusinessKeyTimestamp, InsertOneDefault, DeleteOneDefault), ``delete.on.null.values``,
``delete.writemodel.strategy`` (DeleteOneDefault), ``max.batch.size``, ``bulk.write.ordered``,
``max.num.retries``, ``retries.defer.timeout``. ``topics``/``topics.regex`` and the
``errors.*`` settings are the worker's. Not supported (their keys are ignored): post-processor
chains and field projections/renamers, ``topic.override.*``, change-data-capture handlers,
time-series collections, rate limiting.

Additions of this worker (documented in ``windowed_keys`` and ``sink_models``):

- ``ksql.key.columns`` / ``ksql.key.format`` / ``ksql.window.type`` / ``ksql.window.size``:
  decode a ksqlDB (windowed) key into a readable string ``_id`` plus key and window fields.
- ``document.id.compound.format``: ``string`` (default) writes a compound id (PartialValue,
  PartialKey, FullKey with a document key) as one string, values joined with ``|``, because
  NX-27017 cannot filter on a document-valued ``_id``; ``document`` keeps the official
  document-valued ``_id`` (real MongoDB only).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from telemetry_lib.connectors.api import (
    ConfigDef,
    ConnectorConfigError,
    Range,
    ValidString,
)
from telemetry_lib.connectors.mongodb.windowed_keys import KsqlKeySpec, parse_key_spec

__all__ = ["ID_STRATEGIES", "SINK_CONFIG", "WRITE_MODELS", "SinkSettings", "parse_sink_settings"]

logger = logging.getLogger(__name__)

_ID_PACKAGE = "com.mongodb.kafka.connect.sink.processor.id.strategy."
_WM_PACKAGE = "com.mongodb.kafka.connect.sink.writemodel.strategy."
IdStrategy = Literal["BsonOid", "ProvidedInKey", "ProvidedInValue", "PartialValue",
                     "PartialKey", "FullKey", "KafkaMetaData", "Uuid"]  # fmt: skip
WriteModel = Literal["ReplaceOneDefault", "ReplaceOneBusinessKey", "UpdateOneDefault",
                     "UpdateOneTimestamps", "UpdateOneBusinessKeyTimestamp", "InsertOneDefault",
                     "DeleteOneDefault"]  # fmt: skip
#: Official class names -> short names.
ID_STRATEGIES: dict[str, IdStrategy] = {
    _ID_PACKAGE + name + "Strategy": name  # type: ignore[misc]
    for name in (
        "BsonOid",
        "ProvidedInKey",
        "ProvidedInValue",
        "PartialValue",
        "PartialKey",
        "FullKey",
        "KafkaMetaData",
        "Uuid",
    )  # fmt: skip
}
WRITE_MODELS: dict[str, WriteModel] = {
    _WM_PACKAGE + name + "Strategy": name  # type: ignore[misc]
    for name in (
        "ReplaceOneDefault",
        "ReplaceOneBusinessKey",
        "UpdateOneDefault",
        "UpdateOneTimestamps",
        "UpdateOneBusinessKeyTimestamp",
        "InsertOneDefault",
        "DeleteOneDefault",
    )  # fmt: skip
}
_PROJECTION_TYPES = ("", "none", "AllowList", "BlockList", "whitelist", "blacklist")


def _class_in(table: Mapping[str, str]) -> Any:
    def check(name: str, value: Any) -> None:
        if value not in table:
            raise ConnectorConfigError(
                name, value, "Class not found; use one of: " + ", ".join(table)
            )

    return check


def _uri(name: str, value: Any) -> None:
    text = str(value or "").strip()
    if not text.startswith(("mongodb://", "mongodb+srv://")):
        raise ConnectorConfigError(
            name, "[hidden]" if text else value,
            "The connection string is invalid. Connection strings must start with either "
            "'mongodb://' or 'mongodb+srv://",
        )  # fmt: skip


def _required_name(name: str, value: Any) -> None:
    if not str(value or "").strip():
        raise ConnectorConfigError(name, value, "String must be non-empty")


SINK_CONFIG = (
    ConfigDef()
    .define("connection.uri", "PASSWORD", importance="HIGH", group="Connection",
            documentation="The MongoDB connection URI.", validator=_uri)
    .define("database", "STRING", importance="HIGH", group="Connection",
            documentation="The database to write to.", validator=_required_name)
    .define("collection", "STRING", default="", group="Connection",
            documentation="The collection to write to (default: the record's topic name).")
    .define("document.id.strategy", "STRING", default=_ID_PACKAGE + "BsonOidStrategy",
            validator=_class_in(ID_STRATEGIES), group="Id strategy",
            documentation="How the document _id is made (full class name).")
    .define("document.id.strategy.overwrite.existing", "BOOLEAN", default=False,
            group="Id strategy", documentation="Replace an _id the value already has.")
    .define("document.id.strategy.partial.value.projection.type", "STRING", default="",
            validator=ValidString(_PROJECTION_TYPES), group="Id strategy",
            documentation="PartialValueStrategy: AllowList or BlockList.")
    .define("document.id.strategy.partial.value.projection.list", "STRING", default="",
            group="Id strategy", documentation="PartialValueStrategy: comma-separated fields.")
    .define("document.id.strategy.partial.key.projection.type", "STRING", default="",
            validator=ValidString(_PROJECTION_TYPES), group="Id strategy",
            documentation="PartialKeyStrategy: AllowList or BlockList.")
    .define("document.id.strategy.partial.key.projection.list", "STRING", default="",
            group="Id strategy", documentation="PartialKeyStrategy: comma-separated fields.")
    .define("document.id.compound.format", "STRING", default="string",
            validator=ValidString(("string", "document")), group="Id strategy",
            documentation="Compound ids as one '|'-joined string (works on every server) or "
                          "as the official sub-document (real MongoDB only).")
    .define("writemodel.strategy", "STRING", default=_WM_PACKAGE + "ReplaceOneDefaultStrategy",
            validator=_class_in(WRITE_MODELS), group="Writes",
            documentation="The write model of each record (full class name).")
    .define("delete.on.null.values", "BOOLEAN", default=False, group="Writes",
            documentation="Delete the document of a tombstone's key.")
    .define("delete.writemodel.strategy", "STRING", default=_WM_PACKAGE + "DeleteOneDefaultStrategy",
            validator=ValidString((_WM_PACKAGE + "DeleteOneDefaultStrategy",)), group="Writes",
            documentation="The write model of tombstones.")
    .define("max.batch.size", "INT", default=0, validator=Range(at_least=0), group="Writes",
            documentation="Records per bulk write (0: all records of a put).")
    .define("bulk.write.ordered", "BOOLEAN", default=True, group="Writes",
            documentation="Ordered bulk writes (a failed record is reported, the rest written).")
    .define("max.num.retries", "INT", default=1, validator=Range(at_least=0), group="Writes",
            documentation="Retries of a failed bulk write inside one put before the worker's "
                          "own retry (which never gives up) takes over.")
    .define("retries.defer.timeout", "INT", default=5000, validator=Range(at_least=0),
            group="Writes", documentation="Milliseconds between those retries.")
    .define("ksql.key.columns", "STRING", default="", group="ksqlDB keys",
            documentation="The ksqlDB key columns with types, e.g. 'PLAYER_ID STRING'.")
    .define("ksql.key.format", "STRING", default="KAFKA",
            validator=ValidString(("KAFKA", "JSON", "kafka", "json")), group="ksqlDB keys",
            documentation="KEY_FORMAT of the ksqlDB source: KAFKA or JSON.")
    .define("ksql.window.type", "STRING", default="",
            validator=ValidString(("", "TUMBLING", "HOPPING", "SESSION", "tumbling", "hopping",
                                   "session")), group="ksqlDB keys",
            documentation="WINDOW_TYPE of a windowed ksqlDB key.")
    .define("ksql.window.size", "STRING", default="", group="ksqlDB keys",
            documentation="WINDOW_SIZE of a TUMBLING/HOPPING key, e.g. '5 MINUTES'.")
)  # fmt: skip


@dataclass(frozen=True)
class SinkSettings:
    uri: str
    database: str
    collection: str
    id_strategy: IdStrategy
    overwrite_existing: bool
    value_projection: tuple[str, tuple[str, ...]]
    key_projection: tuple[str, tuple[str, ...]]
    compound_as_string: bool
    write_model: WriteModel
    delete_on_null: bool
    max_batch: int
    ordered: bool
    max_retries: int
    retry_delay_ms: int
    ksql_key: KsqlKeySpec | None


def parse_sink_settings(props: Mapping[str, Any]) -> SinkSettings:
    """Typed settings; raises ConnectorConfigError naming the first bad property."""
    c = SINK_CONFIG.parse(props)
    key = parse_key_spec(c["ksql.key.columns"], c["ksql.key.format"], c["ksql.window.type"],
                         c["ksql.window.size"])  # fmt: skip
    id_strategy = ID_STRATEGIES[c["document.id.strategy"]]
    if key is not None and id_strategy not in ("ProvidedInKey", "FullKey", "PartialKey"):
        raise ConnectorConfigError(
            "document.id.strategy", c["document.id.strategy"],
            "with ksql.key.columns the _id comes from the decoded key: use "
            + _ID_PACKAGE + "ProvidedInKeyStrategy",
        )  # fmt: skip
    write_model = WRITE_MODELS[c["writemodel.strategy"]]
    projection = _projection(c, "value")
    if write_model in ("ReplaceOneBusinessKey", "UpdateOneBusinessKeyTimestamp") and (
        id_strategy != "PartialValue" or not projection[0]
    ):
        raise ConnectorConfigError(
            "writemodel.strategy", c["writemodel.strategy"],
            "business-key write models need document.id.strategy=" + _ID_PACKAGE
            + "PartialValueStrategy with a partial.value projection",
        )  # fmt: skip
    return SinkSettings(
        uri=str(c["connection.uri"]),
        database=c["database"],
        collection=c["collection"],
        id_strategy=id_strategy,
        overwrite_existing=c["document.id.strategy.overwrite.existing"],
        value_projection=projection,
        key_projection=_projection(c, "key"),
        compound_as_string=c["document.id.compound.format"] == "string",
        write_model=write_model,
        delete_on_null=c["delete.on.null.values"],
        max_batch=c["max.batch.size"],
        ordered=c["bulk.write.ordered"],
        max_retries=c["max.num.retries"],
        retry_delay_ms=c["retries.defer.timeout"],
        ksql_key=key,
    )


def _projection(c: Mapping[str, Any], side: str) -> tuple[str, tuple[str, ...]]:
    kind = c[f"document.id.strategy.partial.{side}.projection.type"]
    kind = {"whitelist": "AllowList", "blacklist": "BlockList", "none": ""}.get(kind, kind)
    fields = tuple(f.strip() for f in c[f"document.id.strategy.partial.{side}.projection.list"]
                   .split(",") if f.strip())  # fmt: skip
    if kind and not fields:
        raise ConnectorConfigError(
            f"document.id.strategy.partial.{side}.projection.list", "",
            f"a {kind} projection needs the field names",
        )  # fmt: skip
    return kind, fields
