"""The worker's own connector-level properties (Connect's ``ConnectorConfig``,
``SourceConnectorConfig``, ``SinkConnectorConfig``) and the error-handling settings it applies.

Every connector config is validated against the common keys plus the source or sink keys
plus the plugin's own ``config_def()``; ``validate_connector_config`` returns the full
validation response Connect gives on ``PUT /connector-plugins/{class}/config/validate``.

Error handling (the worker owns it; connectors only raise typed errors):

- ``errors.tolerance`` ``none`` (default): the first conversion or record error fails the task;
  ``all``: the record is skipped, and sent to the dead letter queue when
  ``errors.deadletterqueue.topic.name`` is set (sink connectors only, as in Connect).
- ``errors.retry.timeout`` / ``errors.retry.delay.max.ms``: retriable failures of an operation
  are retried with exponential backoff (300 ms doubling, capped) until the timeout (0: no
  retries, -1: forever). ``put`` raising RetriableError is retried forever, as Connect does.
- ``errors.deadletterqueue.context.headers.enable``: DLQ records carry Connect's
  ``__connect.errors.*`` headers (:func:`dlq_headers`).
- ``errors.log.enable`` / ``errors.log.include.messages``: log each tolerated error.

Single message transforms (``transforms``) and ``predicates`` are not implemented: a config
that sets them is rejected naming the property (rather than silently ignoring them).
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from telemetry_lib.connectors.api import PluginInfo, PluginType, plugin
from telemetry_lib.connectors.config_def import (
    CaseInsensitiveValidString,
    ConfigDef,
    ConfigValue,
    Range,
    ValidString,
)
from telemetry_lib.connectors.errors import ConnectorConfigError, NotFoundError

__all__ = [
    "COMMON_CONFIG",
    "DLQ_HEADER_PREFIX",
    "SINK_CONFIG",
    "SOURCE_CONFIG",
    "ErrorHandling",
    "Stage",
    "ValidationResult",
    "config_error_message",
    "dlq_headers",
    "validate_connector_config",
]

logger = logging.getLogger(__name__)

Stage = Literal[
    "KEY_CONVERTER", "VALUE_CONVERTER", "HEADER_CONVERTER", "TRANSFORMATION",
    "TASK_PUT", "TASK_POLL", "KAFKA_PRODUCE", "KAFKA_CONSUME",
]  # fmt: skip

#: Connect's DLQ context header prefix (``DeadLetterQueueReporter.HEADER_PREFIX``).
DLQ_HEADER_PREFIX = "__connect.errors."
# Connect's first retry backoff (RetryWithToleranceOperator.RETRIES_DELAY_MIN_MS).
_RETRY_DELAY_MIN_MS = 300
# ISO control characters are rejected in connector names (Connect's
# NonEmptyStringWithoutControlChars).
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")

_CONVERTER_KEYS = ("key.converter", "value.converter", "header.converter")
# Connect's default header converter; this worker passes header bytes through unchanged.
_SIMPLE_HEADER_CONVERTER = "SimpleHeaderConverter"
_GROUP_COMMON = "Common"
_GROUP_TRANSFORMS = "Transforms"
_GROUP_ERRORS = "Error Handling"
_GROUP_TOPIC_CREATION = "Topic Creation"


def _name_validator(name: str, value: Any) -> None:
    if value is None or not str(value).strip():
        raise ConnectorConfigError(name, value, "String may not be empty")
    if _CONTROL_CHARS.search(str(value)):
        raise ConnectorConfigError(name, value, "String may not contain control sequences")


def _unsupported(name: str, value: Any) -> None:
    if value:
        raise ConnectorConfigError(
            name, ",".join(value), "this worker does not implement single message transforms "
            "or predicates; remove the property (or run the connector on Kafka Connect)",
        )  # fmt: skip


COMMON_CONFIG = (
    ConfigDef()
    .define("name", "STRING", validator=_name_validator, importance="HIGH", group=_GROUP_COMMON,
            order=1, width="MEDIUM", display_name="Connector name",
            documentation="Globally unique name to use for this connector.")
    .define("connector.class", "STRING", importance="HIGH", group=_GROUP_COMMON, order=2,
            width="LONG", display_name="Connector class",
            documentation="Name or alias of the class for this connector.")
    .define("tasks.max", "INT", default=1, validator=Range(at_least=1), importance="HIGH",
            group=_GROUP_COMMON, order=3, width="SHORT", display_name="Tasks max",
            documentation="Maximum number of tasks to use for this connector.")
    .define("key.converter", "CLASS", default=None, importance="LOW", group=_GROUP_COMMON,
            order=4, width="SHORT", display_name="Key converter class",
            documentation="Converter class for the keys (default: the worker's key.converter).")
    .define("value.converter", "CLASS", default=None, importance="LOW", group=_GROUP_COMMON,
            order=5, width="SHORT", display_name="Value converter class",
            documentation="Converter class for the values (default: the worker's value.converter).")
    .define("header.converter", "CLASS", default=None, importance="LOW", group=_GROUP_COMMON,
            order=6, width="SHORT", display_name="Header converter class",
            documentation="Accepted; header values are passed as raw bytes.")
    .define("config.action.reload", "STRING", default="restart",
            validator=CaseInsensitiveValidString(("none", "restart")), importance="LOW",
            group=_GROUP_COMMON, order=7, width="MEDIUM", display_name="Reload Action",
            documentation="Accepted for compatibility (externalized configs are not supported).")
    .define("transforms", "LIST", default="", validator=_unsupported, importance="LOW",
            group=_GROUP_TRANSFORMS, order=8, width="LONG", display_name="Transforms",
            documentation="Not implemented by this worker: must be empty.")
    .define("predicates", "LIST", default="", validator=_unsupported, importance="LOW",
            group=_GROUP_TRANSFORMS, order=9, width="LONG", display_name="Predicates",
            documentation="Not implemented by this worker: must be empty.")
    .define("errors.retry.timeout", "LONG", default=0, importance="MEDIUM", group=_GROUP_ERRORS,
            order=1, width="MEDIUM", display_name="Retry Timeout for Errors",
            documentation="Maximum ms a failed operation is retried; 0: no retries, -1: forever.")
    .define("errors.retry.delay.max.ms", "LONG", default=60000, importance="MEDIUM",
            group=_GROUP_ERRORS, order=2, width="MEDIUM", display_name="Maximum Delay Between Retries",
            documentation="Maximum ms between consecutive retries (exponential backoff from 300).")
    .define("errors.tolerance", "STRING", default="none",
            validator=CaseInsensitiveValidString(("none", "all")), importance="MEDIUM",
            group=_GROUP_ERRORS, order=3, width="SHORT", display_name="Error Tolerance",
            documentation="none: an error fails the task; all: problematic records are skipped.")
    .define("errors.log.enable", "BOOLEAN", default=False, importance="MEDIUM",
            group=_GROUP_ERRORS, order=4, width="SHORT", display_name="Log Errors",
            documentation="Log each tolerated error.")
    .define("errors.log.include.messages", "BOOLEAN", default=False, importance="MEDIUM",
            group=_GROUP_ERRORS, order=5, width="SHORT", display_name="Log Error Details",
            documentation="Include the record's topic, partition and offset in the log.")
)  # fmt: skip

SINK_CONFIG = (
    ConfigDef()
    .define("consumer.override.max.poll.records", "INT", default=500, validator=Range(at_least=1),
            importance="LOW", group=_GROUP_COMMON, order=5, width="SHORT",
            display_name="Max poll records",
            documentation="Records handed to one put() (Connect's consumer max.poll.records).")
    .define("topics", "LIST", default="", importance="HIGH", group=_GROUP_COMMON, order=4,
            width="LONG", display_name="Topics",
            documentation="List of topics to consume, separated by commas")
    .define("topics.regex", "STRING", default="", importance="HIGH", group=_GROUP_COMMON,
            order=4, width="LONG", display_name="Topics regex",
            documentation="Regular expression giving topics to consume (Python re syntax).")
    .define("errors.deadletterqueue.topic.name", "STRING", default="", importance="MEDIUM",
            group=_GROUP_ERRORS, order=6, width="MEDIUM", display_name="Dead Letter Queue Topic Name",
            documentation="Topic for records that failed to convert or be written.")
    .define("errors.deadletterqueue.topic.replication.factor", "SHORT", default=3,
            importance="MEDIUM", group=_GROUP_ERRORS, order=7, width="MEDIUM",
            display_name="Dead Letter Queue Topic Replication Factor",
            documentation="Replication factor of the DLQ topic when it is created (capped at "
            "the broker count).")
    .define("errors.deadletterqueue.context.headers.enable", "BOOLEAN", default=False,
            importance="MEDIUM", group=_GROUP_ERRORS, order=8, width="MEDIUM",
            display_name="Enable Error Context Headers",
            documentation="Add __connect.errors.* headers to DLQ records.")
)  # fmt: skip

SOURCE_CONFIG = (
    ConfigDef()
    .define("topic.creation.default.partitions", "INT", default=1, validator=Range(at_least=-1),
            importance="LOW", group=_GROUP_TOPIC_CREATION, order=1, width="SHORT",
            display_name="Default partitions",
            documentation="Partitions of topics the worker creates for this connector (-1: 1).")
    .define("topic.creation.default.replication.factor", "SHORT", default=-1,
            validator=Range(at_least=-1), importance="LOW", group=_GROUP_TOPIC_CREATION,
            order=2, width="SHORT", display_name="Default replication factor",
            documentation="Replication factor of created topics (-1: the broker's default).")
    .define("exactly.once.support", "STRING", default="requested",
            validator=CaseInsensitiveValidString(("requested", "required")), importance="MEDIUM",
            group=_GROUP_COMMON, order=10, width="SHORT", display_name="Exactly once support",
            documentation="Accepted; delivery here is at-least-once with an idempotent producer.")
    .define("transaction.boundary", "STRING", default="poll",
            validator=ValidString(("poll", "interval", "connector")), importance="MEDIUM",
            group=_GROUP_COMMON, order=11, width="SHORT", display_name="Transaction Boundary",
            documentation="Accepted for compatibility.")
    .define("offsets.storage.topic", "STRING", default=None, importance="LOW",
            group=_GROUP_COMMON, order=12, width="LONG", display_name="Offsets topic",
            documentation="Accepted; offsets go to the worker's offset.storage.topic.")
)  # fmt: skip


@dataclass(frozen=True)
class ValidationResult:
    """Connect's ``ConfigInfos``: the response of the validate endpoint."""

    name: str
    groups: tuple[str, ...]
    definitions: tuple[dict[str, Any], ...]
    values: tuple[ConfigValue, ...]

    @property
    def error_count(self) -> int:
        return sum(len(value.errors) for value in self.values)

    def errors(self) -> list[tuple[str, str]]:
        """(property, message) for every error, in declaration order."""
        return [(v.name, e) for v in self.values for e in v.errors]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "error_count": self.error_count,
            "groups": list(self.groups),
            "configs": [
                {"definition": d, "value": v.to_json()}
                for d, v in zip(self.definitions, self.values, strict=True)
            ],
        }


