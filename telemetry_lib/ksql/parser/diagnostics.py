"""Rendering of parse errors for people: the statement with the bad token marked.

Owns ``mark_error`` (used by the CLI and notebooks to show where a ``ParseError`` points)
and ``explain_parse_error`` (message + marked source in one string).
"""

from __future__ import annotations

import logging

from telemetry_lib.ksql.errors import ParseError

__all__ = ["explain_parse_error", "mark_error"]

logger = logging.getLogger(__name__)

# Lines of context shown above the marked line.
_CONTEXT_LINES = 2


def mark_error(text: str, line: int, column: int, *, width: int = 1) -> str:
    """The lines of ``text`` around ``line`` with a caret under 1-based ``column``.

    ::

        1 | CREATE STREAM s (a INT) WITH (KAFKA_TOPIC=‘t’);
          |                                           ^
    """
    lines = text.splitlines() or [""]
    line = min(max(line, 1), len(lines))
    first = max(1, line - _CONTEXT_LINES)
    gutter = len(str(line))
    out = [f"{n:>{gutter}} | {lines[n - 1]}" for n in range(first, line + 1)]
    target = lines[line - 1]
    column = min(max(column, 1), len(target) + 1)
    # Keep tabs so the caret lines up under tab-indented text.
    padding = "".join("\t" if c == "\t" else " " for c in target[: column - 1])
    out.append(f"{' ' * gutter} | {padding}{'^' * max(width, 1)}")
    return "\n".join(out)


def explain_parse_error(error: ParseError, text: str | None = None) -> str:
    """``error``'s message followed by the marked statement (``text`` or the error's own)."""
    source = text if text is not None else (error.statement_text or "")
    message = str(error).split("\nStatement:")[0]
    if not source:
        return message
    return f"{message}\n{mark_error(source, error.line, error.column)}"
