"""Closing a batch (BatchInput.take) on a scripted fetch queue: a backlog goes at once without
waiting for awaited re-keyed records; steady input still waits for them and closes when the
last arrives. The queue is our own in-process hand-off, scripted here so no timing decides."""

from __future__ import annotations

import queue
import threading

import polars as pl
import pytest

from telemetry_lib.ksql.runtime.batch_input import BACKLOG_RECORDS, BatchInput
from telemetry_lib.ksql.runtime.io import RECORD_SCHEMA

_SOURCE = "events"
_REKEYED = "_confluent-ksql-x_query_CTAS_1-Aggregate-GroupBy-repartition"


def _frame(topic: str, partition: int, start: int, n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "key": [None] * n,
            "value": [b"{}"] * n,
            "timestamp": list(range(start, start + n)),
            "partition": [partition] * n,
            "offset": list(range(start, start + n)),
            "headers": [[]] * n,
            "topic": [topic] * n,
        },
        schema={**RECORD_SCHEMA, "topic": pl.String()},
    )


class _ScriptedQueue(queue.Queue):  # type: ignore[type-arg]
    """Frames queued now, plus ``late`` frames a blocking get() hands out one by one (what the
    fetch thread would deliver while take() waits); ``waits`` counts such blocking waits."""

    def __init__(self, frames: list[pl.DataFrame], late: list[pl.DataFrame]) -> None:
        super().__init__()
        for frame in frames:
            self.put(frame)
        self.late = list(late)
        self.waits = 0

    def get(self, block: bool = True, timeout: float | None = None) -> object:
        try:
            return super().get(block=False)
        except queue.Empty:
            if not block:
                raise
        self.waits += 1
        if self.late:
            return self.late.pop(0)
        raise queue.Empty


def _input(fetched: _ScriptedQueue, awaited: dict[tuple[str, int], int]) -> BatchInput:
    batch_input = BatchInput(
        query_id="CTAS_1",
        internal_topics=(_REKEYED,),
        stop=threading.Event(),
        commit_interval_s=3600.0,  # only the closing rules can end a batch here
    )
    batch_input._fetched = fetched  # the fetch thread's queue, scripted
    batch_input.awaited = dict(awaited)
    return batch_input


def test_a_backlog_closes_at_once_without_waiting_for_awaited_rekeyed_records() -> None:
    size = 10_000
    frames = [
        _frame(_SOURCE, i % 4, (i // 4) * size, size) for i in range(BACKLOG_RECORDS // size + 2)
    ]
    late = [_frame(_REKEYED, 0, 0, 3)]
    fetched = _ScriptedQueue(frames, late)
    batch_input = _input(fetched, {(_REKEYED, 0): 3})
    records = batch_input.take(consumer=None)  # type: ignore[arg-type]
    assert records is not None
    assert fetched.waits == 0  # never blocked: the re-keyed records come with a later batch
    assert records.height == sum(f.height for f in frames)
    assert records.equals(pl.concat(frames).sort("topic", "partition", "offset"))
    assert batch_input.awaited == {(_REKEYED, 0): 3}  # still counted for the next batches
    # The next (steady) batch waits for them and closes the moment the last one is read.
    fetched.put(_frame(_SOURCE, 0, 10**6, 5))
    records = batch_input.take(consumer=None)  # type: ignore[arg-type]
    assert records is not None
    assert fetched.waits == 1
    assert records.filter(pl.col("topic") == _REKEYED).height == 3
    assert batch_input.awaited == {}


@pytest.mark.parametrize("rekeyed_first", [False, True])
def test_steady_input_waits_for_the_awaited_rekeyed_records(rekeyed_first: bool) -> None:
    source = _frame(_SOURCE, 1, 0, 100)
    late = [_frame(_REKEYED, 0, 0, 1), _frame(_REKEYED, 2, 0, 2)]
    if rekeyed_first:
        late.insert(0, _frame(_SOURCE, 2, 0, 50))
    fetched = _ScriptedQueue([source], late)
    batch_input = _input(fetched, {(_REKEYED, 0): 1, (_REKEYED, 2): 2})
    records = batch_input.take(consumer=None)  # type: ignore[arg-type]
    assert records is not None
    assert fetched.waits == len(late)  # waited for each, and no longer once all arrived
    assert records.filter(pl.col("topic") == _REKEYED).height == 3
    assert batch_input.awaited == {}


def test_a_batch_that_gathers_a_backlog_while_waiting_goes_at_once() -> None:
    size = 10_000
    late = [_frame(_SOURCE, 0, (i + 1) * size, size) for i in range(8)]
    fetched = _ScriptedQueue([_frame(_SOURCE, 0, 0, size)], late)
    records = _input(fetched, {}).take(consumer=None)  # type: ignore[arg-type]
    assert records is not None
    assert records.height == BACKLOG_RECORDS  # closed once a backlog's worth was in
    assert records["offset"].to_list() == list(range(BACKLOG_RECORDS))
    assert len(fetched.late) == 8 - (BACKLOG_RECORDS - size) // size


def test_a_fetch_error_queued_behind_frames_is_raised() -> None:
    frames = [_frame(_SOURCE, 0, i * 10_000, 10_000) for i in range(BACKLOG_RECORDS // 10_000)]
    fetched = _ScriptedQueue([*frames, RuntimeError("broker gone")], [])  # type: ignore[list-item]
    with pytest.raises(RuntimeError, match="broker gone"):
        _input(fetched, {}).take(consumer=None)  # type: ignore[arg-type]
