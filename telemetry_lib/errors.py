"""The project's error root and its stage subclasses.

Every error the workbench raises derives from :class:`TelemetryError`. Each class says
whose fault it is (``origin``: the user's input, an external system, or ours) and whether
retrying can help (``retryable``), so callers decide without parsing messages.

Tree::

    TelemetryError
    ├── ConfigError            user: a bad setting (names the setting and accepted values)
    ├── ServiceError           external: an embedded service failed to start / answer
    │   ├── BinaryError        user/env: missing binary or wrong checksum
    │   └── PortInUseError     env: the port is taken by another process
    ├── ConnectionFailed       external, retryable: a remote service is unreachable
    ├── KafkaError             external: a Kafka call failed (wraps confluent_kafka errors)
    ├── MongoError             external: a MongoDB call failed
    ├── GeneratorError         user: bad generator parameters
    ├── ConnectError           external/user: Kafka Connect worker or connector failures
    └── KsqlError              the engine's root (telemetry_lib.ksql.errors subclasses it)
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "BinaryError",
    "ConfigError",
    "ConnectError",
    "ConnectionFailed",
    "GeneratorError",
    "KafkaError",
    "KsqlError",
    "MongoError",
    "Origin",
    "PortInUseError",
    "ServiceError",
    "TelemetryError",
]

Origin = Literal["user", "external", "internal"]


class TelemetryError(Exception):
    """Root of every error raised by telemetry_lib."""

    origin: Origin = "internal"
    retryable: bool = False

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  fix: {self.hint}"
        return self.message


class ConfigError(TelemetryError):
    """A setting is missing or invalid; the message names it and the accepted values."""

    origin: Origin = "user"


class ServiceError(TelemetryError):
    """An embedded service could not be started, stopped or reached."""

    origin: Origin = "external"


class BinaryError(ServiceError):
    """A service binary is missing or its checksum does not match the pinned one."""

    origin: Origin = "user"


class PortInUseError(ServiceError):
    """The port a service should listen on is already taken."""

    origin: Origin = "user"


class ConnectionFailed(TelemetryError):
    """A remote service (profile endpoint) did not answer."""

    origin: Origin = "external"
    retryable = True


class KafkaError(TelemetryError):
    """A Kafka API call failed."""

    origin: Origin = "external"


class MongoError(TelemetryError):
    """A MongoDB call failed."""

    origin: Origin = "external"


class GeneratorError(TelemetryError):
    """Invalid generator parameters."""

    origin: Origin = "user"


class ConnectError(TelemetryError):
    """A Kafka Connect worker or connector failed."""

    origin: Origin = "external"


class KsqlError(TelemetryError):
    """Root of the ksqlDB engine's errors (see telemetry_lib.ksql.errors)."""
