"""The main job (``telemetry demo``, run by ``make run``): a round trip through the stack.

1. generate players and kill/death events (deterministic for the seed);
2. write the players to MongoDB ``game.players`` and the events to ``game.telemetry_events``
   (both collections replaced: event ids repeat for a seed);
3. write the events to the Kafka topic ``telemetry_events`` and the profiles to ``players``
   (both recreated with an explicit partition count, so the broker never auto-creates them),
   key = player_id;
4. read everything back (Kafka with ``read_topic``, MongoDB with ``read_collection``);
5. ksqlDB (when reachable): the windowed kill/death ratio table built from the topic and
   compared per (player, window) with polars; then the enrichment: a ``players`` table, the
   events stream LEFT JOIN players, and a per-team windowed K/D table compared per (team,
   window) with a polars batch join (see :mod:`telemetry_lib.demo_ksql`);
6. check counts, the order-independent event checksum, kills == deaths per match, record
   keys and timestamps; write ``reports/<UTC timestamp>/summary.json`` and print a short
   report. Any failed check makes the command exit non-zero.

Until the notebooks exist this is the whole main job; the notebooks issue replaces it with the
papermill notebook run.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from telemetry_lib import demo_ksql
from telemetry_lib.config import Settings
from telemetry_lib.errors import KafkaError
from telemetry_lib.generator import GeneratorConfig, TelemetryGenerator, event_checksum
from telemetry_lib.kafka import KafkaAdmin, read_topic
from telemetry_lib.mongo import get_collection, read_collection

__all__ = [
    "Check",
    "DemoConfig",
    "DemoReport",
    "add_demo_arguments",
    "run_demo",
    "run_demo_command",
]

logger = logging.getLogger(__name__)

#: Defaults: 1000 players and 100k events (~50 minutes of game time, ten 5-minute windows)
#: round-trip in well under a minute on the embedded stack (NX-27017 inserts ~5-10k docs/s).
DEFAULT_PLAYERS = 1_000
DEFAULT_EVENTS = 100_000
#: Partitions of the events topic: enough to show keyed partitioning, few enough for a laptop.
DEFAULT_PARTITIONS = 4
#: Where reports go, relative to the working directory (git-ignored).
DEFAULT_REPORTS_DIR = Path("reports")
#: Exit status when a round-trip check fails.
EXIT_MISMATCH = 2
#: A deleted topic leaves the metadata within a second on Tansu and single-broker Kafka;
#: 15 s covers a busy multi-broker cluster.
RECREATE_TIMEOUT_S = 15.0
#: Metadata poll period while waiting for a deletion.
RECREATE_POLL_S = 0.2


@dataclass(frozen=True)
class DemoConfig:
    """What the main job generates and where it writes."""

    players: int = DEFAULT_PLAYERS
    events: int = DEFAULT_EVENTS
    seed: int = 42
    partitions: int = DEFAULT_PARTITIONS
    topic: str = "telemetry_events"
    players_topic: str = "players"
    database: str = "game"
    events_collection: str = "telemetry_events"
    players_collection: str = "players"
    reports_dir: Path = DEFAULT_REPORTS_DIR
    progress: bool = True


@dataclass(frozen=True)
class Check:
    """One verified property of the round trip."""

    name: str
    expected: Any
    actual: Any

    @property
    def ok(self) -> bool:
        return bool(self.expected == self.actual)

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.name, "expected": self.expected, "actual": self.actual, "ok": self.ok}


@dataclass(frozen=True)
class DemoReport:
    """Everything the main job did and found; ``summary.json`` is :meth:`as_dict`."""

    started_at: str
    settings: dict[str, Any]
    generated: dict[str, Any]
    steps: list[dict[str, Any]]
    checks: list[Check]
    output_dir: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "started_at": self.started_at,
            "settings": self.settings,
            "generated": self.generated,
            "steps": self.steps,
            "checks": [c.as_dict() for c in self.checks],
            "output_dir": str(self.output_dir),
            **self.extra,
        }


def run_demo(settings: Settings, config: DemoConfig | None = None) -> DemoReport:
    """Run the round trip (module docstring) and write its summary; never raises on a
    mismatch (the report's checks say what failed), only on service errors."""
    config = config or DemoConfig()
    started = datetime.now(UTC)
    gen = TelemetryGenerator(
        GeneratorConfig(seed=config.seed, players=config.players, events=config.events)
    )
    steps: list[dict[str, Any]] = []

    # 1. generate (timed separately from the writes, which regenerate while streaming).
    began = time.perf_counter()
    players = gen.players()
    events = gen.events()
    steps.append(_step("generate", events.height, time.perf_counter() - began, "in memory"))
    truth = event_checksum(events)

    # 2. MongoDB: players and events, collections replaced.
    players_coll = get_collection(settings, config.players_collection, database=config.database)
    events_coll = get_collection(settings, config.events_collection, database=config.database)
    events_coll.drop()
    written = gen.players_to_mongo(
        config.players_collection, database=config.database, settings=settings
    )
    steps.append(_step("mongo players", written.events, written.seconds, written.target))
    mongo_write = gen.to_mongo(
        config.events_collection,
        database=config.database,
        settings=settings,
        progress=config.progress,
    )
    steps.append(_step("mongo write", mongo_write.records, mongo_write.seconds, mongo_write.target))

    # 3. Kafka: the topic recreated with its partition count, then the events. An earlier
    # run's ksqlDB table and stream are dropped first, so no query reads the recreated topic.
    admin = KafkaAdmin(settings)
    ksql, unreachable = demo_ksql.ksql_client(settings)
    if ksql is not None:
        demo_ksql.drop_previous(ksql, admin)
    _recreate_topic(admin, config.topic, config.partitions)
    kafka_write = gen.to_kafka(config.topic, settings=settings, progress=config.progress)
    steps.append(_step("kafka write", kafka_write.records, kafka_write.seconds, config.topic))
    _recreate_topic(admin, config.players_topic, config.partitions)
    players_write = gen.players_to_kafka(config.players_topic, settings=settings)
    steps.append(
        _step("kafka players", players_write.events, players_write.seconds, config.players_topic)
    )

    # 4. Read everything back.
    began = time.perf_counter()
    from_kafka = read_topic(settings, config.topic)
    steps.append(_step("kafka read", from_kafka.height, time.perf_counter() - began, config.topic))
    began = time.perf_counter()
    from_mongo = read_collection(events_coll)
    mongo_name = f"{config.database}.{config.events_collection}"
    steps.append(_step("mongo read", from_mongo.height, time.perf_counter() - began, mongo_name))
    players_back = read_collection(players_coll)

    # 5. Verify.
    checks = _checks(gen, events, truth, players, players_back, from_kafka, from_mongo)
    checks.append(Check("kafka writer checksum", _hex(truth), _hex(kafka_write.checksum)))
    checks.append(Check("mongo writer checksum", _hex(truth), _hex(mongo_write.checksum)))

    # 6. ksqlDB: the demo's table over the topic, compared with polars.
    enrich_result = demo_ksql.KsqlStepResult(skipped=unreachable)
    if ksql is None:
        ksql_result = demo_ksql.KsqlStepResult(skipped=unreachable)
        if settings.is_embedded:  # `telemetry up` starts ksqldb: its absence is a failure
            checks.append(Check("ksqldb reachable (embedded profile)", True, False))
    else:
        with ksql:
            ksql_result = demo_ksql.run_ksql_step(ksql, events, config.topic)
            enrich_result = _enrichment(ksql, events, players, config)
        steps.append(
            _step(
                "ksql table",
                events.height,
                ksql_result.summary["seconds_to_catch_up"],
                demo_ksql.TABLE,
            )
        )
        checks += [Check(*c) for c in ksql_result.checks]
        if enrich_result.skipped is None:
            steps.append(
                _step(
                    "ksql enrich",
                    events.height,
                    enrich_result.summary["seconds_to_catch_up"],
                    demo_ksql.ds.TEAM_TABLE,
                )
            )
            checks += [Check(*c) for c in enrich_result.checks]
    out_dir = _output_dir(config.reports_dir, started)
    report = DemoReport(
        started_at=started.isoformat(timespec="seconds"),
        settings={
            "profile": settings.profile,
            "bootstrap_servers": settings.bootstrap_servers,
            "mongo": f"{config.database} ({settings.profile} MongoDB)",
            "topic": config.topic,
            "partitions": config.partitions,
        },
        generated={
            "seed": config.seed,
            "players": players.height,
            "events": events.height,
            "matches": events["match_id"].n_unique(),
            "first_timestamp": int(events["timestamp"].min()),  # type: ignore[arg-type]
            "last_timestamp": int(events["timestamp"].max()),  # type: ignore[arg-type]
            "checksum": _hex(truth),
        },
        steps=steps,
        checks=checks,
        output_dir=out_dir,
        extra={
            "ksql": ksql_result.summary or {"skipped": ksql_result.skipped},
            "enrichment": enrich_result.summary or {"skipped": enrich_result.skipped},
        },
    )
    (out_dir / "summary.json").write_text(json.dumps(report.as_dict(), indent=2) + "\n")
    return report


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """``telemetry demo`` options."""
    parser.add_argument("--players", type=int, default=DEFAULT_PLAYERS, help="players to create")
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS, help="events (even)")
    parser.add_argument("--seed", type=int, default=42, help="generator seed")
    parser.add_argument(
        "--partitions", type=int, default=DEFAULT_PARTITIONS, help="partitions of the topic"
    )
    parser.add_argument("--topic", default="telemetry_events", help="Kafka topic (recreated)")
    parser.add_argument(
        "--database", default="game", help="Mongo database (telemetry_events, players replaced)"
    )
    parser.add_argument(
        "--reports-dir", type=Path, default=DEFAULT_REPORTS_DIR, help="where reports go"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run_demo_command(args: argparse.Namespace, settings: Settings) -> int:
    """``telemetry demo``: run the round trip, print the report, exit 2 on a mismatch."""
    config = DemoConfig(
        players=args.players,
        events=args.events,
        seed=args.seed,
        partitions=args.partitions,
        topic=args.topic,
        database=args.database,
        reports_dir=args.reports_dir,
        progress=not args.no_progress,
    )
    report = run_demo(settings, config)
    print(render_report(report))
    return 0 if report.ok else EXIT_MISMATCH


def render_report(report: DemoReport) -> str:
    """The short human-readable round-trip report."""
    gen = report.generated
    lines = [
        f"telemetry demo ({report.settings['profile']} profile, seed {gen['seed']}): "
        f"{gen['players']} players, {gen['events']} events in {gen['matches']} matches",
    ]
    for step in report.steps:
        lines.append(
            f"  {step['step']:<14} {step['records']:>9,} records  {step['seconds']:>7.2f} s  "
            f"{step['records_per_s']:>11,.0f}/s  {step['target']}"
        )
    lines += demo_ksql.render_section(report.extra.get("ksql", {}))
    lines += demo_ksql.render_enrichment_section(report.extra.get("enrichment", {}))
    failed = [c for c in report.checks if not c.ok]
    lines.append(
        f"  checks: {len(report.checks) - len(failed)}/{len(report.checks)} passed"
        + ("" if failed else f" (checksum {gen['checksum']})")
    )
    for check in failed:
        lines.append(f"  MISMATCH {check.name}: expected {check.expected}, got {check.actual}")
    lines.append(f"  summary: {report.output_dir / 'summary.json'}")
    return "\n".join(lines)


def _checks(
    gen: TelemetryGenerator,
    events: pl.DataFrame,
    truth: int,
    players: pl.DataFrame,
    players_back: pl.DataFrame,
    from_kafka: pl.DataFrame,
    from_mongo: pl.DataFrame,
) -> list[Check]:
    kills = int((events["event_type"] == "kill").sum())
    per_match = events.group_by("match_id").agg(
        balance=(pl.col("event_type") == "kill").sum() - (pl.col("event_type") == "death").sum()
    )
    checks = [
        Check("kills == deaths", kills, events.height - kills),
        Check("matches with kills != deaths", 0, int((per_match["balance"] != 0).sum())),
        Check("kafka records", events.height, from_kafka.height),
        Check("mongo documents", events.height, from_mongo.height),
        Check("mongo players", players.height, players_back.height),
    ]
    if from_kafka.height:
        checks += [
            Check("kafka checksum", _hex(truth), _hex(event_checksum(from_kafka))),
            Check(
                "kafka keys == player_id",
                0,
                int((from_kafka["key"] != from_kafka["player_id"]).sum()),
            ),
            Check(
                "kafka record time == event time",
                0,
                int((from_kafka["kafka_timestamp"] != from_kafka["timestamp"]).sum()),
            ),
            Check(
                "players spread over several partitions",
                True,
                from_kafka.group_by("key").agg(pl.col("partition").n_unique())["partition"].max()
                == 1
                and from_kafka["partition"].n_unique() > 1,
            ),
        ]
    if from_mongo.height:
        checks.append(Check("mongo checksum", _hex(truth), _hex(event_checksum(from_mongo))))
    if players_back.height:
        back = players_back.drop("_id").select(players.columns).sort("player_id")
        checks.append(Check("mongo players equal profiles", True, back.equals(players)))
    return checks


def _enrichment(
    client: demo_ksql.KsqlClient, events: pl.DataFrame, players: pl.DataFrame, config: DemoConfig
) -> demo_ksql.KsqlStepResult:
    """The enrichment step; an engine without joins (UnsupportedError) is reported as skipped,
    never as a pass."""
    try:
        return demo_ksql.run_enrichment_step(
            client, events, players, events_topic=config.topic, players_topic=config.players_topic
        )
    except demo_ksql.KsqlServerError as exc:
        if "Unsupported feature" not in str(exc):
            raise
        return demo_ksql.KsqlStepResult(skipped=f"the ksqlDB server refused the join: {exc}")


def _recreate_topic(admin: KafkaAdmin, topic: str, partitions: int) -> None:
    """Delete ``topic`` if present, wait until metadata no longer lists it, create it anew."""
    if admin.delete_topic(topic):
        deadline = time.monotonic() + RECREATE_TIMEOUT_S
        while topic in admin.list_topics(include_internal=True):
            if time.monotonic() > deadline:
                raise KafkaError(
                    f"topic {topic!r} was deleted but still listed after {RECREATE_TIMEOUT_S} s",
                    hint="retry in a moment, or pass --topic with another name",
                )
            time.sleep(RECREATE_POLL_S)
    admin.create_topic(topic, partitions)


def _step(step: str, records: int, seconds: float, target: str) -> dict[str, Any]:
    return {
        "step": step,
        "records": records,
        "seconds": round(seconds, 4),
        "records_per_s": round(records / seconds, 1) if seconds > 0 else None,
        "target": target,
    }


def _output_dir(root: Path, started: datetime) -> Path:
    """``root/<UTC timestamp>``, made unique if two runs start in the same second."""
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    path = root / stamp
    n = 1
    while path.exists():
        n += 1
        path = root / f"{stamp}-{n}"
    path.mkdir(parents=True)
    return path.resolve()


def _hex(value: int) -> str:
    return f"{value:016x}"
