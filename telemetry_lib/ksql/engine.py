"""The engine façade: statements in, catalog effects and running queries out.

Owns: :class:`KsqlEngine`, the composition root of the ksqlDB-compatible engine. It parses a
request, validates **all** its statements in a sandbox (reference §1.2: one invalid statement
means none runs), then executes them in order; and it routes record batches of a topic to the
persistent queries that read it (:meth:`KsqlEngine.process`). Each statement kind is handled by
a module of :mod:`telemetry_lib.ksql.commands`; this file stays thin.

Public API (consumed by the in-memory driver, the conformance runner, the Kafka runtime and the
REST server)::

    engine = KsqlEngine(io, config={"ksql.service.id": "default_"})
    results = engine.execute("CREATE STREAM ...; CREATE STREAM out AS SELECT ...;",
                             properties={...}, variables={...})   # -> list[StatementResult]
    engine.process("topic", records)      # records: RECORD_SCHEMA batch with partition/offset
    engine.execute(sql, on_executed=record)   # record(statement, properties) after each one ran
    engine.catalog                        # telemetry_lib.ksql.catalog.Catalog
    engine.running_queries()              # ids of running persistent queries, in start order
    engine.source_topics()                # topics some running query reads

Errors are raised as :mod:`telemetry_lib.ksql.errors` classes (``ksql_type`` / ``error_code``).

A statement that fails while executing (after the whole request validated: a Connect error, a
broker refusing a topic) raises; the statements before it stay executed, as in ksqlDB, where
each statement is distributed through the command topic as it runs and the request's answer is
the failing statement's error (carrying the earlier statements' results in
``executed_results``). ``on_executed`` is called right after each statement of the
execution pass ran, with the properties in force for it (request properties + SET/UNSET so
far): the server records catalog commands there, one by one, so what ran survives a restart
even when a later statement fails (or the process dies while a later one waits on Connect).

Calls to external systems (connector statements: Kafka Connect's REST API) run inside
:attr:`KsqlEngine.external_calls`, which a caller serialising engine work with a lock sets to
release that lock while the call waits (the REST backend does: a hung Connect must not stall
the Kafka runtime's batches). The engine enters it only with its catalog in a consistent state:
never during the sandbox pass (the connector checks the pass collects run after it, before
anything runs), and in the execution pass only around a statement's Connect calls.

Where later features plug in: GROUP BY / aggregates / windows (engine II) extend
``analyzer/query.py`` (today they raise UnsupportedError there), add logical nodes in
``plan/logical.py`` built by ``plan/builder.py``, stateful operators in ``exec/`` (state in
``state/``, lifecycle hooks ``on_watermark``/``on_checkpoint``/``on_commit`` already exist on
:class:`~telemetry_lib.ksql.exec.operator.Operator`) and one case in
``exec/physical_planner.py``; joins (engine III) add a second input to the same path. The Kafka
runtime drives the same :class:`~telemetry_lib.ksql.commands.context.RunningQuery` pipelines
that :meth:`KsqlEngine.process` drives here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager

import polars as pl

from telemetry_lib.ksql.catalog import Catalog
from telemetry_lib.ksql.commands.context import EngineState, RunningQuery, StatementContext
from telemetry_lib.ksql.commands.dispatch import execute_statement
from telemetry_lib.ksql.commands.prepare import prepare_statements
from telemetry_lib.ksql.commands.results import StatementResult
from telemetry_lib.ksql.commands.sandbox import SandboxIO
from telemetry_lib.ksql.errors import InternalError, KsqlEngineError
from telemetry_lib.ksql.exec.processing_log import ProcessingLog, processing_log_topic
from telemetry_lib.ksql.parser.ast import Statement
from telemetry_lib.ksql.runtime.io import TopicIO

__all__ = ["DEFAULT_CONFIG", "KsqlEngine", "OnExecuted", "StatementResult"]

logger = logging.getLogger(__name__)

#: Called after each statement of the execution pass ran: (statement, properties in force).
OnExecuted = Callable[[Statement, Mapping[str, object]], None]

#: ksqlDB defaults the engine's behaviour depends on (KsqlConfig); callers override any of them.
DEFAULT_CONFIG: dict[str, object] = {
    "ksql.service.id": "default_",
    "ksql.output.topic.name.prefix": "",
    "ksql.persistence.default.format.key": "KAFKA",
    "ksql.persistence.default.format.value": None,
    "ksql.logging.processing.rows.include": False,
    "ksql.timestamp.throw.on.invalid": False,
    "ksql.new.query.planner.enabled": False,
    "ksql.variable.substitution.enable": True,
    "ksql.fail.on.deserialization.error": False,
    "ksql.fail.on.production.error": True,
    "auto.offset.reset": "latest",
    "cache.max.bytes.buffering": 10_000_000,
    "commit.interval.ms": 2_000,
}


class KsqlEngine:
    """One ksqlDB engine: a catalog, its running persistent queries and a processing log."""

    def __init__(
        self,
        io: TopicIO,
        *,
        config: Mapping[str, object] | None = None,
        clock: Callable[[], int] | None = None,
    ) -> None:
        self.io = io
        self.config: dict[str, object] = {**DEFAULT_CONFIG, **dict(config or {})}
        self.catalog = Catalog()
        self._clock = clock or (lambda: int(time.time() * 1000))
        self.processing_log = ProcessingLog(
            io,
            topic=processing_log_topic(self.config),
            include_rows=_flag(self.config.get("ksql.logging.processing.rows.include")),
            clock=self._clock,
        )
        self._state = EngineState(
            catalog=self.catalog,
            io=io,
            config=self.config,
            processing_log=self.processing_log,
            clock=self._clock,
        )
        #: Variables defined with DEFINE that persist across requests (CLI-session behaviour).
        self.variables: dict[str, str] = {}

    # ------------------------------------------------------------------ statements
    def execute(
        self,
        sql: str,
        *,
        properties: Mapping[str, object] | None = None,
        variables: Mapping[str, str] | None = None,
        on_executed: OnExecuted | None = None,
    ) -> list[StatementResult]:
        """Parse, validate ALL statements, then run each; returns one result per entity.

        ``properties`` are request-scoped overrides (``streamsProperties``); ``variables`` seed
        ``${name}`` substitution (``sessionVariables``). SET/UNSET/DEFINE/UNDEFINE apply to the
        later statements of this request only (DEFINE also persists on the engine).
        ``on_executed`` sees each statement once it ran (see the module docstring).
        """
        # 1. validate every statement against a sandbox copy of the catalog and topics.
        snapshot = self.catalog.snapshot()
        sandbox_io = SandboxIO(self.io)
        checks: list[Callable[[], None]] = []
        failure: KsqlEngineError | None = None
        try:
            self._run_all(sql, properties, variables, io=sandbox_io, sandbox=True, checks=checks)
        except KsqlEngineError as exc:
            failure = exc
        finally:
            self.catalog.restore(snapshot)
        # 2. the external checks of the statements validated so far (Connect: the name is
        #    free, the config valid), in order, outside the caller's lock; an earlier
        #    statement's failure is the request's error, as in a single in-order pass.
        if checks:
            with self.external_calls():
                for check in checks:
                    check()
        if failure is not None:
            raise failure
        # 3. execute for real, in order; each statement is reported as soon as it ran.
        return self._run_all(
            sql, properties, variables, io=self.io, sandbox=False, on_executed=on_executed
        )

    @property
    def external_calls(self) -> Callable[[], AbstractContextManager[object]]:
        """Entered around every call to an external system (see the module docstring)."""
        return self._state.external_calls

    @external_calls.setter
    def external_calls(self, value: Callable[[], AbstractContextManager[object]]) -> None:
        self._state.external_calls = value

    def _run_all(
        self,
        sql: str,
        properties: Mapping[str, object] | None,
        variables: Mapping[str, str] | None,
        *,
        io: TopicIO,
        sandbox: bool,
        checks: list[Callable[[], None]] | None = None,
        on_executed: OnExecuted | None = None,
    ) -> list[StatementResult]:
        session_props: dict[str, object] = dict(properties or {})
        session_vars: dict[str, str] = {**self.variables, **dict(variables or {})}
        results: list[StatementResult] = []
        substitution = _flag(self.config.get("ksql.variable.substitution.enable", True))
        for prepared in prepare_statements(sql, session_vars, substitute=substitution):
            ctx = StatementContext(
                state=self._state,
                io=io,
                sandbox=sandbox,
                properties=session_props,
                variables=session_vars,
                checks=checks if checks is not None else [],
            )
            try:
                result = execute_statement(prepared, ctx)
            except KsqlEngineError as exc:
                if exc.statement_text is None:
                    exc.statement_text = prepared.text
                if not sandbox:
                    exc.executed_results = list(results)
                raise
            except Exception as exc:  # a bug: report it as the engine's InternalError
                logger.exception("internal error executing %r", prepared.text)
                internal = InternalError(
                    f"Internal error while executing the statement: {type(exc).__name__}: {exc}",
                    statement_text=prepared.text,
                    hint="this is a bug in the engine; the statement itself may be valid",
                )
                if not sandbox:
                    internal.executed_results = list(results)
                raise internal from exc
            if result is not None:
                results.append(result)
            if on_executed is not None:
                on_executed(prepared, dict(session_props))
        if not sandbox:
            self.variables = {k: v for k, v in session_vars.items() if k not in (variables or {})}
        return results

    # ------------------------------------------------------------------ records
    def process(self, topic: str, records: pl.DataFrame) -> None:
        """Hand a batch of ``topic``'s records to every running query reading it, in start order."""
        for running in list(self._state.running.values()):
            if topic in running.source_topics and running.query_id in self._state.running:
                running.pipeline.push(records, topic=topic)

    def running_queries(self) -> list[str]:
        return list(self._state.running)

    def source_topics(self) -> set[str]:
        return {t for q in self._state.running.values() for t in q.source_topics}

    def running_query(self, query_id: str) -> RunningQuery | None:
        return self._state.running.get(query_id)

    def close(self) -> None:
        """Stop every running query (their operators' on_close hooks run)."""
        for running in list(self._state.running.values()):
            running.pipeline.close()
        self._state.running.clear()


def _flag(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)
