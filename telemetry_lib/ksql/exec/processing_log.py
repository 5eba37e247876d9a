"""The processing log: where bad records go instead of failing their batch (reference §4.9).

Owns: :class:`ProcessingLog`, which writes ksqlDB-shaped JSON records
``{"level":"ERROR","logger":"processing.<QUERY_ID>.<step>","time":ms,"message":{type, ...}}``
to the processing-log topic through :class:`~telemetry_lib.ksql.runtime.io.TopicIO`, and counts
entries per query (DESCRIBE EXTENDED / SHOW QUERIES show the counts).

Message types (ksqlDB's ProcessingLogMessageSchema): 0 DESERIALIZATION_ERROR, 1
RECORD_PROCESSING_ERROR, 2 PRODUCTION_ERROR, 3 SERIALIZATION_ERROR, 4 KAFKA_STREAMS_THREAD_ERROR.
Only the struct matching ``type`` is non-null. The raw record (``recordB64`` / ``record``) is
included only when ``ksql.logging.processing.rows.include`` is true, as in ksqlDB.

Error rows are rare, so building their JSON in Python is fine; the good rows never pass through here.
"""

from __future__ import annotations

import base64
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

import msgspec
import polars as pl

from telemetry_lib.ksql.runtime.io import RECORD_SCHEMA, TopicIO, TopicSpec
from telemetry_lib.ksql.serde.constant import constant

__all__ = [
    "DESERIALIZATION_ERROR",
    "rows_as_json",
    "KAFKA_STREAMS_THREAD_ERROR",
    "PRODUCTION_ERROR",
    "RECORD_PROCESSING_ERROR",
    "SERIALIZATION_ERROR",
    "ProcessingLog",
    "processing_log_topic",
]

logger = logging.getLogger(__name__)

#: One encoder for every entry: msgspec is ~5x faster than json.dumps per small record.
_JSON = msgspec.json.Encoder()

DESERIALIZATION_ERROR = 0
RECORD_PROCESSING_ERROR = 1
PRODUCTION_ERROR = 2
SERIALIZATION_ERROR = 3
KAFKA_STREAMS_THREAD_ERROR = 4

_STRUCT_BY_TYPE = {
    DESERIALIZATION_ERROR: "deserializationError",
    RECORD_PROCESSING_ERROR: "recordProcessingError",
    PRODUCTION_ERROR: "productionError",
    SERIALIZATION_ERROR: "serializationError",
    KAFKA_STREAMS_THREAD_ERROR: "kafkaStreamsThreadError",
}

# ksqlDB's defaults (ProcessingLogConfig): the topic has one partition, replication factor 1.
_LOG_TOPIC_PARTITIONS = 1
_LOG_TOPIC_REPLICAS = 1
# ksqlDB's default service id; the processing-log topic is "<service id>ksql_processing_log".
_DEFAULT_SERVICE_ID = "default_"


def processing_log_topic(config: dict[str, object] | None = None) -> str:
    """``ksql.logging.processing.topic.name`` or ``<ksql.service.id>ksql_processing_log``."""
    config = config or {}
    explicit = config.get("ksql.logging.processing.topic.name")
    if explicit:
        return str(explicit)
    service_id = str(config.get("ksql.service.id", _DEFAULT_SERVICE_ID))
    return f"{service_id}ksql_processing_log"


