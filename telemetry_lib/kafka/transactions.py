"""A transactional producer with an explicit lifecycle.

States and the calls that move between them::

    NEW --init()--> READY --begin()--> IN_TRANSACTION --commit()/abort()--> READY
                                             |  a call fails with an abortable error
                                             v
                                         ABORTABLE --abort()--> READY
    any state --fatal error--> FAILED;   any state --close()--> CLOSED

Every method checks the state first and raises :class:`TransactionStateError` (naming the
state and what is allowed) instead of letting librdkafka fail somewhere deeper.

Broker note: transactions commit on the embedded Tansu broker, but records of an aborted
transaction stay visible to ``read_committed`` readers there — correctness must not rely on
abort (see the broker compatibility suite).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl
from confluent_kafka import KafkaException, Producer, TopicPartition

from telemetry_lib.kafka.config import ConfLike, producer_config
from telemetry_lib.kafka.errors import (
    DeliveryError,
    KafkaError,
    TransactionStateError,
    wrap_kafka_exception,
)
from telemetry_lib.kafka.producer import (
    FLUSH_TIMEOUT_S,
    DeliveryFailures,
    ExtraHeader,
    Headers,
    KeySpec,
    RecordRejected,
    encode_json_batch,
    encode_keys,
    produce_frame_records,
    produce_many,
)
from telemetry_lib.kafka.records import PartitionOffsets

__all__ = ["TransactionalProducer", "TxnState"]

logger = logging.getLogger(__name__)

# init/commit/abort/send_offsets each wait at most this long: transaction coordinator round
# trips take milliseconds, a minute leaves room for flushing a large transaction first.
TXN_TIMEOUT_S = 60.0


class TxnState(enum.Enum):
    """Where a :class:`TransactionalProducer` is in its lifecycle."""

    NEW = "new"
    READY = "ready"
    IN_TRANSACTION = "in_transaction"
    ABORTABLE = "abortable"
    FAILED = "failed"
    CLOSED = "closed"


class TransactionalProducer:
    """Producer whose writes (and consumer offsets) commit or abort together."""

    def __init__(
        self,
        conf: ConfLike,
        transactional_id: str,
        *,
        timeout: float = TXN_TIMEOUT_S,
        extra: Mapping[str, object] | None = None,
    ) -> None:
        self.transactional_id = transactional_id
        self._timeout = timeout
        self._state = TxnState.NEW
        self._failures = DeliveryFailures()
        config = producer_config(conf, transactional_id=transactional_id, extra=extra)
        config["delivery.report.only.error"] = True
        config["on_delivery"] = self._failures
        self._producer = Producer(config)

    @property
    def state(self) -> TxnState:
        return self._state

    def __enter__(self) -> TransactionalProducer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def init(self) -> None:
        """Register the transactional id with the coordinator (fences older instances)."""
        self._ensure(TxnState.NEW, action="init")
        # A metadata request first: init_transactions on a client with no broker connection
        # yet finds "no brokers available for transactions" and retries only on librdkafka's
        # 500 ms coordinator timer (a third of the inits on the embedded broker took ~510 ms
        # instead of ~55 ms; with the metadata first, every one took ~55 ms).
        self._call("list_topics", self._producer.list_topics, None, self._timeout)
        self._call("init_transactions", self._producer.init_transactions, self._timeout)
        self._state = TxnState.READY

    def begin(self) -> None:
        """Start a transaction."""
        self._ensure(TxnState.READY, action="begin")
        self._call("begin_transaction", self._producer.begin_transaction)
        self._failures.take()
        self._state = TxnState.IN_TRANSACTION

    def produce(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp: int | None = None,
    ) -> None:
        """Add one record to the open transaction."""
        self._ensure(TxnState.IN_TRANSACTION, action="produce")
        self._guarded(
            lambda: produce_many(
                self._producer,
                topic,
                [value],
                keys=[key],
                timestamps=[timestamp],
                partitions=[partition],
            )
        )

    def produce_values(
        self,
        topic: str,
        values: Sequence[bytes | None],
        *,
        keys: Sequence[bytes | None] | None = None,
        timestamps: Sequence[int | None] | None = None,
        partitions: Sequence[int | None] | None = None,
        headers: Sequence[Headers | None] | None = None,
        extra_header: ExtraHeader | None = None,
    ) -> None:
        """Add pre-serialized records (optional parallel keys, timestamps, partitions, headers;
        ``extra_header`` = (name, a value per record) appended after each record's headers) to
        the open transaction."""
        self._ensure(TxnState.IN_TRANSACTION, action="produce_values")
        self._guarded(
            lambda: produce_many(
                self._producer,
                topic,
                values,
                keys=keys,
                timestamps=timestamps,
                partitions=partitions,
                headers=headers,
                extra_header=extra_header,
            )
        )

    def produce_json(
        self, topic: str, docs: Iterable[Mapping[str, Any]], *, key: KeySpec | None = None
    ) -> None:
        """Add documents as JSON values to the open transaction."""
        batch = docs if isinstance(docs, Sequence) else list(docs)
        keys = encode_keys(batch, key) if key is not None else None
        self.produce_values(topic, encode_json_batch(batch), keys=keys)

    def produce_frame(
        self,
        topic: str,
        frame: pl.DataFrame,
        *,
        extra_header: ExtraHeader | None = None,
        on_rejected: RecordRejected | None = None,
    ) -> None:
        """Add a raw record batch (RECORD_COLUMNS, headers included; ``extra_header`` as in
        :meth:`produce_values`) to the open transaction. A record the client refuses before
        sending it (e.g. larger than ``message.max.bytes``) goes to ``on_rejected``, which
        raises or returns to leave it out (the transaction stays usable: nothing was sent);
        without it the refusal raises."""
        self._ensure(TxnState.IN_TRANSACTION, action="produce_frame")
        self._guarded(
            lambda: produce_frame_records(
                self._producer, topic, frame, extra_header=extra_header, on_rejected=on_rejected
            )
        )

    def send_offsets(self, offsets: PartitionOffsets, group_metadata: Any) -> None:
        """Commit a consumer group's offsets (next offset to read) with this transaction."""
        self._ensure(TxnState.IN_TRANSACTION, action="send_offsets")
        if not offsets:
            return
        tps = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        self._call(
            "send_offsets_to_transaction",
            self._producer.send_offsets_to_transaction,
            tps,
            group_metadata,
            self._timeout,
        )

    def flush(self, timeout: float = FLUSH_TIMEOUT_S) -> int:
        """Send the open transaction's records now (without committing); returns how many are
        still undelivered. Note: abort() drops records not yet sent — flush first if the
        broker must see them (e.g. to observe what an abort does)."""
        self._ensure(TxnState.IN_TRANSACTION, action="flush")
        return int(self._producer.flush(timeout))

    def commit(self) -> None:
        """Flush and commit the open transaction; on a delivery failure it becomes ABORTABLE."""
        self._ensure(TxnState.IN_TRANSACTION, action="commit")
        remaining = self._producer.flush(min(self._timeout, FLUSH_TIMEOUT_S))
        failed, quoted = self._failures.take()
        if self._failures.fatal:
            # Fenced: a newer instance owns the transactional id. Aborting would not help (on
            # Tansu the abort request even hangs until its timeout), so refuse everything.
            self._state = TxnState.FAILED
            raise KafkaError(
                f"transaction {self.transactional_id!r} cannot commit: {quoted}",
                hint=_STATE_HINTS[TxnState.FAILED],
            )
        if remaining or failed:
            self._state = TxnState.ABORTABLE
            detail = quoted or f"{remaining} records undelivered"
            raise DeliveryError(
                f"transaction {self.transactional_id!r} cannot commit: {detail}",
                hint="call abort() and retry the transaction",
            )
        self._call("commit_transaction", self._producer.commit_transaction, self._timeout)
        self._state = TxnState.READY

    def abort(self) -> None:
        """Abort the open (or failed-but-abortable) transaction."""
        self._ensure(TxnState.IN_TRANSACTION, TxnState.ABORTABLE, action="abort")
        self._call("abort_transaction", self._producer.abort_transaction, self._timeout)
        self._failures.take()
        self._state = TxnState.READY

    def close(self) -> None:
        """Abort an open transaction (best effort), flush, and release the client."""
        if self._state is TxnState.CLOSED:
            return
        if (
            self._state in (TxnState.IN_TRANSACTION, TxnState.ABORTABLE)
            and not self._failures.fatal
        ):
            try:
                self.abort()
            except KafkaError as exc:
                logger.warning("abort on close of %r failed: %s", self.transactional_id, exc)
        self._producer.flush(0)
        self._state = TxnState.CLOSED

    # -- helpers ---------------------------------------------------------------------------

    def _ensure(self, *allowed: TxnState, action: str) -> None:
        if self._failures.fatal and self._state is not TxnState.CLOSED:
            self._state = TxnState.FAILED  # fenced: learned from a delivery report
        if self._state not in allowed:
            names = " or ".join(s.name for s in allowed)
            raise TransactionStateError(
                f"transactional producer {self.transactional_id!r}: cannot {action}() in state "
                f"{self._state.name} (allowed in {names})",
                hint=_STATE_HINTS.get(self._state),
            )

    def _call(self, name: str, fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except KafkaException as exc:
            self._classify(exc)
            raise wrap_kafka_exception(name, exc, hint=_STATE_HINTS.get(self._state)) from exc

    def _guarded(self, fn: Any) -> None:
        try:
            fn()
        except KafkaError:
            if self._state is TxnState.IN_TRANSACTION:
                self._state = TxnState.ABORTABLE
            raise

    def _classify(self, exc: KafkaException) -> None:
        detail = exc.args[0] if exc.args else None
        if detail is None:
            return
        if detail.fatal():
            self._state = TxnState.FAILED
        elif detail.txn_requires_abort():
            self._state = TxnState.ABORTABLE


_STATE_HINTS: dict[TxnState, str] = {
    TxnState.NEW: "call init() first",
    TxnState.READY: "call begin() to open a transaction",
    TxnState.IN_TRANSACTION: "commit() or abort() the open transaction first",
    TxnState.ABORTABLE: "the transaction failed: call abort(), then begin() again",
    TxnState.FAILED: "the producer is fenced or failed fatally: close it and create a new one",
    TxnState.CLOSED: "the producer is closed: create a new one",
}
