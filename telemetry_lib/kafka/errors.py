"""Errors raised by the Kafka helpers, all under :class:`telemetry_lib.errors.KafkaError`.

Tree::

    KafkaError                     external: a Kafka call failed (wraps confluent_kafka errors)
    ├── TopicConflictError         user: a topic exists with a different partition count
    ├── TopicNotFoundError         user: the topic does not exist (or did not appear in time)
    ├── DeliveryError              external: the broker rejected produced records
    ├── TransactionStateError      internal: a transactional call made in the wrong lifecycle state
    └── RecordDecodeError          user: a record's key or value is not in the declared format
"""

from __future__ import annotations

import logging
from typing import Any

from telemetry_lib.errors import KafkaError, Origin

__all__ = [
    "DeliveryError",
    "KafkaError",
    "RecordDecodeError",
    "TopicConflictError",
    "TopicNotFoundError",
    "TransactionStateError",
    "kafka_error_code",
    "wrap_kafka_exception",
]

logger = logging.getLogger(__name__)


class TopicConflictError(KafkaError):
    """The topic exists with another partition count than the one asked for."""

    origin: Origin = "user"


class TopicNotFoundError(KafkaError):
    """The topic does not exist (or did not show up in metadata before the timeout)."""

    origin: Origin = "user"


class DeliveryError(KafkaError):
    """Delivery reports said some produced records were not written."""

    origin: Origin = "external"


class TransactionStateError(KafkaError):
    """A transactional producer method was called in a state that does not allow it."""

    origin: Origin = "internal"


class RecordDecodeError(KafkaError):
    """A record's key or value could not be decoded in the declared format."""

    origin: Origin = "user"


def kafka_error_code(exc: BaseException) -> int | None:
    """librdkafka's error code carried by a confluent_kafka exception (None when it has none)."""
    detail = exc.args[0] if exc.args else None
    code = getattr(detail, "code", None)
    return code() if callable(code) else None


def wrap_kafka_exception(action: str, exc: BaseException, *, hint: str | None = None) -> KafkaError:
    """A :class:`KafkaError` for a confluent_kafka exception raised while doing ``action``.

    ``retryable`` follows librdkafka's own verdict (``KafkaError.retriable()``) when it has one.
    """
    detail: Any = exc.args[0] if exc.args else exc
    error = KafkaError(f"Kafka {action} failed: {detail}", hint=hint)
    retriable = getattr(detail, "retriable", None)
    if callable(retriable):
        error.retryable = bool(retriable())
    return error
