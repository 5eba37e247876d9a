# ruff: noqa: E501 - the statements are kept readable as ksqlDB scripts
"""The demo's ksqlDB statements in one place, and the independent polars answers they must match.

Owns the statement texts every consumer runs verbatim (the demo's ksqlDB step, the notebooks,
the benchmarks, the tests) and :func:`team_kd_truth`, a polars batch join + aggregation that
computes the enrichment demo's result without the engine.

Public API::

    from telemetry_lib import demo_statements as ds
    ds.CREATE_STREAM              # telemetry_stream over the events topic (JSON, no KEY column)
    ds.CREATE_TABLE               # PLAYER_KILL_RATIO: per-player 5-minute K/D (DECIMAL ratio)
    ds.CREATE_PLAYERS_TABLE       # players table over the 'players' topic (key = player_id)
    ds.CREATE_ENRICHED_STREAM     # TELEMETRY_ENRICHED: telemetry_stream LEFT JOIN players
    ds.CREATE_TEAM_TABLE          # TEAM_KILL_RATIO: per-team 5-minute kills, deaths, DOUBLE ratio
    ds.ENRICHMENT_SCRIPT          # the three enrichment statements, in order
    ds.with_topics(sql, events="telemetry_events", players="players")  # other topic names
    ds.team_kd_truth(events, players)  # polars: TEAM, WINDOWSTART, KILLS, DEATHS, KD_RATIO

Names (upper case, as ksqlDB stores them): :data:`STREAM`, :data:`TABLE`, :data:`PLAYERS`,
:data:`ENRICHED`, :data:`TEAM_TABLE`; :data:`WINDOW_MS` is the tumbling window size.

Semantics the truth reproduces: the join is a stream–table LEFT JOIN on ``player_id``, which is
a value column of the stream, so ksqlDB re-keys the stream by it (a ``-Join-repartition``
topic on Kafka); an event whose player has no profile keeps null profile columns and its null
TEAM is dropped by the GROUP BY (ksqlDB drops null grouping keys). Windows are on ROWTIME, which
the demo's records carry as the event time. ``KD_RATIO`` is a DOUBLE division with
``NULLIF(deaths, 0)``: NULL when a team has no deaths in the window. The profiles must be in
the table before the events (the generator stamps them with the run's start time).
"""

from __future__ import annotations

import logging

import polars as pl

__all__ = [
    "CREATE_ENRICHED_STREAM",
    "CREATE_PLAYERS_TABLE",
    "CREATE_STREAM",
    "CREATE_TABLE",
    "CREATE_TEAM_TABLE",
    "ENRICHED",
    "ENRICHMENT_SCRIPT",
    "PLAYERS",
    "STREAM",
    "TABLE",
    "TEAM_TABLE",
    "WINDOW_MS",
    "team_kd_truth",
    "with_topics",
]

logger = logging.getLogger(__name__)

#: Tumbling window size of the windowed tables, in ms (5 minutes).
WINDOW_MS = 5 * 60 * 1000
#: Source and sink names as ksqlDB stores them.
STREAM = "TELEMETRY_STREAM"
TABLE = "PLAYER_KILL_RATIO"
PLAYERS = "PLAYERS"
ENRICHED = "TELEMETRY_ENRICHED"
TEAM_TABLE = "TEAM_KILL_RATIO"
#: Default topics of the two inputs (the generator's defaults).
EVENTS_TOPIC = "telemetry_events"
PLAYERS_TOPIC = "players"

CREATE_STREAM = """CREATE STREAM telemetry_stream (player_id VARCHAR, event_type VARCHAR, timestamp BIGINT)
  WITH (KAFKA_TOPIC='telemetry_events', VALUE_FORMAT='JSON');"""
