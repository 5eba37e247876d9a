"""The enrichment step of notebook 03: player profiles joined to the stream, K/D per team.

Runs the demo's enrichment statements (``telemetry_lib.demo_statements``: a ``PLAYERS`` table,
``TELEMETRY_ENRICHED`` = ``telemetry_stream LEFT JOIN players``, ``TEAM_KILL_RATIO`` per team and
window) with the notebook's topics and window size:

1. the profiles seeded into MongoDB by notebook 01 are published to the players topic, keyed by
   ``player_id``, with the same partition count as the events topic (ksqlDB's co-partitioning
   rule for joins) and stamped with the first event's time, so the table holds every profile
   before the first event is joined (a stream-table join reads the table as of each event's
   time; profiles copied "now" would all be later than the season's events);
2. the three statements run from the earliest offset; both queries must be RUNNING;
3. :func:`wait_team_caught_up` pulls ``TEAM_KILL_RATIO`` until it has counted every event.

:func:`drop_enrichment` removes them again (queries terminated first), before the main pipeline
is dropped: the enriched stream reads ``telemetry_stream``, which ksqlDB refuses to drop while
it is read.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import polars as pl

from telemetry_lib import demo_statements as ds
from telemetry_lib.config import Settings
from telemetry_lib.errors import TelemetryError
from telemetry_lib.kafka import (
    create_topic,
    delete_topic,
    describe_topic,
    list_topics,
    produce_json,
)
from telemetry_lib.ksql.client import KsqlClient
from telemetry_lib.workbench.pipeline import (
    CATCH_UP_POLL_S,
    CATCH_UP_TIMEOUT_S,
    RUNNING_TIMEOUT_S,
    PipelineNames,
    query_id_for,
)

__all__ = [
    "EnrichmentResult",
    "compare_teams",
    "create_enrichment",
    "drop_enrichment",
    "enrichment_sql",
    "team_truth",
    "wait_team_caught_up",
]

logger = logging.getLogger(__name__)

#: The demo statements' window clause, replaced by the notebook's window size.
_DEMO_WINDOW = "WINDOW TUMBLING (SIZE 5 MINUTES)"


@dataclass(frozen=True)
class EnrichmentResult:
    """Where the profiles went and the two queries of the enrichment."""

    players_topic: str
    players_published: int
    partitions: int
    enriched_query: str
    team_query: str
    statements: tuple[str, ...]


def enrichment_sql(names: PipelineNames, players_topic: str, window_minutes: int) -> list[str]:
    """The players table, enriched stream and team table statements for these names."""
    statements = []
    for sql in (ds.CREATE_PLAYERS_TABLE, ds.CREATE_ENRICHED_STREAM, ds.CREATE_TEAM_TABLE):
        text = ds.with_topics(sql, players=players_topic)
        text = text.replace("FROM telemetry_stream t", f"FROM {names.stream} t")
        statements.append(
            text.replace(_DEMO_WINDOW, f"WINDOW TUMBLING (SIZE {window_minutes} MINUTES)")
        )
    return statements


def create_enrichment(
    client: KsqlClient,
    settings: Settings,
    names: PipelineNames,
    players: pl.DataFrame,
    *,
    players_topic: str,
    first_event_ms: int,
    window_minutes: int,
) -> EnrichmentResult:
    """Publish ``players`` and run the enrichment statements (module docstring)."""
    conf = settings.kafka_config()
    partitions = describe_topic(conf, names.topic).partitions
    if players_topic in list_topics(conf):
        delete_topic(conf, players_topic)
    create_topic(conf, players_topic, partitions)
    docs = [
        {**{k: v for k, v in row.items() if k != "_id"}, "profile_ts": first_event_ms}
        for row in players.to_dicts()
    ]
    produce_json(conf, players_topic, docs, key="player_id", timestamp_field="profile_ts")
    statements = enrichment_sql(names, players_topic, window_minutes)
    props = {"auto.offset.reset": "earliest"}
    for statement in statements:
        client.execute(statement, properties=props)
    ids = []
    for sink in (ds.ENRICHED, ds.TEAM_TABLE):
        query_id = query_id_for(client, sink)
        if query_id is None:
            raise TelemetryError(
                f"no query writes {sink} after the enrichment statements",
                hint="check the ksqlDB server log (telemetry logs ksqldb)",
            )
        client.wait_until_running(query_id, timeout=RUNNING_TIMEOUT_S)
        ids.append(query_id)
    return EnrichmentResult(
        players_topic=players_topic,
        players_published=len(docs),
        partitions=partitions,
        enriched_query=ids[0],
        team_query=ids[1],
        statements=tuple(statements),
    )


def wait_team_caught_up(
    client: KsqlClient, expected_events: int, *, timeout: float = CATCH_UP_TIMEOUT_S
) -> pl.DataFrame:
    """Pull ``TEAM_KILL_RATIO`` until KILLS + DEATHS sum to ``expected_events``."""
    deadline = time.monotonic() + timeout
    while True:
        table = client.pull(f"SELECT * FROM {ds.TEAM_TABLE};")
        counted = int(table["KILLS"].sum()) + int(table["DEATHS"].sum()) if table.height else 0
        if counted >= expected_events:
            return table
        if time.monotonic() > deadline:
            raise TelemetryError(
                f"{ds.TEAM_TABLE} counted {counted} of {expected_events} events after {timeout:g} s",
                hint="do the players topic and the events topic have the same partition count, "
                "and are the profiles stamped before the first event?",
            )
        time.sleep(CATCH_UP_POLL_S)


def drop_enrichment(client: KsqlClient, settings: Settings, players_topic: str | None) -> list[str]:
    """Drop the team table, the enriched stream (their topics deleted) and the players table
    (and ``players_topic``); returns what was done."""
    done: list[str] = []
    for sink in (ds.TEAM_TABLE, ds.ENRICHED):
        query_id = query_id_for(client, sink)
        if query_id is not None:
            client.terminate(query_id)
            done.append(f"TERMINATE {query_id};")
    for statement in (
        f"DROP TABLE IF EXISTS {ds.TEAM_TABLE} DELETE TOPIC;",
        f"DROP STREAM IF EXISTS {ds.ENRICHED} DELETE TOPIC;",
        f"DROP TABLE IF EXISTS {ds.PLAYERS};",
    ):
        client.execute(statement)
        done.append(statement)
    if players_topic and delete_topic(settings.kafka_config(), players_topic):
        done.append(f"delete topic {players_topic}")
    return done


def team_truth(events: pl.DataFrame, players: pl.DataFrame, window_minutes: int) -> pl.DataFrame:
    """The team table as a polars batch job (events LEFT JOIN profiles, null teams dropped,
    ``window_minutes`` windows by event time): TEAM, WINDOWSTART (epoch ms), KILLS, DEATHS."""
    window_ms = window_minutes * 60_000
    joined = events.select("player_id", "event_type", "timestamp").join(
        players.select("player_id", "team"), on="player_id", how="left"
    )
    return (
        joined.filter(pl.col("team").is_not_null())
        .group_by(
            pl.col("team").alias("TEAM"),
            (pl.col("timestamp") // window_ms * window_ms).alias("WINDOWSTART"),
        )
        .agg(
            (pl.col("event_type") == "kill").sum().cast(pl.Int64).alias("KILLS"),
            (pl.col("event_type") == "death").sum().cast(pl.Int64).alias("DEATHS"),
        )
        .sort("TEAM", "WINDOWSTART")
    )


def compare_teams(table: pl.DataFrame, truth: pl.DataFrame) -> dict[str, int | bool]:
    """Key by key: the pulled ``TEAM_KILL_RATIO`` against :func:`team_truth`."""
    got = table.select(
        pl.col("TEAM"),
        (
            pl.col("WINDOWSTART").dt.epoch("ms")
            if isinstance(table.schema["WINDOWSTART"], pl.Datetime)
            else pl.col("WINDOWSTART").cast(pl.Int64)
        ).alias("WINDOWSTART"),
        pl.col("KILLS").cast(pl.Int64).alias("got_kills"),
        pl.col("DEATHS").cast(pl.Int64).alias("got_deaths"),
    )
    joined = truth.join(got, on=["TEAM", "WINDOWSTART"], how="full", coalesce=True)
    matching = joined.filter(
        (pl.col("KILLS") == pl.col("got_kills")) & (pl.col("DEATHS") == pl.col("got_deaths"))
    ).height
    return {
        "rows": table.height,
        "truth_rows": truth.height,
        "matching": matching,
        "ok": table.height == truth.height == matching,
    }
