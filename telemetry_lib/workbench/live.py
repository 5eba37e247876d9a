"""The live dashboard: a push query feeding a plotly ``FigureWidget`` while the generator plays.

:class:`LiveFeed` owns one live run, in its own names (``live_*`` topic, stream and table) so it
never touches the walk-through's pipeline:

1. ``start()`` drops an earlier live run, creates the events topic and the windowed K/D table
   (the demo's statements, by event time), and starts the generator in a background thread,
   paced at ``rate`` events/s with event times starting now (game server → Kafka);
2. ``run(seconds)`` reads the table's push query (``EMIT CHANGES``) for at most ``seconds``:
   each change updates the latest (player, window) row and, at most every
   :data:`REFRESH_S`, redraws the widget (top players of the current window by K/D);
3. ``finish()`` waits for the generator, then until the table has counted every event (a pull
   query), and returns a summary; ``stop()`` drops the live pipeline and its topics.

Headless (papermill) the widget cannot be seen, so the notebook also shows a static figure
of the final state; the time bound keeps the run short.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
import polars as pl

from telemetry_lib.generator import GeneratorConfig, TelemetryGenerator
from telemetry_lib.kafka import create_topic, delete_topic, list_topics
from telemetry_lib.ksql.client import KsqlClient
from telemetry_lib.workbench import pipeline
from telemetry_lib.workbench.pipeline import PipelineNames

__all__ = ["LiveFeed", "LiveSummary"]

logger = logging.getLogger(__name__)

#: Redraw period of the widget: smooth to the eye, cheap for the browser.
REFRESH_S = 0.5
#: Players shown in the live bar chart.
TOP_PLAYERS = 10
#: Partitions of the live events topic (one is enough for a dashboard's rate).
LIVE_PARTITIONS = 1
#: Generator thread join bound beyond its planned duration (it is paced by the wall clock).
GENERATOR_SLACK_S = 30.0


@dataclass(frozen=True)
class LiveSummary:
    """What a live run saw and what the table holds at the end."""

    start_ms: int
    events: int
    changes_received: int
    redraws: int
    rows: int
    players: int
    kills: int
    deaths: int
    events_counted: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class LiveFeed:
    """One live run (module docstring)."""

    def __init__(
        self,
        ksql: KsqlClient,
        settings: Any,
        *,
        players: int = 50,
        rate: float = 200.0,
        duration_s: float = 20.0,
        seed: int = 1,
        window_minutes: int = 1,
        prefix: str = "live",
    ) -> None:
        self.ksql = ksql
        self.settings = settings
        self.window_minutes = window_minutes
        self.names = PipelineNames(
            topic=f"{prefix}_telemetry_events",
            stream=f"{prefix}_stream".upper(),
            table=f"{prefix}_kill_ratio".upper(),
        )
        self.start_ms = int(time.time() * 1000)
        events = max(2, int(rate * duration_s) // 2 * 2)
        self.generator = TelemetryGenerator(
            GeneratorConfig(
                seed=seed, players=players, events=events, rate=rate, start_ms=self.start_ms
            )
        )
        self.widget = go.FigureWidget(
            go.Bar(x=[], y=[], marker_color="#1f77b4"),
            layout={
                "title": "Live K/D, current window (top players)",
                "xaxis_title": "player",
                "yaxis_title": "K/D",
                "height": 420,
            },
        )
        self._rows: dict[tuple[str, int], tuple[int, int]] = {}
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.changes = 0
        self.redraws = 0

    @property
    def events(self) -> int:
        return self.generator.resolved.events

    def start(self) -> str:
        """Fresh topic and table, generator running; returns the table's query id."""
        pipeline.drop_pipeline(self.ksql, self.names)
        conf = self.settings.kafka_config()
        if self.names.topic in list_topics(conf):
            delete_topic(conf, self.names.topic)
        create_topic(conf, self.names.topic, LIVE_PARTITIONS)
        query_id = pipeline.create_pipeline(self.ksql, self.names, self.window_minutes)
        self._thread = threading.Thread(target=self._generate, name="live-generator", daemon=True)
        self._thread.start()
        return query_id

    def run(self, seconds: float) -> int:
        """Follow the table's changes for at most ``seconds``; the changes received."""
        last_draw = 0.0
        deadline = time.monotonic() + seconds
        sql = f"SELECT * FROM {self.names.table} EMIT CHANGES;"
        for row in self.ksql.stream(
            sql, timeout=seconds, properties={"auto.offset.reset": "earliest"}
        ):
            start = row.get("WINDOWSTART")
            key = (str(row["PLAYER_ID"]), _epoch_ms(start))
            self._rows[key] = (int(row["KILL_COUNT"] or 0), int(row["DEATH_COUNT"] or 0))
            self.changes += 1
            now = time.monotonic()
            if now - last_draw >= REFRESH_S:
                self._redraw()
                last_draw = now
            if now > deadline:
                break
        self._redraw()
        return self.changes

    def finish(self) -> LiveSummary:
        """Wait for the generator and for the table to count every event; the summary."""
        if self._thread is not None:
            self._thread.join(timeout=self.events / max(1.0, self._rate()) + GENERATOR_SLACK_S)
        if self._error is not None:
            raise self._error
        table = pipeline.wait_caught_up(self.ksql, self.names, self.events)
        return LiveSummary(
            start_ms=self.start_ms,
            events=self.events,
            changes_received=self.changes,
            redraws=self.redraws,
            rows=table.height,
            players=table["PLAYER_ID"].n_unique(),
            kills=int(table["KILL_COUNT"].sum()),
            deaths=int(table["DEATH_COUNT"].sum()),
            events_counted=pipeline.counted_events(table),
        )

    def final_figure(self) -> go.Figure:
        """A static copy of the widget (what a report can show)."""
        return go.Figure(self.widget.data, self.widget.layout)

    def stop(self) -> list[str]:
        """Drop the live table and stream and delete the live topics."""
        done = pipeline.drop_pipeline(self.ksql, self.names)
        if delete_topic(self.settings.kafka_config(), self.names.topic):
            done.append(f"delete topic {self.names.topic}")
        return done

    # --- helpers -------------------------------------------------------------------------------

    def _rate(self) -> float:
        return float(self.generator.config.rate or 1.0)

    def _generate(self) -> None:
        try:
            self.generator.to_kafka(self.names.topic, settings=self.settings, progress=False)
        except BaseException as exc:  # reported by finish()
            self._error = exc

    def _redraw(self) -> None:
        if not self._rows:
            return
        frame = pl.DataFrame(
            [(p, w, k, d) for (p, w), (k, d) in self._rows.items()],
            schema=["player", "window", "kills", "deaths"],
            orient="row",
        )
        current = frame.filter(pl.col("window") == pl.col("window").max())
        top = (
            current.with_columns(
                kd=pl.when(pl.col("deaths") == 0)
                .then(pl.col("kills").cast(pl.Float64))
                .otherwise(pl.col("kills") / pl.col("deaths"))
            )
            .sort(["kd", "kills", "player"], descending=[True, True, False])
            .head(TOP_PLAYERS)
        )
        with self.widget.batch_update():
            self.widget.data[0].x = top["player"].to_list()
            self.widget.data[0].y = top["kd"].to_list()
        self.redraws += 1


def _epoch_ms(value: object) -> int:
    """A WINDOWSTART from the client (UTC datetime, or epoch ms) as epoch ms."""
    if hasattr(value, "timestamp"):
        return int(value.timestamp() * 1000)
    return int(value)  # type: ignore[call-overload]
