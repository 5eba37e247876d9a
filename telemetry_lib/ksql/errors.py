"""Errors of the ksqlDB-compatible engine, one subclass per stage.

Each class carries the ksqlDB exception type name (``ksql_type``) that the conformance
tests match on, and the REST ``error_code`` the server answers with, so the runner and the
REST layer map errors by attribute, never by ``isinstance`` chains.

Tree::

    KsqlError (telemetry_lib.errors)
    └── KsqlEngineError                  io.confluent.ksql.util.KsqlException          50000
        ├── KsqlStatementError           io.confluent.ksql.util.KsqlStatementException 40001
        │   ├── ParseError               ...parser.exception.ParseFailedException      40001
        │   ├── AnalysisError            name resolution, typing, validation
        │   ├── PlanningError            the statement is valid but cannot be planned
        │   └── UnsupportedError         a ksqlDB feature this engine does not implement yet
        ├── ExecutionError               io.confluent.ksql.util.KsqlException          50000
        │   └── StreamsError             org.apache.kafka.streams.errors.StreamsException
        ├── SerdeError                   a record cannot be (de)serialized — goes to the processing log
        └── InternalError                a bug in the engine                           50000
"""

from __future__ import annotations

from typing import ClassVar

from telemetry_lib.errors import KsqlError, Origin

__all__ = [
    "AnalysisError",
    "ExecutionError",
    "InternalError",
    "KsqlEngineError",
    "KsqlStatementError",
    "ParseError",
    "PlanningError",
    "SerdeError",
    "StreamsError",
    "UnsupportedError",
]


class KsqlEngineError(KsqlError):
    """Root of engine errors; carries ksqlDB's exception type name and REST error code."""

    ksql_type: ClassVar[str] = "io.confluent.ksql.util.KsqlException"
    error_code: ClassVar[int] = 50000
    origin: Origin = "internal"

    def __init__(
        self,
        message: str,
        *,
        statement_text: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.statement_text = statement_text
        #: Results of the request's statements that ran before this one failed while
        #: executing (they stay run, as in ksqlDB); set by the engine, empty otherwise.
        self.executed_results: list[object] = []

    @classmethod
    def ksql_type_names(cls) -> tuple[str, ...]:
        """ksqlDB type names of this class and its ancestors, most specific first.

        ksqlDB's Java hierarchy matches ours (ParseFailedException extends
        KsqlStatementException extends KsqlException), so a test expecting a base type
        accepts a subclass, as Java's instanceOf does.
        """
        names: list[str] = []
        for klass in cls.__mro__:
            name = klass.__dict__.get("ksql_type")
            if isinstance(name, str) and name not in names:
                names.append(name)
        return tuple(names)

    @property
    def http_status(self) -> int:
        """HTTP status derived from ksqlDB's rule error_code = status * 100 + n."""
        return self.error_code // 100


class KsqlStatementError(KsqlEngineError):
    """A statement is well-formed but rejected (ksqlDB's KsqlStatementException)."""

    ksql_type: ClassVar[str] = "io.confluent.ksql.util.KsqlStatementException"
    error_code: ClassVar[int] = 40001
    origin: Origin = "user"


class ParseError(KsqlStatementError):
    """The statement text does not parse; message starts with ``line L:C: ...``."""

    ksql_type: ClassVar[str] = "io.confluent.ksql.parser.exception.ParseFailedException"
    error_code: ClassVar[int] = 40001
    origin: Origin = "user"

    def __init__(
        self,
        message: str,
        *,
        line: int = 1,
        column: int = 0,
        statement_text: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, statement_text=statement_text, hint=hint)
        self.line = line
        self.column = column


class AnalysisError(KsqlStatementError):
    """Unknown names, type errors and validation failures found by the analyzer."""


class PlanningError(KsqlStatementError):
    """The statement is valid but cannot be turned into a plan."""


class UnsupportedError(KsqlStatementError):
    """A ksqlDB feature this engine does not implement; the message names the feature."""

    def __init__(self, feature: str, *, statement_text: str | None = None) -> None:
        super().__init__(f"Unsupported feature: {feature}", statement_text=statement_text)
        self.feature = feature


class ExecutionError(KsqlEngineError):
    """A running query failed in a way that stops it (e.g. DECIMAL SUM overflow)."""

    origin: Origin = "user"


class StreamsError(ExecutionError):
    """Mirrors Kafka Streams' StreamsException, which some conformance tests expect."""

    ksql_type: ClassVar[str] = "org.apache.kafka.streams.errors.StreamsException"


class SerdeError(KsqlEngineError):
    """A record cannot be serialized or deserialized; it is logged and skipped."""

    ksql_type: ClassVar[str] = "io.confluent.ksql.serde.SerdeException"
    error_code: ClassVar[int] = 40000
    origin: Origin = "user"


class InternalError(KsqlEngineError):
    """A bug in the engine: an invariant did not hold."""
