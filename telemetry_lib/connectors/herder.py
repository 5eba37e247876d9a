"""The worker's brain (Connect's "herder"): connectors, their lifecycle and tasks, and every
operation the REST API exposes. One worker is the whole cluster (no rebalancing protocol).

Connector lifecycle (``state`` in the status JSON; ``target`` is what the user asked for and
what the config topic stores)::

    create/PUT config -> validate (400 naming the property) -> store config + target STARTED
      -> connector.start(props) -> task_configs(tasks.max) -> store -> one runner thread per task
    pause  -> target PAUSED: runners stop polling/putting (commit first), state PAUSED
    resume -> target STARTED (also from STOPPED: the connector and its tasks start again)
    stop   -> target STOPPED: tasks and connector stopped, zero task configs stored
    restart [includeTasks, onlyFailed] -> instances shown RESTARTING, replaced in the background
    delete -> tasks and connector stopped, config and target state tombstoned, statuses nulled

A connector (or task) raising from start/poll/put is FAILED with its Python traceback as
``trace``; it stays FAILED until restarted. Source offsets live in :class:`OffsetBook`
(loaded from the offsets topic) and survive deletion, as in Connect: re-creating a connector
with the same name resumes from them unless they were reset (``DELETE .../offsets``).

A sink connector's ``GET .../offsets`` reads its consumer group's committed offsets from the
broker. Known limits: ``DELETE .../offsets`` resets source offsets only; ``generation`` in the
status records is always 1 (one worker, no rebalance protocol).
"""

from __future__ import annotations

import enum
import logging
import re
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from telemetry_lib.connectors.api import Connector, PluginInfo, PluginType, plugin, plugins
from telemetry_lib.connectors.config_def import ConfigDef
from telemetry_lib.connectors.connector_config import (
    COMMON_CONFIG,
    SINK_CONFIG,
    SOURCE_CONFIG,
    ErrorHandling,
    ValidationResult,
    config_error_message,
    validate_connector_config,
)
from telemetry_lib.connectors.converters import JSON_CONVERTER, converter_props, make_converter
from telemetry_lib.connectors.errors import (
    BadRequestError,
    ConflictError,
    ConnectorConfigError,
    NotFoundError,
)
from telemetry_lib.connectors.runner import OffsetBook, TaskEnv, TaskRunner, TaskState
from telemetry_lib.connectors.sink_runner import SinkTaskRunner, sink_group_id
from telemetry_lib.connectors.source_runner import SourceTaskRunner
from telemetry_lib.connectors.storage import ConnectStorage, StoredConnector, TargetState
from telemetry_lib.kafka import KafkaAdmin
from telemetry_lib.kafka.config import ConfLike
from telemetry_lib.kafka.consumer import committed_offsets

__all__ = ["ConnectorState", "Herder", "WorkerConfig"]

logger = logging.getLogger(__name__)

#: The Kafka Connect version whose REST API this worker follows (GET / reports it).
CONNECT_VERSION = "3.7.0"


class ConnectorState(enum.StrEnum):
    UNASSIGNED = "UNASSIGNED"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    STOPPED = "STOPPED"
    FAILED = "FAILED"
    RESTARTING = "RESTARTING"


@dataclass(frozen=True)
class WorkerConfig:
    """Worker-level settings (Connect's worker properties that matter here)."""

    worker_id: str
    key_converter: str = JSON_CONVERTER
    value_converter: str = JSON_CONVERTER
    #: worker-level ``key.converter.*`` / ``value.converter.*`` properties (prefix kept)
    converter_properties: Mapping[str, str] = field(default_factory=dict)
    #: Connect's default is 60 s; 1 s keeps re-sends after a crash small (the embedded broker
    #: is local, an offsets write costs about a millisecond).
    offset_flush_interval_ms: int = 1000


