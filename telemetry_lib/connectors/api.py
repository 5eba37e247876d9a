"""The connector plugin API: what a source or sink connector implements and what the worker
hands it. Modelled on Kafka Connect's Java API (``SourceConnector``/``SourceTask``,
``SinkConnector``/``SinkTask``, ``ConfigDef``), Pythonic and batch-oriented.

Lifecycle (the worker calls, in this order, each task on its own thread)::

    connector = ConnectorClass()
    connector.initialize(ConnectorContext)          # worker-provided
    connector.validate(props) -> list[ConfigValue]  # config_def() + extra checks; errors -> 400
    connector.start(props)                          # props: dict[str, str] as the user gave them
    connector.task_configs(max_tasks) -> list[dict[str, str]]
      per task config:
        task = connector.task_class()()
        task.initialize(SourceTaskContext | SinkTaskContext)
        task.start(task_props)
        source: loop: records = task.poll()          # list[SourceRecord]; [] when idle
                      worker converts + produces (idempotent producer), waits for delivery
                      task.commit_records(records)   # these are acknowledged by Kafka
                      worker writes their source offsets to the offset store
                      task.commit()                  # offsets are durable
        sink:   task.open(partitions)
                loop: task.put(records)             # list[SinkRecord], converted by the worker
                      (every offset.flush.interval.ms) offsets = task.pre_commit(consumed)
                      worker commits ``offsets`` to the consumer group ``connect-<name>``
                task.close(partitions)
        task.stop()
    connector.stop()

Records: a source task returns :class:`SourceRecord` with Python values (dict / list / str /
int / float / bool / None / bytes); the worker's key/value converters serialize them. A sink
task gets :class:`SinkRecord` whose key/value were already deserialized by the converters
(JsonConverter: Python JSON values; StringConverter: ``str``; ByteArrayConverter: ``bytes``);
with ``schemas.enable=true`` the JSON envelope's ``schema`` is in ``key_schema``/``value_schema``
(the raw Connect JSON schema dict) and ``key``/``value`` hold its ``payload``. Sink tasks get
lists, not polars frames: the sink's cost is the database round trip, and per-record objects let
a task report single bad records.

Errors: raise :class:`~telemetry_lib.connectors.errors.RetriableError` for transient failures
(the worker retries the same batch with backoff — ``put`` forever, as Connect does — losing
nothing), :class:`~telemetry_lib.connectors.errors.DataError` for a bad record (sink tasks
should prefer ``context.report(record, error)``: the worker sends it to the dead letter queue
under ``errors.tolerance=all`` or fails the task otherwise), anything else fails the task
(status FAILED with the traceback as ``trace``).

Plugins register under their official class name (``@register_plugin(
"com.mongodb.kafka.connect.MongoSourceConnector")``); the worker looks connectors up by that
name or by its simple name / alias (``MongoSourceConnector``) as Connect does. The worker
imports :data:`PLUGIN_MODULES` and any ``--plugin-path`` module at start-up.
"""

from __future__ import annotations

import abc
import importlib
import importlib.util
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from telemetry_lib.connectors.config_def import (
    NO_DEFAULT,
    CaseInsensitiveValidString,
    ConfigDef,
    ConfigKey,
    ConfigType,
    ConfigValue,
    Importance,
    NonEmptyString,
    Range,
    Validator,
    ValidList,
    ValidString,
)
from telemetry_lib.connectors.errors import (
    ConnectorConfigError,
    DataError,
    NotFoundError,
    RetriableError,
)

__all__ = [
    "NO_DEFAULT",
    "PLUGIN_MODULES",
    "CaseInsensitiveValidString",
    "ConfigDef",
    "ConfigKey",
    "ConfigType",
    "ConfigValue",
    "Connector",
    "ConnectorConfigError",
    "ConnectorContext",
    "DataError",
    "Header",
    "Importance",
    "NonEmptyString",
    "OffsetReader",
    "PluginInfo",
    "PluginType",
    "Range",
    "RetriableError",
    "SinkConnector",
    "SinkRecord",
    "SinkTask",
    "SinkTaskContext",
    "SourceConnector",
    "SourceRecord",
    "SourceTask",
    "SourceTaskContext",
    "Task",
    "TopicPartition",
    "ValidList",
    "ValidString",
    "Validator",
    "load_plugin_module",
    "load_plugins",
    "plugin",
    "plugins",
    "register_plugin",
]

