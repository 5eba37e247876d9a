"""``telemetry generate``: the generator from the command line.

    telemetry generate --events 100000 --sink kafka --topic telemetry_events --partitions 4
    telemetry generate --duration 60 --rate 500 --start now --sink kafka   # live, paced
    telemetry generate --events 20000 --sink mongo --drop --players-collection players
    telemetry generate --events 10 --sink stdout                            # NDJSON lines

Size: any two of --events, --duration, --rate (see GeneratorConfig). --rate also paces the
writes to that many events per second.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from datetime import datetime

from telemetry_lib.config import Settings
from telemetry_lib.errors import GeneratorError
from telemetry_lib.generator.config import (
    DEFAULT_LATE_AFTER_MS,
    DEFAULT_START_MS,
    GeneratorConfig,
    ResolvedConfig,
)
from telemetry_lib.generator.events import iter_batches, value_columns
from telemetry_lib.generator.serialize import kafka_records
from telemetry_lib.generator.sinks import (
    SinkReport,
    write_kafka,
    write_mongo,
    write_players_kafka,
    write_players_mongo,
)
from telemetry_lib.mongo import get_collection

__all__ = ["add_generate_arguments", "parse_start", "run_generate_command"]

logger = logging.getLogger(__name__)


def add_generate_arguments(parser: argparse.ArgumentParser) -> None:
    """``telemetry generate`` options."""
    size = parser.add_argument_group("size (any two of events, duration, rate)")
    size.add_argument("--events", type=int, help="number of events (even: kills + deaths)")
    size.add_argument("--duration", type=float, metavar="SECONDS", help="event-time span")
    size.add_argument(
        "--rate", type=float, metavar="EVENTS_PER_S", help="events/s; also paces the writes"
    )
    shape = parser.add_argument_group("content")
    shape.add_argument("--players", type=int, default=1000, help="players (default 1000)")
    shape.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    shape.add_argument(
        "--start",
        default=None,
        metavar="WHEN",
        help="first event time: epoch ms, ISO-8601, or 'now' (default 2024-01-01T00:00Z)",
    )
    shape.add_argument("--team-size", type=int, default=5, help="players per team (default 5)")
    shape.add_argument("--no-positions", action="store_true", help="omit x, y")
    shape.add_argument("--no-weapons", action="store_true", help="omit weapon")
    messy = parser.add_argument_group("reliability testing")
    messy.add_argument("--out-of-order", type=float, default=0.0, metavar="FRACTION")
    messy.add_argument("--late", type=float, default=0.0, metavar="FRACTION")
    messy.add_argument(
        "--late-after-ms",
        type=int,
        default=DEFAULT_LATE_AFTER_MS,
        help=f"how late a late record is, at least (default {DEFAULT_LATE_AFTER_MS})",
    )
    messy.add_argument("--malformed", type=float, default=0.0, metavar="FRACTION")
    sink = parser.add_argument_group("sink")
    sink.add_argument("--sink", choices=("kafka", "mongo", "stdout"), default="kafka")
    sink.add_argument("--topic", default="telemetry_events", help="Kafka topic")
    sink.add_argument(
        "--partitions", type=int, help="create the topic with this many partitions if missing"
    )
    sink.add_argument("--database", default="game", help="Mongo database (default game)")
    sink.add_argument("--collection", default="telemetry_events", help="Mongo collection")
    sink.add_argument(
        "--players-collection",
        metavar="NAME",
        help="also write the player profiles to this Mongo collection (replaced)",
    )
    sink.add_argument(
        "--players-topic",
        metavar="NAME",
        help="also write the player profiles to this Kafka topic (key player_id)",
    )
    sink.add_argument("--drop", action="store_true", help="drop the Mongo collection first")
    sink.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_generate_command(args: argparse.Namespace, settings: Settings) -> int:
    """``telemetry generate``: write the run to the chosen sink and print what was written."""
    config = GeneratorConfig(
        seed=args.seed,
        players=args.players,
        events=args.events,
        duration_s=args.duration,
        rate=args.rate,
        start_ms=parse_start(args.start),
        team_size=args.team_size,
        positions=not args.no_positions,
        weapons=not args.no_weapons,
        out_of_order_fraction=args.out_of_order,
        late_fraction=args.late,
        late_after_ms=args.late_after_ms,
        malformed_fraction=args.malformed,
    )
    resolved = config.resolve()
    progress = not args.no_progress and args.sink != "stdout"
    if args.players_collection:
        written = write_players_mongo(
            resolved, args.players_collection, database=args.database, settings=settings
        )
        print(f"wrote {written.events} player profiles to mongo {written.target}")
    if args.players_topic:
        written = write_players_kafka(
            resolved, args.players_topic, settings=settings, partitions=args.partitions
        )
        print(f"wrote {written.events} player profiles to kafka {written.target}")
    report: SinkReport
    if args.sink == "kafka":
        report = write_kafka(
            resolved, args.topic, settings=settings, partitions=args.partitions, progress=progress
        )
    elif args.sink == "mongo":
        if args.drop:
            get_collection(settings, args.collection, database=args.database).drop()
        report = write_mongo(
            resolved, args.collection, database=args.database, settings=settings, progress=progress
        )
    else:
        _write_stdout(resolved)
        return 0
    print(
        f"wrote {report.events:,} events"
        + (f" + {report.malformed:,} malformed records" if report.malformed else "")
        + f" to {report.sink} {report.target} in {report.seconds:.2f} s "
        f"({report.rate:,.0f} records/s), checksum {report.checksum:016x}"
    )
    return 0


def parse_start(value: str | None) -> int:
    """``--start``: None -> the default start, 'now', epoch ms, or an ISO-8601 instant."""
    if value is None:
        return DEFAULT_START_MS
    if value == "now":
        return int(time.time() * 1000)
    if value.isdigit():
        return int(value)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise GeneratorError(
            f"--start {value!r} is not a time",
            hint="give epoch milliseconds, an ISO-8601 time (2024-01-01T00:00:00Z) or 'now'",
        ) from None
    if parsed.tzinfo is None:
        raise GeneratorError(
            f"--start {value!r} has no time zone", hint="add Z or an offset, e.g. +00:00"
        )
    return int(parsed.timestamp() * 1000)


def _write_stdout(resolved: ResolvedConfig) -> None:
    """Every record's value as one line on stdout (malformed ones too, bytes as-is)."""
    out = sys.stdout.buffer
    columns = value_columns(resolved)
    for batch in iter_batches(resolved):
        out.write(b"\n".join(kafka_records(batch, columns).values) + b"\n")
    out.flush()
