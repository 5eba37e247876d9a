"""The ksqlDB-compatible server process: Kafka runtime + engine + REST API (composition root).

Owns: :class:`KsqlServer` and the entry point
``python -m telemetry_lib.ksql.server --port 8088 --bootstrap 127.0.0.1:9092 --state-dir DIR
[--connect-url http://127.0.0.1:8083] [--http-server hypercorn|uvicorn]`` (``ksql.connect.url``:
where CREATE/DROP/SHOW/DESCRIBE CONNECTOR are forwarded; hypercorn serves HTTP/1.1 and HTTP/2).
It wires the pieces no lower layer may know about together:

1. :class:`~telemetry_lib.ksql.runtime.kafka_io.KafkaTopicIO` and a
   :class:`~telemetry_lib.ksql.engine.KsqlEngine` on it;
2. the :class:`~telemetry_lib.ksql.runtime.kafka_runtime.KafkaRuntime` (one exactly-once runner
   per persistent query) sharing the engine lock;
3. the command log (:mod:`telemetry_lib.ksql.runtime.command_log`): replayed at start — topics
   it recorded are re-created first (the embedded broker forgets them) — and appended to by
   every catalog-changing statement the moment it executed (the engine's ``on_executed``), each
   followed by the runtime's sync: a request failing part-way keeps, and runs, what ran before
   the failure, as ksqlDB does;
4. the ``KSQL_PROCESSING_LOG`` stream over ``<service id>ksql_processing_log`` (reference §4.9);
5. R2's REST app (:func:`telemetry_lib.ksql.rest.create_app`) over an
   :class:`~telemetry_lib.ksql.rest.EngineBackend`, served by uvicorn on 127.0.0.1;
6. the materializations pull queries read (:mod:`telemetry_lib.ksql.rest.materialized`), fed
   by the topic I/O with the outputs of every batch the runtime captures.
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from telemetry_lib.ksql.commands.connectors import CONNECT_URL_CONFIG, DEFAULT_CONNECT_URL
from telemetry_lib.ksql.engine import KsqlEngine
from telemetry_lib.ksql.errors import KsqlEngineError
from telemetry_lib.ksql.exec.processing_log import processing_log_topic
from telemetry_lib.ksql.parser.ast import Statement
from telemetry_lib.ksql.rest import BasicAuthConfig, EngineBackend, RestSettings, create_app
from telemetry_lib.ksql.rest.materialized import Materializations
from telemetry_lib.ksql.rest.serve import DEFAULT_HTTP_SERVER, serve_forever
from telemetry_lib.ksql.runtime.command_log import Command, CommandLog, is_recorded
from telemetry_lib.ksql.runtime.io import TopicSpec
from telemetry_lib.ksql.runtime.kafka_io import KafkaTopicIO
from telemetry_lib.ksql.runtime.kafka_reader import KafkaRecordReader
from telemetry_lib.ksql.runtime.kafka_runtime import KafkaRuntime
from telemetry_lib.ksql.runtime.query_runner import DEFAULT_COMMIT_INTERVAL_MS

__all__ = ["KsqlServer", "main"]

logger = logging.getLogger(__name__)

#: ksqlDB's default stream name over the processing-log topic (code; the docs say PROCESSING_LOG).
PROCESSING_LOG_STREAM = "KSQL_PROCESSING_LOG"
#: The processing-log stream's schema (ksqlDB's ProcessingLogMessageSchema).
_PROCESSING_LOG_SCHEMA = (
    "LOGGER STRING, LEVEL STRING, `TIME` BIGINT, MESSAGE STRUCT<"
    "`TYPE` INT, "
    "DESERIALIZATIONERROR STRUCT<TARGET STRING, ERRORMESSAGE STRING, RECORDB64 STRING, "
    "CAUSE ARRAY<STRING>, `TOPIC` STRING>, "
    "RECORDPROCESSINGERROR STRUCT<ERRORMESSAGE STRING, RECORD STRING, CAUSE ARRAY<STRING>>, "
    "PRODUCTIONERROR STRUCT<ERRORMESSAGE STRING>, "
    "SERIALIZATIONERROR STRUCT<TARGET STRING, ERRORMESSAGE STRING, RECORD STRING, "
    "CAUSE ARRAY<STRING>, `TOPIC` STRING>, "
    "KAFKASTREAMSTHREADERROR STRUCT<ERRORMESSAGE STRING, THREADNAME STRING, CAUSE ARRAY<STRING>>>"
)
# Environment variables holding optional Basic-auth credentials for the server (never logged).
_AUTH_USER_ENV = "TELEMETRY_KSQLDB_API_KEY"
_AUTH_PASSWORD_ENV = "TELEMETRY_KSQLDB_API_SECRET"


class KsqlServer:
    """Engine + Kafka runtime + command log; :meth:`app` is the REST application."""

    def __init__(
        self,
        conf: Mapping[str, Any],
        *,
        service_id: str = "default_",
        state_dir: Path | None = None,
        commit_interval_ms: int = DEFAULT_COMMIT_INTERVAL_MS,
        config: Mapping[str, object] | None = None,
    ) -> None:
        self.io = KafkaTopicIO(dict(conf))
        self.engine = KsqlEngine(self.io, config={"ksql.service.id": service_id, **(config or {})})
        self.lock = threading.RLock()
        self.runtime = KafkaRuntime(
            self.engine, self.io, lock=self.lock, commit_interval_ms=commit_interval_ms
        )
        self.commands = CommandLog(self.io, service_id=service_id, state_dir=state_dir)
        self.reader = KafkaRecordReader(dict(conf))
        self.service_id = service_id
        materializations = Materializations(fed=True)
        self.backend = EngineBackend(
            engine=self.engine,
            reader=self.reader,
            executor=self,
            lock=self.lock,
            service_id=service_id,
            materializations=materializations,
            before_unlock=self.runtime.stop_terminated,
        )
        # Pull queries read the tables' current rows from memory, fed with every batch's outputs.
        self.io.on_captured = materializations.feed

    # ------------------------------------------------------------------ start
    def start(self) -> None:
        """Processing-log stream, then the command log's replay (queries resume)."""
        self._create_processing_log_stream()
        replayed = 0
        per_query: dict[str, dict[str, object]] = {}
        with self.lock:
            for command in self.commands.load():
                for topic, partitions in command.topics.items():
                    if self.io.describe_topic(topic) is None:
                        self.io.create_topic(TopicSpec(topic, int(partitions)))
                before = set(self.engine.running_queries())
                try:
                    self.engine.execute(command.statement, properties=dict(command.properties))
                    replayed += 1
                except KsqlEngineError as exc:
                    logger.warning("command log: skipping %r: %s", command.statement[:80], exc)
                for query_id in set(self.engine.running_queries()) - before:
                    per_query[query_id] = dict(command.properties)
            # Runners start once the whole log is replayed: a query terminated later in the
            # log never runs.
            self.runtime.sync(per_query=per_query)
        logger.info("replayed %d commands; %d queries running", replayed,
                    len(self.engine.running_queries()))  # fmt: skip

    def _create_processing_log_stream(self) -> None:
        topic = processing_log_topic(self.engine.config)
        self.io.create_topic(TopicSpec(topic, 1))
        if self.engine.catalog.get_source(PROCESSING_LOG_STREAM) is None:
            self.engine.execute(
                f"CREATE STREAM {PROCESSING_LOG_STREAM} ({_PROCESSING_LOG_SCHEMA}) "
                f"WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON');"
            )

    # ------------------------------------------------------------------ executor
    def execute(
        self,
        sql: str,
        *,
        properties: Mapping[str, object] | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> list[Any]:
        """Run a request on the engine; each catalog command is recorded, and the runners
        started/stopped, as soon as it executed (a later statement's failure keeps it)."""
        # Partitions of the topics in use, described once per request while they stay in use
        # (new topics are described when they appear; one dropped and created again, anew).
        partitions: dict[str, int] = {}

        def record(statement: Statement, props: Mapping[str, object]) -> None:
            if not is_recorded(statement):
                return
            in_use = self.engine.catalog.topics_in_use()
            for topic in partitions.keys() - in_use:
                del partitions[topic]
            for topic in sorted(in_use - partitions.keys()):
                spec = self.io.describe_topic(topic)
                if spec is not None:
                    partitions[topic] = spec.partitions
            topics = dict(sorted(partitions.items()))
            self.commands.append([Command(statement.text.strip(), dict(props), topics)])
            self.runtime.sync(props)

        with self.lock:
            return self.engine.execute(
                sql, properties=properties, variables=variables, on_executed=record
            )

    def app(self, *, auth: BasicAuthConfig | None = None) -> Any:
        return create_app(self.backend, settings=RestSettings(auth=auth))

    def close(self) -> None:
        self.runtime.close()
        self.commands.close()
        self.reader.close()
        self.io.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m telemetry_lib.ksql.server")
    parser.add_argument("--port", type=int, default=8088)
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers")
    parser.add_argument("--state-dir", type=Path, default=None, help="local command log dir")
    parser.add_argument("--service-id", default="default_")
    parser.add_argument("--commit-interval-ms", type=int, default=DEFAULT_COMMIT_INTERVAL_MS)
    parser.add_argument(
        "--connect-url",
        default=DEFAULT_CONNECT_URL,
        help="Kafka Connect REST URL for CREATE/DROP/SHOW CONNECTOR (ksql.connect.url); '' = none",
    )
    parser.add_argument(
        "--http-server",
        choices=("hypercorn", "uvicorn"),
        default=DEFAULT_HTTP_SERVER,
        help="hypercorn: HTTP/1.1 + HTTP/2 (h2c) on one port; uvicorn: HTTP/1.1 only",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    user, password = os.environ.get(_AUTH_USER_ENV), os.environ.get(_AUTH_PASSWORD_ENV)
    auth = BasicAuthConfig(users={user: password}) if user and password else None
    server = KsqlServer(
        {"bootstrap.servers": args.bootstrap},
        service_id=args.service_id,
        state_dir=args.state_dir,
        commit_interval_ms=args.commit_interval_ms,
        config={CONNECT_URL_CONFIG: args.connect_url},
    )
    try:
        server.start()
        serve_forever(server.app(auth=auth), port=args.port, server=args.http_server)
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
