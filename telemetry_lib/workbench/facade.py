"""The notebook-facing :class:`Workbench`: one object per notebook, one method per step.

Notebooks carry no logic: each cell calls one method here and shows its result. A method
talks to the services only through the library's clients (MongoDB helpers, Kafka reader,
:class:`~telemetry_lib.ksql.client.KsqlClient`, the Connect client), so the same notebook runs
against the embedded stack or a remote profile.

    wb = Workbench.open(profile=None, output_dir="reports/adhoc")
    seeded = wb.seed(players=200, events=20_000, seed=7)
    wb.write_summary("01_seed_mongo", seeded.as_dict())

Summaries are JSON files ``<output_dir>/<notebook>.json``; a :class:`~telemetry_lib.config.Secret`
is written masked (its ``str``), and no method puts a connection URI into a summary.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import polars as pl

from telemetry_lib import charts
from telemetry_lib.analytics.changelog import kd_table
from telemetry_lib.analytics.truth import KdComparison, compare_kd, kd_truth
from telemetry_lib.charts import ExportFormat
from telemetry_lib.config import Settings, load_settings
from telemetry_lib.connectors.client import ConnectClient
from telemetry_lib.errors import ConnectError, ConnectionFailed, TelemetryError
from telemetry_lib.generator import GeneratorConfig, TelemetryGenerator, event_checksum
from telemetry_lib.kafka import delete_topic, end_offsets, list_topics, read_records, read_topic
from telemetry_lib.ksql.client import KsqlClient
from telemetry_lib.mongo import get_collection, read_collection
from telemetry_lib.workbench import connect, enrichment, pipeline
from telemetry_lib.workbench.lineage import Lineage, build_lineage
from telemetry_lib.workbench.live import LiveFeed
from telemetry_lib.workbench.pipeline import PipelineNames

__all__ = ["SeedResult", "Workbench", "find_config_file", "project_root"]

logger = logging.getLogger(__name__)

#: Rows of a sample shown in a notebook: enough to see the shape, small in the report.
SAMPLE_ROWS = 5
#: Poll period while waiting for records to reach a topic.
TOPIC_POLL_S = 0.5
#: The source connector copies ~3-5k docs/s from NX-27017; 120 s covers 100k events on a busy
#: machine and reports a stuck connector.
TOPIC_TIMEOUT_S = 120.0
#: Kafka Connect answers its REST API in milliseconds locally; 10 s tolerates a managed one.
CONNECT_TIMEOUT_S = 10.0
#: Default connector names and the sink's collection (the demo's).
SOURCE_CONNECTOR = "mongo-telemetry-source"
SINK_CONNECTOR = "mongo-kill-ratio-sink"
SINK_COLLECTION = "player_kill_ratio"
#: Size of exported chart images (px): readable on a laptop screen and in a report.
CHART_WIDTH = 1000
CHART_HEIGHT = 560
#: The settings file a notebook looks for when its working directory has none (JupyterLab
#: serves ``notebooks/``, the file sits in the repository root).
CONFIG_NAME = "workbench.toml"


@dataclass(frozen=True)
class SeedResult:
    """What notebook 01 wrote to MongoDB, with the generator's own checksum of it."""

    database: str
    events_collection: str
    players_collection: str
    events: int
    players: int
    kills: int
    deaths: int
    checksum: int
    mongo_events: int
    mongo_players: int
    seconds: float
    first_ms: int | None
    last_ms: int | None
    sample: pl.DataFrame = field(repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "events_collection": self.events_collection,
            "players_collection": self.players_collection,
            "events": self.events,
            "players": self.players,
            "kills": self.kills,
            "deaths": self.deaths,
            "checksum": str(self.checksum),
            "mongo_events": self.mongo_events,
            "mongo_players": self.mongo_players,
            "first_event_ms": self.first_ms,
            "last_event_ms": self.last_ms,
            "seconds": round(self.seconds, 2),
        }


