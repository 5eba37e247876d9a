"""The ksqlDB-compatible engine: SQL front end, analyzer, plans, operators, driver and server.

Public API (imported lazily so that importing a sub-package such as ``telemetry_lib.ksql.parser``
does not pull in the whole engine)::

    from telemetry_lib.ksql import KsqlEngine, StatementResult
    engine = KsqlEngine(io)            # io: telemetry_lib.ksql.runtime.io.TopicIO
    engine.execute("CREATE STREAM ...;")
    engine.process("topic", records)

See ``engine.py`` for the façade and ARCHITECTURE.md §3-4 for the layering.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from telemetry_lib.ksql.engine import KsqlEngine, StatementResult

__all__ = ["KsqlEngine", "StatementResult"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from telemetry_lib.ksql import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'telemetry_lib.ksql' has no attribute {name!r}")