def validate_connector_config(
    props: Mapping[str, Any], *, plugin_info: PluginInfo | None = None
) -> ValidationResult:
    """Validate a full connector config as Connect's ``AbstractHerder.validateConnectorConfig``.

    Raises BadRequestError-worthy :class:`NotFoundError` only when ``connector.class`` is
    missing or unknown (Connect answers 400 then as well; the caller maps it).
    """
    info = plugin_info or _connector_plugin(props)
    kind: PluginType = info.type
    base = COMMON_CONFIG.merge(SINK_CONFIG if kind == "sink" else SOURCE_CONFIG)
    values = list(base.validate(props))
    definitions = [key.definition() for key in base]
    if kind == "sink":
        values = _validate_sink_topics(props, values)
    connector = info.factory()
    own_def: ConfigDef = connector.config_def()
    own = [k for k in own_def if k.name not in base]
    definitions.extend(k.definition() for k in own)
    own_values = {v.name: v for v in connector.validate(props)}
    values.extend(own_values.get(k.name, ConfigValue(k.name, None)) for k in own)
    groups = tuple(dict.fromkeys((*base.groups(), *own_def.groups())))
    values = [_check_converter(v, props) for v in values]
    return ValidationResult(info.class_name, groups, tuple(definitions), tuple(values))


