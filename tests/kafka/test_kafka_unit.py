"""Unit tests of the Kafka helpers that need no broker: configuration, record frames and
their decoding, JSON batch encoding, and the transactional lifecycle guard."""

from __future__ import annotations

import json

import msgspec
import polars as pl
import pytest
from confluent_kafka import Consumer

from telemetry_lib.config import load_settings
from telemetry_lib.kafka import (
    RECORD_COLUMNS,
    RecordDecodeError,
    TransactionalProducer,
    TransactionStateError,
    TxnState,
    consumer_config,
    decode_records,
    encode_json_batch,
    producer_config,
)
from telemetry_lib.kafka.producer import encode_keys
from telemetry_lib.ksql.runtime.io import RECORD_SCHEMA

# An address nothing listens on: constructing clients never connects synchronously.
NOWHERE = {"bootstrap.servers": "127.0.0.1:1"}


def _raw(values: list[bytes | None], keys: list[bytes | None] | None = None) -> pl.DataFrame:
    n = len(values)
    return pl.DataFrame(
        {
            "key": keys if keys is not None else [None] * n,
            "value": values,
            "timestamp": list(range(1000, 1000 + n)),
            "partition": [0] * n,
            "offset": list(range(n)),
            "headers": [[] for _ in range(n)],
        },
        schema=RECORD_COLUMNS,
    )


def test_record_columns_match_the_engine_record_schema() -> None:
    assert RECORD_COLUMNS == RECORD_SCHEMA


def test_consumer_config_has_tansu_friendly_defaults_and_settings_connection() -> None:
    settings = load_settings(config_file=False, environ={}, kafka_port=19092)
    conf = consumer_config(settings, group_id="g")
    assert conf["bootstrap.servers"] == settings.bootstrap_servers
    assert conf["session.timeout.ms"] == 6000
    assert conf["fetch.max.bytes"] == 100 * 1024 * 1024
    assert conf["max.partition.fetch.bytes"] == 10 * 1024 * 1024
    assert conf["fetch.wait.max.ms"] == 10
    assert conf["queued.min.messages"] == 500_000
    # librdkafka's 1 s default stalled a consumer draining a backlog; the client must know it.
    assert conf["fetch.queue.backoff.ms"] <= 50
    Consumer(conf).close()
    assert conf["isolation.level"] == "read_committed"
    assert conf["enable.auto.commit"] is False
    assert conf["receive.message.max.bytes"] > conf["fetch.max.bytes"]


def test_caller_config_beats_defaults_and_extra_beats_both() -> None:
    conf = consumer_config(
        {"bootstrap.servers": "h:1", "session.timeout.ms": 10000},
        group_id="g",
        from_beginning=False,
        extra={"fetch.wait.max.ms": 50},
    )
    assert conf["session.timeout.ms"] == 10000
    assert conf["fetch.wait.max.ms"] == 50
    assert conf["auto.offset.reset"] == "latest"


def test_producer_uses_the_java_partitioner_and_idempotence_for_transactions() -> None:
    plain = producer_config(NOWHERE)
    assert plain["partitioner"] == "murmur2_random"
    assert "transactional.id" not in plain
    txn = producer_config(NOWHERE, transactional_id="tx-1")
    assert txn["transactional.id"] == "tx-1"
    assert txn["enable.idempotence"] is True


def test_encode_json_batch_gives_one_compact_value_per_document() -> None:
    docs = [{"a": "line\nbreak", "b": [1, 2]}, {"c": None}, {}]
    values = encode_json_batch(docs)
    assert len(values) == 3
    assert [json.loads(v) for v in values] == docs
    assert values[1] == b'{"c":null}'


def test_encode_keys_from_field_or_function() -> None:
    docs = [{"p": "P1"}, {"p": None}, {"p": 7}, {"p": b"raw"}]
    assert encode_keys(docs, "p") == [b"P1", None, b"7", b"raw"]
    assert encode_keys(docs[:1], lambda d: f"k-{d['p']}") == [b"k-P1"]


def test_decode_json_values_into_columns_with_metadata_after() -> None:
    frame = decode_records(
        _raw(
            [b'{"player_id":"P1","kills":2}', b'{"player_id":"P2","pos":{"x":1.5}}'],
            keys=[b"P1", b"P2"],
        )
    )
    assert frame.columns == ["key", "player_id", "kills", "pos", "timestamp", "partition", "offset"]
    assert frame["key"].to_list() == ["P1", "P2"]
    assert frame["kills"].to_list() == [2, None]
    assert frame["pos"].to_list() == [None, {"x": 1.5}]
    assert frame["offset"].to_list() == [0, 1]


def test_value_field_named_like_metadata_keeps_its_name_and_metadata_is_prefixed() -> None:
    frame = decode_records(_raw([b'{"timestamp":5,"key":"k"}']), key_format="string")
    assert frame["timestamp"].to_list() == [5]
    assert frame["kafka_timestamp"].to_list() == [1000]
    assert frame["key"].to_list() == ["k"]
    assert frame["kafka_key"].to_list() == [None]


