"""The Connect worker's errors, modelled on Kafka Connect's exception types.

Connector code (``connectors/mongodb`` and plugins) raises these to tell the worker what
happened; the REST layer turns the ``Rest*`` ones into Connect's error body
``{"error_code": <http status>, "message": "..."}``. :class:`ConnectClient` raises the same
classes when a (real or embedded) worker answers with an error.

Tree::

    ConnectError                      (telemetry_lib.errors) external: Connect failures
    ├── ConnectorConfigError          user: a property is invalid (Connect's ConfigException);
    │                                 carries the property name and value
    ├── DataError                     user: one record cannot be converted / written
    │                                 (Connect's DataException); errors.tolerance=all sends it
    │                                 to the dead letter queue, otherwise the task fails
    ├── RetriableError                external, retryable: a transient failure (Mongo or Kafka
    │                                 down); the worker retries with backoff, losing nothing
    ├── TaskStateError                internal: a task/connector method called in the wrong state
    └── ConnectRestError              what the REST API answers (error_code = HTTP status)
        ├── BadRequestError           400: invalid config / body (names the property)
        ├── NotFoundError             404: "Connector x not found"
        ├── ConflictError             409: already exists / rebalance in progress
        └── WorkerError               500: an unexpected worker failure
"""

from __future__ import annotations

import logging

from telemetry_lib.errors import ConnectError, Origin

__all__ = [
    "BadRequestError",
    "ConflictError",
    "ConnectError",
    "ConnectRestError",
    "ConnectorConfigError",
    "DataError",
    "NotFoundError",
    "RetriableError",
    "TaskStateError",
    "WorkerError",
    "rest_error",
]

logger = logging.getLogger(__name__)


class ConnectorConfigError(ConnectError):
    """A connector property is invalid (Connect's ``ConfigException``).

    ``str()`` reads like Connect's: ``Invalid value X for configuration NAME: reason``.
    """

    origin: Origin = "user"

    def __init__(self, name: str, value: object, reason: str, *, hint: str | None = None) -> None:
        message = f"Invalid value {value} for configuration {name}: {reason}"
        if value is None and reason.startswith("Missing required"):
            message = reason
        super().__init__(message, hint=hint)
        self.name = name
        self.value = value
        self.reason = reason


class DataError(ConnectError):
    """One record cannot be converted or written; the worker's error handling decides."""

    origin: Origin = "user"


class RetriableError(ConnectError):
    """A transient failure: the worker retries the same operation after a backoff."""

    origin: Origin = "external"
    retryable = True


class TaskStateError(ConnectError):
    """A connector or task method was called in a lifecycle state that does not allow it."""

    origin: Origin = "internal"


class ConnectRestError(ConnectError):
    """An error the Connect REST API answers: ``{"error_code": status, "message": ...}``."""

    origin: Origin = "external"
    error_code: int = 500

    def __init__(
        self, message: str, *, error_code: int | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        if error_code is not None:
            self.error_code = error_code

    def body(self) -> dict[str, object]:
        """Connect's error body."""
        return {"error_code": self.error_code, "message": self.message}


class BadRequestError(ConnectRestError):
    """400: the request or the connector config is invalid."""

    origin: Origin = "user"
    error_code = 400


class NotFoundError(ConnectRestError):
    """404: no such connector, task or plugin."""

    origin: Origin = "user"
    error_code = 404


class ConflictError(ConnectRestError):
    """409: the connector already exists, or the worker is rebalancing / busy."""

    origin: Origin = "user"
    error_code = 409


class WorkerError(ConnectRestError):
    """500: the worker failed unexpectedly."""

    origin: Origin = "internal"
    error_code = 500


_BY_CODE: dict[int, type[ConnectRestError]] = {
    400: BadRequestError,
    404: NotFoundError,
    409: ConflictError,
    500: WorkerError,
}


def rest_error(error_code: int, message: str) -> ConnectRestError:
    """The error class matching an HTTP status (the client's mapping of Connect's bodies)."""
    cls = _BY_CODE.get(error_code, ConnectRestError)
    return cls(message, error_code=error_code)