logger = logging.getLogger(__name__)

PluginType = Literal[
    "source", "sink", "converter", "header_converter", "transformation", "predicate"
]
#: A record header: name and raw value (Connect headers are converted by the header converter;
#: ours are passed as bytes / str / None).
Header = tuple[str, bytes | str | None]
#: (topic, partition)
TopicPartition = tuple[str, int]

#: Modules that register the built-in plugins (imported by :func:`load_plugins`).
PLUGIN_MODULES: tuple[str, ...] = (
    "telemetry_lib.connectors.converters",
    "telemetry_lib.connectors.mongodb",
)


@dataclass(frozen=True)
class SourceRecord:
    """A record a source task wants written to Kafka.

    ``source_partition``/``source_offset`` are small JSON-able dicts (e.g. ``{"ns":
    "db.coll"}`` / ``{"_id": "<resume token>"}``); when both are set the worker stores the
    latest offset per partition after the record is acknowledged, and hands it back via
    ``context.offset_reader.offset(partition)`` when the task starts again.
    ``partition=None`` lets the producer's partitioner pick (murmur2 of the key bytes).
    """

    topic: str
    value: Any
    key: Any = None
    source_partition: Mapping[str, Any] | None = None
    source_offset: Mapping[str, Any] | None = None
    partition: int | None = None
    timestamp: int | None = None  # epoch ms; None: the producer's time
    headers: Sequence[Header] = ()
    key_schema: Mapping[str, Any] | None = None
    value_schema: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class SinkRecord:
    """A Kafka record handed to a sink task, key and value already converted."""

    topic: str
    partition: int
    offset: int
    key: Any
    value: Any
    timestamp: int | None = None  # epoch ms
    headers: Sequence[Header] = ()
    key_schema: Mapping[str, Any] | None = None
    value_schema: Mapping[str, Any] | None = None
    raw_key: bytes | None = None  # the bytes as read from Kafka (for DLQ and error messages)
    raw_value: bytes | None = None


class OffsetReader(Protocol):
    """Reads committed source offsets (Connect's ``OffsetStorageReader``)."""

    def offset(self, partition: Mapping[str, Any]) -> dict[str, Any] | None: ...

    def offsets(self, partitions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any] | None]: ...


class ConnectorContext(Protocol):
    """What the worker offers a connector (Connect's ``ConnectorContext``)."""

    @property
    def name(self) -> str: ...

    def request_task_reconfiguration(self) -> None:
        """Ask the worker to call ``task_configs`` again and restart the tasks."""

    def raise_error(self, error: BaseException) -> None:
        """Fail the connector (status FAILED with this error's trace)."""


class SourceTaskContext(Protocol):
    """What the worker offers a source task."""

    @property
    def connector_name(self) -> str: ...

    @property
    def task_id(self) -> int: ...

    @property
    def offset_reader(self) -> OffsetReader: ...


class SinkTaskContext(Protocol):
    """What the worker offers a sink task (Connect's ``SinkTaskContext`` + ``ErrantRecordReporter``)."""

    @property
    def connector_name(self) -> str: ...

    @property
    def task_id(self) -> int: ...

    def assignment(self) -> list[TopicPartition]: ...

    def report(self, record: SinkRecord, error: BaseException) -> None:
        """Report one record the task could not write: the worker sends it to the dead letter
        queue (``errors.tolerance=all``) — or raises, failing the task, under ``none``. Reports
        are complete before the worker commits offsets past the record."""

    def request_commit(self) -> None:
        """Ask for ``pre_commit`` + an offset commit soon (Connect's ``requestCommit``)."""


