"""Turning request text into statements, with ``${var}`` substitution (reference §2.1).

Owns: :func:`prepare_statements`, a lazy iterator so that a ``DEFINE`` executed earlier in the
same request is visible to the substitution of later statements. Without any ``${`` in the text
the whole request is parsed at once, so parse errors report request-wide line numbers
(ksqlDB's ``Line: 2, Col: 13: ...``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping

from telemetry_lib.ksql.parser import parse
from telemetry_lib.ksql.parser.ast import Statement

__all__ = ["prepare_statements"]

logger = logging.getLogger(__name__)

_VARIABLE_MARKER = "${"


def prepare_statements(
    sql: str, variables: Mapping[str, str], *, substitute: bool = True
) -> Iterator[Statement]:
    """Yield the statements of ``sql`` in order, substituting ``${name}`` from ``variables``.

    ``variables`` is read at the moment each statement is prepared, so callers may update it
    (DEFINE / UNDEFINE) between iterations.
    """
    if not substitute or _VARIABLE_MARKER not in sql:
        yield from parse(sql)
        return
    from telemetry_lib.ksql.parser import split_statements, substitute_variables

    for source in split_statements(sql):
        text = getattr(source, "text", source)
        assert isinstance(text, str)
        yield from parse(substitute_variables(text, dict(variables)))
