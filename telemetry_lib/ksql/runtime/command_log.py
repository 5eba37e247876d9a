"""Catalog persistence: the command topic and the local-disk command log.

Owns: :class:`Command` (one catalog-changing statement with the properties in force when it
ran, and the topics the catalog used then) and :class:`CommandLog`.

Like ksqlDB, every statement that changes the catalog (CREATE / DROP of streams, tables and
types, C*AS, INSERT INTO, TERMINATE, PAUSE, RESUME, ALTER) is appended to the command topic
``_confluent-ksql-<service id>_command_topic`` (reference §4.8; one partition); a restarted
server replays it in order and so recreates the same sources and the same query ids. Session
statements (SET / UNSET / DEFINE) are folded into the recorded properties; reads (SELECT, SHOW,
DESCRIBE, ...) and INSERT ... VALUES (data, not catalog) are not recorded. The server appends
each statement right after it executed (:func:`is_recorded` picks them), so a request failing
part-way keeps the statements that ran before the failure, in order, as ksqlDB does.

The embedded broker forgets everything when it restarts, so the log is also appended to
``<state dir>/commands.jsonl``. :meth:`CommandLog.load` prefers the command topic and falls
back to the disk copy when the topic is empty (a fresh broker); each command also carries the
topics (name, partitions) the catalog used, so a replay can re-create them first.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from telemetry_lib.kafka import JsonProducer, read_records
from telemetry_lib.ksql.parser import ast
from telemetry_lib.ksql.runtime.io import TopicSpec
from telemetry_lib.ksql.runtime.kafka_io import KafkaTopicIO

__all__ = ["Command", "CommandLog", "command_topic", "is_recorded"]

logger = logging.getLogger(__name__)

#: The local copy of the command log inside the server's state directory.
COMMAND_FILE = "commands.jsonl"

_RECORDED: tuple[type[ast.Statement], ...] = (
    ast.CreateSource,
    ast.CreateAsSelect,
    ast.InsertInto,
    ast.DropSource,
    ast.TerminateQuery,
    ast.PauseQuery,
    ast.ResumeQuery,
    ast.RegisterType,
    ast.DropType,
    ast.AlterSource,
)


def is_recorded(statement: ast.Statement) -> bool:
    """Whether ``statement`` changes the catalog, and so belongs in the command log."""
    return isinstance(statement, _RECORDED)


def command_topic(service_id: str) -> str:
    return f"_confluent-ksql-{service_id}_command_topic"


@dataclass(frozen=True)
class Command:
    """One recorded statement."""

    statement: str
    properties: Mapping[str, object] = field(default_factory=dict)
    topics: Mapping[str, int] = field(default_factory=dict)

    def to_json(self) -> bytes:
        body = {"statement": self.statement, "streamsProperties": dict(self.properties),
                "topics": dict(self.topics)}  # fmt: skip
        return json.dumps(body, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> Command:
        body = json.loads(raw)
        return cls(body["statement"], body.get("streamsProperties", {}), body.get("topics", {}))


class CommandLog:
    """Append-only log of catalog commands in the command topic (+ a local copy)."""

    def __init__(self, io: KafkaTopicIO, *, service_id: str, state_dir: Path | None) -> None:
        self.io = io
        self.topic = command_topic(service_id)
        self.path = state_dir / COMMAND_FILE if state_dir is not None else None
        self._lock = threading.Lock()
        self._producer: JsonProducer | None = None

    def load(self) -> list[Command]:
        """The commands to replay: the command topic's, else the local copy's."""
        self.io.create_topic(TopicSpec(self.topic, 1))
        records = read_records(self.io.conf, self.topic)
        from_topic = [Command.from_json(v) for v in records["value"].to_list() if v is not None]
        if from_topic:
            return from_topic
        from_disk = self._read_disk()
        if from_disk:
            logger.info("command topic is empty: replaying %d commands from %s",
                        len(from_disk), self.path)  # fmt: skip
            self._publish(from_disk)
        return from_disk

    def append(self, commands: list[Command]) -> None:
        """Record ``commands`` (topic first, then the local copy)."""
        if not commands:
            return
        with self._lock:
            self._publish(commands)
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("ab") as fh:
                    for command in commands:
                        fh.write(command.to_json() + b"\n")

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.flush()
                self._producer = None

    def _publish(self, commands: list[Command]) -> None:
        if self._producer is None:
            self._producer = JsonProducer(self.io.conf)
        self._producer.produce_values(
            self.topic, [c.to_json() for c in commands], partitions=[0] * len(commands)
        )

    def _read_disk(self) -> list[Command]:
        if self.path is None or not self.path.exists():
            return []
        commands = []
        for line in self.path.read_bytes().splitlines():
            if line.strip():
                try:
                    commands.append(Command.from_json(line))
                except (ValueError, KeyError) as exc:  # a torn last line after a crash
                    logger.warning("skipping unreadable command log line: %s", exc)
        return commands