@dataclass(frozen=True)
class PluginInfo:
    """One entry of ``GET /connector-plugins``."""

    class_name: str
    type: PluginType
    version: str
    factory: Callable[[], Any] = field(compare=False, repr=False)
    aliases: tuple[str, ...] = ()

    def to_json(self) -> dict[str, str]:
        return {"class": self.class_name, "type": self.type, "version": self.version}


class Connector(abc.ABC):
    """Common base of source and sink connectors (Connect's ``Connector``)."""

    #: Plugin version shown by ``GET /connector-plugins`` and the status endpoints.
    VERSION = "0.0.0"

    def __init__(self) -> None:
        self._context: ConnectorContext | None = None

    def initialize(self, context: ConnectorContext) -> None:
        self._context = context

    @property
    def context(self) -> ConnectorContext:
        if self._context is None:
            raise RuntimeError("connector used before initialize(context)")
        return self._context

    def version(self) -> str:
        return self.VERSION

    @abc.abstractmethod
    def config_def(self) -> ConfigDef:
        """The connector's own properties (the worker adds name, connector.class, tasks.max,
        converters, errors.* etc.)."""

    def validate(self, props: Mapping[str, str]) -> list[ConfigValue]:
        """Validate ``props``; override to add cross-property checks (append errors)."""
        return self.config_def().validate(props)

    @abc.abstractmethod
    def start(self, props: Mapping[str, str]) -> None: ...

    @abc.abstractmethod
    def task_class(self) -> type[Task]: ...

    @abc.abstractmethod
    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        """At most ``max_tasks`` task configs (string maps, stored in the config topic)."""

    def stop(self) -> None:
        """Release resources; called once, also after a failed start."""
        return None


class SourceConnector(Connector):
    """A connector whose tasks read an outside system and return :class:`SourceRecord`."""

    @abc.abstractmethod
    def task_class(self) -> type[SourceTask]: ...


class SinkConnector(Connector):
    """A connector whose tasks write :class:`SinkRecord` batches to an outside system.

    The worker subscribes its tasks to ``topics`` or ``topics.regex`` in the consumer group
    ``connect-<name>``.
    """

    @abc.abstractmethod
    def task_class(self) -> type[SinkTask]: ...


class Task(abc.ABC):
    """Common base of tasks."""

    VERSION = "0.0.0"

    def version(self) -> str:
        return self.VERSION

    @abc.abstractmethod
    def start(self, props: Mapping[str, str]) -> None: ...

    @abc.abstractmethod
    def stop(self) -> None:
        """Called from the task's thread after the last poll/put; release resources."""


class SourceTask(Task):
    """Reads the outside system. ``poll`` may block briefly (≤ about a second) when idle."""

    def __init__(self) -> None:
        self._context: SourceTaskContext | None = None

    def initialize(self, context: SourceTaskContext) -> None:
        self._context = context

    @property
    def context(self) -> SourceTaskContext:
        if self._context is None:
            raise RuntimeError("task used before initialize(context)")
        return self._context

    @abc.abstractmethod
    def poll(self) -> list[SourceRecord]:
        """The next records ([] when none are available right now)."""

    def commit_records(self, records: Sequence[SourceRecord]) -> None:
        """These records (one poll's batch) were acknowledged by Kafka."""

    def commit(self) -> None:
        """The offsets of every acknowledged record so far are stored."""


