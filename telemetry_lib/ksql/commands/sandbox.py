"""A copy-on-write view of the topics, used to validate a request before running it.

Owns: :class:`SandboxIO`, a :class:`~telemetry_lib.ksql.runtime.io.TopicIO` that reads through
to the real one but keeps topic creation/deletion in memory and discards produced records, so the
validation pass of :meth:`KsqlEngine.execute` has no side effects (reference §1.2: validate all
statements, then execute).
"""

from __future__ import annotations

import logging

import polars as pl

from telemetry_lib.ksql.runtime.io import TopicIO, TopicSpec

__all__ = ["SandboxIO"]

logger = logging.getLogger(__name__)


class SandboxIO:
    """Topic administration layered over ``base``; nothing reaches ``base``."""

    def __init__(self, base: TopicIO) -> None:
        self._base = base
        self._created: dict[str, TopicSpec] = {}
        self._deleted: set[str] = set()

    def create_topic(self, spec: TopicSpec) -> None:
        self._deleted.discard(spec.name)
        if self.describe_topic(spec.name) is None:
            self._created[spec.name] = spec

    def describe_topic(self, name: str) -> TopicSpec | None:
        if name in self._deleted:
            return None
        if name in self._created:
            return self._created[name]
        return self._base.describe_topic(name)

    def delete_topic(self, name: str) -> None:
        self._created.pop(name, None)
        self._deleted.add(name)

    def list_topics(self) -> list[TopicSpec]:
        topics = {t.name: t for t in self._base.list_topics() if t.name not in self._deleted}
        topics.update(self._created)
        return list(topics.values())

    def produce(self, topic: str, records: pl.DataFrame) -> None:
        """Validation never writes records."""