class ProcessingLog:
    """Writes processing-log records for every query of one engine and counts them per query."""

    def __init__(
        self,
        io: TopicIO,
        *,
        topic: str,
        include_rows: bool = False,
        clock: Callable[[], int] | None = None,
    ) -> None:
        self._io = io
        self.topic = topic
        self.include_rows = include_rows
        self._clock = clock or (lambda: int(time.time() * 1000))
        self._topic_ready = False
        self.counts: Counter[str] = Counter()

    # ------------------------------------------------------------------ public API
    def deserialization_errors(
        self,
        query_id: str,
        step: str,
        *,
        target: str,
        topic: str,
        messages: Sequence[str],
        raw: Sequence[bytes | None],
    ) -> None:
        """One DESERIALIZATION_ERROR per failed record (``target`` is ``key`` or ``value``)."""
        entries = [
            {
                "target": target,
                "errorMessage": message,
                "recordB64": _b64(payload) if self.include_rows else None,
                "cause": _causes(message),
                "topic": topic,
            }
            for message, payload in zip(messages, raw, strict=True)
        ]
        self._write(query_id, f"{step}.deserializer", DESERIALIZATION_ERROR, entries)

    def record_processing_errors(
        self,
        query_id: str,
        step: str,
        *,
        messages: Sequence[str] | pl.Series,
        records: Sequence[str | None] | None = None,
    ) -> None:
        """One RECORD_PROCESSING_ERROR per failure (e.g. an expression that could not be computed).

        ``messages`` may be a String Series (no nulls): an operator that finds thousands of
        failures in a batch then never turns them into Python strings."""
        if records is None or not self.include_rows:
            # Without rows an entry depends on its message only: encode each distinct message
            # once (a batch often repeats one failure thousands of times).
            self._write_repeated(
                query_id,
                step,
                RECORD_PROCESSING_ERROR,
                messages,
                _processing_entry,
            )
            return
        if isinstance(messages, pl.Series):
            messages = messages.to_list()
        entries = [
            {"errorMessage": message, "record": record, "cause": _causes(message)}
            for message, record in zip(messages, records, strict=True)
        ]
        self._write(query_id, step, RECORD_PROCESSING_ERROR, entries)

    def serialization_errors(
        self,
        query_id: str,
        step: str,
        *,
        target: str,
        topic: str,
        messages: Sequence[str],
    ) -> None:
        entries = [
            {
                "target": target,
                "errorMessage": message,
                "record": None,
                "cause": _causes(message),
                "topic": topic,
            }
            for message in messages
        ]
        self._write(query_id, f"{step}.serializer", SERIALIZATION_ERROR, entries)

    def production_error(self, query_id: str, message: str) -> None:
        """One PRODUCTION_ERROR (an output the Kafka client refused); its logger is the
        query's own, ``processing.<QUERY_ID>``, as ksqlDB's production exception handler's."""
        self._write(query_id, None, PRODUCTION_ERROR, [{"errorMessage": message}])

    # ------------------------------------------------------------------ internals
    def _write(
        self,
        query_id: str,
        step: str | None,
        kind: int,
        entries: Sequence[Mapping[str, object]],
    ) -> None:
        if not entries:
            return
        now = self._clock()
        logger_name = f"processing.{query_id}" + (f".{step}" if step else "")
        values = [_encode(logger_name, kind, now, entry) for entry in entries]
        self._produce(query_id, logger_name, kind, now, values)

    def _write_repeated(
        self,
        query_id: str,
        step: str,
        kind: int,
        messages: Sequence[str] | pl.Series,
        entry_of: Callable[[str], Mapping[str, object]],
    ) -> None:
        """Like :meth:`_write` for entries that depend on their message only."""
        if not len(messages):
            return
        now = self._clock()
        logger_name = f"processing.{query_id}.{step}"
        if isinstance(messages, pl.Series):
            distinct = messages.unique(maintain_order=True).to_list()
            encoded = {m: _encode(logger_name, kind, now, entry_of(m)) for m in distinct}
            values: list[bytes] | pl.Series
            if len(distinct) == 1:  # the usual case; replace_strict costs ~0.2 ms a call
                values = constant(encoded[distinct[0]], len(messages), pl.Binary())
            else:
                values = messages.replace_strict(encoded, return_dtype=pl.Binary())
        else:
            encoded = {m: _encode(logger_name, kind, now, entry_of(m)) for m in set(messages)}
            values = [encoded[m] for m in messages]
        self._produce(query_id, logger_name, kind, now, values)

    def _produce(
        self,
        query_id: str,
        logger_name: str,
        kind: int,
        now: int,
        values: list[bytes] | pl.Series,
    ) -> None:
        self.counts[query_id] += len(values)
        logger.debug("processing log: %d %s entries from %s", len(values), kind, logger_name)
        self._ensure_topic()
        n = len(values)
        batch = pl.DataFrame(
            {
                "key": constant(None, n, pl.Binary()),
                "value": values.alias("value")
                if isinstance(values, pl.Series)
                else pl.Series(values, dtype=pl.Binary()),
                "timestamp": constant(now, n, pl.Int64()),
                "partition": constant(0, n, pl.Int32()),
                "offset": constant(None, n, pl.Int64()),
                "headers": constant([], n, RECORD_SCHEMA["headers"]),
            },
            schema=RECORD_SCHEMA,
        )
        self._io.produce(self.topic, batch)

    def _ensure_topic(self) -> None:
        if self._topic_ready:
            return
        if self._io.describe_topic(self.topic) is None:
            self._io.create_topic(
                TopicSpec(
                    self.topic, partitions=_LOG_TOPIC_PARTITIONS, replicas=_LOG_TOPIC_REPLICAS
                )
            )
        self._topic_ready = True


def _processing_entry(message: str) -> dict[str, object]:
    """A RECORD_PROCESSING_ERROR entry without the row."""
    return {"errorMessage": message, "record": None, "cause": _causes(message)}


def _encode(logger_name: str, kind: int, now: int, entry: Mapping[str, object]) -> bytes:
    """One processing-log record as compact JSON (like json.dumps with tight separators)."""
    message: dict[str, object] = {"type": kind}
    for struct_kind, struct_name in _STRUCT_BY_TYPE.items():
        message[struct_name] = entry if struct_kind == kind else None
    record = {"level": "ERROR", "logger": logger_name, "time": now, "message": message}
    return _JSON.encode(record)


def rows_as_json(batch: pl.DataFrame, mask: pl.Series) -> list[str | None]:
    """The user-visible fields of the rows where ``mask`` is True, as JSON text (the ``record``
    of RECORD_PROCESSING_ERROR entries when rows are included). Internal fields are left out."""
    columns = [c for c in batch.columns if not c.startswith("__ksql_")]
    if not columns:
        return [None] * int(mask.sum())
    encoded = batch.filter(mask).select(pl.struct(columns).struct.json_encode().alias("row"))
    return encoded.get_column("row").to_list()


def _b64(payload: bytes | None) -> str | None:
    return None if payload is None else base64.b64encode(payload).decode("ascii")


def _causes(message: str) -> list[str]:
    """ksqlDB lists the exception's cause chain; we have one message, so the chain is empty."""
    return []
