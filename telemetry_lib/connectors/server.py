"""The Kafka Connect worker process (composition root): storage + herder + REST API.

``python -m telemetry_lib.connectors.server --port 8083 --bootstrap 127.0.0.1:9092
[--workdir DIR | --state-dir DIR] [--plugin-path MODULE_OR_FILE ...] [--worker-property k=v ...]``

1. plugins: the built-in ones (converters, MongoDB) plus each ``--plugin-path`` (a module name
   or a ``.py`` file registering connectors with ``@register_plugin``);
2. :class:`~telemetry_lib.connectors.storage.ConnectStorage` on the three Connect topics, with
   the local copy in ``<workdir>/connect/`` (or ``--state-dir``) when given;
3. the :class:`~telemetry_lib.connectors.herder.Herder` starts every stored connector;
4. the REST API on 127.0.0.1:``--port`` until SIGTERM/SIGINT; then tasks commit and stop.

Worker properties understood (``--worker-property``, Connect's names): ``config.storage.topic``,
``offset.storage.topic``, ``status.storage.topic``, ``offset.storage.partitions``,
``status.storage.partitions``, ``key.converter``, ``value.converter`` and their prefixed
properties (``value.converter.schemas.enable=false``), ``offset.flush.interval.ms``; other
``k=v`` pairs are passed to the Kafka clients (e.g. SASL settings for a remote cluster).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from telemetry_lib.connectors.api import load_plugins
from telemetry_lib.connectors.converters import JSON_CONVERTER
from telemetry_lib.connectors.herder import Herder, WorkerConfig
from telemetry_lib.connectors.rest import create_app, serve_forever
from telemetry_lib.connectors.storage import (
    DEFAULT_CONFIG_TOPIC,
    DEFAULT_OFFSET_TOPIC,
    DEFAULT_STATUS_TOPIC,
    OFFSET_PARTITIONS,
    STATUS_PARTITIONS,
    ConnectStorage,
)
from telemetry_lib.kafka import KafkaAdmin, KafkaError

__all__ = ["ConnectWorker", "main", "parse_worker_properties"]

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8083
_WORKER_KEYS = {
    "config.storage.topic", "offset.storage.topic", "status.storage.topic",
    "offset.storage.partitions", "status.storage.partitions", "key.converter",
    "value.converter", "offset.flush.interval.ms", "group.id",
    "config.storage.replication.factor", "offset.storage.replication.factor",
    "status.storage.replication.factor", "plugin.path", "rest.port", "listeners",
}  # fmt: skip


class ConnectWorker:
    """Storage + herder for one worker; :meth:`app` is the REST application."""

    def __init__(
        self,
        bootstrap: str,
        *,
        port: int = DEFAULT_PORT,
        state_dir: Path | None = None,
        properties: Mapping[str, str] | None = None,
    ) -> None:
        props = dict(properties or {})
        client = {k: v for k, v in props.items()
                  if k not in _WORKER_KEYS and not k.startswith(("key.converter.", "value.converter."))}  # fmt: skip
        self.conf: dict[str, Any] = {"bootstrap.servers": bootstrap, **client}
        self.storage = ConnectStorage(
            self.conf,
            config_topic=props.get("config.storage.topic", DEFAULT_CONFIG_TOPIC),
            offset_topic=props.get("offset.storage.topic", DEFAULT_OFFSET_TOPIC),
            status_topic=props.get("status.storage.topic", DEFAULT_STATUS_TOPIC),
            offset_partitions=int(props.get("offset.storage.partitions", OFFSET_PARTITIONS)),
            status_partitions=int(props.get("status.storage.partitions", STATUS_PARTITIONS)),
            state_dir=state_dir,
        )
        converter_properties = {k: v for k, v in props.items()
                                if k.startswith(("key.converter.", "value.converter."))}  # fmt: skip
        self.herder = Herder(
            self.conf,
            self.storage,
            WorkerConfig(
                worker_id=f"127.0.0.1:{port}",
                key_converter=props.get("key.converter", JSON_CONVERTER),
                value_converter=props.get("value.converter", JSON_CONVERTER),
                converter_properties=converter_properties,
                offset_flush_interval_ms=int(props.get("offset.flush.interval.ms", 1000)),
            ),
        )
        self.cluster_id: str | None = None

    def start(self) -> None:
        try:
            self.cluster_id = KafkaAdmin(self.conf).cluster_id()
        except KafkaError as exc:
            logger.warning("could not read the Kafka cluster id: %s", exc)
        self.herder.start()

    def app(self) -> Any:
        return create_app(self.herder, cluster_id=self.cluster_id)

    def close(self) -> None:
        self.herder.close()


def parse_worker_properties(pairs: Sequence[str]) -> dict[str, str]:
    """``k=v`` strings to a dict (ConfigError-like SystemExit on a malformed one)."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"--worker-property expects key=value, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m telemetry_lib.connectors.server")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="workbench dir: connector configs are also kept in <workdir>/connect/",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="exact directory for the local copy (overrides --workdir)",
    )
    parser.add_argument(
        "--plugin-path",
        action="append",
        default=[],
        help="extra plugin module name or .py file (repeatable)",
    )
    parser.add_argument("--worker-property", action="append", default=[],
                        help="worker property key=value (repeatable)")  # fmt: skip
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    load_plugins(args.plugin_path)
    state_dir = args.state_dir or (args.workdir / "connect" if args.workdir else None)
    worker = ConnectWorker(args.bootstrap, port=args.port, state_dir=state_dir,
                           properties=parse_worker_properties(args.worker_property))  # fmt: skip
    try:
        worker.start()
        serve_forever(worker.app(), port=args.port)
    finally:
        worker.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
