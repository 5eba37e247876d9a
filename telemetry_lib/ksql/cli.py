"""``telemetry ksql``: a ksqlDB-style interactive shell and script runner over the REST API.

Owns: :class:`KsqlShell` (statement buffering across lines — a statement ends at a ``;``
outside quotes and comments —, session ``SET``/``UNSET``/``DEFINE``/``UNDEFINE`` kept in the
shell like ksqlDB's CLI, ``RUN SCRIPT 'file.sql';``, SELECT/PRINT as queries, everything else
through ``/ksql``, results printed as tables), :func:`split_statements` and the subcommand
hooks :func:`add_ksql_arguments` / :func:`run_ksql_command`::

    telemetry ksql                      # interactive, against settings.ksqldb_url
    telemetry ksql -f script.sql        # run a script, stop at the first error (exit 1)
    telemetry ksql -e "SHOW STREAMS;"   # run statements given on the command line

Interactive line editing and history use the standard ``readline`` module when present
(history in ``<workdir>/ksql_history``). A push query prints rows until its LIMIT, or until
Ctrl-C, which closes the query and returns to the prompt.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from telemetry_lib.errors import TelemetryError
from telemetry_lib.ksql.client import KsqlClient

if TYPE_CHECKING:
    from telemetry_lib.config import Settings

__all__ = ["KsqlShell", "add_ksql_arguments", "run_ksql_command", "split_statements"]

logger = logging.getLogger(__name__)

#: Lines kept in the history file: ksqlDB's CLI keeps a similar amount.
_HISTORY_LENGTH = 1000
#: Widest a table cell is printed before it is cut (query strings can be very long).
_MAX_CELL = 60
_EXIT_ERROR = 1
_PROMPT = "ksql> "
_CONTINUATION = "   > "

_SET = re.compile(r"^\s*SET\s+'([^']+)'\s*=\s*'((?:[^']|'')*)'\s*;?\s*$", re.IGNORECASE | re.DOTALL)
_UNSET = re.compile(r"^\s*UNSET\s+'([^']+)'\s*;?\s*$", re.IGNORECASE)
_DEFINE = re.compile(
    r"^\s*DEFINE\s+(\w+)\s*=\s*'((?:[^']|'')*)'\s*;?\s*$", re.IGNORECASE | re.DOTALL
)
_UNDEFINE = re.compile(r"^\s*UNDEFINE\s+(\w+)\s*;?\s*$", re.IGNORECASE)
_RUN_SCRIPT = re.compile(r"^\s*RUN\s+SCRIPT\s+'((?:[^']|'')+)'\s*;?\s*$", re.IGNORECASE)
_QUERY = re.compile(r"^\s*SELECT\b", re.IGNORECASE)
_PRINT = re.compile(r"^\s*PRINT\b", re.IGNORECASE)
_EXIT = re.compile(r"^\s*(exit|quit)\s*;?\s*$", re.IGNORECASE)


def split_statements(text: str) -> tuple[list[str], str]:
    """Complete statements in ``text`` (each ending in ``;`` outside quotes and comments)
    and the incomplete rest."""
    statements: list[str] = []
    start = 0
    i = 0
    quote: str | None = None
    n = len(text)
    while i < n:
        ch = text[i]
        if quote is not None:
            if ch == quote:
                if i + 1 < n and text[i + 1] == quote:
                    i += 1  # doubled quote
                else:
                    quote = None
        elif ch in "'`\"":
            quote = ch
        elif text.startswith("--", i):
            newline = text.find("\n", i)
            i = n if newline < 0 else newline
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        elif ch == ";":
            statement = text[start : i + 1].strip()
            if statement != ";":
                statements.append(statement)
            start = i + 1
        i += 1
    return statements, text[start:]


class KsqlShell:
    """Runs statements against a ksqlDB server and prints the results."""

    def __init__(self, client: KsqlClient, *, out: TextIO = sys.stdout, err: TextIO = sys.stderr):
        self.client = client
        self.out = out
        self.err = err
        self.properties: dict[str, str] = {}
        self.variables: dict[str, str] = {}
        self._buffer = ""

    # ------------------------------------------------------------------ input
    @property
    def pending(self) -> bool:
        """A statement has started but not ended yet (the prompt shows a continuation)."""
        return bool(self._buffer.strip())

    def feed(self, line: str) -> bool:
        """Add one input line; run every statement it completes. False if one failed."""
        self._buffer += line + "\n"
        statements, self._buffer = split_statements(self._buffer)
        ok = True
        for statement in statements:
            ok = self.run_statement(statement) and ok
        return ok

    def run_script(self, text: str) -> bool:
        """Run every statement of ``text``; stop at the first failure."""
        statements, rest = split_statements(text)
        if rest.strip():
            statements.append(rest.strip())
        for statement in statements:
            if not self.run_statement(statement):
                return False
        return True

    # ------------------------------------------------------------------ one statement
    def run_statement(self, statement: str) -> bool:
        try:
            self._dispatch(statement)
        except TelemetryError as exc:
            self.err.write(f"{exc}\n")
            return False
        return True

    def _dispatch(self, statement: str) -> None:
        if match := _SET.match(statement):
            self.properties[match.group(1)] = match.group(2).replace("''", "'")
            self._say(f"Successfully changed local property '{match.group(1)}'.")
        elif match := _UNSET.match(statement):
            self.properties.pop(match.group(1), None)
            self._say(f"Successfully unset local property '{match.group(1)}'.")
        elif match := _DEFINE.match(statement):
            self.variables[match.group(1)] = match.group(2).replace("''", "'")
        elif match := _UNDEFINE.match(statement):
            self.variables.pop(match.group(1), None)
        elif match := _RUN_SCRIPT.match(statement):
            path = Path(match.group(1).replace("''", "'")).expanduser()
            try:
                text = path.read_text()
            except OSError as exc:
                raise TelemetryError(f"cannot read script {path}: {exc}") from exc
            if not self.run_script(text):
                raise TelemetryError(f"script {path} stopped at the failing statement above")
        elif _PRINT.match(statement):
            lines = self.client.print_topic(statement)
            try:
                for line in lines:
                    self._say(line)
            except KeyboardInterrupt:
                self._say("Topic printing ceased")
            finally:
                lines.close()
        elif _QUERY.match(statement):
            self._query(statement)
        else:
            entities = self.client.execute(
                statement, properties=self.properties, variables=self.variables or None
            )
            for entity in entities:
                self._print_entity(entity)

    def _query(self, statement: str) -> None:
        rows = self.client.stream(statement, properties=self.properties)
        printed: list[list[Any]] = []
        header: list[str] | None = None
        try:
            for row in rows:
                if header is None:
                    header = list(row)
                    self._say(_row_line(header))
                    self._say(_rule(header))
                values = list(row.values())
                printed.append(values)
                self._say(_row_line([_cell(v) for v in values]))
        except KeyboardInterrupt:
            self._say("Query terminated")
        finally:
            rows.close()
        self._say(f"({len(printed)} row{'s' if len(printed) != 1 else ''})")

    # ------------------------------------------------------------------ output
    def _say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def _print_entity(self, entity: dict[str, Any]) -> None:
        kind = entity.get("@type")
        if kind == "currentStatus":
            self._say(str(entity.get("commandStatus", {}).get("message", "")))
        elif kind in ("streams", "tables"):
            rows = [
                [s["name"], s["topic"], s["keyFormat"], s["valueFormat"], s["isWindowed"]]
                for s in entity[kind]
            ]
            title = "Stream Name" if kind == "streams" else "Table Name"
            self._table([title, "Kafka Topic", "Key Format", "Value Format", "Windowed"], rows)
        elif kind == "queries":
            rows = [
                [q["id"], q.get("state"), ",".join(q["sinks"]), q["queryString"]]
                for q in entity["queries"]
            ]
            self._table(["Query ID", "Status", "Sink Name", "Query String"], rows)
        elif kind == "kafka_topics":
            rows = [[t["name"], len(t.get("replicaInfo", []))] for t in entity["topics"]]
            self._table(["Kafka Topic", "Partitions"], rows)
        elif kind == "sourceDescription":
            desc = entity["sourceDescription"]
            self._say(f"Name                 : {desc['name']}")
            fields = [
                [f["name"], f["schema"]["type"] + (f" ({f['type']})" if f.get("type") else "")]
                for f in desc["fields"]
            ]
            self._table(["Field", "Type"], fields)
        elif kind == "warning_entity":
            self._say(str(entity.get("message")))
        elif kind in _CONNECTOR_MESSAGES:
            self._say(_CONNECTOR_MESSAGES[kind](entity))
        elif kind == "connector_list":
            rows = [
                [c["name"], c.get("type", "").upper(), c.get("className", ""), c.get("state", "")]
                for c in entity["connectors"]
            ]
            self._table(["Connector Name", "Type", "Class", "Status"], rows)
        elif kind == "connector_plugins_list":
            rows = [
                [p["className"], str(p.get("type", "")).upper(), p.get("version", "")]
                for p in entity["connectorsPlugins"]
            ]
            self._table(["Connector Plugin Class", "Type", "Version"], rows)
        else:
            body = {k: v for k, v in entity.items() if k not in ("statementText", "warnings")}
            self._say(json.dumps(body, indent=2, default=str))
        for warning in entity.get("warnings") or []:
            self.err.write(f"WARNING: {warning.get('message')}\n")

    def _table(self, header: list[str], rows: Iterable[Sequence[Any]]) -> None:
        cells = [[_cell(v) for v in row] for row in rows]
        widths = [len(h) for h in header]
        for row in cells:
            widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
        self._say(" " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        self._say("-" * (sum(widths) + 3 * len(widths)))
        for row in cells:
            self._say(" " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        self._say("-" * (sum(widths) + 3 * len(widths)))


# One-line outputs of connector statements (ksqlDB's CLI wording).
_CONNECTOR_MESSAGES: dict[str, Callable[[dict[str, Any]], str]] = {
    "connector_info": lambda e: f" Created connector {e['info']['name']}",
    "drop_connector": lambda e: f' Dropped connector "{e["connectorName"]}"',
    "error_entity": lambda e: str(e.get("errorMessage")),
}


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = text.replace("\n", " ")
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 3] + "..."


def _row_line(values: Sequence[str]) -> str:
    return "|" + "|".join(f" {v} " for v in values) + "|"


def _rule(values: Sequence[str]) -> str:
    return "+" + "+".join("-" * (len(v) + 2) for v in values) + "+"


# ---------------------------------------------------------------------- subcommand hooks
def add_ksql_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--file", type=Path, help="run the statements of a .sql script")
    parser.add_argument("-e", "--execute", metavar="SQL", help="run these statements and exit")
    parser.add_argument("--url", help="ksqlDB server (default: the ksqldb_url setting)")


def run_ksql_command(args: argparse.Namespace, settings: Settings) -> int:
    auth = settings.ksqldb_auth()
    client = KsqlClient(args.url or settings.ksqldb_url, *(auth or ()))
    shell = KsqlShell(client)
    try:
        if args.file is not None:
            try:
                text = Path(args.file).read_text()
            except OSError as exc:
                print(f"error: cannot read {args.file}: {exc}", file=sys.stderr)
                return _EXIT_ERROR
            return 0 if shell.run_script(text) else _EXIT_ERROR
        if args.execute is not None:
            return 0 if shell.run_script(args.execute) else _EXIT_ERROR
        return _interactive(shell, Path(settings.workdir) / "ksql_history")
    finally:
        client.close()


def _interactive(shell: KsqlShell, history: Path) -> int:
    try:
        import readline
    except ImportError:  # pragma: no cover - not on every platform
        readline = None  # type: ignore[assignment]
    if readline is not None:
        try:
            readline.read_history_file(history)
        except OSError:
            pass
        readline.set_history_length(_HISTORY_LENGTH)
    info = shell.client.info()
    print(f"Connected to ksqlDB {info.get('version', '?')} at {shell.client.url}")
    print("Statements end with ';'. RUN SCRIPT 'file.sql'; runs a file. exit to leave.")
    try:
        while True:
            try:
                line = input(_CONTINUATION if shell.pending else _PROMPT)
            except EOFError:
                print()
                return 0
            except KeyboardInterrupt:
                print()
                shell._buffer = ""
                continue
            if not shell.pending and _EXIT.match(line):
                return 0
            shell.feed(line)
    finally:
        if readline is not None:
            try:
                history.parent.mkdir(parents=True, exist_ok=True)
                readline.write_history_file(history)
            except OSError:
                logger.debug("could not write the ksql history file", exc_info=True)
