"""The in-memory topics under concurrent reads and appends (the REST server's push queries read
topics from a worker thread while inserts append)."""

from __future__ import annotations

import threading

import polars as pl

from telemetry_lib.ksql.driver import InMemoryTopics
from telemetry_lib.ksql.runtime.io import TopicSpec

APPENDS = 2_000


def _record(i: int) -> pl.DataFrame:
    return pl.DataFrame({"key": [f"k{i}".encode()], "value": [str(i).encode()]})


def test_reads_during_appends_lose_no_record() -> None:
    topics = InMemoryTopics()
    topics.create_topic(TopicSpec("t", 1))
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            topics.records("t")

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        for i in range(APPENDS):
            topics.produce("t", _record(i))
    finally:
        done.set()
        for thread in threads:
            thread.join(30)
    stored = topics.records("t")
    assert stored.height == APPENDS
    assert stored.get_column("offset").to_list() == list(range(APPENDS))
    assert stored.get_column("value").to_list() == [str(i).encode() for i in range(APPENDS)]
