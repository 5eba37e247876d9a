"""The ``telemetry`` command: a thin shell over :mod:`telemetry_lib.services` and friends.

    telemetry [--workdir DIR] [--profile P] [--config FILE] [--kafka-port N ...] COMMAND
    telemetry up | down | status | logs [SERVICE] [-n N] [-f]

Global options may also follow the subcommand (``telemetry up --kafka-port 19092``). Settings
come from flags > ``TELEMETRY_*`` environment > ``workbench.toml`` > defaults. Errors from the
project's error tree are printed as one message with its fix, without a traceback, and the
exit status is 1; ``status`` also exits 1 when a service is not healthy (or, under a remote
profile, not reachable), so scripts can test it.

Adding a subcommand is one function taking ``(args, settings)`` and returning the exit code,
an optional function adding its arguments, and one line in :data:`SUBCOMMANDS`; name them as
``"module:function"`` strings so their module is imported only when that subcommand runs
(``telemetry up`` must not pay for importing the generator)::

    # telemetry_lib/generator/command.py
    def add_generate_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--count", type=int, default=1000)

    def run_generate_command(args: argparse.Namespace, settings: Settings) -> int:
        ...
        return 0

    # here
    Subcommand("generate", "generate events", "telemetry_lib.generator.command:"
               "run_generate_command", "telemetry_lib.generator.command:add_generate_arguments")
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telemetry_lib.config import PROFILES, Settings, load_settings
from telemetry_lib.errors import TelemetryError
from telemetry_lib.services import Stack, service_names
from telemetry_lib.services.spec import ServiceStatus

__all__ = ["SUBCOMMANDS", "Subcommand", "build_parser", "main"]

logger = logging.getLogger(__name__)

# `telemetry logs` without -n: enough to see a start or a crash, short enough for a terminal.
_DEFAULT_LOG_LINES = 40
# `telemetry logs -f` polls the files this often: responsive without spinning.
_FOLLOW_POLL_S = 0.25
# Exit status for a failure the user can act on (bad setting, port in use, service down).
_EXIT_ERROR = 1
# Conventional exit status after Ctrl-C (128 + SIGINT).
_EXIT_INTERRUPTED = 130
# Global flags that map 1:1 onto settings (flag --kafka-port -> setting kafka_port).
_PORT_FLAGS = ("kafka_port", "mongo_port", "ksqldb_port", "connect_port")


Runner = Callable[[argparse.Namespace, Settings], int]
ArgumentAdder = Callable[[argparse.ArgumentParser], None]


@dataclass(frozen=True)
class Subcommand:
    """One ``telemetry`` subcommand: name, help, what it runs, and its own arguments.

    ``run`` and ``add_arguments`` are callables or ``"package.module:function"`` strings,
    imported only when this subcommand is the one being parsed or run.
    """

    name: str
    help: str
    run: Runner | str
    add_arguments: ArgumentAdder | str | None = None

    def runner(self) -> Runner:
        run: Runner = _resolve(self.run)
        return run

    def argument_adder(self) -> ArgumentAdder | None:
        if self.add_arguments is None:
            return None
        adder: ArgumentAdder = _resolve(self.add_arguments)
        return adder


# --- up / down / status / logs -------------------------------------------------------------------


def _up(args: argparse.Namespace, settings: Settings) -> int:
    stack = Stack(settings)
    if not settings.is_embedded:
        print(f"profile {settings.profile}: nothing to start locally; checking the endpoints")
    report = stack.up()
    width = max(len(s.service) for s in report.services)
    for item in report.services:
        pid = f"pid {item.pid}" if item.pid is not None else ""
        name, action = f"{item.service:<{width}}", f"{item.action:<15}"
        print(f"{name}  {action}  {item.address:<22}  {pid:<10}  {item.note}".rstrip())
    if settings.is_embedded:
        print(
            f"stack ready in {report.seconds:.1f}s (workdir {settings.workdir}; "
            f"logs: telemetry logs SERVICE)"
        )
    else:
        print(f"profile {settings.profile}: every endpoint answered")
    return 0


def _down(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.is_embedded:
        print(f"profile {settings.profile}: nothing to stop (remote services are not ours)")
        return 0
    stopped = Stack(settings).down()
    for record in stopped:
        print(f"stopped {record.service} (pid {record.pid}, port {record.port})")
    if not stopped:
        print(f"nothing was running (workdir {settings.workdir})")
    return 0


def _status(args: argparse.Namespace, settings: Settings) -> int:
    rows = Stack(settings).status()
    print(f"profile {settings.profile}  workdir {settings.workdir}")
    _print_table(rows)
    bad = [row for row in rows if not row.healthy]
    if bad and not settings.is_embedded:
        names = ", ".join(row.service for row in bad)
        print(f"error: unreachable under profile {settings.profile}: {names}", file=sys.stderr)
    elif bad:
        names = ", ".join(row.service for row in bad)
        print(f"not healthy: {names} (start or repair with: telemetry up)", file=sys.stderr)
    return _EXIT_ERROR if bad else 0


def _logs_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "service", nargs="?", choices=service_names(), help="one service (default: all)"
    )
    parser.add_argument(
        "-n", "--lines", type=int, default=_DEFAULT_LOG_LINES, help="lines to show from the end"
    )
    parser.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")


def _logs(args: argparse.Namespace, settings: Settings) -> int:
    stack = Stack(settings)
    names = [args.service] if args.service else stack.service_names
    files = {name: stack.log_file(name) for name in names}
    if not any(path.exists() for path in files.values()):
        print(f"no logs yet in {settings.workdir / 'logs'} (start the stack with: telemetry up)")
        return 0 if not args.follow else _follow(files)
    # Sizes are taken before the tail is printed and following starts from them, so a line
    # appended while the tail is printed is neither lost nor printed twice.
    positions = {name: path.stat().st_size if path.exists() else 0 for name, path in files.items()}
    for name, path in files.items():
        if len(files) > 1:
            print(f"==> {path} <==")
        for line in _tail_upto(path, positions[name], args.lines):
            print(line)
    sys.stdout.flush()  # show the tail now, also when stdout is a pipe
    return _follow(files, positions) if args.follow else 0


def _tail_upto(path: Path, size: int, lines: int) -> list[str]:
    """The last ``lines`` lines among the first ``size`` bytes of ``path``."""
    if not path.exists() or lines <= 0:
        return []
    with path.open("rb") as handle:
        data = handle.read(size)
    return data.decode("utf-8", errors="replace").splitlines()[-lines:]


def _follow(files: dict[str, Path], positions: dict[str, int] | None = None) -> int:
    """Print lines appended to ``files`` after ``positions`` (default: their current ends)
    until Ctrl-C, prefixed by service when several."""
    if positions is None:
        positions = {n: p.stat().st_size if p.exists() else 0 for n, p in files.items()}
    try:
        while True:
            for name, path in files.items():
                if not path.exists():
                    continue
                size = path.stat().st_size
                if size < positions[name]:  # truncated or replaced: start over
                    positions[name] = 0
                if size == positions[name]:
                    continue
                with path.open("rb") as handle:
                    handle.seek(positions[name])
                    data = handle.read()
                complete = data[: data.rfind(b"\n") + 1]
                positions[name] += len(complete)
                for line in complete.decode("utf-8", errors="replace").splitlines():
                    print(f"[{name}] {line}" if len(files) > 1 else line, flush=True)
            time.sleep(_FOLLOW_POLL_S)
    except KeyboardInterrupt:
        return 0


SUBCOMMANDS: list[Subcommand] = [
    Subcommand("up", "start the embedded stack (or check a remote profile's endpoints)", _up),
    Subcommand("down", "stop the services `up` started", _down),
    Subcommand("status", "service, address, pid, uptime and health of every service", _status),
    Subcommand("logs", "show (or follow) the services' logs", _logs, _logs_args),
    Subcommand(
        "generate",
        "generate telemetry into Kafka, MongoDB or stdout",
        "telemetry_lib.generator.command:run_generate_command",
        "telemetry_lib.generator.command:add_generate_arguments",
    ),
    Subcommand(
        "demo",
        "main job: events into MongoDB and Kafka, read back, verify, report",
        "telemetry_lib.demo:run_demo_command",
        "telemetry_lib.demo:add_demo_arguments",
    ),
    Subcommand("report", "run the notebook suite into reports/<timestamp>/ (-p key=value)", "telemetry_lib.workbench.command:run_report_command", "telemetry_lib.workbench.command:add_report_arguments"),  # noqa: E501
    Subcommand(
        "ksql",
        "ksqlDB shell (-f script.sql, -e SQL)",
        "telemetry_lib.ksql.cli:run_ksql_command",
        "telemetry_lib.ksql.cli:add_ksql_arguments",
    ),
]


# --- parser and entry point ----------------------------------------------------------------------


def _add_global_options(parser: argparse.ArgumentParser, *, default: object) -> None:
    """Options accepted before and after the subcommand (``default`` SUPPRESS on subparsers)."""
    parser.add_argument(
        "--workdir", type=Path, default=default, help="state dir (default .workbench)"
    )
    parser.add_argument("--profile", choices=PROFILES, default=default, help="settings profile")
    parser.add_argument(
        "--config", type=Path, default=default, help="settings file (workbench.toml)"
    )
    for setting in _PORT_FLAGS:
        flag = "--" + setting.replace("_", "-")
        parser.add_argument(flag, type=int, default=default, metavar="N", help=f"{setting}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=default, help="more log output (-vv: debug)"
    )


def build_parser(*, only: str | None = None) -> argparse.ArgumentParser:
    """The full parser; with ``only``, subcommand arguments are added for that one alone."""
    parser = argparse.ArgumentParser(
        prog="telemetry",
        description="Telemetry Workbench: embedded Kafka + MongoDB stack and tools.",
        epilog="Settings: flags > TELEMETRY_* environment > workbench.toml > defaults.",
    )
    _add_global_options(parser, default=None)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for sub in SUBCOMMANDS:
        child = commands.add_parser(sub.name, help=sub.help, description=sub.help)
        _add_global_options(child, default=argparse.SUPPRESS)
        adder = sub.argument_adder() if only in (None, sub.name) else None
        if adder is not None:
            adder(child)
        child.set_defaults(subcommand=sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``telemetry`` console script; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(only=_chosen_subcommand(argv)).parse_args(argv)
    _configure_logging(args.verbose or 0)
    try:
        settings = load_settings(
            config_file=args.config,
            workdir=args.workdir,
            profile=args.profile,
            kafka_port=args.kafka_port,
            mongo_port=args.mongo_port,
            ksqldb_port=args.ksqldb_port,
            connect_port=args.connect_port,
        )
        subcommand: Subcommand = args.subcommand
        return subcommand.runner()(args, settings)
    except TelemetryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return _EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return _EXIT_INTERRUPTED


def _chosen_subcommand(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (skipping global options' values), if any."""
    takes_value = {"--workdir", "--profile", "--config"} | {
        "--" + setting.replace("_", "-") for setting in _PORT_FLAGS
    }
    names = {sub.name for sub in SUBCOMMANDS}
    skip = False
    for token in argv:
        if skip:
            skip = False
        elif token in takes_value:
            skip = True
        elif token in names:
            return token
        elif not token.startswith("-"):
            return None
    return None


def _resolve(target: Callable[..., object] | str) -> Callable[..., Any]:
    """A callable, or the function a ``"package.module:function"`` string names."""
    if not isinstance(target, str):
        return target
    module, _, attribute = target.partition(":")
    function = getattr(importlib.import_module(module), attribute)
    assert callable(function), f"{target} is not callable"
    return function  # type: ignore[no-any-return]


def _print_table(rows: Sequence[ServiceStatus]) -> None:
    """The status table; long reasons ("unreachable: ...") go on lines under it."""
    table = [("SERVICE", "ADDRESS", "PID", "UPTIME", "HEALTH", "NOTE")]
    details = []
    for row in rows:
        pid = str(row.pid) if row.pid is not None else "-"
        uptime = _format_uptime(row.uptime_s) if row.uptime_s is not None else "-"
        health, _, why = row.health.partition(": ")
        if why:
            details.append(f"  {row.service}: {why}")
        table.append((row.service, row.address, pid, uptime, health, row.note))
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]) - 1)]
    for line in table:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        print("  ".join([*cells, line[-1]]).rstrip())
    for detail in details:
        print(detail)


def _format_uptime(seconds: float) -> str:
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


if __name__ == "__main__":
    sys.exit(main())