class SinkTask(Task):
    """Writes records to the outside system."""

    def __init__(self) -> None:
        self._context: SinkTaskContext | None = None

    def initialize(self, context: SinkTaskContext) -> None:
        self._context = context

    @property
    def context(self) -> SinkTaskContext:
        if self._context is None:
            raise RuntimeError("task used before initialize(context)")
        return self._context

    def open(self, partitions: Sequence[TopicPartition]) -> None:
        """These partitions were assigned to the task."""

    @abc.abstractmethod
    def put(self, records: list[SinkRecord]) -> None:
        """Write (or buffer) the records; raise RetriableError to get the same batch again."""

    def flush(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Make everything put so far durable (``offsets``: next offset per partition)."""

    def pre_commit(self, offsets: Mapping[TopicPartition, int]) -> dict[TopicPartition, int]:
        """Offsets safe to commit; the default flushes and returns ``offsets`` unchanged."""
        self.flush(offsets)
        return dict(offsets)

    def close(self, partitions: Sequence[TopicPartition]) -> None:
        """These partitions were revoked (after the last pre_commit for them)."""


_PLUGINS: dict[str, PluginInfo] = {}
_C = TypeVar("_C")


def register_plugin(
    class_name: str,
    *,
    type: PluginType | None = None,
    version: str | None = None,
    aliases: Sequence[str] = (),
) -> Callable[[_C], _C]:
    """Class decorator: register a plugin under its official (Java) class name.

    ``type`` defaults from the base class (SourceConnector -> "source", SinkConnector ->
    "sink"); ``version`` from the class's ``VERSION``. The simple name (after the last dot) is
    an alias automatically, as in Connect.
    """

    def decorate(cls: _C) -> _C:
        kind = type or _plugin_type(cls)
        simple = class_name.rsplit(".", 1)[-1]
        names = tuple(dict.fromkeys((simple, *aliases)))
        info = PluginInfo(class_name, kind, version or str(getattr(cls, "VERSION", "0.0.0")),
                          cls, names)  # type: ignore[arg-type]  # fmt: skip
        _PLUGINS[class_name] = info
        return cls

    return decorate


def plugins(*, types: Sequence[PluginType] | None = None) -> list[PluginInfo]:
    """Registered plugins sorted by class name, optionally of the given types only."""
    load_plugins()
    found = sorted(_PLUGINS.values(), key=lambda p: p.class_name)
    return [p for p in found if types is None or p.type in types]


def plugin(name: str, *, types: Sequence[PluginType] | None = None) -> PluginInfo:
    """The plugin registered as ``name`` (full class name, simple name or alias).

    Raises NotFoundError naming the known plugins of those types.
    """
    load_plugins()
    candidates = [p for p in _PLUGINS.values() if types is None or p.type in types]
    for info in candidates:
        if info.class_name == name:
            return info
    for info in candidates:
        if name in info.aliases:
            return info
    known = ", ".join(sorted(p.class_name for p in candidates)) or "(none)"
    raise NotFoundError(
        f"Failed to find any class that implements Connector and which name matches {name}, "
        f"available connectors are: {known}"
    )


_loaded: set[str] = set()


def load_plugins(extra: Sequence[str] = ()) -> None:
    """Import the built-in plugin modules and ``extra`` ones (module names or ``.py`` paths).

    A built-in module that is missing (not written yet) is skipped with a warning; a missing
    ``extra`` one raises, because the user asked for it.
    """
    for module in PLUGIN_MODULES:
        if module in _loaded:
            continue
        _loaded.add(module)
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module.startswith(exc.name):
                logger.warning("built-in plugin module %s is not available: %s", module, exc)
            else:
                raise
    for spec in extra:
        load_plugin_module(spec)


def load_plugin_module(spec: str) -> None:
    """Import a plugin module by dotted name or from a ``.py`` file path (Connect's plugin.path)."""
    if spec in _loaded:
        return
    path = Path(spec)
    if spec.endswith(".py"):
        if not path.is_file():
            raise ConnectorConfigError("plugin.path", spec, "no such Python file",
                                       hint="give a module name or an existing .py path")  # fmt: skip
        name = f"_connect_plugin_{path.stem}_{abs(hash(str(path.resolve())))}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise ConnectorConfigError("plugin.path", spec, "cannot be imported")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
    else:
        importlib.import_module(spec)
    _loaded.add(spec)


def _plugin_type(cls: object) -> PluginType:
    if isinstance(cls, type):
        if issubclass(cls, SourceConnector):
            return "source"
        if issubclass(cls, SinkConnector):
            return "sink"
    raise TypeError(f"{cls!r}: pass type= to register_plugin (not a Source/SinkConnector)")
