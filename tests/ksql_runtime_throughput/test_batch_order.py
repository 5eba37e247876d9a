"""A batch's canonical record order: the cheap stable sort equals the full sort."""

from __future__ import annotations

import random

import polars as pl

from telemetry_lib.ksql.runtime.batch_order import order_records, topic_slices
from telemetry_lib.ksql.runtime.io import RECORD_SCHEMA


def _frames(seed: int, *, shuffle_within: bool = False) -> list[pl.DataFrame]:
    """Frames as a fetch thread builds them: runs of partitions, each partition in offset
    order across frames (unless ``shuffle_within``), topics interleaved."""
    rng = random.Random(seed)
    next_offset: dict[tuple[str, int], int] = {}
    frames = []
    for _ in range(12):
        rows = []
        for _run in range(rng.randrange(1, 5)):
            topic = rng.choice(["src", "_confluent-ksql-x-repartition", "b_other"])
            part = rng.randrange(4)
            for _ in range(rng.randrange(1, 40)):
                offset = next_offset.get((topic, part), 0)
                next_offset[(topic, part)] = offset + rng.choice([1, 1, 1, 2])  # markers: gaps
                rows.append((topic, part, offset))
        if shuffle_within:
            rng.shuffle(rows)
        frames.append(
            pl.DataFrame(
                {
                    "key": [None] * len(rows),
                    "value": [f"{t}/{p}/{o}".encode() for t, p, o in rows],
                    "timestamp": [o * 10 for _t, _p, o in rows],
                    "partition": [p for _t, p, _o in rows],
                    "offset": [o for _t, _p, o in rows],
                    "headers": [[] for _ in rows],
                    "topic": [t for t, _p, _o in rows],
                },
                schema={**RECORD_SCHEMA, "topic": pl.String()},
            )
        )
    return frames


def test_stable_code_sort_equals_the_full_sort() -> None:
    for seed in range(20):
        frames = _frames(seed)
        want = pl.concat(frames).sort("topic", "partition", "offset")
        assert order_records(frames).equals(want)


def test_records_out_of_offset_order_still_come_out_sorted() -> None:
    frames = _frames(3, shuffle_within=True)
    want = pl.concat(frames).sort("topic", "partition", "offset")
    assert order_records(frames).equals(want)


def test_topic_slices_split_a_sorted_batch_by_topic() -> None:
    records = order_records(_frames(7))
    slices = topic_slices(records)
    assert list(slices) == sorted(slices)
    for topic, rows in slices.items():
        assert rows.equals(records.filter(pl.col("topic") == topic))
    assert sum(r.height for r in slices.values()) == records.height
    unsorted = pl.concat(_frames(8))  # not sorted by topic: filtered per topic instead
    for topic, rows in topic_slices(unsorted).items():
        assert rows.equals(unsorted.filter(pl.col("topic") == topic))
    assert topic_slices(records.head(0)) == {}
