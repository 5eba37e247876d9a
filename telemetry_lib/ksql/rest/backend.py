"""What the REST server runs on: the :class:`KsqlBackend` protocol and its engine implementation.

Owns: the backend contract the starlette app (:mod:`telemetry_lib.ksql.rest.app`) calls —
statements, push and pull queries, inserts, command status, server info — and
:class:`EngineBackend`, which implements it over any :class:`~telemetry_lib.ksql.engine.KsqlEngine`
plus a :class:`RecordReader` (how to read a topic's records from given offsets). Two wirings:

- :func:`in_memory_backend` — engine + :class:`~telemetry_lib.ksql.driver.InMemoryDriver`
  topics, for fast tests and the RQTT conformance runner;
- the Kafka runtime's server (``telemetry_lib.ksql.server``, R1) builds an
  :class:`EngineBackend` with its own executor (statements go through the command topic), a
  reader over Kafka and the lock its consumer loop holds while it calls ``engine.process``.

Threading: the engine is not thread-safe, so every engine call (execute, planning and feeding a
transient query) runs under ``lock``. Requests (statements) are serialised by
``statement_lock``, taken before ``lock``: while a statement waits on an external system (a
connector statement's Connect call) the engine's ``external_calls`` hook, :meth:`EngineBackend.unlocked`,
releases ``lock`` (running ``before_unlock`` first) so the Kafka runtime's batches and push/pull
queries go on, but no other request runs in the middle of it. A request whose statement fails
while executing answers that statement's error; the statements before it stay run and their
commands are known to /status (the error's ``executed_results``). Push queries poll their source topic from a background
thread of the event loop (``asyncio.to_thread``) every :data:`PUSH_POLL_INTERVAL_S`.

Push queries start at the end of the topic (``auto.offset.reset=latest``, ksqlDB's default) or
at the beginning with ``auto.offset.reset=earliest`` in the request properties. Pull queries
on a table a running persistent query writes read its materialization
(:mod:`telemetry_lib.ksql.rest.materialized`: the current row of each key, in memory; fed by
the Kafka runtime, tailed from the topic in memory); other tables' pulls read the topic to its
current end, reduced to the latest record per key (tombstones removed); a stream is scanned and
the query ends (reference §1.4/1.5).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import polars as pl

from telemetry_lib.ksql.catalog import ColumnRole
from telemetry_lib.ksql.errors import KsqlEngineError, KsqlStatementError
from telemetry_lib.ksql.exec import batch as B
from telemetry_lib.ksql.parser import parse
from telemetry_lib.ksql.parser.ast import PrintTopic, Query, TerminateQuery
from telemetry_lib.ksql.rest.errors import WrongEndpointError
from telemetry_lib.ksql.rest.materialized import Materializations, key_prefilter
from telemetry_lib.ksql.rest.print_topic import PrintStream, format_record, guess_formats
from telemetry_lib.ksql.rest.transient import (
    ResultRow,
    TransientQuery,
    latest_per_key,
    plan_transient,
    pull_order,
)

__all__ = [
    "PUSH_POLL_INTERVAL_S",
    "EngineBackend",
    "InMemoryReader",
    "KsqlBackend",
    "QueryStream",
    "RecordReader",
    "StatementExecutor",
    "in_memory_backend",
]

logger = logging.getLogger(__name__)

#: How often a push query looks for new records: low enough for interactive latency, high
#: enough that idle push queries cost nothing noticeable on a 2-core machine.
PUSH_POLL_INTERVAL_S = 0.05
#: ksqlDB's version line this server mimics (/info); clients only display it.
SERVER_VERSION = "8.5.0"
#: Kafka cluster id reported by /info when the backend does not know the real one.
_UNKNOWN_CLUSTER_ID = "telemetry-workbench"


class RecordReader(Protocol):
    """Reading a topic's records (RECORD_SCHEMA, partition and offset set)."""

    def end_offsets(self, topic: str) -> dict[int, int]:
        """Per partition, the offset the next record will get."""

    def read(self, topic: str, start: Mapping[int, int]) -> pl.DataFrame:
        """Every record with ``offset >= start[partition]`` (missing partitions: from 0)."""


