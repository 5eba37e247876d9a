"""Kafka helpers: the only package that imports confluent_kafka.

- ``config``: client configuration from the profile's Settings plus defaults suited to the
  embedded Tansu broker (and harmless on real Kafka), each a named constant with its reason.
- ``admin``: topics are always created explicitly with their partition count (Tansu silently
  auto-creates unknown topics with 4 partitions); list, describe, delete, wait.
- ``producer``: batched JSON produce (msgspec bulk serialization, pre-serialized values).
- ``reader``: ``read_topic(...) -> polars.DataFrame`` bounded by the end offsets at call time.
- ``consumer``: group consumption in batches with explicit commits.
- ``transactions``: a transactional producer with an explicit lifecycle state machine.
- ``records``: raw record batches (polars) and their decoding.
- ``assigned``: assigned-partition consumption for the ksql runtime; ``gc_pause`` keeps
  CPython's full garbage collections off the conversion of consumed batches.

Every helper accepts either the profile's :class:`~telemetry_lib.config.Settings` or a
confluent-kafka config dict. Broker behaviour the helpers rely on (and the known gaps of the
embedded broker) is pinned by ``tests/kafka`` — the broker compatibility suite.
"""

from __future__ import annotations

from telemetry_lib.kafka.admin import (
    KafkaAdmin,
    TopicDescription,
    create_topic,
    delete_topic,
    describe_topic,
    list_topics,
    wait_for_topic,
)
from telemetry_lib.kafka.config import (
    ConfLike,
    IsolationLevel,
    admin_config,
    base_config,
    consumer_config,
    producer_config,
)
from telemetry_lib.kafka.consumer import GroupConsumer
from telemetry_lib.kafka.errors import (
    DeliveryError,
    KafkaError,
    RecordDecodeError,
    TopicConflictError,
    TopicNotFoundError,
    TransactionStateError,
)
from telemetry_lib.kafka.producer import (
    JsonProducer,
    ProduceResult,
    encode_json_batch,
    produce_json,
)
from telemetry_lib.kafka.reader import end_offsets, read_records, read_topic
from telemetry_lib.kafka.records import (
    RECORD_COLUMNS,
    KeyFormat,
    OnMalformed,
    PartitionOffsets,
    ValueFormat,
    decode_records,
    empty_record_frame,
    messages_to_frame,
    next_offsets,
)
from telemetry_lib.kafka.transactions import TransactionalProducer, TxnState

__all__ = [
    "RECORD_COLUMNS",
    "ConfLike",
    "DeliveryError",
    "GroupConsumer",
    "IsolationLevel",
    "JsonProducer",
    "KafkaAdmin",
    "KafkaError",
    "KeyFormat",
    "OnMalformed",
    "PartitionOffsets",
    "ProduceResult",
    "RecordDecodeError",
    "TopicConflictError",
    "TopicDescription",
    "TopicNotFoundError",
    "TransactionStateError",
    "TransactionalProducer",
    "TxnState",
    "ValueFormat",
    "admin_config",
    "base_config",
    "consumer_config",
    "create_topic",
    "decode_records",
    "delete_topic",
    "describe_topic",
    "empty_record_frame",
    "encode_json_batch",
    "end_offsets",
    "list_topics",
    "messages_to_frame",
    "next_offsets",
    "produce_json",
    "producer_config",
    "read_records",
    "read_topic",
    "wait_for_topic",
]
