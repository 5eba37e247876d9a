"""Shared state the statement handlers work on.

Owns: :class:`EngineState` (the engine's catalog, topic I/O, config, processing log and the
running persistent queries), :class:`RunningQuery` (a started pipeline and the topic it reads)
and :class:`StatementContext` (one statement's view: the request's session properties and
variables, whether this is the sandbox validation pass, and the I/O to use).

External calls (Kafka Connect's REST API) are made inside ``state.external_calls()``: a context
manager the engine's owner may set to release the lock it holds around engine work while the
call waits (see :attr:`telemetry_lib.ksql.engine.KsqlEngine.external_calls`). The sandbox pass
never makes them: a handler appends a check to ``checks`` and the engine runs the request's
checks once the sandbox's catalog changes are undone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

from telemetry_lib.ksql.catalog import Catalog
from telemetry_lib.ksql.exec.operator import Pipeline
from telemetry_lib.ksql.exec.processing_log import ProcessingLog
from telemetry_lib.ksql.runtime.io import TopicIO

__all__ = ["EngineState", "RunningQuery", "StatementContext"]

logger = logging.getLogger(__name__)


@dataclass
class RunningQuery:
    """A started persistent query."""

    query_id: str
    source_topic: str
    sink_topic: str
    pipeline: Pipeline
    #: Logical and physical plan text (EXPLAIN <query id>).
    explain_text: str = ""
    #: Every topic the query reads, when more than ``source_topic`` (joins).
    input_topics: tuple[str, ...] = ()

    @property
    def source_topics(self) -> tuple[str, ...]:
        """Every topic the query reads (``source_topic`` first)."""
        return self.input_topics or (self.source_topic,)


@dataclass
class EngineState:
    catalog: Catalog
    io: TopicIO
    config: dict[str, object]
    processing_log: ProcessingLog
    clock: Callable[[], int]
    running: dict[str, RunningQuery] = field(default_factory=dict)
    #: Entered around each call to an external system (Connect); by default does nothing.
    external_calls: Callable[[], AbstractContextManager[object]] = nullcontext


@dataclass
class StatementContext:
    """What one statement's handler sees."""

    state: EngineState
    io: TopicIO
    sandbox: bool
    properties: dict[str, object]
    variables: dict[str, str]
    #: Sandbox pass: checks against external systems, run by the engine after the pass
    #: (outside the caller's lock); each raises the statement's error if it fails.
    checks: list[Callable[[], None]] = field(default_factory=list)

    @property
    def catalog(self) -> Catalog:
        return self.state.catalog

    @property
    def config(self) -> dict[str, object]:
        """Engine config overlaid with this request's properties (SET, streamsProperties)."""
        return {**self.state.config, **self.properties}

    def flag(self, name: str, *, default: bool = False) -> bool:
        value = self.config.get(name, default)
        if isinstance(value, str):
            return value.strip().lower() == "true"
        return bool(value)

    def setting(self, name: str, default: str = "") -> str:
        value = self.config.get(name)
        return default if value is None else str(value)
