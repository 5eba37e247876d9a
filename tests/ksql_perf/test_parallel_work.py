"""The source operator's two-half decode of large batches gives what a one-piece decode gives,
and the sink's keys-beside-values encode what sequential encoding gives.

Batches above ``_PARALLEL_DECODE_ROWS`` are decoded as two halves at once (the second on a
worker thread), each half in pieces of about ``_PIECE_BYTES``. These tests feed batches holding
the awkward rows of every decode path — bad JSON, null values, field names in other spellings
(one seen only in the second half), numbers where text is expected, out-of-range INT values,
windowed keys that are too short — and expect the same columns, errors, window bounds, outputs
and processing-log entries as the one-piece decode (the thresholds raised above the batch size).
"""

from __future__ import annotations

import json

import polars as pl
import pytest

from telemetry_lib.ksql.driver import InMemoryDriver
from telemetry_lib.ksql.exec import sink as sink_mod
from telemetry_lib.ksql.exec import source as source_mod

ROWS = 2 * source_mod._PARALLEL_DECODE_ROWS + 7
WINDOW_MS = 60_000
LOG_TOPIC = "default_ksql_processing_log"

STREAM = (
    "CREATE STREAM S (K STRING KEY, ID INT, NAME STRING, AMOUNT DECIMAL(6, 2), OK BOOLEAN, "
    "TS BIGINT) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', PARTITIONS=1);"
)
WINDOWED = (
    "CREATE TABLE W (K STRING PRIMARY KEY, TOTAL BIGINT) WITH (KAFKA_TOPIC='w', PARTITIONS=1, "
    "VALUE_FORMAT='JSON', WINDOW_TYPE='TUMBLING', WINDOW_SIZE='1 MINUTE');"
)


def _value(i: int) -> bytes | None:
    """Mostly ordinary rows, with an awkward one every few hundred (see the module doc)."""
    if i % 997 == 0:
        return b'{"id": 1, "name": "broken"'
    if i % 991 == 0:
        return None
    if i % 983 == 0:
        return b"null"
    if i % 977 == 0:
        return json.dumps({"Id": i, "NAME": "upper", "amount": 1.5}).encode()
    if i == ROWS - 3:  # a spelling the second half alone shows
        return json.dumps({"iD": i, "name": "late spelling"}).encode()
    if i % 971 == 0:
        return json.dumps({"id": i, "name": 12.50, "amount": "x"}).encode()
    if i % 967 == 0:
        return json.dumps({"id": 2**40, "name": "wraps", "ok": "yes"}).encode()
    return json.dumps(
        {"id": i, "name": f"p{i % 50}", "amount": (i % 1000) / 100, "ok": i % 2 == 0, "ts": i}
    ).encode()


def _batch(values: list[bytes | None], keys: list[bytes | None]) -> pl.DataFrame:
    n = len(values)
    return pl.DataFrame(
        {
            "key": pl.Series(keys, dtype=pl.Binary),
            "value": pl.Series(values, dtype=pl.Binary),
            "timestamp": pl.Series(range(1_000, 1_000 + n), dtype=pl.Int64),
        }
    )


def _stream_batch() -> pl.DataFrame:
    keys = [None if i % 1009 == 0 else f"k{i % 300}".encode() for i in range(ROWS)]
    return _batch([_value(i) for i in range(ROWS)], keys)