class StatementExecutor(Protocol):
    def execute(
        self,
        sql: str,
        *,
        properties: Mapping[str, object] | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> list[Any]:
        """Run statements; a list of StatementResult."""


@dataclass
class QueryStream:
    """A running push or pull query as the REST layer sees it."""

    query_id: str
    column_names: list[str]
    column_types: list[str]
    schema: str
    is_pull: bool
    rows: AsyncIterator[ResultRow]
    #: ``"Limit Reached"`` / ``"Query Completed"`` once the rows ended on their own.
    final_message: Callable[[], str | None]
    close: Callable[[], None]


class KsqlBackend(Protocol):
    """Everything the REST app needs; raise ``telemetry_lib.ksql.errors`` classes on failure."""

    def execute(
        self, sql: str, *, properties: Mapping[str, object], variables: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """Run statements (validated as a whole first); the REST entities."""

    def start_query(
        self, sql: str, *, properties: Mapping[str, object], variables: Mapping[str, str]
    ) -> QueryStream | PrintStream:
        """Start one SELECT (push or pull) or PRINT."""

    def close_query(self, query_id: str) -> bool:
        """Stop a running push query; False if there is none with that id."""

    def insert_rows(self, target: str, rows: list[dict[str, Any]]) -> None:
        """Insert rows (column name -> value, names exact) into a stream or table."""

    def command_status(self, command_id: str) -> dict[str, Any] | None:
        """``{"status","message","queryId"}`` of an earlier statement, None when unknown."""

    def command_statuses(self) -> dict[str, str]:
        """Every command id with its status (``GET /status``)."""

    def server_info(self) -> dict[str, Any]:
        """``KsqlServerInfo`` fields."""

    def terminate_cluster(self, delete_topics: list[str]) -> list[dict[str, Any]]:
        """Terminate every query, drop every source; delete matching topics queries created."""


@dataclass
class InMemoryReader:
    """:class:`RecordReader` over the in-memory driver's topics."""

    topics: Any  # telemetry_lib.ksql.driver.InMemoryTopics

    def end_offsets(self, topic: str) -> dict[int, int]:
        frame = self.topics.records(topic)
        spec = self.topics.describe_topic(topic)
        ends = {p: 0 for p in range(spec.partitions if spec else 0)}
        if frame.height:
            for part, last in frame.group_by("partition").agg(pl.col("offset").max()).iter_rows():
                ends[int(part)] = int(last) + 1
        return ends

    def read(self, topic: str, start: Mapping[int, int]) -> pl.DataFrame:
        frame = self.topics.records(topic)
        if not start or frame.height == 0:
            return frame
        floor = pl.col("partition").replace_strict(
            {int(k): int(v) for k, v in start.items()}, default=0, return_dtype=pl.Int64
        )
        return frame.filter(pl.col("offset") >= floor)


@dataclass
class _Command:
    status: dict[str, Any]


@dataclass
class EngineBackend:
    """:class:`KsqlBackend` over a KsqlEngine (see the module docstring)."""

    engine: Any  # telemetry_lib.ksql.engine.KsqlEngine
    reader: RecordReader
    executor: StatementExecutor | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)
    service_id: str = "default_"
    cluster_id: str = _UNKNOWN_CLUSTER_ID
    #: Tables pull queries read from memory (tailed unless the Kafka runtime feeds them);
    #: None: every pull reads the topic.
    materializations: Materializations | None = field(
        default_factory=lambda: Materializations(fed=False)
    )
    #: Serialises requests; taken before ``lock`` (see the module docstring).
    statement_lock: threading.RLock = field(default_factory=threading.RLock)
    #: Called under ``lock`` before :meth:`unlocked` releases it (the Kafka server stops the
    #: runners of queries the request terminated so far: they must not run once unlocked).
    before_unlock: Callable[[], object] | None = None
    _queries: dict[str, TransientQuery] = field(default_factory=dict)
    _commands: dict[str, dict[str, Any]] = field(default_factory=dict)
    _sequence: int = 0

    def __post_init__(self) -> None:
        self.engine.external_calls = self.unlocked

    @contextmanager
    def unlocked(self) -> Iterator[None]:
        """``lock`` released (every level this thread holds) for the duration of a call to an
        external system; re-acquired as many times after it."""
        if self.before_unlock is not None:
            self.before_unlock()
        held = 0
        while True:
            try:
                self.lock.release()
            except RuntimeError:  # an RLock refuses a release by a thread not holding it
                break
            held += 1
        try:
            yield
        finally:
            for _ in range(held):
                self.lock.acquire()

    # -------------------------------------------------------------------- statements
    def execute(
        self, sql: str, *, properties: Mapping[str, object], variables: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        if not sql.strip():
            return []
        statements = parse(sql) if "${" not in sql else None
        if statements is not None:
            kinds = {type(s) for s in statements}
            if Query in kinds or PrintTopic in kinds:
                raise _wrong_endpoint(sql)
            transient = self._terminate_transient(statements)
            if transient is not None:
                return transient
        runner = self.executor or self.engine
        with self.statement_lock, self.lock:
            try:
                results = runner.execute(sql, properties=properties, variables=variables)
            except KsqlEngineError as exc:
                # The statements before the failing one ran: their commands are known to
                # /status, though the answer is the failing statement's error (as ksqlDB).
                self._entities(exc.executed_results)
                raise
            return self._entities(results)

    def _entities(self, results: list[Any]) -> list[dict[str, Any]]:
        """REST entities of statement results; command statuses get a sequence number and
        are remembered for /status."""
        entities = []
        for result in results:
            body = result.to_json()
            if body.get("@type") == "currentStatus":
                self._sequence += 1
                body["commandSequenceNumber"] = self._sequence
                self._commands[str(body["commandId"])] = dict(body["commandStatus"])
            entities.append(body)
        return entities

    def _terminate_transient(self, statements: list[Any]) -> list[dict[str, Any]] | None:
        """``TERMINATE transient_...;`` closes a push query (ksqlDB's terminate_query entity)."""
        if len(statements) != 1 or not isinstance(statements[0], TerminateQuery):
            return None
        stmt = statements[0]
        match = next(
            (q for q in self._queries if stmt.query_id and q.upper() == stmt.query_id.upper()),
            None,
        )
        if match is None:
            return None
        return [
            {
                "@type": "terminate_query",
                "statementText": stmt.text,
                "queryId": match,
                "wasTerminated": self.close_query(match),
                "warnings": [],
            }
        ]

    def command_status(self, command_id: str) -> dict[str, Any] | None:
        return self._commands.get(command_id)

    def command_statuses(self) -> dict[str, str]:
        return {k: str(v["status"]) for k, v in self._commands.items()}

    def server_info(self) -> dict[str, Any]:
        return {
            "version": SERVER_VERSION,
            "kafkaClusterId": self.cluster_id,
            "ksqlServiceId": self.service_id,
            "serverStatus": "RUNNING",
        }

    def terminate_cluster(self, delete_topics: list[str]) -> list[dict[str, Any]]:
        import re

        with self.statement_lock, self.lock:
            catalog = self.engine.catalog
            created = {s.topic for s in catalog.sources() if s.created_by_query is not None}
            entities = self.execute("TERMINATE ALL;", properties={}, variables={})
            for source in list(catalog.sources()):
                kind = "TABLE" if source.is_table else "STREAM"
                self.execute(f"DROP {kind} `{source.name}`;", properties={}, variables={})
            patterns = [re.compile(p, re.IGNORECASE) for p in delete_topics]
            for topic in created:
                if any(p.fullmatch(topic) for p in patterns):
                    self.engine.io.delete_topic(topic)
        return entities

    # -------------------------------------------------------------------- queries
    def start_query(
        self, sql: str, *, properties: Mapping[str, object], variables: Mapping[str, str]
    ) -> QueryStream | PrintStream:
        from telemetry_lib.ksql.commands.prepare import prepare_statements

        statements = list(prepare_statements(sql, {**self.engine.variables, **variables}))
        if len(statements) != 1:
            raise KsqlStatementError(
                f"Expected exactly one statement, found {len(statements)}.", statement_text=sql
            )
        stmt = statements[0]
        if isinstance(stmt, PrintTopic):
            return self._print(stmt, sql)
        if not isinstance(stmt, Query):
            raise KsqlStatementError(
                "The following statement types should be issued to the '/ksql' endpoint: "
                f"{type(stmt).__name__}",
                statement_text=sql,
            )
        config = {**self.engine.config, **dict(properties)}
        with self.lock:
            try:
                query = plan_transient(
                    stmt,
                    text=sql,
                    catalog=self.engine.catalog,
                    io=self.engine.io,
                    processing_log=self.engine.processing_log,
                    config=config,
                )
            except KsqlEngineError as exc:
                if exc.statement_text is None:
                    exc.statement_text = sql
                # ksqlDB answers a push query it refuses with a generic error entity
                # (KsqlErrorMessage), a pull query with a statement error.
                exc.rest_generic = not stmt.is_pull  # type: ignore[attr-defined]
                raise
        topic = query.source.topic
        if query.is_pull:
            return self._pull(query, topic, stmt.where)
        earliest = str(config.get("auto.offset.reset", "latest")).lower() == "earliest"
        start = {} if earliest else self.reader.end_offsets(topic)
        self._queries[query.query_id] = query
        return self._push(query, topic, start, earliest=earliest)

    def _print(self, stmt: PrintTopic, sql: str) -> PrintStream:
        """PRINT topic [FROM BEGINNING] [INTERVAL n] [LIMIT n]: its records as text lines."""
        topic = stmt.topic
        if self.engine.io.describe_topic(topic) is None:
            raise KsqlStatementError(
                f"Could not find topic '{topic}', or the KSQL user does not have permissions to "
                "list the topic. Topic names are case-sensitive.",
                statement_text=sql,
            )
        position = {} if stmt.from_beginning else self.reader.end_offsets(topic)
        interval = max(stmt.interval or 1, 1)
        closed = threading.Event()

        async def lines() -> AsyncIterator[str]:
            seen = printed = 0
            key_format: str | None = None
            while not closed.is_set():
                records = await asyncio.to_thread(self.reader.read, topic, dict(position))
                for row in records.sort(["timestamp", "partition", "offset"]).iter_rows(named=True):
                    position[int(row["partition"])] = int(row["offset"]) + 1
                    seen += 1
                    if (seen - 1) % interval:
                        continue
                    if key_format is None:
                        key_format, value_format = guess_formats(row["key"], row["value"])
                        yield key_format + "\n" + value_format + "\n"
                    yield (
                        format_record(
                            timestamp=int(row["timestamp"]),
                            key=row["key"],
                            value=row["value"],
                            partition=int(row["partition"]),
                            key_format=key_format,
                        )
                        + "\n"
                    )
                    printed += 1
                    if stmt.limit is not None and printed >= stmt.limit:
                        return
                if records.height == 0:
                    await asyncio.sleep(PUSH_POLL_INTERVAL_S)

        return PrintStream(topic=topic, lines=lines(), close=closed.set)

    def close_query(self, query_id: str) -> bool:
        query = self._queries.pop(query_id, None)
        if query is None:
            return False
        with self.lock:
            query.close()
        return True

    def running_push_queries(self) -> list[str]:
        return list(self._queries)

    def _pull(self, query: TransientQuery, topic: str, where: Any) -> QueryStream:
        current = self._materialized_rows(query, topic)
        if current is None and query.source.is_table:
            current = latest_per_key(self.reader.read(topic, {}))
        if current is not None:
            # a state store's order: looked-up keys as written; scans by partition, key bytes
            records = pull_order(key_prefilter(current, query.source, where), query, where)
        else:
            records = self.reader.read(topic, {}).sort(["partition", "offset"])
        with self.lock:
            rows = [r for r in query.push(records) if not r.tombstone]
            query.close()

        async def iterate() -> AsyncIterator[ResultRow]:
            for row in rows:
                yield row

        return QueryStream(
            query_id=query.query_id,
            column_names=query.column_names,
            column_types=query.column_types,
            schema=query.schema_text(),
            is_pull=True,
            rows=iterate(),
            final_message=lambda: None,
            close=lambda: None,
        )

    def _materialized_rows(self, query: TransientQuery, topic: str) -> pl.DataFrame | None:
        """The table's current rows from its materialization, or None to scan the topic
        (see :mod:`telemetry_lib.ksql.rest.materialized` for when)."""
        source = query.source
        mats = self.materializations
        if mats is None or not source.is_table or source.created_by_query is None:
            return None
        if B.ROWOFFSET in query.statement_text.upper():
            return None
        running = [self.engine.running_query(q) for q in self.engine.running_queries()]
        mats.retain(running)
        owner = self.engine.running_query(source.created_by_query)
        if owner is None:
            return None
        table, needs_seed = mats.table(topic, owner)
        if needs_seed:
            partitions = len(self.reader.end_offsets(topic))
            table.seed(self.reader.read(topic, {}), partitions=partitions)
        elif not mats.fed:
            table.tail(self.reader.read(topic, table.positions))
        return table.rows()

    def _push(
        self, query: TransientQuery, topic: str, start: dict[int, int], *, earliest: bool = True
    ) -> QueryStream:
        # A join reads several topics (each from the same offset reset as the first).
        topics = query.topics or (topic,)
        positions = {
            t: dict(start) if t == topic else ({} if earliest else self.reader.end_offsets(t))
            for t in topics
        }
        state: dict[str, str | None] = {"final": None}

        def poll() -> list[ResultRow]:
            batches = []
            for t in topics:
                position = positions[t]
                records = self.reader.read(t, position)
                if records.height == 0:
                    continue
                for part, last in (
                    records.group_by("partition").agg(pl.col("offset").max()).iter_rows()
                ):
                    position[int(part)] = int(last) + 1
                batches.append((t, _stream_time_order(records)))
            if not batches:
                return []
            with self.lock:
                if len(topics) > 1:
                    return query.push_topics(batches)
                return query.push(batches[0][1])

        async def iterate() -> AsyncIterator[ResultRow]:
            try:
                while query.query_id in self._queries:
                    rows = await asyncio.to_thread(poll)
                    for row in rows:
                        yield row
                    if query.limit_reached:
                        state["final"] = "Limit Reached"
                        return
                    if not rows:
                        await asyncio.sleep(PUSH_POLL_INTERVAL_S)
            finally:
                self.close_query(query.query_id)

        return QueryStream(
            query_id=query.query_id,
            column_names=query.column_names,
            column_types=query.column_types,
            schema=query.schema_text(),
            is_pull=False,
            rows=iterate(),
            final_message=lambda: state["final"],
            close=lambda: _discard(self.close_query(query.query_id)),
        )

    # -------------------------------------------------------------------- inserts
    def insert_rows(self, target: str, rows: list[dict[str, Any]]) -> None:
        import json

        name = target[1:-1] if target.startswith("`") and target.endswith("`") else target.upper()
        with self.lock:
            source = self.engine.catalog.get_source(name)
        if source is None:
            raise KsqlEngineError(f"Cannot insert values into an unknown stream/table: {name}")
        if source.is_windowed:
            raise KsqlEngineError(f"Cannot insert into windowed source: {name}")
        columns = [c for c in source.columns if c.role is not ColumnRole.HEADER]
        for row in rows:
            for key_col in source.key_columns:
                if key_col.name not in row:
                    raise KsqlEngineError(f"Key field must be specified: {key_col.name}")
            present = [c for c in columns if c.name in row]
            names = ", ".join(f"`{c.name}`" for c in present)
            values = ", ".join(_sql_literal(row[c.name]) for c in present)
            sql = f"INSERT INTO `{name}` ({names}) VALUES ({values});"
            logger.debug("inserts-stream row -> %s", json.dumps(row)[:200])
            self.execute(sql, properties={}, variables={})


def _stream_time_order(records: pl.DataFrame) -> pl.DataFrame:
    """Records of several partitions interleaved as Kafka Streams picks them: offset order
    within a partition, and across partitions the head with the lowest timestamp first
    (approximated by each partition's running maximum timestamp)."""
    if records.get_column("partition").n_unique() <= 1:
        return records.sort("offset")
    return (
        records.sort(["partition", "offset"])
        .with_columns(pl.col("timestamp").cum_max().over("partition").alias("__stream_time"))
        .sort(["__stream_time", "partition", "offset"])
        .drop("__stream_time")
    )


def in_memory_backend(*, config: Mapping[str, object] | None = None) -> EngineBackend:
    """An :class:`EngineBackend` over a fresh in-memory driver (auto-created topics get one
    partition, like a single-broker dev cluster; ``auto.offset.reset`` defaults to latest as in
    ksqlDB, so persistent queries read only new records unless told otherwise)."""
    from telemetry_lib.ksql.driver import InMemoryDriver

    merged: dict[str, object] = {"auto.offset.reset": "latest", **dict(config or {})}
    driver = InMemoryDriver(config=merged, auto_create_partitions=1)
    return EngineBackend(
        engine=driver.engine,
        reader=InMemoryReader(driver.topics),
        executor=driver,
        service_id=str(driver.engine.config.get("ksql.service.id", "default_")),
    )


def _wrong_endpoint(sql: str) -> KsqlEngineError:
    return WrongEndpointError(
        "The following statement types should be issued to the websocket endpoint '/query':\n"
        "\t* PRINT\n\t* SELECT",
        statement_text=sql,
    )


def _sql_literal(value: Any) -> str:
    """A JSON value from /inserts-stream as a ksqlDB literal for INSERT ... VALUES."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, list):
        return "ARRAY[" + ", ".join(_sql_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"`{k}` := {_sql_literal(v)}" for k, v in value.items())
        return f"STRUCT({inner})"
    raise KsqlEngineError(f"Unsupported value in inserts stream: {value!r}")


def _discard(_: object) -> None:
    """Drop a result (close callbacks return nothing)."""
