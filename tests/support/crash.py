"""The crash-test scaffolding of the Kafka runtime's exactly-once tests: a deterministic crash of
one query between "its batch's outputs are on the broker" and "its transaction committed", a
bounded wait for a condition, and the ``ksql-eos`` ids its output records carry.

A test crashes a query at its n-th transactional commit (the first is the initial snapshot),
lets the server fail, closes it, restores the real commit and starts a second instance::

    restore_commit = crash_before_commit(monkeypatch, query=f"CTAS_{table}_0", at=3)
    ...                                       # first server: start, execute, produce input
    wait_for(lambda: runner.status == "failed", "the simulated crash", timeout=WAIT_S)
    assert isinstance(runner.error, SimulatedCrash)
    first.close()
    restore_commit()
    ...                                       # second server recovers; check eos_ids(out)
"""

from __future__ import annotations

import time
from collections.abc import Callable

import polars as pl
import pytest

from telemetry_lib.kafka import TransactionalProducer
from telemetry_lib.ksql.runtime.checkpoint import EOS_HEADER

__all__ = ["SimulatedCrash", "crash_before_commit", "eos_batch_ids", "eos_ids", "wait_for"]

# A query's transactional id is its application id, ``_confluent-ksql-<service id>query_<query
# id>`` (checkpoint.app_id): the query id is what follows the last marker.
_QUERY_MARKER = "query_"
# ksql-eos header values are ``<query id>:<epoch>:<batch>:<index>``; split from the right, so
# only the three numbers count, whatever the query id holds.
_EOS_NUMBERS = 3


class SimulatedCrash(RuntimeError):
    """Raised by the patched commit in place of committing: the query fails as on a crash."""


def wait_for(predicate: Callable[[], object], what: str, *, timeout: float,
             pause: float = 0.2) -> None:  # fmt: skip
    """Return once ``predicate()`` is true; fail (AssertionError naming ``what``) if it is still
    false after ``timeout`` seconds, asking every ``pause`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out waiting for {what} ({timeout:.0f} s)")
        time.sleep(pause)


def crash_before_commit(
    monkeypatch: pytest.MonkeyPatch, *, query: str, at: int
) -> Callable[[], None]:
    """Patch ``TransactionalProducer.commit`` so the ``at``-th commit of ``query``'s transactional
    id flushes (its outputs reach the broker) and raises :class:`SimulatedCrash` instead of
    committing; other producers commit as usual. Returns the callable that puts the real commit
    back (for the restarted server; ``monkeypatch`` also undoes it at teardown).

    ``query`` is a query id (``CTAS_KD_0``), or its start ending in ``_`` when the id's number
    is assigned only as the statement runs (``CSAS_KJ_``): commits of every query id it starts
    are counted together.
    """
    real_commit = TransactionalProducer.commit
    calls = 0

    def matches(transactional_id: str) -> bool:
        query_id = transactional_id.rpartition(_QUERY_MARKER)[2]
        return query_id == query or (query.endswith("_") and query_id.startswith(query))

    def crashing_commit(self: TransactionalProducer) -> None:
        nonlocal calls
        if matches(self.transactional_id):
            calls += 1
            if calls == at:
                self.flush()  # the outputs are on the broker, the transaction never commits
                raise SimulatedCrash(f"simulated crash before commit {at} of "
                                     f"{self.transactional_id}")  # fmt: skip
        real_commit(self)

    def restore() -> None:
        monkeypatch.setattr(TransactionalProducer, "commit", real_commit)

    monkeypatch.setattr(TransactionalProducer, "commit", crashing_commit)
    return restore


def eos_ids(frame: pl.DataFrame) -> list[tuple[int, int, int]]:
    """(epoch, batch, index) of each ``ksql-eos`` header of ``frame`` (records as read by
    ``read_records``), in record order."""
    headers = frame.select(pl.col("headers").explode()).unnest("headers")
    values = headers.filter(pl.col("key") == EOS_HEADER)["value"].to_list()
    ids: list[tuple[int, int, int]] = []
    for value in values:
        _query, epoch, batch, index = value.rsplit(b":", _EOS_NUMBERS)
        ids.append((int(epoch), int(batch), int(index)))
    return ids


def eos_batch_ids(frame: pl.DataFrame) -> list[tuple[int, int]]:
    """(batch, index) of each ``ksql-eos`` header of ``frame``: the id an output keeps when its
    batch is replayed under a later epoch, so each must occur once in an exactly-once output."""
    return [(batch, index) for _epoch, batch, index in eos_ids(frame)]