def test_pretty_printed_and_tombstone_values_take_the_slow_path_correctly() -> None:
    frame = decode_records(_raw([b'{\n "a": 1\n}', None, b'{"a":3}']))
    assert frame["a"].to_list() == [1, None, 3]
    assert frame["offset"].to_list() == [0, 1, 2]


@pytest.mark.parametrize(
    ("mode", "expected_offsets", "expected_a"),
    [("skip", [0, 2], [1, 3]), ("null", [0, 1, 2], [1, None, 3])],
)
def test_malformed_values_skip_or_null(
    mode: str, expected_offsets: list[int], expected_a: list[int | None]
) -> None:
    frame = decode_records(_raw([b'{"a":1}', b"{not json", b'{"a":3}']), on_malformed=mode)  # type: ignore[arg-type]
    assert frame["offset"].to_list() == expected_offsets
    assert frame["a"].to_list() == expected_a


def test_malformed_value_raises_by_default_naming_the_record() -> None:
    with pytest.raises(RecordDecodeError, match="record #1 .* not a JSON object"):
        decode_records(_raw([b'{"a":1}', b"[1,2]"]))


def test_string_bytes_and_json_key_formats() -> None:
    raw = _raw([b"hello", b"\xffbin"], keys=[b'{"p":1}', None])
    as_bytes = decode_records(raw, value_format="bytes", key_format="json")
    assert as_bytes["value"].to_list() == [b"hello", b"\xffbin"]
    assert as_bytes["key"].to_list() == [{"p": 1}, None]
    with pytest.raises(RecordDecodeError, match="not valid UTF-8"):
        decode_records(raw, value_format="string")
    no_key = decode_records(raw[:1], value_format="string", key_format="none")
    assert no_key.columns == ["value", "timestamp", "partition", "offset"]
    assert no_key["value"].to_list() == ["hello"]


def test_decode_empty_batch() -> None:
    frame = decode_records(_raw([]))
    assert frame.height == 0
    assert {"timestamp", "partition", "offset"} <= set(frame.columns)


def test_transactional_calls_in_the_wrong_state_raise_a_named_error() -> None:
    producer = TransactionalProducer(NOWHERE, "tx-unit")
    assert producer.state is TxnState.NEW
    with pytest.raises(TransactionStateError, match=r"cannot begin\(\) in state NEW"):
        producer.begin()
    with pytest.raises(TransactionStateError, match="call init"):
        producer.produce("t", b"v")
    with pytest.raises(TransactionStateError):
        producer.commit()
    producer.close()
    assert producer.state is TxnState.CLOSED
    with pytest.raises(TransactionStateError, match="closed"):
        producer.init()


def test_msgspec_lines_escape_newlines() -> None:
    # encode_json_batch relies on it: a newline inside a string must not split a record.
    assert msgspec.json.encode("a\nb") == b'"a\\nb"'


def test_schema_fixes_value_columns_and_types_on_fast_and_slow_paths() -> None:
    schema = {"player_id": pl.String(), "kills": pl.Float64()}
    fast = decode_records(_raw([b'{"player_id":"P1","kills":2,"extra":1}', b'{"kills":3}']),
                          schema=schema)  # fmt: skip
    assert fast.select("player_id", "kills").to_dicts() == [
        {"player_id": "P1", "kills": 2.0},
        {"player_id": None, "kills": 3.0},
    ]
    assert fast.columns == ["key", "player_id", "kills", "timestamp", "partition", "offset"]
    slow = decode_records(_raw([b'{"kills":1}', b"oops", None]), schema=schema, on_malformed="skip")
    assert slow.schema["kills"] == pl.Float64()
    assert slow["kills"].to_list() == [1.0, None]
    assert slow["offset"].to_list() == [0, 2]
    assert decode_records(_raw([]), schema=schema).columns[1:3] == ["player_id", "kills"]


def test_delivery_failures_count_quote_and_flag_fencing() -> None:
    from confluent_kafka import KafkaError as RdError

    from telemetry_lib.kafka.producer import DeliveryFailures

    class Msg:
        def topic(self) -> str:
            return "t"

        def partition(self) -> int:
            return 3

    failures = DeliveryFailures()
    failures(None, Msg())  # success reports do not count
    failures(RdError(RdError.MSG_SIZE_TOO_LARGE), Msg())
    assert not failures.fatal
    failures(RdError(RdError.PRODUCER_FENCED), Msg())
    assert failures.fatal
    count, quoted = failures.take()
    assert count == 2
    assert quoted.startswith("t[3]: ")
    assert failures.take() == (0, "")


def test_wrapped_kafka_exceptions_carry_librdkafka_retriability() -> None:
    from confluent_kafka import KafkaError as RdError
    from confluent_kafka import KafkaException

    from telemetry_lib.kafka.errors import wrap_kafka_exception

    retriable = wrap_kafka_exception(
        "x", KafkaException(RdError(RdError._TIMED_OUT, retriable=True))
    )
    final = wrap_kafka_exception("y", KafkaException(RdError(RdError.TOPIC_AUTHORIZATION_FAILED)))
    assert retriable.retryable and not final.retryable
    assert str(final).startswith("Kafka y failed: ")
