"""Statement handlers of the engine façade: one module per statement family.

``dispatch`` maps AST statement kinds to handlers; ``ddl`` (CREATE/DROP of sources and types),
``queries`` (CSAS/CTAS/INSERT INTO SELECT, TERMINATE, EXPLAIN), ``inserts`` (INSERT VALUES),
``describe`` (SHOW/LIST/DESCRIBE); ``context`` and ``sandbox`` hold the state handlers share and
the side-effect-free I/O of the validation pass; ``results`` the REST-shaped results.
"""

from __future__ import annotations

from telemetry_lib.ksql.commands.results import StatementResult

__all__ = ["StatementResult"]
