"""Tiny connectors for the worker tests, loaded by the worker process with
``--plugin-path tests/connectors/counter_plugins.py``.

- ``test.CounterSource``: emits ``{"n": i}`` (key ``"i"``) for i = 1..``count`` into ``topic``,
  ``batch`` per poll, with source partition ``{"counter": <name>}`` and offset ``{"n": i}``;
  on start it continues after the stored offset. ``fail.at=N`` raises when about to emit N
  (once per task instance unless ``fail.always=true``; with ``fail.once.file`` only while that
  file does not exist - it is created when failing). ``delay.ms`` sleeps before each poll.
  ``poison.at=N``: the value at N holds an object no converter can encode (a DataError at the
  VALUE_CONVERTER stage).
- ``test.FileSink``: appends one JSON line per record to ``file``:
  ``{"topic", "partition", "offset", "key", "value", "batch"}`` (batch: the size of its put);
  ``retriable.puts=N`` makes the first N put() calls raise RetriableError; a value
  ``{"poison": true}`` is reported to the worker's errant record reporter;
  ``fail.on.value=X`` raises a plain error when a value equals X.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path

from telemetry_lib.connectors.api import (
    ConfigDef,
    NonEmptyString,
    Range,
    SinkConnector,
    SinkRecord,
    SinkTask,
    SourceConnector,
    SourceRecord,
    SourceTask,
    register_plugin,
)
from telemetry_lib.connectors.errors import DataError, RetriableError

COUNTER_CONFIG = (
    ConfigDef()
    .define("topic", "STRING", validator=NonEmptyString(), importance="HIGH",
            documentation="Topic to write to", group="Counter")
    .define("count", "LONG", default=100, validator=Range(at_least=0), group="Counter")
    .define("batch", "INT", default=10, validator=Range(at_least=1), group="Counter")
    .define("fail.at", "LONG", default=-1, group="Counter")
    .define("fail.always", "BOOLEAN", default=False, group="Counter")
    .define("poison.at", "LONG", default=-1, group="Counter")
    .define("fail.once.file", "STRING", default="", group="Counter")
    .define("delay.ms", "INT", default=0, group="Counter")
)  # fmt: skip


class CounterTask(SourceTask):
    def start(self, props: Mapping[str, str]) -> None:
        self.config = COUNTER_CONFIG.parse(props)
        self.partition = {"counter": props["name"]}
        stored = self.context.offset_reader.offset(self.partition)
        self.next = int(stored["n"]) + 1 if stored else 1
        self.failed_once = False

    def poll(self) -> list[SourceRecord]:
        cfg = self.config
        if cfg["delay.ms"]:
            time.sleep(cfg["delay.ms"] / 1000)
        last = min(int(cfg["count"]), self.next + int(cfg["batch"]) - 1)
        records = []
        for n in range(self.next, last + 1):
            if n == cfg["fail.at"] and (cfg["fail.always"] or not self.failed_once):
                marker = Path(cfg["fail.once.file"]) if cfg["fail.once.file"] else None
                if marker is None or not marker.exists():
                    self.failed_once = True
                    if marker is not None:
                        marker.touch()
                    raise RuntimeError(f"counter asked to fail at {n}")
            value: object = {"n": n} if n != cfg["poison.at"] else {"n": object()}
            records.append(SourceRecord(cfg["topic"], value, key=str(n),
                                        source_partition=self.partition, source_offset={"n": n}))  # fmt: skip
        self.next = last + 1
        return records

    def stop(self) -> None:
        pass


@register_plugin("test.CounterSource")
class CounterSource(SourceConnector):
    VERSION = "1.0-test"

    def config_def(self) -> ConfigDef:
        return COUNTER_CONFIG

    def start(self, props: Mapping[str, str]) -> None:
        self.props = dict(props)

    def task_class(self) -> type[SourceTask]:
        return CounterTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self.props)]


SINK_CONFIG = (
    ConfigDef()
    .define("file", "STRING", validator=NonEmptyString(), importance="HIGH", group="File")
    .define("retriable.puts", "INT", default=0, group="File")
    .define("fail.on.value", "STRING", default="", group="File")
)  # fmt: skip


class FileTask(SinkTask):
    def start(self, props: Mapping[str, str]) -> None:
        self.config = SINK_CONFIG.parse(props)
        self.path = Path(self.config["file"])
        self.retries_left = int(self.config["retriable.puts"])
        self.buffer: list[str] = []

    def put(self, records: list[SinkRecord]) -> None:
        if self.retries_left > 0:
            self.retries_left -= 1
            raise RetriableError("the file system is having a bad day (test)")
        for r in records:
            if isinstance(r.value, dict) and r.value.get("poison"):
                self.context.report(r, DataError(f"poison record at offset {r.offset}"))
                continue
            if self.config["fail.on.value"] and json.dumps(r.value) == self.config["fail.on.value"]:
                raise ValueError(f"cannot write value {r.value!r}")
            self.buffer.append(json.dumps({"topic": r.topic, "partition": r.partition,
                                           "offset": r.offset, "key": r.key, "value": r.value,
                                           "batch": len(records)}))  # fmt: skip

    def flush(self, offsets: Mapping[tuple[str, int], int]) -> None:
        if self.buffer:
            with self.path.open("a") as out:
                out.write("\n".join(self.buffer) + "\n")
            self.buffer.clear()

    def stop(self) -> None:
        pass


@register_plugin("test.FileSink")
class FileSink(SinkConnector):
    VERSION = "1.0-test"

    def config_def(self) -> ConfigDef:
        return SINK_CONFIG

    def start(self, props: Mapping[str, str]) -> None:
        self.props = dict(props)

    def task_class(self) -> type[SinkTask]:
        return FileTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self.props) for _ in range(max_tasks)]
