"""Topic administration: create (always with an explicit partition count), list, describe,
delete, wait.

Never ask the broker's metadata for one named topic: the embedded Tansu broker (like Kafka with
``auto.create.topics.enable``) creates an unknown topic with 4 partitions when a client asks for
it. Everything here reads the full cluster metadata instead and looks the name up locally.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from confluent_kafka import KafkaError as _RdKafkaError
from confluent_kafka import KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # re-exported, not in __all__
    AdminClient,
    ClusterMetadata,
    ConfigResource,
    NewTopic,
    ResourceType,
)

from telemetry_lib.kafka.config import ConfLike, admin_config
from telemetry_lib.kafka.errors import (
    KafkaError,
    TopicConflictError,
    TopicNotFoundError,
    kafka_error_code,
    wrap_kafka_exception,
)

__all__ = [
    "KafkaAdmin",
    "TopicDescription",
    "create_topic",
    "delete_topic",
    "describe_topic",
    "list_topics",
    "wait_for_topic",
]

logger = logging.getLogger(__name__)

# Admin requests are small; 10 s covers a busy 2-core machine without hiding a dead broker.
ADMIN_TIMEOUT_S = 10.0
# How long wait_for_topic waits by default: topic creation is propagated within a second on
# Tansu and single-broker Kafka; multi-broker clusters may take a few seconds.
WAIT_FOR_TOPIC_TIMEOUT_S = 15.0
# Poll period while waiting for metadata to show a topic (or its deletion).
METADATA_POLL_S = 0.1


@dataclass(frozen=True)
class TopicDescription:
    """A topic as the broker describes it.

    ``config`` holds what DescribeConfigs returned: on real Kafka every effective config, on
    Tansu only the configs set explicitly at creation (it reports no defaults).
    """

    name: str
    partitions: int
    replication: int
    config: Mapping[str, str] = field(default_factory=dict)


class KafkaAdmin:
    """One AdminClient with the topic operations the workbench uses."""

    def __init__(self, conf: ConfLike, *, timeout: float = ADMIN_TIMEOUT_S) -> None:
        self._client = AdminClient(admin_config(conf))
        self._timeout = timeout

    def create_topic(
        self,
        name: str,
        partitions: int,
        *,
        config: Mapping[str, str] | None = None,
        replication: int = 1,
    ) -> bool:
        """Create ``name``; True if created, False if it already existed with ``partitions``.

        Raises TopicConflictError when it exists with another partition count.
        """
        if partitions < 1:
            raise KafkaError(
                f"topic {name!r}: partition count must be >= 1, got {partitions}",
                hint="pass the intended partition count explicitly",
            )
        new = NewTopic(
            name,
            num_partitions=partitions,
            replication_factor=replication,
            config={k: str(v) for k, v in (config or {}).items()},
        )
        future = self._client.create_topics([new], operation_timeout=self._timeout)[name]
        try:
            future.result(timeout=self._timeout)
        except KafkaException as exc:
            if kafka_error_code(exc) != _RdKafkaError.TOPIC_ALREADY_EXISTS:
                raise wrap_kafka_exception(f"create topic {name!r}", exc) from exc
            existing = self._find(name)
            if existing is not None and existing != partitions:
                raise TopicConflictError(
                    f"topic {name!r} already exists with {existing} partitions, "
                    f"not the {partitions} asked for",
                    hint=f"delete the topic first or use partitions={existing}",
                ) from exc
            logger.debug("topic %s already exists with %d partitions", name, partitions)
            return False
        logger.info("created topic %s (%d partitions)", name, partitions)
        return True

    def list_topics(self, *, include_internal: bool = False) -> list[str]:
        """Topic names, sorted; internal ones (``__*``) only with ``include_internal``."""
        names = sorted(self._metadata().topics)
        return names if include_internal else [n for n in names if not n.startswith("__")]

    def cluster_id(self) -> str | None:
        """The cluster id from the metadata (what Connect's ``GET /`` reports)."""
        return self._metadata().cluster_id

    def describe_topic(self, name: str) -> TopicDescription:
        """Partition count, replication and configs of ``name`` (TopicNotFoundError if absent)."""
        meta = self._metadata().topics.get(name)
        if meta is None:
            raise TopicNotFoundError(
                f"topic {name!r} does not exist", hint="create it with create_topic()"
            )
        replication = max((len(p.replicas) for p in meta.partitions.values()), default=0)
        resource = ConfigResource(ResourceType.TOPIC, name)
        future = self._client.describe_configs([resource], request_timeout=self._timeout)[resource]
        try:
            entries = future.result(timeout=self._timeout)
        except KafkaException as exc:
            raise wrap_kafka_exception(f"describe configs of {name!r}", exc) from exc
        config = {k: e.value for k, e in entries.items() if e.value is not None}
        return TopicDescription(name, len(meta.partitions), replication, config)

    def delete_topic(self, name: str, *, missing_ok: bool = True) -> bool:
        """Delete ``name``; True if deleted, False if it did not exist (and ``missing_ok``)."""
        future = self._client.delete_topics([name], operation_timeout=self._timeout)[name]
        try:
            future.result(timeout=self._timeout)
        except KafkaException as exc:
            if kafka_error_code(exc) == _RdKafkaError.UNKNOWN_TOPIC_OR_PART:
                if missing_ok:
                    return False
                raise TopicNotFoundError(
                    f"cannot delete topic {name!r}: it does not exist"
                ) from exc
            raise wrap_kafka_exception(f"delete topic {name!r}", exc) from exc
        logger.info("deleted topic %s", name)
        return True

    def wait_for_topic(
        self, name: str, *, timeout: float = WAIT_FOR_TOPIC_TIMEOUT_S
    ) -> TopicDescription:
        """Block until ``name`` shows in metadata with a leader for every partition."""
        deadline = time.monotonic() + timeout
        while True:
            meta = self._metadata().topics.get(name)
            if (
                meta is not None
                and meta.partitions
                and all(p.leader >= 0 for p in meta.partitions.values())
            ):
                return self.describe_topic(name)
            if time.monotonic() >= deadline:
                raise TopicNotFoundError(
                    f"topic {name!r} did not appear within {timeout:.1f} s",
                    hint="create it with create_topic() (it is never auto-created here)",
                )
            time.sleep(METADATA_POLL_S)

    def _find(self, name: str) -> int | None:
        meta = self._metadata().topics.get(name)
        return None if meta is None else len(meta.partitions)

    def _metadata(self) -> ClusterMetadata:
        try:
            return self._client.list_topics(timeout=self._timeout)
        except KafkaException as exc:
            raise wrap_kafka_exception(
                "metadata request", exc, hint="is the broker running? (telemetry status)"
            ) from exc


def create_topic(
    conf: ConfLike,
    name: str,
    partitions: int,
    *,
    config: Mapping[str, str] | None = None,
    replication: int = 1,
) -> bool:
    """Create ``name`` with exactly ``partitions`` (see :meth:`KafkaAdmin.create_topic`)."""
    return KafkaAdmin(conf).create_topic(name, partitions, config=config, replication=replication)


def list_topics(conf: ConfLike, *, include_internal: bool = False) -> list[str]:
    """Sorted topic names (see :meth:`KafkaAdmin.list_topics`)."""
    return KafkaAdmin(conf).list_topics(include_internal=include_internal)


def describe_topic(conf: ConfLike, name: str) -> TopicDescription:
    """The topic's partitions, replication and configs (see :meth:`KafkaAdmin.describe_topic`)."""
    return KafkaAdmin(conf).describe_topic(name)


def delete_topic(conf: ConfLike, name: str, *, missing_ok: bool = True) -> bool:
    """Delete ``name`` (see :meth:`KafkaAdmin.delete_topic`)."""
    return KafkaAdmin(conf).delete_topic(name, missing_ok=missing_ok)


def wait_for_topic(
    conf: ConfLike, name: str, *, timeout: float = WAIT_FOR_TOPIC_TIMEOUT_S
) -> TopicDescription:
    """Block until ``name`` exists (see :meth:`KafkaAdmin.wait_for_topic`)."""
    return KafkaAdmin(conf).wait_for_topic(name, timeout=timeout)
