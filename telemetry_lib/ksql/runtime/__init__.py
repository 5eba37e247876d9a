"""Where queries run: the I/O interface and the Kafka runtime.

- ``io``: the :class:`TopicIO` protocol shared by the in-memory driver and the Kafka runtime
  (the only module re-exported here: importing it must not pull in the Kafka client);
- ``kafka_io``: :class:`~telemetry_lib.ksql.runtime.kafka_io.KafkaTopicIO`, TopicIO on Kafka;
- ``query_runner``: one persistent query's exactly-once consume-process-commit loop (the
  protocol is written out as numbered steps in its docstring);
- ``batch_input``: a runner's input side — fetch thread, closing a batch, feeding it in order;
- ``checkpoint``: checkpoint records (intents, snapshots) and the ``ksql-eos`` output header;
- ``repartition``: a query's pipeline cut at its re-keyings (GROUP BY, re-keyed join sides), the
  rows going through ksqlDB-named ``-repartition`` topics and read back by the same runner;
- ``kafka_runtime``: :class:`~telemetry_lib.ksql.runtime.kafka_runtime.KafkaRuntime`, one
  runner per running query, kept in step with the engine;
- ``command_log``: the command topic + local-disk command log (catalog persistence);
- ``kafka_reader``: reading topics from offsets for push and pull queries.

The composition root that wires these to the engine and the REST API is
:mod:`telemetry_lib.ksql.server`.
"""

from __future__ import annotations

from telemetry_lib.ksql.runtime.io import RECORD_SCHEMA, TopicIO, TopicSpec, empty_records

__all__ = ["RECORD_SCHEMA", "TopicIO", "TopicSpec", "empty_records"]