def config_error_message(result: ValidationResult) -> str:
    """Connect's 400 message for an invalid config (``ConnectorsResource.createConnector``)."""
    errors = [message for _, message in result.errors()]
    return (
        f"Connector configuration is invalid and contains the following {len(errors)} "
        "error(s):\n" + "\n".join(errors) + "\nYou can also find the above list of errors at "
        "the endpoint `/connector-plugins/{connectorType}/config/validate`"
    )


@dataclass(frozen=True)
class ErrorHandling:
    """The error-handling settings of one connector, parsed."""

    tolerance: Literal["none", "all"] = "none"
    retry_timeout_ms: int = 0
    retry_delay_max_ms: int = 60000
    log_enable: bool = False
    log_include_messages: bool = False
    dlq_topic: str = ""
    dlq_replication_factor: int = 3
    dlq_context_headers: bool = False

    @classmethod
    def from_config(cls, parsed: Mapping[str, Any]) -> ErrorHandling:
        tolerance = str(parsed.get("errors.tolerance", "none")).lower()
        return cls(
            tolerance="all" if tolerance == "all" else "none",
            retry_timeout_ms=int(parsed.get("errors.retry.timeout", 0)),
            retry_delay_max_ms=int(parsed.get("errors.retry.delay.max.ms", 60000)),
            log_enable=bool(parsed.get("errors.log.enable", False)),
            log_include_messages=bool(parsed.get("errors.log.include.messages", False)),
            dlq_topic=str(parsed.get("errors.deadletterqueue.topic.name") or ""),
            dlq_replication_factor=int(
                parsed.get("errors.deadletterqueue.topic.replication.factor", 3)
            ),
            dlq_context_headers=bool(
                parsed.get("errors.deadletterqueue.context.headers.enable", False)
            ),
        )

    def backoff_ms(self, attempt: int) -> int:
        """Delay before retry ``attempt`` (1-based): 300 ms doubling, capped."""
        delay = _RETRY_DELAY_MIN_MS * (2 ** max(0, attempt - 1))
        return int(min(delay, max(self.retry_delay_max_ms, 0)))


