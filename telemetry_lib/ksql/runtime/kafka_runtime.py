"""The Kafka runtime: one :class:`~telemetry_lib.ksql.runtime.query_runner.QueryRunner` per
running persistent query, kept in step with the engine.

Owns: :class:`KafkaRuntime`. The engine (layer above) is passed in, never imported: the server
composition root (:mod:`telemetry_lib.ksql.server`) wires engine, runtime and REST together.
After every statement the server calls :meth:`KafkaRuntime.sync`, which starts a runner for
each query the engine started (with the request's ``auto.offset.reset`` and
``commit.interval.ms``) and stops the runners of terminated or dropped queries. Engine work
(statements, batches) is serialised by one shared lock.

A terminated query's runner is stopped and **awaited** (its threads ended, its Kafka clients
closed by the thread that owns them) before any topic is deleted: the runtime registers
:meth:`KafkaRuntime.stop_terminated` as the topic I/O's ``before_delete`` hook, so
``DROP ... DELETE TOPIC`` (which terminates the query and deletes its sink topic inside one
statement) never deletes a topic a live librdkafka client still writes — that crashed the
process. Waiting under the engine lock is safe: a stopped runner gives up waiting for it.

A query reads every topic its :class:`~telemetry_lib.ksql.commands.context.RunningQuery` lists
(``source_topics`` when the query joins, else ``source_topic``); its records reach the pipeline
through ``pipeline.push(batch, topic=...)`` when it has several (the join graph routes by topic),
else ``pipeline.push(batch)``. A terminated query's internal topics (checkpoint/changelog and
repartition topics) are deleted with it, as ksqlDB deletes them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

import polars as pl

from telemetry_lib.ksql.exec.processing_log import processing_log_topic
from telemetry_lib.ksql.runtime.kafka_io import KafkaTopicIO
from telemetry_lib.ksql.runtime.query_runner import DEFAULT_COMMIT_INTERVAL_MS, Feed, QueryRunner

if TYPE_CHECKING:
    from telemetry_lib.ksql.commands.context import RunningQuery

__all__ = ["EngineLike", "KafkaRuntime"]

logger = logging.getLogger(__name__)

# ksqlDB's server default for persistent queries (KsqlConfig): new queries start at the end of
# their input unless the request says 'auto.offset.reset'='earliest'.
_DEFAULT_OFFSET_RESET = "latest"


class EngineLike(Protocol):
    """What the runtime needs of :class:`~telemetry_lib.ksql.engine.KsqlEngine`."""

    config: dict[str, object]

    def running_queries(self) -> list[str]: ...

    def running_query(self, query_id: str) -> RunningQuery | None: ...


class KafkaRuntime:
    """Runs the engine's persistent queries against Kafka, exactly once."""

    def __init__(
        self,
        engine: EngineLike,
        io: KafkaTopicIO,
        *,
        lock: threading.RLock | None = None,
        commit_interval_ms: int = DEFAULT_COMMIT_INTERVAL_MS,
    ) -> None:
        self.engine = engine
        self.io = io
        self.lock = lock or threading.RLock()
        self.commit_interval_ms = commit_interval_ms
        self.runners: dict[str, QueryRunner] = {}
        self.service_id = str(engine.config.get("ksql.service.id", "default_"))
        io.before_delete = self._before_delete

    def sync(
        self,
        properties: Mapping[str, object] | None = None,
        *,
        per_query: Mapping[str, Mapping[str, object]] | None = None,
    ) -> list[str]:
        """Start runners for new queries (with ``properties`` of the request that created
        them, or their entry in ``per_query``), stop those of queries that are gone (deleting
        their checkpoint topic, as ksqlDB deletes a terminated query's internal topics);
        returns the ids started."""
        started = []
        with self.lock:
            self.stop_terminated()
            running = self.engine.running_queries()
            for query_id in running:
                if query_id in self.runners:
                    continue
                query = self.engine.running_query(query_id)
                if query is None:
                    continue
                props = dict((per_query or {}).get(query_id, properties or {}))
                reset = str(
                    props.get("auto.offset.reset")
                    or props.get("ksql.streams.auto.offset.reset")
                    or _DEFAULT_OFFSET_RESET
                )
                interval = int(
                    props.get("commit.interval.ms")  # type: ignore[call-overload]
                    or props.get("ksql.streams.commit.interval.ms")
                    or self.commit_interval_ms
                )
                topics = tuple(getattr(query, "source_topics", None) or (query.source_topic,))
                runner = QueryRunner(
                    query_id=query_id,
                    source_topics=topics,
                    sink_topics=(query.sink_topic, self.processing_log_topic()),
                    pipeline=query.pipeline,
                    feed=_feed_of(query),
                    io=self.io,
                    service_id=self.service_id,
                    lock=self.lock,
                    offset_reset=reset,
                    commit_interval_ms=interval,
                )
                self.runners[query_id] = runner
                runner.start()
                started.append(query_id)
        return started

    def stop_terminated(self) -> list[str]:
        """Stop the runners of queries the engine no longer runs, waiting (bounded) until each
        closed its clients, then delete their checkpoint topics (ksqlDB deletes a terminated
        query's internal topics); returns their ids."""
        stopped = []
        with self.lock:
            running = set(self.engine.running_queries())
            gone = [self.runners.pop(q) for q in list(self.runners) if q not in running]
            for runner in gone:
                runner.stop(wait=False)  # all of them stop at once, then each is awaited
            for runner in gone:
                if runner.stop(wait=True):
                    for topic in (runner.checkpoint_topic, *runner.internal_topics):
                        self.io.delete_topic(topic)
                else:  # still inside a client: deleting its topic under it could crash
                    logger.warning(
                        "query %s did not stop; its checkpoint topic %s is kept",
                        runner.query_id, runner.checkpoint_topic,
                    )  # fmt: skip
                stopped.append(runner.query_id)
        return stopped

    def _before_delete(self, topic: str) -> None:
        if self.runners:
            self.stop_terminated()

    def processing_log_topic(self) -> str:
        return processing_log_topic(self.engine.config)

    def status(self) -> dict[str, str]:
        return {qid: r.status for qid, r in self.runners.items()}

    def close(self) -> None:
        for runner in list(self.runners.values()):
            runner.stop()
        self.runners.clear()


def _feed_of(query: RunningQuery) -> Feed | None:
    """Several sources: ``pipeline.push(batch, topic=...)`` (the join graph routes by topic);
    one source: None (the runner pushes, through its repartition cut when it has one)."""
    topics = tuple(getattr(query, "source_topics", None) or ())
    if len(topics) <= 1:
        return None
    pipeline = query.pipeline

    def feed(topic: str, batch: pl.DataFrame) -> None:
        pipeline.push(batch, topic=topic)  # type: ignore[call-arg]

    return feed
