"""The ksqlDB AST: one import point for every node (re-exported from the two node modules).

``ast_expressions`` holds locations, expressions and type nodes; ``ast_statements`` holds
statements, queries, relations and windows. See their docstrings for the conventions
(frozen dataclasses, ``loc`` excluded from equality, normalised identifiers).
"""

from __future__ import annotations

from telemetry_lib.ksql.parser.ast_expressions import *  # noqa: F403
from telemetry_lib.ksql.parser.ast_expressions import __all__ as _expression_names
from telemetry_lib.ksql.parser.ast_statements import *  # noqa: F403
from telemetry_lib.ksql.parser.ast_statements import __all__ as _statement_names

__all__ = [*_expression_names, *_statement_names]  # pyright: ignore