def dlq_headers(
    *,
    topic: str,
    partition: int,
    offset: int,
    connector: str,
    task_id: int,
    stage: Stage,
    executing_class: str,
    error: BaseException,
) -> list[tuple[str, bytes]]:
    """Connect's DLQ context headers (``DeadLetterQueueReporter.populateContextHeaders``)."""
    p = DLQ_HEADER_PREFIX
    exc_type = type(error)
    headers = [
        (p + "topic", topic.encode()),
        (p + "partition", str(partition).encode()),
        (p + "offset", str(offset).encode()),
        (p + "connector.name", connector.encode()),
        (p + "task.id", str(task_id).encode()),
        (p + "stage", stage.encode()),
        (p + "class.name", executing_class.encode()),
        (p + "exception.class.name", f"{exc_type.__module__}.{exc_type.__qualname__}".encode()),
    ]
    if str(error):
        headers.append((p + "exception.message", str(error).encode()))
    trace = "".join(traceback.format_exception(exc_type, error, error.__traceback__))
    headers.append((p + "exception.stacktrace", trace.encode()))
    return headers


def _connector_plugin(props: Mapping[str, Any]) -> PluginInfo:
    cls = props.get("connector.class")
    if not cls:
        raise ConnectorConfigError(
            "connector.class", None,
            'Missing required configuration "connector.class" which has no default value.',
        )  # fmt: skip
    try:
        return plugin(str(cls), types=("source", "sink"))
    except NotFoundError as exc:
        raise ConnectorConfigError("connector.class", cls, exc.message) from exc


def _validate_sink_topics(
    props: Mapping[str, Any], values: Sequence[ConfigValue]
) -> list[ConfigValue]:
    topics = [t.strip() for t in str(props.get("topics") or "").split(",") if t.strip()]
    regex = str(props.get("topics.regex") or "").strip()
    dlq = str(props.get("errors.deadletterqueue.topic.name") or "").strip()
    extra: dict[str, list[str]] = {}
    if topics and regex:
        message = "topics and topics.regex are mutually exclusive."
        extra = {"topics": [message], "topics.regex": [message]}
    elif not topics and not regex:
        message = "Must configure one of topics or topics.regex"
        extra = {"topics": [message], "topics.regex": [message]}
    elif regex:
        try:
            pattern = re.compile(regex)
        except re.error as exc:
            extra = {
                "topics.regex": [f"Invalid value {regex} for configuration topics.regex: {exc}"]
            }
        else:
            if dlq and pattern.fullmatch(dlq):
                extra = {"errors.deadletterqueue.topic.name": [
                    f"The DLQ topic '{dlq}' may not be included in the regex matching the topics "
                    f"to be consumed ('topics.regex={regex}')."]}  # fmt: skip
    if dlq and dlq in topics:
        extra = {"errors.deadletterqueue.topic.name": [
            f"The DLQ topic '{dlq}' may not be included in the list of topics "
            f"('topics={','.join(topics)}') to be consumed."]}  # fmt: skip
    out = []
    for value in values:
        more = extra.get(value.name)
        out.append(ConfigValue(value.name, value.value, (*value.errors, *more), value.recommended_values)
                   if more else value)  # fmt: skip
    return out


def _check_converter(value: ConfigValue, props: Mapping[str, Any]) -> ConfigValue:
    """Connect's error for a converter class that cannot be found."""
    cls = str(props.get(value.name) or "")
    if value.name not in _CONVERTER_KEYS or not cls:
        return value
    if value.name == "header.converter" and cls.endswith(_SIMPLE_HEADER_CONVERTER):
        return value  # accepted: header values are passed through as bytes
    try:
        plugin(cls, types=("converter",))
    except NotFoundError:
        message = (
            f"Invalid value {cls} for configuration {value.name}: Class {cls} could not be found."
        )
        return ConfigValue(
            value.name, value.value, (*value.errors, message), value.recommended_values
        )
    return value
