"""Statement results: what ``KsqlEngine.execute`` returns, shaped like ksqlDB's REST entities.

Owns: :class:`StatementResult` — ``kind`` is the entity's ``@type`` (``currentStatus``,
``streams``, ``tables``, ``queries``, ``kafka_topics``, ``properties``, ``sourceDescription``,
``source_descriptions``, ``queryDescription``, ``query_descriptions``, ``function_names``,
``describe_function``, ``type_list``, ``variables``, ``warning_entity``, ``terminate_query``) and
``fields`` holds the entity's other fields exactly as the REST API names them (reference §1.2),
so the REST server renders ``result.to_json()`` without knowing each statement.
Statements that produce no REST entity (SET, UNSET, DEFINE, UNDEFINE, INSERT ... VALUES) return
no StatementResult.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["StatementResult", "command_status"]

logger = logging.getLogger(__name__)

#: ksqlDB reports -1 when it does not know the command's sequence number.
_UNKNOWN_SEQUENCE = -1


@dataclass(frozen=True)
class StatementResult:
    """One REST entity: ``{"@type": kind, "statementText": ..., **fields, "warnings": [...]}``."""

    kind: str
    statement_text: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"@type": self.kind, "statementText": self.statement_text}
        body.update(self.fields)
        body["warnings"] = [{"message": w} for w in self.warnings]
        return body

    @property
    def query_id(self) -> str | None:
        """The persistent query id a CSAS/CTAS/INSERT started (``commandStatus.queryId``)."""
        status = self.fields.get("commandStatus")
        if isinstance(status, Mapping):
            query_id = status.get("queryId")
            return str(query_id) if query_id is not None else None
        return None

    @property
    def message(self) -> str | None:
        """``commandStatus.message`` (``Stream created``, ``Created query with ID ...``) or None."""
        status = self.fields.get("commandStatus")
        if isinstance(status, Mapping):
            return str(status.get("message"))
        return None


def command_status(
    statement_text: str,
    *,
    command_id: str,
    message: str,
    query_id: str | None = None,
    status: str = "SUCCESS",
    sequence_number: int = _UNKNOWN_SEQUENCE,
    warnings: tuple[str, ...] = (),
) -> StatementResult:
    """A ``currentStatus`` entity (CREATE/DROP/C*AS/INSERT/TERMINATE/CREATE TYPE)."""
    return StatementResult(
        "currentStatus",
        statement_text,
        {
            "commandId": command_id,
            "commandStatus": {"status": status, "message": message, "queryId": query_id},
            "commandSequenceNumber": sequence_number,
        },
        warnings,
    )