@dataclass
class _Connector:
    name: str
    config: dict[str, str]
    info: PluginInfo | None
    target: TargetState
    parsed: dict[str, Any] = field(default_factory=dict)
    instance: Connector | None = None
    state: ConnectorState = ConnectorState.UNASSIGNED
    trace: str | None = None
    task_configs: list[dict[str, str]] = field(default_factory=list)
    runners: dict[int, TaskRunner] = field(default_factory=dict)
    restarting: set[int | None] = field(default_factory=set)  # None = the connector itself

    @property
    def type(self) -> str:
        return self.info.type if self.info is not None else "unknown"


class _ConnectorContext:
    def __init__(self, herder: Herder, name: str) -> None:
        self._herder = herder
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    def request_task_reconfiguration(self) -> None:
        self._herder._background(lambda: self._herder._reconfigure(self._name))

    def raise_error(self, error: BaseException) -> None:
        self._herder._connector_failed(self._name, error)


class Herder:
    """Connectors and tasks of this worker; the REST API's backend."""

    def __init__(self, conf: ConfLike, storage: ConnectStorage, config: WorkerConfig) -> None:
        self.conf = conf
        self.storage = storage
        self.config = config
        self.offsets = OffsetBook()
        self.ready = False
        self.fresh_broker = False
        self._connectors: dict[str, _Connector] = {}
        self._lock = threading.RLock()  # the connectors dict and each record's fields
        self._ops = threading.RLock()  # one mutating operation at a time (may be slow)
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ start / close
    def start(self) -> None:
        """Create the storage topics, load configs and offsets, start every connector."""
        self.storage.ensure_topics()
        loaded = self.storage.load()
        self.fresh_broker = loaded.fresh_broker
        self.offsets = OffsetBook(loaded.offsets)
        with self._ops:
            for name, stored in loaded.connectors.items():
                self._launch(name, stored.config, stored.target_state, stored.task_configs)
        self.ready = True
        logger.info("worker %s started with %d connector(s)%s", self.config.worker_id,
                    len(loaded.connectors), " (restored from disk)" if loaded.fresh_broker else "")  # fmt: skip

    def close(self) -> None:
        self.ready = False
        with self._ops:
            with self._lock:
                everything = list(self._connectors.values())
                runners = [r for conn in everything for r in conn.runners.values()]
            for runner in runners:  # every task stops in parallel, each commits on its way out
                runner.request_stop()
            for conn in everything:
                self._stop_all(conn)
        for thread in self._threads:
            thread.join(10)
        self.storage.close()

    # ------------------------------------------------------------------ reads
    def connector_names(self) -> list[str]:
        with self._lock:
            return sorted(self._connectors)

    def connector_config(self, name: str) -> dict[str, str]:
        return dict(self._get(name).config)

    def connector_info(self, name: str) -> dict[str, Any]:
        conn = self._get(name)
        with self._lock:
            return {
                "name": name,
                "config": dict(conn.config),
                "tasks": [{"connector": name, "task": i} for i in range(len(conn.task_configs))],
                "type": conn.type,
            }

    def task_infos(self, name: str) -> list[dict[str, Any]]:
        conn = self._get(name)
        with self._lock:
            return [{"id": {"connector": name, "task": i}, "config": dict(tc)}
                    for i, tc in enumerate(conn.task_configs)]  # fmt: skip

    def status(self, name: str) -> dict[str, Any]:
        conn = self._get(name)
        with self._lock:
            state = ConnectorState.RESTARTING if None in conn.restarting else conn.state
            connector: dict[str, Any] = {"state": state.value, "worker_id": self.config.worker_id}
            if state is ConnectorState.FAILED and conn.trace:
                connector["trace"] = conn.trace
            tasks = [self._task_status(conn, i) for i in range(len(conn.task_configs))]
            if conn.target == "STOPPED":
                tasks = []
            return {"name": name, "connector": connector, "tasks": tasks, "type": conn.type}

    def task_status(self, name: str, task_id: int) -> dict[str, Any]:
        conn = self._get(name)
        with self._lock:
            if not 0 <= task_id < len(conn.task_configs) or conn.target == "STOPPED":
                raise NotFoundError(f"No status found for task {name}-{task_id}")
            return self._task_status(conn, task_id)

    def connector_offsets(self, name: str) -> dict[str, Any]:
        conn = self._get(name)
        if conn.type == "sink":
            return {"offsets": self._sink_offsets(name)}
        entries = [{"partition": p, "offset": o} for p, o in self.offsets.all(name)]
        return {"offsets": entries}

    def active_topics(self, name: str) -> dict[str, Any]:
        conn = self._get(name)
        if conn.type == "sink":
            topics = sorted({t for r in conn.runners.values() if isinstance(r, SinkTaskRunner)
                             for t, _ in r.assigned})  # fmt: skip
        else:
            topics = sorted({t for r in conn.runners.values() if isinstance(r, SourceTaskRunner)
                             for t in r.known_topics})  # fmt: skip
        return {name: {"topics": topics}}

    # ------------------------------------------------------------------ plugins / validation
    def connector_plugins(self, *, connectors_only: bool = True) -> list[dict[str, str]]:
        kinds: tuple[PluginType, ...] | None = ("source", "sink") if connectors_only else None
        return [p.to_json() for p in plugins(types=kinds)]

    def plugin_config(self, class_name: str) -> list[dict[str, Any]]:
        info = self._plugin_or_404(class_name)
        connector = info.factory()
        if info.type in ("source", "sink"):
            return [k.definition() for k in connector.config_def()]
        return [k.definition() for k in getattr(connector, "CONFIG", [])]

    def validate(self, class_name: str, config: Mapping[str, Any]) -> ValidationResult:
        """PUT /connector-plugins/{class}/config/validate."""
        info = self._plugin_or_404(class_name, connectors=True)
        included = config.get("connector.class")
        if included and not _same_plugin(str(included), info):
            raise BadRequestError(
                f"Included connector type {included} does not match request type {class_name}"
            )
        return validate_connector_config({**config, "connector.class": info.class_name},
                                         plugin_info=info)  # fmt: skip

    # ------------------------------------------------------------------ writes
    def create(self, name: str, config: Mapping[str, Any], *,
               initial_state: TargetState = "STARTED") -> dict[str, Any]:  # fmt: skip
        """POST /connectors (409 when it exists)."""
        with self._ops:
            with self._lock:
                if name in self._connectors:
                    raise ConflictError(f"Connector {name} already exists")
            clean = self._checked_config(name, config)
            self.storage.put_connector_config(name, clean)
            self.storage.put_target_state(name, initial_state)
            self._launch(name, clean, initial_state, None)
            self._save_disk()
            return self.connector_info(name)

    def put_config(self, name: str, config: Mapping[str, Any]) -> tuple[bool, dict[str, Any]]:
        """PUT /connectors/{name}/config: (created, info)."""
        with self._ops:
            with self._lock:
                existing = self._connectors.get(name)
            if existing is None:
                return True, self.create(name, config)
            clean = self._checked_config(name, config)
            target = existing.target
            self._stop_all(existing)
            self.storage.put_connector_config(name, clean)
            self._launch(name, clean, target, None)
            self._save_disk()
            return False, self.connector_info(name)

    def pause(self, name: str) -> None:
        with self._ops:
            conn = self._get(name)
            self.storage.put_target_state(name, "PAUSED")
            with self._lock:
                conn.target = "PAUSED"
                if conn.state is ConnectorState.RUNNING:
                    conn.state = ConnectorState.PAUSED
                runners = list(conn.runners.values())
            for runner in runners:
                runner.pause()
            self._write_connector_status(conn)
            self._save_disk()

    def resume(self, name: str) -> None:
        with self._ops:
            conn = self._get(name)
            self.storage.put_target_state(name, "STARTED")
            if conn.target == "STOPPED":
                self._launch(name, conn.config, "STARTED", None)
            else:
                with self._lock:
                    conn.target = "STARTED"
                    if conn.state is ConnectorState.PAUSED:
                        conn.state = ConnectorState.RUNNING
                    runners = list(conn.runners.values())
                for runner in runners:
                    runner.resume()
                self._write_connector_status(conn)
            self._save_disk()

    def stop(self, name: str) -> None:
        """PUT /connectors/{name}/stop (Connect 3.5+)."""
        with self._ops:
            conn = self._get(name)
            self._stop_all(conn)
            self.storage.put_task_configs(name, [])
            self.storage.put_target_state(name, "STOPPED")
            with self._lock:
                conn.target = "STOPPED"
                conn.state = ConnectorState.STOPPED
                conn.task_configs = []
            self._write_connector_status(conn)
            self._save_disk()

    def restart(self, name: str, *, include_tasks: bool = False,
                only_failed: bool = False) -> dict[str, Any] | None:  # fmt: skip
        """POST /connectors/{name}/restart: None for the plain (connector-only) restart, else
        the status with the instances being restarted shown RESTARTING (they are replaced in
        the background)."""
        conn = self._get(name)
        if not include_tasks and not only_failed:
            with self._ops:
                self._restart_connector(name)
            return None
        with self._lock:
            targets: set[int | None] = set()
            if not only_failed or conn.state is ConnectorState.FAILED:
                targets.add(None)
            if include_tasks:
                for i in range(len(conn.task_configs)):
                    runner = conn.runners.get(i)
                    failed = runner is None or runner.state is TaskState.FAILED
                    if not only_failed or failed:
                        targets.add(i)
            conn.restarting |= targets
        status = self.status(name)
        if targets:
            self._background(lambda: self._restart_planned(name, targets))
        return status

    def restart_task(self, name: str, task_id: int) -> None:
        conn = self._get(name)
        if not 0 <= task_id < len(conn.task_configs):
            raise NotFoundError(f"Task {name}-{task_id} not found")
        with self._ops:
            self._restart_tasks(conn, [task_id])

    def delete(self, name: str) -> None:
        with self._ops:
            conn = self._get(name)
            self._stop_all(conn)
            self.storage.remove_connector(name)
            with self._lock:
                del self._connectors[name]
            self.storage.put_status(f"status-connector-{name}", None)
            for i in range(len(conn.task_configs)):
                self.storage.put_status(f"status-task-{name}-{i}", None)
            self._save_disk()

    def reset_offsets(self, name: str) -> dict[str, str]:
        """DELETE /connectors/{name}/offsets (the connector must be STOPPED)."""
        with self._ops:
            conn = self._get(name)
            if conn.target != "STOPPED":
                raise BadRequestError(
                    "Connectors must be in the STOPPED state before their offsets can be "
                    "modified. This can be done for the specified connector by issuing a 'PUT' "
                    f"request to the '/connectors/{name}/stop' endpoint"
                )
            if conn.type == "sink":
                raise BadRequestError(
                    f"Resetting the consumer group offsets of sink connectors is not implemented "
                    f"by this worker: delete the consumer group {sink_group_id(name)} instead"
                )
            pairs = [(p, None) for p, _ in self.offsets.all(name)]
            self.storage.put_offsets(name, pairs)
            self.offsets.forget(name)
            return {"message": "The offsets for this connector have been reset successfully"}

    # ------------------------------------------------------------------ internals
    def _get(self, name: str) -> _Connector:
        with self._lock:
            conn = self._connectors.get(name)
        if conn is None:
            raise NotFoundError(f"Connector {name} not found")
        return conn

    def _plugin_or_404(self, class_name: str, *, connectors: bool = False) -> PluginInfo:
        return plugin(class_name, types=("source", "sink") if connectors else None)

    def _checked_config(self, name: str, config: Mapping[str, Any]) -> dict[str, str]:
        clean = {str(k): _as_string(v) for k, v in config.items()}
        included = clean.get("name")
        if included is not None and included != name:
            raise BadRequestError(f"Connector name configuration ({included}) doesn't match "
                                  f"connector name in the URL ({name})")  # fmt: skip
        clean["name"] = name
        try:
            result = validate_connector_config(clean)
        except ConnectorConfigError as exc:
            raise BadRequestError(
                "Connector configuration is invalid and contains the following 1 error(s):\n"
                f"{exc.message}\nYou can also find the above list of errors at the endpoint "
                "`/connector-plugins/{connectorType}/config/validate`"
            ) from exc
        if result.error_count:
            raise BadRequestError(config_error_message(result))
        return clean

    def _launch(self, name: str, config: dict[str, str], target: TargetState,
                stored_tasks: list[dict[str, str]] | None) -> None:  # fmt: skip
        """Create the runtime record and start the connector and tasks (unless STOPPED)."""
        conn = _Connector(name, dict(config), None, target)
        with self._lock:
            self._connectors[name] = conn
        try:
            conn.info = plugin(config.get("connector.class", ""), types=("source", "sink"))
            validation = validate_connector_config(config, plugin_info=conn.info)
            if validation.error_count:
                raise ConnectorConfigError("config", None, config_error_message(validation))
            conn.parsed = conn.info.factory().config_def().merge(_base_def(conn.info)).parse(config)
        except Exception as exc:
            self._mark_failed(conn, exc)
            return
        if target == "STOPPED":
            with self._lock:
                conn.state = ConnectorState.STOPPED
            self._write_connector_status(conn)
            return
        if self._start_connector(conn):
            self._assign_tasks(conn, stored_tasks)

    def _start_connector(self, conn: _Connector) -> bool:
        assert conn.info is not None
        try:
            instance: Connector = conn.info.factory()
            instance.initialize(_ConnectorContext(self, conn.name))
            instance.start(dict(conn.config))
        except Exception as exc:
            self._mark_failed(conn, exc)
            return False
        with self._lock:
            conn.instance = instance
            conn.trace = None
            conn.state = (
                ConnectorState.PAUSED if conn.target == "PAUSED" else ConnectorState.RUNNING
            )
        self._write_connector_status(conn)
        return True

    def _assign_tasks(self, conn: _Connector, stored: list[dict[str, str]] | None) -> None:
        assert conn.instance is not None
        max_tasks = int(conn.parsed.get("tasks.max", 1))
        try:
            configs = [{str(k): _as_string(v) for k, v in tc.items()}
                       for tc in conn.instance.task_configs(max_tasks)][:max_tasks]  # fmt: skip
        except Exception as exc:
            self._mark_failed(conn, exc)
            return
        if configs != stored:
            self.storage.put_task_configs(conn.name, configs)
        with self._lock:
            conn.task_configs = configs
        for i in range(len(configs)):
            self._start_task(conn, i)

    def _start_task(self, conn: _Connector, task_id: int) -> None:
        assert conn.info is not None
        env = self._task_env(conn, task_id)
        cls = SourceTaskRunner if conn.info.type == "source" else SinkTaskRunner
        runner = cls(env, paused=conn.target == "PAUSED")
        with self._lock:
            conn.runners[task_id] = runner
        self._write_task_status(runner)
        runner.start()

    def _task_env(self, conn: _Connector, task_id: int) -> TaskEnv:
        assert conn.info is not None
        key_class, key_props = self._converter(conn.config, "key.converter")
        value_class, value_props = self._converter(conn.config, "value.converter")
        return TaskEnv(
            connector=conn.name, task_id=task_id, task_config=dict(conn.task_configs[task_id]),
            connector_config=conn.parsed, plugin=conn.info, conf=self.conf,
            key_converter=make_converter(key_class, key_props, is_key=True),
            value_converter=make_converter(value_class, value_props, is_key=False),
            key_converter_class=plugin(key_class, types=("converter",)).class_name,
            value_converter_class=plugin(value_class, types=("converter",)).class_name,
            errors=ErrorHandling.from_config(conn.parsed), storage=self.storage,
            offsets=self.offsets, worker_id=self.config.worker_id,
            offset_flush_interval_s=self.config.offset_flush_interval_ms / 1000,
            on_status=self._write_task_status,
            producer_overrides=converter_props(conn.config, "producer.override"),
            consumer_overrides=converter_props(conn.config, "consumer.override"),
        )  # fmt: skip

    def _converter(self, config: Mapping[str, str], prefix: str) -> tuple[str, dict[str, str]]:
        """The connector's converter (its own class and prefixed props) or the worker's."""
        own = config.get(prefix)
        if own:
            return own, converter_props(config, prefix)
        default = (
            self.config.key_converter if prefix == "key.converter" else self.config.value_converter
        )
        return default, converter_props(self.config.converter_properties, prefix)

    def _stop_all(self, conn: _Connector) -> None:
        with self._lock:
            runners = list(conn.runners.values())
            conn.runners = {}
            instance, conn.instance = conn.instance, None
        for runner in runners:
            runner.stop()
        if instance is not None:
            try:
                instance.stop()
            except Exception as exc:
                logger.warning("connector %s: stop failed: %s", conn.name, exc)

    def _restart_connector(self, name: str) -> None:
        conn = self._get(name)
        with self._lock:
            instance, conn.instance = conn.instance, None
        if instance is not None:
            try:
                instance.stop()
            except Exception as exc:
                logger.warning("connector %s: stop failed: %s", name, exc)
        if conn.info is None or conn.target == "STOPPED":
            self._launch(name, conn.config, conn.target, list(conn.task_configs))
            return
        if self._start_connector(conn):
            self._reconfigure(name)

    def _restart_tasks(self, conn: _Connector, task_ids: list[int]) -> None:
        for i in task_ids:
            with self._lock:
                old = conn.runners.pop(i, None)
            if old is not None:
                old.stop()
            if conn.info is not None and i < len(conn.task_configs) and conn.target != "STOPPED":
                self._start_task(conn, i)

    def _restart_planned(self, name: str, targets: set[int | None]) -> None:
        with self._ops:
            try:
                conn = self._get(name)
            except NotFoundError:
                return
            try:
                if None in targets:
                    self._restart_connector(name)
                    conn = self._get(name)
                self._restart_tasks(conn, sorted(i for i in targets if i is not None))
            finally:
                with self._lock:
                    conn.restarting.clear()

    def _reconfigure(self, name: str) -> None:
        """Ask the connector for task configs again; restart the tasks if they changed."""
        with self._ops:
            try:
                conn = self._get(name)
            except NotFoundError:
                return
            if conn.instance is None:
                return
            max_tasks = int(conn.parsed.get("tasks.max", 1))
            try:
                configs = [{str(k): _as_string(v) for k, v in tc.items()}
                           for tc in conn.instance.task_configs(max_tasks)][:max_tasks]  # fmt: skip
            except Exception as exc:
                self._mark_failed(conn, exc)
                return
            if configs == conn.task_configs and len(conn.runners) == len(configs):
                return
            with self._lock:
                runners = list(conn.runners.values())
                conn.runners = {}
            for runner in runners:
                runner.stop()
            self.storage.put_task_configs(name, configs)
            with self._lock:
                conn.task_configs = configs
            for i in range(len(configs)):
                self._start_task(conn, i)

    def _connector_failed(self, name: str, error: BaseException) -> None:
        try:
            conn = self._get(name)
        except NotFoundError:
            return
        self._mark_failed(conn, error)

    def _mark_failed(self, conn: _Connector, exc: BaseException) -> None:
        logger.error("connector %s failed: %s", conn.name, exc)
        with self._lock:
            conn.state = ConnectorState.FAILED
            conn.trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self._write_connector_status(conn)

    def _task_status(self, conn: _Connector, task_id: int) -> dict[str, Any]:
        runner = conn.runners.get(task_id)
        state = TaskState.UNASSIGNED if runner is None else runner.state
        if task_id in conn.restarting:
            state = TaskState.RESTARTING
        out: dict[str, Any] = {"id": task_id, "state": state.value,
                               "worker_id": self.config.worker_id}  # fmt: skip
        if state is TaskState.FAILED and runner is not None and runner.trace:
            out["trace"] = runner.trace
        return out

    def _sink_offsets(self, name: str) -> list[dict[str, Any]]:
        return [
            {"partition": {"kafka_topic": t, "kafka_partition": p}, "offset": {"kafka_offset": o}}
            for (t, p), o in sorted(self._committed_sink_offsets(name).items())
        ]

    def _committed_sink_offsets(self, name: str) -> dict[tuple[str, int], int]:
        """The consumer group's committed offsets for the topics the sink reads (OffsetFetch,
        no group join), as Connect reads them."""
        conn = self._get(name)
        admin = KafkaAdmin(self.conf)
        existing = admin.list_topics(include_internal=True)
        regex = str(conn.parsed.get("topics.regex") or "")
        if regex:
            pattern = re.compile(regex)
            topics = [t for t in existing if pattern.fullmatch(t)]
        else:
            wanted = [t for t in conn.parsed.get("topics") or [] if t]
            topics = [t for t in wanted if t in existing]
        partitions = [(t, p) for t in topics for p in range(admin.describe_topic(t).partitions)]
        if not partitions:
            return {}
        found = committed_offsets(self.conf, sink_group_id(name), partitions)
        return {tp: o for tp, o in found.items() if o is not None}

    def _write_connector_status(self, conn: _Connector) -> None:
        value: dict[str, Any] = {"state": conn.state.value, "trace": conn.trace,
                                 "worker_id": self.config.worker_id, "generation": 1}  # fmt: skip
        self._put_status(f"status-connector-{conn.name}", value)

    def _write_task_status(self, runner: TaskRunner) -> None:
        value = {"state": runner.state.value, "trace": runner.trace,
                 "worker_id": self.config.worker_id, "generation": 1}  # fmt: skip
        self._put_status(f"status-task-{runner.env.connector}-{runner.env.task_id}", value)

    def _put_status(self, key: str, value: dict[str, Any]) -> None:
        try:
            self.storage.put_status(key, value)
        except Exception as exc:  # informational: never fail an operation over it
            logger.warning("writing status %s failed: %s", key, exc)

    def _save_disk(self) -> None:
        with self._lock:
            stored = {n: StoredConnector(dict(c.config), c.target)
                      for n, c in self._connectors.items()}  # fmt: skip
        self.storage.save_disk(stored)

    def _background(self, action: Callable[[], None]) -> None:
        def run() -> None:
            try:
                action()
            except Exception:
                logger.exception("background connector operation failed")

        thread = threading.Thread(target=run, name="connect-herder-op", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()


def _as_string(value: Any) -> str:
    """A config value as Connect's ``Map<String,String>`` holds it (JSON scalars are
    stringified as Jackson does; arrays and objects are rejected)."""
    if isinstance(value, dict | list):
        raise BadRequestError(
            f"Connector config values must be strings, found a JSON {type(value).__name__}: "
            f"{str(value)[:80]} (write it as a JSON string, e.g. a pipeline as '[...]')"
        )
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _same_plugin(given: str, info: PluginInfo) -> bool:
    return given == info.class_name or given in info.aliases


def _base_def(info: PluginInfo) -> ConfigDef:
    return COMMON_CONFIG.merge(SINK_CONFIG if info.type == "sink" else SOURCE_CONFIG)