def _windowed_batch() -> pl.DataFrame:
    keys: list[bytes | None] = []
    for i in range(ROWS):
        start = (i // 100) * WINDOW_MS
        key = f"k{i % 300}".encode() + start.to_bytes(8, "big", signed=True)
        keys.append(b"abc" if i % 1013 == 0 else key)  # too short to hold a window
    values = [json.dumps({"total": i}).encode() for i in range(ROWS)]
    return _batch(values, keys)


def _source(driver: InMemoryDriver, topic: str) -> object:
    return next(s for s in driver.engine.catalog.sources() if s.topic == topic)


def _conformed(driver: InMemoryDriver, topic: str, batch: pl.DataFrame) -> pl.DataFrame:
    driver.create_topic(topic)
    return driver.topics.append(topic, batch)


@pytest.mark.parametrize("piece_bytes", [None, 100_000])
@pytest.mark.parametrize(
    ("ddl", "topic", "make"), [(STREAM, "s", _stream_batch), (WINDOWED, "w", _windowed_batch)]
)
def test_two_half_decode_equals_one_piece(
    ddl: str, topic: str, make: object, piece_bytes: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if piece_bytes is not None:  # each half in many pieces (uneven sizes, some with errors)
        monkeypatch.setattr(source_mod, "_PIECE_BYTES", piece_bytes)
    driver = InMemoryDriver()
    driver.execute(ddl)
    source = _source(driver, topic)
    batch = _conformed(driver, topic, make())  # type: ignore[operator]
    halves = source_mod._decode(batch, source)  # type: ignore[arg-type]
    whole = source_mod._decode_part(batch, source)  # type: ignore[arg-type]
    for split, one in zip(halves, whole, strict=True):
        assert split.columns.equals(one.columns, null_equal=True)
        assert split.errors.equals(one.errors, null_equal=True)
        for name in ("window_start", "window_end", "null_payload"):
            a, b = getattr(split, name), getattr(one, name)
            assert (a is None) == (b is None)
            if a is not None:
                assert a.equals(b, null_equal=True)
    # The batch really has the awkward rows the halves must agree on.
    errors = halves[0].errors.drop_nulls().len() + halves[1].errors.drop_nulls().len()
    assert errors > 0


def _run(monkeypatch: pytest.MonkeyPatch, *, parallel: bool) -> tuple[pl.DataFrame, list[dict]]:
    if not parallel:
        monkeypatch.setattr(source_mod, "_PARALLEL_DECODE_ROWS", ROWS + 1)
        monkeypatch.setattr(sink_mod, "_PARALLEL_ENCODE_ROWS", ROWS + 1)
        monkeypatch.setattr(sink_mod, "_SPLIT_VALUES_ROWS", ROWS + 1)
    driver = InMemoryDriver()
    driver.execute(
        STREAM + "CREATE STREAM OUT AS SELECT K, ID, NAME, AMOUNT * 2 AS A2, OK FROM S "
        "WHERE ID IS NULL OR ID % 3 <> 1;"
    )
    driver.pipe_batch("s", _stream_batch())
    out = driver.topics.records("OUT").select("key", "value", "timestamp")
    log = []
    for value in driver.topics.records(LOG_TOPIC).get_column("value").to_list():
        entry = json.loads(value)
        entry.pop("time")
        log.append(entry)
    return out, log


def test_driver_outputs_and_processing_log_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    encode_rows = sink_mod._PARALLEL_ENCODE_ROWS
    split_out, split_log = _run(monkeypatch, parallel=True)
    one_out, one_log = _run(monkeypatch, parallel=False)
    assert split_out.height > max(ROWS // 2, encode_rows)
    assert split_out.equals(one_out, null_equal=True)
    kinds = {e["message"]["type"] for e in one_log}
    assert 0 in kinds  # deserialization errors were logged, in the same order both ways
    assert split_log == one_log


def test_a_failing_half_fails_the_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """ksql.fail.on.deserialization.error stops the query whichever half holds the bad row."""
    driver = InMemoryDriver(config={"ksql.fail.on.deserialization.error": True})
    driver.execute(STREAM + "CREATE STREAM OUT AS SELECT * FROM S;")
    values = [json.dumps({"id": i}).encode() for i in range(ROWS)]
    values[ROWS - 2] = b"{broken"
    with pytest.raises(Exception, match="Deserialization exception handler"):
        driver.pipe_batch("s", _batch(values, [b"k"] * ROWS))
    assert not driver.topics.has_topic("OUT") or driver.topics.records("OUT").height == 0


def test_run_both_returns_both_and_waits_for_the_worker_when_the_caller_fails() -> None:
    import threading

    from telemetry_lib.ksql.exec.parallel import run_both

    here, there = run_both(lambda: threading.current_thread().name, lambda: "there")
    assert (here, there) == (threading.current_thread().name, "there")
    go, finished = threading.Event(), threading.Event()

    def worker() -> None:
        go.wait(30)  # runs on until the caller has failed
        finished.set()

    def fail() -> None:
        go.set()
        raise ValueError("caller failed")

    with pytest.raises(ValueError, match="caller failed"):
        run_both(fail, worker)
    assert finished.is_set()  # the worker's half ended before run_both raised


def test_run_both_in_a_forked_child_uses_a_fresh_worker() -> None:
    import os
    import threading

    from telemetry_lib.ksql.exec.parallel import run_both

    run_both(lambda: 1, lambda: 2)  # the parent's worker exists now
    pid = os.fork()
    if pid == 0:  # child: would hang forever on the parent's (absent) worker thread
        try:
            ok = run_both(lambda: 1, lambda: 2) == (1, 2)
        finally:
            os._exit(0 if ok else 1)
    # Guard against the hang this test is about: give up (and kill the child) after a while.
    for _ in range(3000):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        threading.Event().wait(0.01)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("run_both in a forked child never returned")
    assert os.waitstatus_to_exitcode(status) == 0