def find_config_file(start: Path | None = None) -> Path | None:
    """``$TELEMETRY_CONFIG``'s file, else the nearest ``workbench.toml`` in ``start`` (the
    working directory) or its parents up to the repository root; None when there is none."""
    if os.environ.get("TELEMETRY_CONFIG"):
        return Path(os.environ["TELEMETRY_CONFIG"])
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder / CONFIG_NAME
        if (folder / ".git").exists():
            break
    return None


def project_root(start: Path | None = None) -> Path:
    """The repository root (the nearest folder with ``pyproject.toml``), else ``start``/cwd:
    relative output folders mean the same place from the root and from ``notebooks/``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    return here


class Workbench:
    """The steps of the notebooks over one profile's services (module docstring)."""

    def __init__(
        self,
        settings: Settings,
        *,
        output_dir: Path | str | None = None,
        database: str = "game",
        events_collection: str = "telemetry_events",
        players_collection: str = "players",
        names: PipelineNames | None = None,
    ) -> None:
        self.settings = settings
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.database = database
        self.events_collection = events_collection
        self.players_collection = players_collection
        self.names = names or PipelineNames()
        self._ksql: KsqlClient | None = None
        self._connect: ConnectClient | None = None

    @classmethod
    def open(
        cls,
        profile: str | None = None,
        *,
        output_dir: Path | str | None = None,
        database: str = "game",
        events_collection: str = "telemetry_events",
        players_collection: str = "players",
        topic: str | None = None,
        stream: str = "TELEMETRY_STREAM",
        table: str = "PLAYER_KILL_RATIO",
    ) -> Workbench:
        """Settings from ``profile`` (None: the environment / workbench.toml's), names given;
        ``topic`` None is the source connector's ``<database>.<events_collection>``."""
        settings = load_settings(config_file=find_config_file() or False, profile=profile)
        folder = Path(output_dir) if output_dir is not None else None
        if folder is not None and not folder.is_absolute():
            folder = project_root() / folder
        return cls(
            settings,
            output_dir=folder,
            database=database,
            events_collection=events_collection,
            players_collection=players_collection,
            names=PipelineNames(
                topic=topic or connect.source_topic(database, events_collection),
                stream=stream.upper(),
                table=table.upper(),
            ),
        )

    def __repr__(self) -> str:
        return f"Workbench(profile={self.settings.profile!r}, database={self.database!r})"

    # --- clients -------------------------------------------------------------------------------

    @property
    def ksql(self) -> KsqlClient:
        """A ksqlDB client for the profile's server (API key auth when configured)."""
        if self._ksql is None:
            auth = self.settings.ksqldb_auth() or (None, None)
            self._ksql = KsqlClient(self.settings.ksqldb_url, *auth)
        return self._ksql

    def close(self) -> None:
        if self._ksql is not None:
            self._ksql.close()
            self._ksql = None
        if self._connect is not None:
            self._connect.close()
            self._connect = None

    # --- summaries -----------------------------------------------------------------------------

    def write_summary(self, notebook: str, data: dict[str, Any]) -> Path | None:
        """Write ``data`` as ``<output_dir>/<notebook>.json`` (None when no output_dir)."""
        if self.output_dir is None:
            return None
        self.output_dir.mkdir(parents=True, exist_ok=True)
        path = self.output_dir / f"{notebook}.json"
        path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
        return path

    # --- 01: seed MongoDB ------------------------------------------------------------------------

    def generator(self, *, players: int, events: int, seed: int) -> TelemetryGenerator:
        return TelemetryGenerator(GeneratorConfig(seed=seed, players=players, events=events))

    def seed(self, *, players: int, events: int, seed: int) -> SeedResult:
        """Replace the events and players collections with a generated run."""
        began = time.perf_counter()
        gen = self.generator(players=players, events=events, seed=seed)
        truth = gen.events()
        events_coll = self._collection(self.events_collection)
        events_coll.drop()
        gen.players_to_mongo(self.players_collection, database=self.database, settings=self.settings)
        gen.to_mongo(
            self.events_collection, database=self.database, settings=self.settings, progress=False
        )
        seconds = time.perf_counter() - began
        kinds = truth["event_type"].value_counts()
        count = dict(zip(kinds["event_type"].to_list(), kinds["count"].to_list(), strict=True))
        return SeedResult(
            database=self.database,
            events_collection=self.events_collection,
            players_collection=self.players_collection,
            events=truth.height,
            players=players,
            kills=int(count.get("kill", 0)),
            deaths=int(count.get("death", 0)),
            checksum=event_checksum(truth),
            mongo_events=events_coll.count_documents({}),
            mongo_players=self._collection(self.players_collection).count_documents({}),
            seconds=seconds,
            first_ms=int(truth["timestamp"].min()) if truth.height else None,  # type: ignore[arg-type]
            last_ms=int(truth["timestamp"].max()) if truth.height else None,  # type: ignore[arg-type]
            sample=truth.head(SAMPLE_ROWS),
        )

    def mongo_events(self) -> pl.DataFrame:
        """The seeded events as MongoDB has them (the source of truth of the walk-through)."""
        return read_collection(self._collection(self.events_collection))

    def mongo_event_count(self) -> int:
        """Documents in the events collection (what every later step must account for)."""
        return int(self._collection(self.events_collection).count_documents({}))

    def mongo_players(self) -> pl.DataFrame:
        return read_collection(self._collection(self.players_collection))

    # --- 02: the events topic ---------------------------------------------------------------------

    def topic_records(self, topic: str | None = None) -> int:
        """Records in ``topic`` (sum of its partitions' end offsets; 0 when it does not exist)."""
        name = topic or self.names.topic
        conf = self.settings.kafka_config()
        if name not in list_topics(conf):
            return 0
        return sum(end_offsets(conf, name).values())

    def wait_topic_records(
        self, expected: int, *, topic: str | None = None, timeout: float = TOPIC_TIMEOUT_S
    ) -> int:
        """Wait until ``topic`` holds at least ``expected`` records; returns the count."""
        deadline = time.monotonic() + timeout
        while True:
            count = self.topic_records(topic)
            if count >= expected:
                return count
            if time.monotonic() > deadline:
                raise TelemetryError(
                    f"topic {topic or self.names.topic!r} holds {count} of {expected} records "
                    f"after {timeout:g} s",
                    hint="check the source connector's status (GET /connectors/NAME/status) "
                    "and the worker log (telemetry logs connect)",
                )
            time.sleep(TOPIC_POLL_S)

    def read_events_topic(self, topic: str | None = None) -> pl.DataFrame:
        """Every record of the events topic, JSON values decoded."""
        return read_topic(self.settings.kafka_config(), topic or self.names.topic)

    # --- connectors (02, 06) ----------------------------------------------------------------------

    @property
    def connect(self) -> ConnectClient:
        """A Kafka Connect REST client for the profile's worker."""
        if self._connect is None:
            self._connect = ConnectClient(self.settings.connect_url)
        return self._connect

    def create_source_connector(self, name: str = SOURCE_CONNECTOR) -> dict[str, Any]:
        """Create (or update) the MongoDB source connector of the events collection and wait
        until it runs; returns its config with credentials masked."""
        config = connect.source_config(
            self.settings, database=self.database, collection=self.events_collection
        )
        self.connect.put_config(name, config)
        self.connect.wait_until_running(name)
        return connect.masked(config)

    def create_sink_connector(
        self,
        window_minutes: int,
        *,
        name: str = SINK_CONNECTOR,
        collection: str = SINK_COLLECTION,
    ) -> dict[str, Any]:
        """Create (or update) the MongoDB sink of the ratio table's topic and wait until it
        runs; returns its config with credentials masked."""
        config = connect.sink_config(
            self.settings,
            topic=self.names.table_topic,
            database=self.database,
            collection=collection,
            window_minutes=window_minutes,
        )
        self.connect.put_config(name, config)
        self.connect.wait_until_running(name)
        return connect.masked(config)

    def wait_documents(
        self, collection: str, expected: int, *, timeout: float = TOPIC_TIMEOUT_S
    ) -> int:
        """Wait until ``collection`` holds at least ``expected`` documents; the count."""
        deadline = time.monotonic() + timeout
        while True:
            count = int(self._collection(collection).count_documents({}))
            if count >= expected:
                return count
            if time.monotonic() > deadline:
                raise TelemetryError(
                    f"{self.database}.{collection} holds {count} of {expected} documents "
                    f"after {timeout:g} s",
                    hint="check the sink connector's status and the worker log "
                    "(telemetry logs connect)",
                )
            time.sleep(TOPIC_POLL_S)

    def documents(self, collection: str) -> pl.DataFrame:
        return read_collection(self._collection(collection))

    def source_check(self, topic_frame: pl.DataFrame) -> dict[str, Any]:
        """Does the topic hold each MongoDB event exactly once, with the same content?"""
        mongo = self.mongo_events()
        ids = topic_frame["event_id"] if "event_id" in topic_frame.columns else pl.Series([])
        return {
            "mongo_events": mongo.height,
            "topic_records": topic_frame.height,
            "distinct_event_ids": ids.n_unique(),
            "missing": mongo.height - ids.filter(ids.is_in(mongo["event_id"])).n_unique(),
            "same_checksum": bool(
                topic_frame.height and event_checksum(topic_frame) == event_checksum(mongo)
            ),
        }

    def sink_check(self, docs: pl.DataFrame, table: pl.DataFrame) -> dict[str, Any]:
        """Does the sink collection hold one document per (player, window) of ``table`` (the
        K/D table from the topic), with a readable ``_id`` and the same counts?"""
        if docs.height == 0:
            return {"documents": 0, "rows": table.height, "matching": 0, "ok": False}
        want = table.select(
            pl.col("player_id"),
            pl.col("window_start").dt.epoch("ms").alias("start"),
            pl.col("window_end").dt.epoch("ms").alias("end"),
            "kill_count",
            "death_count",
        )
        got = docs.select(
            pl.col("_id").cast(pl.String),
            pl.col("PLAYER_ID").alias("player_id"),
            pl.col("WINDOWSTART").cast(pl.Int64).alias("start"),
            pl.col("WINDOWEND").cast(pl.Int64).alias("end"),
            pl.col("KILL_COUNT").cast(pl.Int64).alias("got_kills"),
            pl.col("DEATH_COUNT").cast(pl.Int64).alias("got_deaths"),
        )
        joined = want.join(got, on=["player_id", "start", "end"], how="inner")
        readable = joined.filter(
            pl.col("_id")
            == pl.concat_str(
                [pl.col("player_id"), pl.col("start").cast(pl.String), pl.col("end").cast(pl.String)],
                separator="|",
            )
        )
        matching = readable.filter(
            (pl.col("got_kills") == pl.col("kill_count"))
            & (pl.col("got_deaths") == pl.col("death_count"))
        ).height
        return {
            "documents": docs.height,
            "rows": table.height,
            "readable_ids": readable.height,
            "matching": matching,
            "ok": docs.height == table.height == matching,
            "example_id": str(docs["_id"][0]),
        }

    def wait_sink_matches(
        self, table: pl.DataFrame, collection: str = SINK_COLLECTION, *, timeout: float = TOPIC_TIMEOUT_S
    ) -> tuple[pl.DataFrame, dict[str, Any]]:
        """Poll the sink collection until :meth:`sink_check` is ok (or the timeout); returns
        the documents and the last check."""
        deadline = time.monotonic() + timeout
        while True:
            docs = self.documents(collection)
            check = self.sink_check(docs, table)
            if check["ok"] or time.monotonic() > deadline:
                return docs, check
            time.sleep(TOPIC_POLL_S)

    def teardown(self, connectors: tuple[str, ...] = (SOURCE_CONNECTOR, SINK_CONNECTOR)) -> list[str]:
        """Delete the connectors, drop the table (and its topic) and the stream, delete the
        events topic; returns what was done, in order."""
        done = [
            f"DELETE connector {n}" for n in connectors if self.connect.delete(n, missing_ok=True)
        ]
        done += self.drop_pipeline()
        if delete_topic(self.settings.kafka_config(), self.names.topic):
            done.append(f"delete topic {self.names.topic}")
        return done

    # --- 03: the ksqlDB pipeline ------------------------------------------------------------------

    def pipeline_sql(self, window_minutes: int) -> tuple[str, str]:
        return pipeline.pipeline_sql(self.names, window_minutes)

    def drop_pipeline(self) -> list[str]:
        """Drop the enrichment (if any), then the table and the stream (module docstring)."""
        done = enrichment.drop_enrichment(self.ksql, self.settings, self.players_topic)
        return done + pipeline.drop_pipeline(self.ksql, self.names)

    @property
    def players_topic(self) -> str:
        """Where notebook 03 publishes the profiles: ``<database>.<players collection>``."""
        return connect.source_topic(self.database, self.players_collection)

    def create_enrichment(self, window_minutes: int) -> enrichment.EnrichmentResult:
        """Publish the MongoDB profiles to the players topic and create the players table,
        the enriched stream and the per-team K/D table (both queries RUNNING)."""
        events = self._collection(self.events_collection)
        first = events.find_one({}, sort=[("timestamp", 1)], projection={"timestamp": 1})
        if first is None:
            raise TelemetryError(
                f"{self.database}.{self.events_collection} is empty",
                hint="run notebook 01 first",
            )
        return enrichment.create_enrichment(
            self.ksql,
            self.settings,
            self.names,
            self.mongo_players(),
            players_topic=self.players_topic,
            first_event_ms=int(first["timestamp"]),
            window_minutes=window_minutes,
        )

    def wait_team_caught_up(self, expected_events: int) -> pl.DataFrame:
        """The pulled TEAM_KILL_RATIO once it has counted ``expected_events``."""
        return enrichment.wait_team_caught_up(self.ksql, expected_events)

    def compare_teams(self, table: pl.DataFrame, window_minutes: int) -> dict[str, Any]:
        """The team table against a polars batch join + aggregation of the MongoDB data."""
        truth = enrichment.team_truth(self.mongo_events(), self.mongo_players(), window_minutes)
        return enrichment.compare_teams(table, truth)

    def create_pipeline(self, window_minutes: int) -> str:
        """Create the stream and windowed table; the RUNNING query's id."""
        return pipeline.create_pipeline(self.ksql, self.names, window_minutes)

    def wait_caught_up(self, expected_events: int) -> pl.DataFrame:
        """The pulled ratio table once it has counted ``expected_events``."""
        return pipeline.wait_caught_up(self.ksql, self.names, expected_events)

    def catalog(self) -> dict[str, pl.DataFrame]:
        """SHOW STREAMS / TABLES / QUERIES as frames (name, topic, format; id, sinks, state)."""
        streams = [
            {"name": s["name"], "topic": s["topic"], "value_format": s.get("valueFormat")}
            for s in self.ksql.list_streams()
        ]
        tables = [
            {
                "name": t["name"],
                "topic": t["topic"],
                "value_format": t.get("valueFormat"),
                "windowed": bool(t.get("isWindowed")),
            }
            for t in self.ksql.list_tables()
        ]
        queries = [
            {
                "id": q["id"],
                "sinks": ", ".join(map(str, q.get("sinks", []))),
                "state": q.get("state") or q.get("statusCount"),
            }
            for q in self.ksql.list_queries()
        ]
        return {
            "streams": pl.DataFrame(streams, schema=["name", "topic", "value_format"]),
            "tables": pl.DataFrame(tables, schema=["name", "topic", "value_format", "windowed"]),
            "queries": pl.DataFrame(queries, schema=["id", "sinks", "state"]),
        }

    def describe(self, name: str) -> pl.DataFrame:
        """DESCRIBE ``name``: its columns (name, type, key or not)."""
        fields = self.ksql.describe(name).get("fields", [])
        return pl.DataFrame(
            [
                {
                    "column": f["name"],
                    "type": (f.get("schema") or {}).get("type"),
                    "key": (f.get("type") == "KEY"),
                }
                for f in fields
            ],
            schema=["column", "type", "key"],
        )

    def sample_stream(self, limit: int = SAMPLE_ROWS, *, timeout: float = 20.0) -> pl.DataFrame:
        """A bounded push query on the stream from the earliest offset (LIMIT ``limit``)."""
        return self.ksql.stream_df(
            f"SELECT * FROM {self.names.stream} EMIT CHANGES LIMIT {limit};",
            limit=limit,
            timeout=timeout,
            properties={"auto.offset.reset": "earliest"},
        )

    def pull(self, sql: str) -> pl.DataFrame:
        return self.ksql.pull(sql)

    def connector_configs(self) -> dict[str, dict[str, Any]]:
        """Every connector's config (Kafka Connect REST); empty, with a warning, when no
        worker answers (the lineage is then drawn without connectors)."""
        try:
            return {str(n): dict(self.connect.config(n)) for n in self.connect.list()}
        except (ConnectError, ConnectionFailed) as exc:
            logger.warning("lineage without connectors: %s", exc.message)
            return {}

    def lineage(self, connectors: dict[str, dict[str, Any]] | None = None) -> Lineage:
        """The data-flow graph from the ksqlDB catalog and the given connector configs."""
        return build_lineage(self.ksql, connectors)

    # --- 04: ratios into polars -------------------------------------------------------------------

    def ratio_changelog(self) -> pl.DataFrame:
        """Every record of the ratio table's topic, undecoded (key and value bytes)."""
        return read_records(self.settings.kafka_config(), self.names.table_topic)

    def ratio_table(
        self, window_minutes: int, changelog: pl.DataFrame | None = None
    ) -> pl.DataFrame:
        """The K/D table from the ratio topic: windowed keys decoded, the changelog collapsed
        to the latest row per (player, window), ``kd`` computed from the counts."""
        records = self.ratio_changelog() if changelog is None else changelog
        return kd_table(records, window_size_ms=window_minutes * 60_000)

    def truth_table(self, events: pl.DataFrame, window_minutes: int) -> pl.DataFrame:
        """The same K/D table computed by polars straight from ``events`` (the truth)."""
        return kd_truth(events, window_ms=window_minutes * 60_000)

    def ratio_scale(self) -> int | None:
        """The scale of the table's DECIMAL ``KILL_RATIO`` (None when it is not DECIMAL)."""
        frame = self.ksql.pull(f"SELECT * FROM {self.names.table} LIMIT 1;")
        dtype = frame.schema.get("KILL_RATIO")
        if isinstance(dtype, pl.Decimal) and dtype.scale is not None:
            return int(dtype.scale)
        return None

    def compare(
        self, table: pl.DataFrame, truth: pl.DataFrame, *, scale: int | None = None
    ) -> KdComparison:
        """Key by key comparison of a K/D table with the truth (NULL ratios explained)."""
        return compare_kd(table, truth, scale=scale)

    # --- 05: charts -------------------------------------------------------------------------------

    @property
    def charts_dir(self) -> Path | None:
        """``<output_dir>/charts`` (None without an output folder)."""
        return self.output_dir / "charts" if self.output_dir is not None else None

    def export_chart(
        self,
        fig: go.Figure,
        name: str,
        *,
        formats: tuple[ExportFormat, ...] = ("html", "png", "svg"),
        width: int = CHART_WIDTH,
        height: int = CHART_HEIGHT,
    ) -> dict[str, str]:
        """Write ``fig`` to the charts folder as offline HTML, PNG and SVG; the file names
        (empty when there is no output folder)."""
        if self.charts_dir is None:
            return {}
        written = charts.export(fig, self.charts_dir, name, formats, width=width, height=height)
        return {str(fmt): path.name for fmt, path in written.items()}

    # --- live dashboard -----------------------------------------------------------------------

    def live_feed(
        self,
        *,
        players: int = 50,
        rate: float = 200.0,
        duration_s: float = 20.0,
        seed: int = 1,
        window_minutes: int = 1,
    ) -> LiveFeed:
        """A live run: generator paced at ``rate`` events/s for ``duration_s``, its own
        ``live_*`` topic and K/D table, and a FigureWidget fed by the push query."""
        return LiveFeed(
            self.ksql,
            self.settings,
            players=players,
            rate=rate,
            duration_s=duration_s,
            seed=seed,
            window_minutes=window_minutes,
        )

    # --- helpers -------------------------------------------------------------------------------

    def _collection(self, name: str) -> Any:
        return get_collection(self.settings, name, database=self.database)
