"""Where the worker keeps connector configs, source offsets and statuses: Kafka topics laid out
as Kafka Connect's distributed mode writes them, plus (embedded profile) a local-disk copy.

Topics (created explicitly at start; names are the worker's ``config.storage.topic``,
``offset.storage.topic``, ``status.storage.topic``; compacted on real Kafka):

- ``connect-configs`` (1 partition): ``connector-<name>`` -> ``{"properties": {...}}``,
  ``task-<name>-<id>`` -> ``{"properties": {...}}``, ``commit-<name>`` -> ``{"tasks": n}``,
  ``target-state-<name>`` -> ``{"state": "STARTED"|"PAUSED"|"STOPPED"}``; a deleted connector
  gets tombstones for ``connector-<name>`` and ``target-state-<name>``.
- ``connect-offsets`` (25 partitions): key ``["<name>", {source partition}]``, value the source
  offset (JSON, schemas off); a null value removes the offset. Partitioned by the key's murmur2
  hash, as the Java producer does.
- ``connect-status`` (5 partitions): ``status-connector-<name>`` / ``status-task-<name>-<id>``
  -> ``{"state": ..., "trace": ..., "worker_id": ..., "generation": n}``.

Local copy (``state_dir/connectors.json``, written atomically after every config change): the
connector configs and target states only. At start :meth:`ConnectStorage.load` reads the config
topic; if it is empty while the disk copy lists connectors, the broker is a fresh one (the
embedded Tansu broker forgets everything when it restarts): the connectors are restored from
disk and written back to the topic, and — because the old offsets died with the old broker —
every source connector starts from no offset (the MongoDB source re-copies its collection into
the new, empty topic; sink consumer groups start from the earliest offset). When the topic has
configs it wins and the disk copy is rewritten from it.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import msgspec

from telemetry_lib.kafka import JsonProducer, KafkaAdmin, read_records
from telemetry_lib.kafka.config import ConfLike

__all__ = [
    "DEFAULT_CONFIG_TOPIC",
    "DEFAULT_OFFSET_TOPIC",
    "DEFAULT_STATUS_TOPIC",
    "ConnectStorage",
    "LoadedState",
    "StoredConnector",
    "TargetState",
    "canonical_partition",
    "offset_key",
]

logger = logging.getLogger(__name__)

TargetState = Literal["STARTED", "PAUSED", "STOPPED"]

DEFAULT_CONFIG_TOPIC = "connect-configs"
DEFAULT_OFFSET_TOPIC = "connect-offsets"
DEFAULT_STATUS_TOPIC = "connect-status"
# Connect's defaults: config.storage has exactly one partition (a total order of config
# changes); offset.storage.partitions=25; status.storage.partitions=5.
CONFIG_PARTITIONS = 1
OFFSET_PARTITIONS = 25
STATUS_PARTITIONS = 5
# Compaction keeps the latest value per key on real Kafka (Tansu never compacts; harmless).
_COMPACT = {"cleanup.policy": "compact"}
# Idempotent, fully acknowledged writes: a config or offset the worker acted on is durable.
_PRODUCER_EXTRA: dict[str, object] = {"enable.idempotence": True, "acks": "all", "linger.ms": 0}
_DISK_FILE = "connectors.json"
_DISK_VERSION = 1

_encoder = msgspec.json.Encoder()


@dataclass
class StoredConnector:
    """One connector as stored: its config, target state and task configs."""

    config: dict[str, str]
    target_state: TargetState = "STARTED"
    task_configs: list[dict[str, str]] = field(default_factory=list)


@dataclass
class LoadedState:
    """What :meth:`ConnectStorage.load` found."""

    connectors: dict[str, StoredConnector]
    offsets: dict[str, dict[str, dict[str, Any]]]  # connector -> canonical partition -> offset
    fresh_broker: bool = False  # connectors came from disk; offsets were reset


def offset_key(connector: str, partition: Mapping[str, Any]) -> bytes:
    """The offsets topic key Connect writes: ``["<name>",{partition}]``."""
    return _encoder.encode([connector, dict(partition)])


def canonical_partition(partition: Mapping[str, Any]) -> str:
    """A stable dict key for a source partition (JSON with sorted keys)."""
    return json.dumps(partition, sort_keys=True, separators=(",", ":"))


class ConnectStorage:
    """The three Connect topics and the disk copy (see the module docstring)."""

    def __init__(
        self,
        conf: ConfLike,
        *,
        config_topic: str = DEFAULT_CONFIG_TOPIC,
        offset_topic: str = DEFAULT_OFFSET_TOPIC,
        status_topic: str = DEFAULT_STATUS_TOPIC,
        state_dir: Path | None = None,
        offset_partitions: int = OFFSET_PARTITIONS,
        status_partitions: int = STATUS_PARTITIONS,
    ) -> None:
        self.conf = conf
        self.config_topic = config_topic
        self.offset_topic = offset_topic
        self.status_topic = status_topic
        self.state_dir = state_dir
        self._partitions = {config_topic: CONFIG_PARTITIONS, offset_topic: offset_partitions,
                            status_topic: status_partitions}  # fmt: skip
        self._producer = JsonProducer(conf, extra=_PRODUCER_EXTRA)
        self._lock = threading.Lock()  # one writer at a time: flush() reports this write's errors

    # ------------------------------------------------------------------ start
    def ensure_topics(self) -> None:
        """Create the three topics when missing (never rely on auto-creation)."""
        admin = KafkaAdmin(self.conf)
        for topic, partitions in self._partitions.items():
            admin.create_topic(topic, partitions, config=_COMPACT)

    def load(self) -> LoadedState:
        """Configs and offsets from the topics, or the disk copy after a fresh broker."""
        connectors = self._read_configs()
        disk = self._read_disk()
        if not connectors and disk:
            logger.warning(
                "config topic %s is empty but %s lists %d connector(s): fresh broker - restoring "
                "them from disk with reset source offsets (sources re-copy their data)",
                self.config_topic, self._disk_path(), len(disk),
            )  # fmt: skip
            for name, stored in disk.items():
                self.put_connector_config(name, stored.config)
                self.put_target_state(name, stored.target_state)
            return LoadedState(disk, {}, fresh_broker=True)
        self._write_disk(connectors)
        return LoadedState(connectors, self._read_offsets())

    # ------------------------------------------------------------------ configs
    def put_connector_config(self, name: str, config: Mapping[str, str]) -> None:
        self._write(self.config_topic, f"connector-{name}", {"properties": dict(config)})

    def put_target_state(self, name: str, state: TargetState) -> None:
        self._write(self.config_topic, f"target-state-{name}", {"state": state})

    def put_task_configs(self, name: str, tasks: Sequence[Mapping[str, str]]) -> None:
        keys: list[bytes | None] = [f"task-{name}-{i}".encode() for i in range(len(tasks))]
        values: list[bytes | None] = [_encoder.encode({"properties": dict(t)}) for t in tasks]
        keys.append(f"commit-{name}".encode())
        values.append(_encoder.encode({"tasks": len(tasks)}))
        with self._lock:
            self._producer.produce_values(self.config_topic, values, keys=keys, flush=True)

    def remove_connector(self, name: str) -> None:
        keys: list[bytes | None] = [f"connector-{name}".encode(), f"target-state-{name}".encode()]
        with self._lock:
            self._producer.produce_values(self.config_topic, [None, None], keys=keys, flush=True)

    def save_disk(self, connectors: Mapping[str, StoredConnector]) -> None:
        """Rewrite the disk copy (no-op without a state_dir)."""
        self._write_disk(connectors)

    # ------------------------------------------------------------------ offsets and status
    def put_offsets(self, name: str, offsets: Sequence[tuple[Mapping[str, Any], Any]]) -> None:
        """Write (partition, offset) pairs; an offset of None is a tombstone. Synchronous."""
        if not offsets:
            return
        keys: list[bytes | None] = [offset_key(name, p) for p, _ in offsets]
        values = [None if o is None else _encoder.encode(o) for _, o in offsets]
        with self._lock:
            self._producer.produce_values(self.offset_topic, values, keys=keys, flush=True)

    def put_status(self, key: str, value: Mapping[str, Any] | None) -> None:
        with self._lock:
            payload = None if value is None else _encoder.encode(dict(value))
            self._producer.produce_values(self.status_topic, [payload], keys=[key.encode()],
                                          flush=True)  # fmt: skip

    def close(self) -> None:
        try:
            self._producer.flush()
        except Exception as exc:  # the broker may be gone at shutdown; nothing left to do
            logger.warning("flushing the Connect storage producer at close failed: %s", exc)

    # ------------------------------------------------------------------ private
    def _read_configs(self) -> dict[str, StoredConnector]:
        frame = read_records(self.conf, self.config_topic, isolation_level="read_uncommitted")
        configs: dict[str, dict[str, str]] = {}
        states: dict[str, TargetState] = {}
        tasks: dict[str, dict[int, dict[str, str]]] = {}
        counts: dict[str, int] = {}
        for key_bytes, value_bytes in zip(frame["key"].to_list(), frame["value"].to_list(),
                                          strict=True):  # fmt: skip
            key = (key_bytes or b"").decode()
            value = json.loads(value_bytes) if value_bytes is not None else None
            if key.startswith("connector-"):
                name = key[len("connector-") :]
                if value is None:
                    configs.pop(name, None)
                    tasks.pop(name, None)
                    counts.pop(name, None)
                else:
                    configs[name] = {str(k): str(v) for k, v in value["properties"].items()}
            elif key.startswith("target-state-"):
                name = key[len("target-state-") :]
                if value is None:
                    states.pop(name, None)
                else:
                    states[name] = value["state"]
            elif key.startswith("task-") and value is not None:
                name, _, index = key[len("task-") :].rpartition("-")
                tasks.setdefault(name, {})[int(index)] = dict(value["properties"])
            elif key.startswith("commit-") and value is not None:
                counts[key[len("commit-") :]] = int(value["tasks"])
        out = {}
        for name, config in configs.items():
            n = counts.get(name, 0)
            got = tasks.get(name, {})
            task_list = [got[i] for i in range(n)] if all(i in got for i in range(n)) else []
            out[name] = StoredConnector(config, states.get(name, "STARTED"), task_list)
        return out

    def _read_offsets(self) -> dict[str, dict[str, dict[str, Any]]]:
        frame = read_records(self.conf, self.offset_topic, isolation_level="read_uncommitted")
        offsets: dict[str, dict[str, dict[str, Any]]] = {}
        for key_bytes, value_bytes in zip(frame["key"].to_list(), frame["value"].to_list(),
                                          strict=True):  # fmt: skip
            try:
                name, partition = json.loads(key_bytes or b"null")
            except (TypeError, ValueError):
                logger.warning("ignoring offsets record with key %r", key_bytes)
                continue
            per = offsets.setdefault(str(name), {})
            if value_bytes is None:
                per.pop(canonical_partition(partition), None)
            else:
                per[canonical_partition(partition)] = json.loads(value_bytes)
        return offsets

    def _write(self, topic: str, key: str, value: Mapping[str, Any]) -> None:
        with self._lock:
            self._producer.produce_values(topic, [_encoder.encode(dict(value))],
                                          keys=[key.encode()], flush=True)  # fmt: skip

    def _disk_path(self) -> Path | None:
        return None if self.state_dir is None else self.state_dir / _DISK_FILE

    def _read_disk(self) -> dict[str, StoredConnector]:
        path = self._disk_path()
        if path is None or not path.is_file():
            return {}
        try:
            data = json.loads(path.read_text())
            return {
                name: StoredConnector(dict(entry["config"]), entry.get("target_state", "STARTED"))
                for name, entry in data.get("connectors", {}).items()
            }
        except (ValueError, KeyError, TypeError) as exc:
            logger.warning("ignoring unreadable %s: %s", path, exc)
            return {}

    def _write_disk(self, connectors: Mapping[str, StoredConnector]) -> None:
        path = self._disk_path()
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "version": _DISK_VERSION,
            "connectors": {
                name: {"config": c.config, "target_state": c.target_state}
                for name, c in sorted(connectors.items())
            },
        }
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
        tmp.chmod(0o600)  # configs may hold credentials (connection.uri), as the topic does
        os.replace(tmp, path)
