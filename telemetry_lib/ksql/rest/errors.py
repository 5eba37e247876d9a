"""ksqlDB's REST error envelope (reference §1.1).

Owns: building ``generic_error`` / ``statement_error`` bodies, mapping engine errors
(:mod:`telemetry_lib.ksql.errors`, which carry ksqlDB's ``error_code``) to an HTTP status and
body, and :class:`RestError` (an error response raised inside a handler). A bug in the engine
(50000) hides its text on the wire, like ksqlDB's streaming endpoints; every statement-level
error is a 400 ``statement_error`` with the statement text.
"""

from __future__ import annotations

import logging
from typing import Any

from telemetry_lib.ksql.errors import InternalError, KsqlEngineError, KsqlStatementError

__all__ = [
    "INTERNAL_ERROR_MESSAGE",
    "RestError",
    "WrongEndpointError",
    "engine_error_response",
    "error_body",
    "generic_error",
    "internal_stream_error",
]

logger = logging.getLogger(__name__)

#: ksqlDB's text for a server error on the streaming endpoints (it hides the cause).
INTERNAL_ERROR_MESSAGE = (
    "The server encountered an internal error when processing the query. Please consult the "
    "server logs for more information."
)


class RestError(Exception):
    """A ready error response (body + HTTP status) raised from inside a handler."""

    def __init__(self, body: dict[str, Any], status: int) -> None:
        super().__init__(body.get("message"))
        self.body = body
        self.status = status


class WrongEndpointError(KsqlStatementError):
    """SELECT or PRINT sent to /ksql (ksqlDB's 40002)."""

    error_code = 40002


def error_body(kind: str, code: int, message: str, **extra: Any) -> dict[str, Any]:
    return {"@type": kind, "error_code": code, "message": message, **extra}


def generic_error(code: int, message: str) -> dict[str, Any]:
    return error_body("generic_error", code, message)


def internal_stream_error() -> dict[str, Any]:
    return generic_error(50000, INTERNAL_ERROR_MESSAGE)


def engine_error_response(
    exc: KsqlEngineError, *, entities: list[dict[str, Any]] | None = None
) -> tuple[dict[str, Any], int]:
    """The envelope and status ksqlDB answers for ``exc``."""
    if isinstance(exc, InternalError):
        logger.error("internal error: %s", exc.message)
        return generic_error(50000, INTERNAL_ERROR_MESSAGE), 500
    code = exc.error_code if isinstance(exc, KsqlStatementError) else 40001
    if code >= 50000:
        code = 40001
    if getattr(exc, "rest_generic", False):
        # A KsqlRestException-like error may carry its own code (e.g. Connect's status x 100).
        code = int(getattr(exc, "rest_error_code", code))
        return generic_error(code, exc.message), code // 100
    body = error_body(
        "statement_error",
        code,
        exc.message,
        statementText=exc.statement_text or "",
        entities=list(entities or []),
    )
    return body, code // 100
