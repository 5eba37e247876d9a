"""The notebooks' ksqlDB pipeline: the demo's statements with the window size as a parameter.

Owns :class:`PipelineNames` (stream, table and topic names of one run), :func:`pipeline_sql`
(the CREATE STREAM / CREATE TABLE ... WINDOW TUMBLING text, the demo's statement with the
window size, the input topic and the event-time column filled in), and the operations a
notebook runs through :class:`~telemetry_lib.ksql.client.KsqlClient`: :func:`drop_pipeline`,
:func:`create_pipeline` (returns the CTAS query id once it is RUNNING) and
:func:`wait_caught_up` (pull queries until the table has counted every event).

The stream declares ``TIMESTAMP='timestamp'``: events reach Kafka through the MongoDB source
connector, whose record timestamps are the time of the copy, so windows must come from the
event's own time field (ksqlDB's documented way). ``KILL_RATIO`` stays the demo's DECIMAL
division, NULL when deaths are 0 and also when the quotient does not terminate within the
scale (ksqlDB #9874); the notebooks explain it and compute a DOUBLE ratio from the counts.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import polars as pl

from telemetry_lib.errors import TelemetryError
from telemetry_lib.ksql.client import KsqlClient

__all__ = [
    "PipelineNames",
    "counted_events",
    "create_pipeline",
    "drop_pipeline",
    "pipeline_sql",
    "query_id_for",
    "wait_caught_up",
]

logger = logging.getLogger(__name__)

#: The table's query is RUNNING within a second on the embedded server; a busy ksqlDB
#: cluster may take longer to start it.
RUNNING_TIMEOUT_S = 60.0
#: Pull-query poll period while the table catches up (each poll reads the whole table).
CATCH_UP_POLL_S = 0.5
#: Bound on the catch-up wait: the embedded engine counts 100k events in 10-30 s on a loaded
#: 2-core machine; 180 s reports a stuck query without failing a slow healthy one.
CATCH_UP_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class PipelineNames:
    """Names of one pipeline run (ksqlDB upper-cases unquoted identifiers)."""

    topic: str = "telemetry_events"
    stream: str = "TELEMETRY_STREAM"
    table: str = "PLAYER_KILL_RATIO"

    @property
    def table_topic(self) -> str:
        """The CTAS sink topic: ksqlDB names it after the table."""
        return self.table


def pipeline_sql(names: PipelineNames, window_minutes: int) -> tuple[str, str]:
    """The CREATE STREAM and CREATE TABLE statements for ``names`` and the window size."""
    if window_minutes < 1:
        raise TelemetryError(
            f"window_minutes must be at least 1, got {window_minutes}",
            hint="pass the tumbling window size in whole minutes, e.g. window_minutes=5",
        )
    stream = (
        f"CREATE STREAM {names.stream} (player_id VARCHAR, event_type VARCHAR, timestamp BIGINT)\n"
        f"  WITH (KAFKA_TOPIC='{names.topic}', VALUE_FORMAT='JSON', TIMESTAMP='timestamp');"
    )
    kills = "SUM(CASE WHEN event_type = 'kill' THEN 1 ELSE 0 END)"
    deaths = "SUM(CASE WHEN event_type = 'death' THEN 1 ELSE 0 END)"
    table = (
        f"CREATE TABLE {names.table} AS\n"
        f"SELECT player_id,\n"
        f"       {kills} AS kill_count,\n"
        f"       {deaths} AS death_count,\n"
        f"       ({kills} * 1.0) / NULLIF({deaths}, 0) AS kill_ratio\n"
        f"FROM {names.stream}\n"
        f"WINDOW TUMBLING (SIZE {window_minutes} MINUTES)\n"
        f"GROUP BY player_id\n"
        f"EMIT CHANGES;"
    )
    return stream, table


def query_id_for(client: KsqlClient, sink: str) -> str | None:
    """The id of the persistent query writing ``sink`` (None when there is none)."""
    for query in client.list_queries():
        if sink.upper() in [str(s).upper() for s in query.get("sinks", [])]:
            return str(query["id"])
    return None


def drop_pipeline(client: KsqlClient, names: PipelineNames) -> list[str]:
    """Drop an earlier run's table (its topic deleted) and stream (its topic kept).

    The table's query is terminated first (ksqlDB refuses to drop a table a query writes).
    Returns the statements run, for the notebook to show.
    """
    done: list[str] = []
    query_id = query_id_for(client, names.table)
    if query_id is not None:
        client.terminate(query_id)
        done.append(f"TERMINATE {query_id};")
    for statement in (
        f"DROP TABLE IF EXISTS {names.table} DELETE TOPIC;",
        f"DROP STREAM IF EXISTS {names.stream};",
    ):
        client.execute(statement)
        done.append(statement)
    return done


def create_pipeline(
    client: KsqlClient, names: PipelineNames, window_minutes: int, *, timeout: float = RUNNING_TIMEOUT_S
) -> str:
    """Create the stream and the windowed table reading from the earliest offset; wait until
    the table's query is RUNNING and return its id."""
    stream, table = pipeline_sql(names, window_minutes)
    props = {"auto.offset.reset": "earliest"}
    client.execute(stream, properties=props)
    entities = client.execute(table, properties=props)
    query_id = _query_id(entities) or query_id_for(client, names.table)
    if query_id is None:
        raise TelemetryError(
            f"no query writes {names.table} after CREATE TABLE AS SELECT "
            f"(entities: {str(entities)[:300]})",
            hint="check the ksqlDB server log (telemetry logs ksqldb)",
        )
    client.wait_until_running(query_id, timeout=timeout)
    return query_id


def wait_caught_up(
    client: KsqlClient,
    names: PipelineNames,
    expected_events: int,
    *,
    timeout: float = CATCH_UP_TIMEOUT_S,
) -> pl.DataFrame:
    """Pull the table until KILL_COUNT + DEATH_COUNT sum to ``expected_events``.

    Raises when the count is not reached within ``timeout`` (the message says how far it got).
    """
    deadline = time.monotonic() + timeout
    counted = 0
    while True:
        table = client.pull(f"SELECT * FROM {names.table};")
        counted = counted_events(table)
        if counted >= expected_events:
            return table
        if time.monotonic() > deadline:
            raise TelemetryError(
                f"{names.table} counted {counted} of {expected_events} events after {timeout:g} s",
                hint="check the query with DESCRIBE EXTENDED and the ksqlDB log "
                "(telemetry logs ksqldb); is every event in the input topic?",
            )
        time.sleep(CATCH_UP_POLL_S)


def counted_events(table: pl.DataFrame) -> int:
    """Events a pulled ratio table has counted (kills + deaths over every row)."""
    if table.height == 0:
        return 0
    return int(table["KILL_COUNT"].sum()) + int(table["DEATH_COUNT"].sum())


def _query_id(entities: list[dict[str, Any]]) -> str | None:
    for entity in entities:
        qid = (entity.get("commandStatus") or {}).get("queryId")
        if qid:
            return str(qid)
    return None
