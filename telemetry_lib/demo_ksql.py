"""The main job's ksqlDB step: the windowed kill/death ratio table, checked against polars.

Owns :func:`drop_previous` (run before the demo recreates the events topic, so no query of an
earlier run reads the new topic) and :func:`run_ksql_step`: through :class:`KsqlClient` it runs
the demo's statements verbatim (the stream's ``KAFKA_TOPIC`` set to the demo's topic), waits
until the CTAS query is RUNNING and its table has counted every event written to Kafka (pull
query), then compares each (player, window) row with an independent polars aggregation.

``KILL_RATIO`` is a DECIMAL division: ksqlDB yields NULL (and logs a processing error) when the
quotient has no exact expansion within the result scale (ksqlDB issue #9874, e.g. 2/9), and
NULL when deaths are 0 (``NULLIF``). Ratios are therefore compared only where non-null, and every
NULL must have one of those two reasons; the counts of each are reported.

Also owns the **enrichment step** (:func:`run_enrichment_step`): the ``players`` table over the
profiles topic, ``TELEMETRY_ENRICHED`` (``telemetry_stream LEFT JOIN players``) and the per-team
``TEAM_KILL_RATIO`` table on top (statements in :mod:`telemetry_lib.demo_statements`), waited
for until every event is counted, then compared per (team, window) — kills, deaths and the DOUBLE
ratio — with :func:`telemetry_lib.demo_statements.team_kd_truth` (a polars batch join).
:func:`drop_previous` drops an earlier run's enrichment objects first (dependants first).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import polars as pl

from telemetry_lib import demo_statements as ds
from telemetry_lib.config import Settings
from telemetry_lib.errors import TelemetryError
from telemetry_lib.kafka import KafkaAdmin
from telemetry_lib.ksql.client import KsqlClient, KsqlServerError

__all__ = [
    "KsqlClient",
    "KsqlServerError",
    "KsqlStepResult",
    "compare_teams",
    "drop_previous",
    "ksql_client",
    "render_enrichment_section",
    "render_section",
    "run_enrichment_step",
    "run_ksql_step",
]

logger = logging.getLogger(__name__)

#: Table and stream names of the demo's statements (upper case, as ksqlDB stores them).
TABLE = ds.TABLE
STREAM = ds.STREAM
#: Tumbling window size of the statement, in ms (5 minutes).
WINDOW_MS = ds.WINDOW_MS
#: The statement's query reads the whole topic from the start; on the embedded engine 100k
#: events are counted within ~10-30 s on a loaded 2-core machine, so 180 s bounds a stuck
#: query without failing a slow but healthy one.
CATCH_UP_TIMEOUT_S = 180.0
#: Pull-query poll period while waiting for the table to catch up (each pull reads the table).
CATCH_UP_POLL_S = 0.5
#: The query is RUNNING within a second here; ksqlDB on a busy cluster may take longer.
RUNNING_TIMEOUT_S = 60.0
#: A reachability probe (GET /info) answers in milliseconds when the server is up.
PROBE_TIMEOUT_S = 5.0
#: A terminated query closes its clients and deletes its internal topics within a second
#: here; ksqlDB cleans them up asynchronously, 15 s covers a busy cluster.
TERMINATE_TIMEOUT_S = 15.0
#: Top players listed in the report.
TOP_N = 5

SET_EARLIEST = "SET 'auto.offset.reset'='earliest';"
CREATE_STREAM = ds.CREATE_STREAM
CREATE_TABLE = ds.CREATE_TABLE
PULL = "SELECT * FROM player_kill_ratio;"
PULL_TEAMS = "SELECT * FROM team_kill_ratio;"
#: Relative tolerance of the DOUBLE ratio comparison (the same division on both sides).
RATIO_RTOL = 1e-12


@dataclass(frozen=True)
class KsqlStepResult:
    """What the ksqlDB step found: checks as (name, expected, actual), the report section."""

    checks: list[tuple[str, Any, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None


def ksql_client(settings: Settings) -> tuple[KsqlClient | None, str | None]:
    """A client for ``settings.ksqldb_url`` if the server answers ``/info``; else the reason."""
    auth = settings.ksqldb_auth()
    client = KsqlClient(settings.ksqldb_url, *(auth or (None, None)), timeout=PROBE_TIMEOUT_S)
    try:
        client.info()
    except (TelemetryError, httpx.HTTPError) as exc:
        client.close()
        return None, f"ksqlDB at {settings.ksqldb_url} not reachable ({type(exc).__name__}: {exc})"
    client.close()
    return KsqlClient(settings.ksqldb_url, *(auth or (None, None))), None


def drop_previous(client: KsqlClient, admin: KafkaAdmin) -> None:
    """Drop an earlier run's table (its sink topic deleted) and stream (its topic is the demo's
    input: kept).

    The table's query is TERMINATEd first, and the drop waits (bounded) until the query's
    internal topics are gone. The embedded server no longer needs this (it stops a
    terminated query's runner and closes its Kafka clients before deleting any topic, so a
    plain DROP ... DELETE TOPIC is safe); it is kept as a harmless, explicit sequence that
    also suits a real ksqlDB server, where a query's internal topics go away asynchronously.
    """
    sinks = (ds.TEAM_TABLE, ds.ENRICHED, TABLE)
    for query in client.list_queries():
        if any(s in [str(x).upper() for x in query.get("sinks", [])] for s in sinks):
            query_id = str(query["id"])
            client.terminate(query_id)
            _wait_internal_topics_gone(admin, query_id)
    client.execute(f"DROP TABLE IF EXISTS {ds.TEAM_TABLE} DELETE TOPIC;")
    client.execute(f"DROP STREAM IF EXISTS {ds.ENRICHED} DELETE TOPIC;")
    client.execute(f"DROP TABLE IF EXISTS {ds.PLAYERS};")
    client.execute(f"DROP TABLE IF EXISTS {TABLE} DELETE TOPIC;")
    client.execute(f"DROP STREAM IF EXISTS {STREAM};")


def _wait_internal_topics_gone(admin: KafkaAdmin, query_id: str) -> None:
    marker = f"_query_{query_id}-".upper()
    deadline = time.monotonic() + TERMINATE_TIMEOUT_S
    while any(marker in t.upper() for t in admin.list_topics(include_internal=True)):
        if time.monotonic() > deadline:
            logger.warning(
                "internal topics of %s still listed %g s after TERMINATE; dropping anyway",
                query_id,
                TERMINATE_TIMEOUT_S,
            )
            return
        time.sleep(CATCH_UP_POLL_S)


def run_ksql_step(client: KsqlClient, events: pl.DataFrame, topic: str) -> KsqlStepResult:
    """Create the stream and table, wait for the table to catch up, compare with polars."""
    began = time.perf_counter()
    create_stream = CREATE_STREAM.replace("'telemetry_events'", f"'{topic}'")
    client.execute(create_stream, properties={"auto.offset.reset": "earliest"})
    entities = client.execute(
        f"{SET_EARLIEST}\n{CREATE_TABLE}", properties={"auto.offset.reset": "earliest"}
    )
    query_id = _query_id(client, entities)
    client.wait_until_running(query_id, timeout=RUNNING_TIMEOUT_S)
    table, caught_up = _wait_caught_up(client, events.height)
    seconds = time.perf_counter() - began
    return _compare(table, events, query_id, seconds, caught_up)


def _query_id(client: KsqlClient, entities: list[dict[str, Any]], table: str = TABLE) -> str:
    for entity in reversed(entities):
        qid = (entity.get("commandStatus") or {}).get("queryId")
        if qid:
            return str(qid)
    for query in client.list_queries():
        if table in [str(s).upper() for s in query.get("sinks", [])]:
            return str(query["id"])
    raise TelemetryError(
        f"no query writes {table} after CREATE ... AS SELECT (entities: {str(entities)[:300]})",
        hint="check the ksqlDB server log (telemetry logs ksqldb)",
    )


def _wait_caught_up(
    client: KsqlClient, expected: int, *, pull: str = PULL, cols: tuple[str, str] | None = None
) -> tuple[pl.DataFrame, bool]:
    """Pull the table until its kill + death counts sum to ``expected`` or the timeout."""
    deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
    while True:
        table = client.pull(pull)
        counted = _counted(table, cols or ("KILL_COUNT", "DEATH_COUNT"))
        if counted >= expected:
            return table, counted == expected
        if time.monotonic() > deadline:
            logger.warning(
                "%s counted %d of %d events after %g s",
                TABLE,
                counted,
                expected,
                CATCH_UP_TIMEOUT_S,
            )
            return table, False
        time.sleep(CATCH_UP_POLL_S)


def _counted(table: pl.DataFrame, cols: tuple[str, str]) -> int:
    if table.height == 0:
        return 0
    return int(table[cols[0]].sum()) + int(table[cols[1]].sum())


def _scale(table: pl.DataFrame) -> int:
    dtype = table.schema.get("KILL_RATIO")
    return int(getattr(dtype, "scale", 0) or 0)


def _terminates(kills: int, deaths: int, scale: int) -> bool:
    """Whether kills/deaths has an exact decimal expansion with at most ``scale`` digits."""
    quotient = Decimal(kills) / Decimal(deaths)
    return quotient == quotient.quantize(Decimal(1).scaleb(-scale))


def _compare(
    table: pl.DataFrame, events: pl.DataFrame, query_id: str, seconds: float, caught_up: bool
) -> KsqlStepResult:
    truth = (
        events.with_columns(WINDOWSTART=(pl.col("timestamp") // WINDOW_MS * WINDOW_MS))
        .group_by("player_id", "WINDOWSTART")
        .agg(
            exp_kills=(pl.col("event_type") == "kill").sum().cast(pl.Int64),
            exp_deaths=(pl.col("event_type") == "death").sum().cast(pl.Int64),
        )
    )
    scale = _scale(table)
    got = table.select(
        pl.col("PLAYER_ID").alias("player_id"),
        pl.col("WINDOWSTART").cast(pl.Int64),
        pl.col("KILL_COUNT").cast(pl.Int64),
        pl.col("DEATH_COUNT").cast(pl.Int64),
        pl.col("KILL_RATIO").cast(pl.String).alias("ratio"),
    )
    joined = truth.join(got, on=["player_id", "WINDOWSTART"], how="full", coalesce=True)
    counts_ok = joined.filter(
        (pl.col("exp_kills") == pl.col("KILL_COUNT"))
        & (pl.col("exp_deaths") == pl.col("DEATH_COUNT"))
    ).height
    ratio_bad = null_zero = null_nonterminating = null_unexplained = compared = 0
    for kills, deaths, ratio in joined.select("exp_kills", "exp_deaths", "ratio").iter_rows():
        if kills is None or deaths is None:
            continue
        if ratio is None:
            if deaths == 0:
                null_zero += 1
            elif not _terminates(kills, deaths, scale):
                null_nonterminating += 1
            else:
                null_unexplained += 1
            continue
        compared += 1
        if deaths == 0 or Decimal(ratio) != Decimal(kills) / Decimal(deaths):
            ratio_bad += 1
    last = int(truth["WINDOWSTART"].max()) if truth.height else None  # type: ignore[arg-type]
    top = (
        got.filter(pl.col("WINDOWSTART") == last)
        .sort(["KILL_COUNT", "player_id"], descending=[True, False])
        .head(TOP_N)
    )
    checks: list[tuple[str, Any, Any]] = [
        ("ksql table caught up (kills + deaths == kafka records)", True, caught_up),
        ("ksql table rows == polars (player, window) groups", truth.height, table.height),
        ("ksql kill/death counts equal polars", truth.height, counts_ok),
        ("ksql non-null kill_ratio == kills/deaths", 0, ratio_bad),
        ("ksql NULL kill_ratio only for deaths == 0 or non-terminating", 0, null_unexplained),
    ]
    summary = {
        "query_id": query_id,
        "rows": table.height,
        "windows": got["WINDOWSTART"].n_unique(),
        "players": got["player_id"].n_unique(),
        "seconds_to_catch_up": round(seconds, 2),
        "ratio_scale": scale,
        "ratios_compared": compared,
        "null_ratio_deaths_zero": null_zero,
        "null_ratio_non_terminating": null_nonterminating,
        "last_window_start_ms": last,
        "top_players_last_window": [
            {"player_id": p, "kills": k, "deaths": d, "kill_ratio": r}
            for p, _, k, d, r in top.iter_rows()
        ],
    }
    return KsqlStepResult(checks=checks, summary=summary)


def render_section(s: dict[str, Any]) -> list[str]:
    """The report lines of the ksqlDB step from its summary (none if it did not run)."""
    if "skipped" in s:
        return [f"  ksqlDB step SKIPPED: {s['skipped']}"]
    if "query_id" not in s:
        return []
    lines = [
        f"  ksqlDB {TABLE} ({s['query_id']}): {s['rows']:,} rows, {s['windows']} windows, "
        f"{s['players']} players, caught up in {s['seconds_to_catch_up']:.2f} s",
        f"    kill_ratio NULL: {s['null_ratio_deaths_zero']} with deaths == 0, "
        f"{s['null_ratio_non_terminating']} non-terminating at scale {s['ratio_scale']} "
        f"(ksqlDB #9874); {s['ratios_compared']} compared",
    ]
    top = ", ".join(
        f"{t['player_id']} {t['kills']}/{t['deaths']}" for t in s["top_players_last_window"]
    )
    lines.append(f"    top {TOP_N} by kills in the last window (kills/deaths): {top}")
    return lines


# ---------------------------------------------------------------------------- enrichment
def run_enrichment_step(
    client: KsqlClient,
    events: pl.DataFrame,
    players: pl.DataFrame,
    *,
    events_topic: str,
    players_topic: str,
) -> KsqlStepResult:
    """Players table, enriched stream and per-team table (after :func:`run_ksql_step` created
    the stream); wait until every event is counted; compare with the polars batch join."""
    began = time.perf_counter()
    script = ds.with_topics(ds.ENRICHMENT_SCRIPT, events=events_topic, players=players_topic)
    entities = client.execute(f"{SET_EARLIEST}\n{script}", properties={"auto.offset.reset": "earliest"})
    query_id = _query_id(client, entities, ds.TEAM_TABLE)
    client.wait_until_running(query_id, timeout=RUNNING_TIMEOUT_S)
    truth = ds.team_kd_truth(events, players)
    expected = int(truth["KILLS"].sum()) + int(truth["DEATHS"].sum()) if truth.height else 0
    table, caught_up = _wait_caught_up(
        client, expected, pull=PULL_TEAMS, cols=("KILLS", "DEATHS")
    )
    seconds = time.perf_counter() - began
    return compare_teams(table, truth, query_id=query_id, seconds=seconds, caught_up=caught_up)


def compare_teams(
    table: pl.DataFrame,
    truth: pl.DataFrame,
    *,
    query_id: str,
    seconds: float,
    caught_up: bool,
) -> KsqlStepResult:
    """Checks of the per-team table (TEAM, WINDOWSTART, KILLS, DEATHS, KD_RATIO rows, e.g. a
    pull query's answer) against :func:`telemetry_lib.demo_statements.team_kd_truth`."""
    got = table.select(
        pl.col("TEAM"),
        pl.col("WINDOWSTART").cast(pl.Int64),
        pl.col("KILLS").cast(pl.Int64).alias("got_kills"),
        pl.col("DEATHS").cast(pl.Int64).alias("got_deaths"),
        pl.col("KD_RATIO").cast(pl.Float64).alias("got_ratio"),
    )
    joined = truth.join(got, on=["TEAM", "WINDOWSTART"], how="full", coalesce=True)
    counts_ok = joined.filter(
        (pl.col("KILLS") == pl.col("got_kills")) & (pl.col("DEATHS") == pl.col("got_deaths"))
    ).height
    ratio_ok = joined.filter(
        (pl.col("KD_RATIO").is_null() & pl.col("got_ratio").is_null())
        | ((pl.col("KD_RATIO") - pl.col("got_ratio")).abs() <= RATIO_RTOL * pl.col("KD_RATIO").abs())
    ).height
    checks: list[tuple[str, Any, Any]] = [
        ("enriched team table caught up (kills + deaths == joined events)", True, caught_up),
        ("team table rows == polars (team, window) groups", truth.height, table.height),
        ("team kills/deaths equal the polars batch join", truth.height, counts_ok),
        ("team kd_ratio equals the polars batch join (NULL without deaths)", truth.height, ratio_ok),
    ]
    summary = {
        "query_id": query_id,
        "rows": table.height,
        "teams": got["TEAM"].n_unique(),
        "windows": got["WINDOWSTART"].n_unique(),
        "seconds_to_catch_up": round(seconds, 2),
        "null_ratio_no_deaths": int(truth["KD_RATIO"].null_count()),
    }
    return KsqlStepResult(checks=checks, summary=summary)


def render_enrichment_section(s: dict[str, Any]) -> list[str]:
    """The report lines of the enrichment step from its summary (none if it did not run)."""
    if "skipped" in s:
        return [f"  enrichment step SKIPPED: {s['skipped']}"]
    if "query_id" not in s:
        return []
    return [
        f"  ksqlDB {ds.TEAM_TABLE} ({s['query_id']}): {s['rows']:,} rows, {s['teams']} teams, "
        f"{s['windows']} windows, caught up in {s['seconds_to_catch_up']:.2f} s "
        f"(telemetry_stream LEFT JOIN players, per-team 5-minute K/D)"
    ]