CREATE_TABLE = """CREATE TABLE player_kill_ratio AS
SELECT player_id,
       SUM(CASE WHEN event_type = 'kill' THEN 1 ELSE 0 END) as kill_count,
       SUM(CASE WHEN event_type = 'death' THEN 1 ELSE 0 END) as death_count,
       (SUM(CASE WHEN event_type = 'kill' THEN 1 ELSE 0 END) * 1.0) / NULLIF(SUM(CASE WHEN event_type = 'death' THEN 1 ELSE 0 END), 0) as kill_ratio
FROM telemetry_stream
WINDOW TUMBLING (SIZE 5 MINUTES)
GROUP BY player_id
EMIT CHANGES;"""
CREATE_PLAYERS_TABLE = """CREATE TABLE players (player_id VARCHAR PRIMARY KEY, name VARCHAR, team VARCHAR, region VARCHAR, skill DOUBLE)
  WITH (KAFKA_TOPIC='players', VALUE_FORMAT='JSON');"""
CREATE_ENRICHED_STREAM = """CREATE STREAM telemetry_enriched AS
SELECT t.player_id AS player_id, t.event_type AS event_type, t.timestamp AS event_ts,
       p.name AS name, p.team AS team, p.region AS region, p.skill AS skill
FROM telemetry_stream t
LEFT JOIN players p ON t.player_id = p.player_id
EMIT CHANGES;"""
CREATE_TEAM_TABLE = """CREATE TABLE team_kill_ratio AS
SELECT team,
       SUM(CASE WHEN event_type = 'kill' THEN 1 ELSE 0 END) AS kills,
       SUM(CASE WHEN event_type = 'death' THEN 1 ELSE 0 END) AS deaths,
       CAST(SUM(CASE WHEN event_type = 'kill' THEN 1 ELSE 0 END) AS DOUBLE) / NULLIF(SUM(CASE WHEN event_type = 'death' THEN 1 ELSE 0 END), 0) AS kd_ratio
FROM telemetry_enriched
WINDOW TUMBLING (SIZE 5 MINUTES)
GROUP BY team
EMIT CHANGES;"""
#: The enrichment demo after CREATE_STREAM: players table, enriched stream, per-team table.
ENRICHMENT_SCRIPT = "\n".join([CREATE_PLAYERS_TABLE, CREATE_ENRICHED_STREAM, CREATE_TEAM_TABLE])


def with_topics(sql: str, *, events: str = EVENTS_TOPIC, players: str = PLAYERS_TOPIC) -> str:
    """``sql`` reading other topics than the defaults."""
    return sql.replace(f"KAFKA_TOPIC='{EVENTS_TOPIC}'", f"KAFKA_TOPIC='{events}'").replace(
        f"KAFKA_TOPIC='{PLAYERS_TOPIC}'", f"KAFKA_TOPIC='{players}'"
    )


def team_kd_truth(events: pl.DataFrame, players: pl.DataFrame) -> pl.DataFrame:
    """The per-team table as a polars batch job: events (player_id, event_type, timestamp =
    event time) LEFT JOIN profiles (player_id, team), null teams dropped, 5-minute windows.

    Returns TEAM, WINDOWSTART, KILLS, DEATHS (Int64) and KD_RATIO (Float64, null without
    deaths), sorted by TEAM and WINDOWSTART."""
    joined = events.select("player_id", "event_type", "timestamp").join(
        players.select("player_id", "team"), on="player_id", how="left"
    )
    return (
        joined.filter(pl.col("team").is_not_null())
        .with_columns((pl.col("timestamp") // WINDOW_MS * WINDOW_MS).alias("WINDOWSTART"))
        .group_by(pl.col("team").alias("TEAM"), "WINDOWSTART")
        .agg(
            (pl.col("event_type") == "kill").sum().cast(pl.Int64).alias("KILLS"),
            (pl.col("event_type") == "death").sum().cast(pl.Int64).alias("DEATHS"),
        )
        .with_columns(
            (
                pl.col("KILLS").cast(pl.Float64)
                / pl.when(pl.col("DEATHS") != 0).then(pl.col("DEATHS")).cast(pl.Float64)
            ).alias("KD_RATIO")
        )
        .sort("TEAM", "WINDOWSTART")
    )
