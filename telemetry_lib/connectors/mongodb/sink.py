"""``com.mongodb.kafka.connect.MongoSinkConnector``: Kafka records -> MongoDB bulk writes.
Properties: ``sink_config``; id strategies and write models: ``sink_models``; ksqlDB keys:
``windowed_keys``.

What ``put`` does with a batch (numbered as in the code):

1. Each record becomes one write (``sink_models.build_write_op``). A record that cannot become
   one (a value that is not a document, a missing id, an undecodable ksqlDB key) is reported to
   the worker (``context.report``): with ``errors.tolerance=all`` it goes to the dead letter
   queue with Connect's error headers, otherwise the task fails.
2. The writes go to their collection (``collection``, default the topic name) as ONE
   ``bulk_write`` per ``max.batch.size`` records (all of them when 0), in record order.
3. An operation MongoDB rejects (e.g. a duplicate ``_id`` of InsertOne) is reported like (1);
   the rest of the batch is still written.
4. MongoDB unreachable: the same batch is tried again up to ``max.num.retries`` times,
   ``retries.defer.timeout`` ms apart; then ``put`` raises RetriableError and the worker
   delivers the same records again after its backoff — forever, so nothing is lost. The
   writes are idempotent (see ``sink_models``), so a batch written twice leaves no duplicate.

Writes are synchronous: when ``put`` returns the records are in MongoDB, so the worker may
commit their offsets right after (``flush`` has nothing left to do).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping
from typing import Any

from telemetry_lib.connectors.api import (
    ConfigDef,
    ConfigValue,
    ConnectorConfigError,
    DataError,
    RetriableError,
    SinkConnector,
    SinkRecord,
    SinkTask,
    register_plugin,
)
from telemetry_lib.connectors.mongodb.sink_config import (
    SINK_CONFIG,
    SinkSettings,
    parse_sink_settings,
)
from telemetry_lib.connectors.mongodb.sink_models import build_write_op
from telemetry_lib.errors import MongoError
from telemetry_lib.mongo import WriteOp, bulk_write_ops, get_collection, mongo_client

__all__ = ["SINK_CLASS", "MongoSinkConnector", "MongoSinkTask"]

logger = logging.getLogger(__name__)

SINK_CLASS = "com.mongodb.kafka.connect.MongoSinkConnector"
#: The version of the official connector whose behaviour this follows.
VERSION = "1.13.0"


@register_plugin(SINK_CLASS, version=VERSION)
class MongoSinkConnector(SinkConnector):
    """The MongoDB sink connector (``tasks.max`` tasks share the topics' partitions)."""

    VERSION = VERSION

    def __init__(self) -> None:
        super().__init__()
        self._props: dict[str, str] = {}

    def config_def(self) -> ConfigDef:
        return SINK_CONFIG

    def validate(self, props: Mapping[str, str]) -> list[ConfigValue]:
        results = SINK_CONFIG.validate(props)
        if any(r.errors for r in results):
            return results
        try:  # cross-property rules (ksql.* keys, business-key write models)
            parse_sink_settings(props)
        except ConnectorConfigError as exc:
            results = [
                ConfigValue(r.name, r.value, (exc.message,), r.recommended_values)
                if r.name == exc.name else r
                for r in results
            ]  # fmt: skip
        return results

    def start(self, props: Mapping[str, str]) -> None:
        parse_sink_settings(props)
        self._props = dict(props)

    def task_class(self) -> type[SinkTask]:
        return MongoSinkTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self._props) for _ in range(max(1, max_tasks))]


class MongoSinkTask(SinkTask):
    """Writes records as bulk writes (see the module docstring)."""

    VERSION = VERSION

    def __init__(self) -> None:
        super().__init__()
        self._settings: SinkSettings | None = None
        self._client: Any = None
        self._collections: dict[str, Any] = {}

    @property
    def settings(self) -> SinkSettings:
        if self._settings is None:
            raise RuntimeError("MongoSinkTask used before start()")
        return self._settings

    def start(self, props: Mapping[str, str]) -> None:
        self._settings = parse_sink_settings(props)
        self._client = mongo_client(self._settings.uri)

    def put(self, records: list[SinkRecord]) -> None:
        settings = self.settings
        now = dt.datetime.now(dt.UTC)
        # 1. one write per record; records that cannot be written are reported
        by_collection: dict[str, list[tuple[SinkRecord, WriteOp]]] = {}
        for record in records:
            try:
                op = build_write_op(record, settings, now=now)
            except DataError as exc:
                self.context.report(record, exc)
                continue
            if op is not None:
                name = settings.collection or record.topic
                by_collection.setdefault(name, []).append((record, op))
        # 2. one bulk write per max.batch.size records
        for name, writes in by_collection.items():
            size = settings.max_batch or len(writes)
            for start in range(0, len(writes), size):
                self._write(name, writes[start : start + size])

    def _write(self, name: str, writes: list[tuple[SinkRecord, WriteOp]]) -> None:
        settings = self.settings
        collection = self._collection(name)
        attempt = 0
        while True:
            try:
                outcome = bulk_write_ops(collection, [op for _, op in writes],
                                         ordered=settings.ordered)  # fmt: skip
                break
            except MongoError as exc:
                if not exc.retryable:
                    # a command error no retry can fix: find the record(s) it comes from
                    self._isolate(name, writes, exc)
                    return
                # 4. retry here a few times, then hand the batch back to the worker
                if attempt < settings.max_retries:
                    attempt += 1
                    logger.warning("%s: bulk write to %s failed (%s); retry %d of %d in %d ms",
                                   self._name, name, exc.message, attempt, settings.max_retries,
                                   settings.retry_delay_ms)  # fmt: skip
                    time.sleep(settings.retry_delay_ms / 1000)
                    continue
                raise RetriableError(
                    f"MongoDB sink {self._name}: writing {len(writes)} records to "
                    f"{settings.database}.{name} failed: {exc.message}"
                ) from exc
        # 3. operations MongoDB rejected go to the worker's error handling
        for error in outcome.errors:
            record = writes[error.index][0]
            self.context.report(record, DataError(
                f"MongoDB rejected the write of {record.topic}-{record.partition}@"
                f"{record.offset} to {settings.database}.{name}: {error.message} "
                f"(code {error.code})"
            ))  # fmt: skip

    def _isolate(
        self, name: str, writes: list[tuple[SinkRecord, WriteOp]], exc: MongoError
    ) -> None:
        if len(writes) == 1:
            record = writes[0][0]
            self.context.report(record, DataError(
                f"MongoDB rejected the write of {record.topic}-{record.partition}@"
                f"{record.offset}: {exc.message}"))  # fmt: skip
            return
        for write in writes:
            self._write(name, [write])

    def _collection(self, name: str) -> Any:
        if name not in self._collections:
            self._collections[name] = get_collection(self._client, name,
                                                     database=self.settings.database)  # fmt: skip
        return self._collections[name]

    @property
    def _name(self) -> str:
        try:
            return self.context.connector_name
        except RuntimeError:
            return "mongo-sink"

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        self._collections.clear()
