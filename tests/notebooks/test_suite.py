"""The notebooks run headless (papermill) on the embedded stack; their summaries are checked
against truth computed here from the generator's events with plain polars."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import polars as pl
import pymongo
import pytest

from telemetry_lib.config import Settings
from telemetry_lib.generator import TelemetryGenerator
from telemetry_lib.kafka import list_topics, read_topic
from telemetry_lib.ksql.client import KsqlClient
from telemetry_lib.workbench import ReportResult, run_report
from tests.notebooks.conftest import PARAMS, TOPIC, truth_events
from tests.notebooks.png import png_info

# The session's notebook suite (set up by the first test needing it) takes 1-3 minutes on a
# busy 2-core machine: more than the default per-test timeout leaves room for.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

WINDOW_MS = int(PARAMS["window_minutes"]) * 60_000  # type: ignore[call-overload]


def _summary(suite: ReportResult, name: str) -> dict[str, object]:
    return json.loads((suite.folder / f"{name}.json").read_text())


def _truth() -> pl.DataFrame:
    events = truth_events()
    assert isinstance(events, pl.DataFrame)
    return (
        events.with_columns(start=pl.col("timestamp") // WINDOW_MS * WINDOW_MS)
        .group_by("player_id", "start")
        .agg(
            kills=(pl.col("event_type") == "kill").sum(),
            deaths=(pl.col("event_type") == "death").sum(),
        )
    )


def test_01_seeds_mongo(suite: ReportResult) -> None:
    s = _summary(suite, "01_seed_mongo")
    events = truth_events()
    assert isinstance(events, pl.DataFrame)
    assert s["events"] == s["mongo_events"] == events.height == PARAMS["events"]
    assert s["players"] == s["mongo_players"] == PARAMS["players"]
    assert s["kills"] == (events["event_type"] == "kill").sum()
    assert s["first_event_ms"] == events["timestamp"].min()


def test_02_source_connector_copied_every_event(
    suite: ReportResult, notebook_stack: Settings
) -> None:
    s = _summary(suite, "02_source_connector")
    events = truth_events()
    assert s["topic"] == TOPIC and s["records"] == events.height
    check = s["check"]
    assert check["missing"] == 0 and check["same_checksum"] is True  # type: ignore[index]
    assert check["distinct_event_ids"] == events.height  # type: ignore[index]
    assert s["config"]["connector.class"] == "com.mongodb.kafka.connect.MongoSourceConnector"  # type: ignore[index]
    # Independently: the topic holds each generated event once.
    topic = read_topic(notebook_stack.kafka_config(), TOPIC)
    assert topic.height == events.height
    assert sorted(topic["event_id"].to_list()) == sorted(events["event_id"].to_list())


def test_03_pipeline_counts_every_event(suite: ReportResult) -> None:
    s = _summary(suite, "03_ksql_pipeline")
    truth = _truth()
    assert s["events_counted"] == PARAMS["events"]
    assert s["table_rows"] == truth.height
    assert s["windows"] == truth["start"].n_unique()
    assert s["players"] == truth["player_id"].n_unique()
    assert s["query_states"][s["query_id"]] == "RUNNING"  # type: ignore[index]
    lines = s["lineage"]["edges"]  # type: ignore[index]
    assert [f"topic:{TOPIC}", "stream:TELEMETRY_STREAM"] in lines
    assert ["table:PLAYER_KILL_RATIO", "topic:PLAYER_KILL_RATIO"] in lines
    # The whole flow, as one path: collection -> source connector -> topic -> stream -> query
    # -> table -> topic (the sink connector is created later, in 06).
    db = PARAMS["database"]
    path = [f"collection:{db}.telemetry_events", "connector:mongo-telemetry-source",
            f"topic:{TOPIC}", "stream:TELEMETRY_STREAM", f"query:{s['query_id']}",
            "table:PLAYER_KILL_RATIO", "topic:PLAYER_KILL_RATIO"]  # fmt: skip
    assert path in s["lineage_paths"]  # type: ignore[operator]


def test_03_enrichment_per_team_matches_a_polars_join(suite: ReportResult) -> None:
    s = _summary(suite, "03_ksql_pipeline")["enrichment"]
    gen = TelemetryGenerator(seed=int(PARAMS["seed"]), players=int(PARAMS["players"]),
                             events=int(PARAMS["events"]))  # fmt: skip
    joined = gen.events().join(gen.players().select("player_id", "team"), on="player_id")
    teams = joined.group_by("team", pl.col("timestamp") // WINDOW_MS).agg(
        kills=(pl.col("event_type") == "kill").sum()
    )
    assert s["players_published"] == PARAMS["players"]  # type: ignore[index]
    assert s["team_rows"] == teams.height and s["team_kills"] == teams["kills"].sum()  # type: ignore[index]
    assert s["check"]["ok"] is True  # type: ignore[index]
    assert s["queries"][0].startswith("CSAS_TELEMETRY_ENRICHED")  # type: ignore[index]


def test_04_ratio_table_matches_truth(suite: ReportResult) -> None:
    s = _summary(suite, "04_ratio_to_polars")
    truth = _truth()
    assert s["rows"] == truth.height
    assert s["kills"] == truth["kills"].sum() and s["deaths"] == truth["deaths"].sum()
    assert s["changelog_records"] >= truth.height
    cmp = s["comparison"]
    assert cmp["ok"] is True and cmp["missing"] == cmp["extra"] == 0  # type: ignore[index]
    nulls_zero = truth.filter(pl.col("deaths") == 0).height
    assert cmp["ratio_null_deaths_zero"] == nulls_zero  # type: ignore[index]
    last = truth["start"].max()
    top = (
        truth.filter(pl.col("start") == last)
        .sort(["kills", "player_id"], descending=[True, False])
        .row(0, named=True)
    )
    got = s["top_player_last_window"]
    assert got == {  # type: ignore[comparison-overlap]
        "player_id": top["player_id"],
        "window_start_ms": last,
        "kills": top["kills"],
        "deaths": top["deaths"],
    }


def test_html_report_has_every_notebook(suite: ReportResult) -> None:
    assert suite.html is not None
    page = suite.html.read_text()
    assert 'id="nb-03_ksql_pipeline"' in page and 'id="nb-04_ratio_to_polars"' in page
    assert '"type":"sankey"' in page  # the lineage figure survived nbconvert


CHARTS = ("kd_trends", "leaderboard", "kd_distribution", "streaks", "anomalies",
          "death_heatmap", "team_kd")  # fmt: skip


def test_05_leader_and_heatmap_match_truth(suite: ReportResult) -> None:
    s = _summary(suite, "05_player_trends")
    truth = _truth().with_columns(
        kd=pl.when(pl.col("deaths") == 0)
        .then(pl.col("kills").cast(pl.Float64))
        .otherwise(pl.col("kills") / pl.col("deaths"))
    )
    last = truth["start"].max()
    leader = (
        truth.filter(pl.col("start") == last)
        .sort(["kd", "kills", "player_id"], descending=[True, True, False])
        .row(0, named=True)
    )
    got = s["leader_last_window"]
    assert got["player_id"] == leader["player_id"]  # type: ignore[index]
    assert got["window_start_ms"] == last and got["kd"] == pytest.approx(leader["kd"])  # type: ignore[index]
    events = truth_events()
    assert isinstance(events, pl.DataFrame)
    deaths = events.filter((pl.col("event_type") == "death") & pl.col("x").is_not_null())
    assert s["heatmap_deaths"] == deaths.height
    assert sorted(s["charts"]) == sorted(CHARTS)  # type: ignore[arg-type]


def test_05_exports_every_chart_offline(suite: ReportResult) -> None:
    charts = suite.folder / "charts"
    for name in CHARTS:
        width, height, distinct = png_info(charts / f"{name}.png")
        assert (width, height) == (1000, 560), name
        assert distinct > 50, f"{name}.png looks blank ({distinct} distinct byte values)"
        svg = (charts / f"{name}.svg").read_text()
        assert svg.lstrip().startswith("<svg") and 'width="1000"' in svg, name
        html = (charts / f"{name}.html").read_text()
        # Offline: plotly.js is in the page itself, no script is loaded from a CDN.
        assert re.search(r"<script[^>]*\bsrc=", html) is None, name
        assert len(html) > 1_000_000 and "Plotly.newPlot" in html, name


def test_html_report_embeds_the_charts(suite: ReportResult) -> None:
    assert suite.html is not None
    page = suite.html.read_text()
    assert 'id="nb-05_player_trends"' in page
    for kind in ("scatter", "bar", "heatmap", "sankey"):
        assert f'"type":"{kind}"' in page, kind
    # The library is embedded (the figures render offline), once for the whole page.
    assert page.count("plotly.js v") == 1


def test_06_sink_wrote_one_readable_document_per_window(
    suite: ReportResult, notebook_stack: Settings
) -> None:
    s = _summary(suite, "06_sink_and_teardown")
    truth = _truth()
    assert s["check"]["ok"] is True and s["check"]["documents"] == truth.height  # type: ignore[index]
    assert s["teardown"] == [] and s["skip_teardown"] is True
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        notebook_stack.mongo_uri.reveal()
    )
    try:
        coll = client[str(PARAMS["database"])]["player_kill_ratio"]
        assert coll.count_documents({}) == truth.height
        row = truth.sort("player_id", "start").row(0, named=True)
        doc = coll.find_one({"_id": f"{row['player_id']}|{row['start']}|{row['start'] + WINDOW_MS}"})
    finally:
        client.close()
    assert doc is not None
    assert (doc["KILL_COUNT"], doc["DEATH_COUNT"]) == (row["kills"], row["deaths"])
    assert doc["PLAYER_ID"] == row["player_id"] and doc["WINDOWSTART"] == row["start"]


def test_zz_06_teardown_removes_the_pipeline(
    suite: ReportResult, notebook_stack: Settings, tmp_path: Path
) -> None:
    """Last (it removes what the other tests read): notebook 06 again, with teardown."""
    result = run_report(notebook_stack, parameters=PARAMS, notebooks=("06_sink_and_teardown",),
                        folder=tmp_path, progress=False, html=False)  # fmt: skip
    done = result.runs[0].summary["teardown"]  # type: ignore[index]
    assert "DELETE connector mongo-telemetry-source" in done
    assert "DELETE connector mongo-kill-ratio-sink" in done
    assert f"delete topic {TOPIC}" in done
    with KsqlClient(notebook_stack.ksqldb_url) as ksql:
        tables = {t["name"] for t in ksql.list_tables()}
        streams = {t["name"] for t in ksql.list_streams()}
    # (Other tests of the session may have left their own sources and connectors behind.)
    assert not tables & {"PLAYER_KILL_RATIO", "TEAM_KILL_RATIO", "PLAYERS"}, tables
    assert not streams & {"TELEMETRY_STREAM", "TELEMETRY_ENRICHED"}, streams
    topics = list_topics(notebook_stack.kafka_config())
    assert TOPIC not in topics and "PLAYER_KILL_RATIO" not in topics
    assert f"{PARAMS['database']}.players" not in topics
    connectors = httpx.get(f"{notebook_stack.connect_url}/connectors", timeout=10).json()
    assert not {"mongo-telemetry-source", "mongo-kill-ratio-sink"} & set(connectors)
