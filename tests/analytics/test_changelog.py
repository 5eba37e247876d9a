"""Window decoding and changelog collapse: hand-built records, client frames, the real engine."""

from __future__ import annotations

import datetime as dt
import json
import struct
from decimal import Decimal

import polars as pl
import pytest

from telemetry_lib import analytics as a
from telemetry_lib.demo_ksql import CREATE_STREAM, CREATE_TABLE
from telemetry_lib.generator import GeneratorConfig, TelemetryGenerator
from telemetry_lib.ksql.driver import InMemoryDriver

W = 300_000  # 5 minutes
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z, a multiple of W


def utc(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def wkey(player: str, start: int) -> bytes:
    """A TUMBLING windowed KAFKA-string key written by hand: inner bytes + int64 BE start."""
    return player.encode() + struct.pack(">q", start)


def value(kills: int, deaths: int, ratio: float | None) -> bytes:
    return json.dumps({"KILL_COUNT": kills, "DEATH_COUNT": deaths, "KILL_RATIO": ratio}).encode()


def records(rows: list[tuple[bytes, bytes | None, int, int]]) -> pl.DataFrame:
    """(key, value, partition, offset) -> a raw record frame as read_records gives it."""
    return pl.DataFrame(
        {
            "key": pl.Series([r[0] for r in rows], dtype=pl.Binary),
            "value": pl.Series([r[1] for r in rows], dtype=pl.Binary),
            "timestamp": pl.Series([T0] * len(rows), dtype=pl.Int64),
            "partition": pl.Series([r[2] for r in rows], dtype=pl.Int32),
            "offset": pl.Series([r[3] for r in rows], dtype=pl.Int64),
        }
    )


def test_decode_windowed_records_splits_key_window_and_value() -> None:
    raw = records([(wkey("P1", T0 + W), value(3, 2, 1.5), 0, 7), (wkey("P22", T0), None, 1, 0)])
    rows = a.decode_windowed_records(raw)
    assert rows["player_id"].to_list() == ["P1", "P22"]
    assert rows["window_start"].to_list() == [utc(T0 + W), utc(T0)]
    assert rows["window_end"].to_list() == [utc(T0 + 2 * W), utc(T0 + W)]
    assert rows["kill_count"].to_list() == [3, None]
    assert rows["death_count"].to_list() == [2, None]
    assert rows["kill_ratio"].to_list() == [1.5, None]
    assert rows["tombstone"].to_list() == [False, True]
    assert rows["partition"].to_list() == [0, 1]
    assert rows["offset"].to_list() == [7, 0]
    assert rows.schema["window_start"] == pl.Datetime("ms", "UTC")


def test_decode_windowed_records_json_key_and_window_size() -> None:
    raw = records([(b'"P9"' + struct.pack(">q", 60_000), value(1, 0, None), 0, 0)])
    rows = a.decode_windowed_records(raw, key_format="JSON", window_size_ms=60_000)
    assert rows["player_id"].to_list() == ["P9"]
    assert rows["window_end"].to_list() == [utc(120_000)]


def test_decode_windowed_records_rejects_unwindowed_keys() -> None:
    raw = records([(b"P1", value(1, 1, 1.0), 0, 0)])
    with pytest.raises(a.AnalyticsError, match="too short"):
        a.decode_windowed_records(raw)


def test_collapse_keeps_latest_per_key_by_partition_offset_and_applies_tombstones() -> None:
    raw = records(
        [
            # listed out of offset order on purpose: the offset decides, not the row order
            (wkey("P1", T0), value(2, 1, 2.0), 0, 5),
            (wkey("P1", T0), value(1, 1, 1.0), 0, 3),
            (wkey("P2", T0), value(0, 1, 0.0), 1, 0),
            (wkey("P2", T0), None, 1, 1),  # tombstone after P2's row: P2 deleted
            (wkey("P3", T0), None, 0, 1),
            (wkey("P3", T0), value(4, 0, None), 0, 2),  # re-created after its tombstone
            (wkey("P1", T0 + W), value(1, 0, None), 0, 4),
        ]
    )
    table = a.collapse_changelog(a.decode_windowed_records(raw))
    assert table.select("player_id", "window_start", "kill_count", "death_count").rows() == [
        ("P1", utc(T0), 2, 1),
        ("P1", utc(T0 + W), 1, 0),
        ("P3", utc(T0), 4, 0),
    ]
    assert "tombstone" not in table.columns


def test_collapse_without_offsets_uses_row_order() -> None:
    frame = pl.DataFrame(
        {"player_id": ["a", "a", "b"], "window_start": [1, 1, 1], "kill_count": [1, 2, 5]}
    )
    assert a.collapse_changelog(frame)["kill_count"].to_list() == [2, 5]


def test_kd_table_from_client_frame_equals_from_raw_records() -> None:
    raw = records(
        [
            (wkey("P1", T0), value(1, 0, None), 0, 0),
            (wkey("P1", T0), value(2, 9, None), 0, 1),  # 2/9: NULL ratio in ksqlDB (#9874)
            (wkey("P2", T0), value(3, 0, None), 0, 2),
        ]
    )
    client = pl.DataFrame(
        {
            "PLAYER_ID": ["P2", "P1"],
            "WINDOWSTART": pl.Series([T0, T0]).cast(pl.Datetime("ms", "UTC")),
            "WINDOWEND": pl.Series([T0 + W, T0 + W]).cast(pl.Datetime("ms", "UTC")),
            "KILL_COUNT": [3, 2],
            "DEATH_COUNT": [0, 9],
            "KILL_RATIO": pl.Series([None, None], dtype=pl.Decimal(20, 10)),
        }
    )
    from_raw = a.kd_table(raw)
    from_client = a.kd_table(client)
    assert from_raw.columns == [
        "player_id",
        "window_start",
        "window_end",
        "kill_count",
        "death_count",
        "kill_ratio",
        "kd",
    ]
    assert from_raw.equals(from_client)
    # 0 deaths: K/D = kills (the default rule); 2/9 computed as a DOUBLE
    assert from_raw["kd"].to_list() == pytest.approx([2 / 9, 3.0])


def test_kd_table_from_push_rows_without_window_end_uses_the_window_size() -> None:
    # rows of a push query in arrival order (no partition/offset): the later row wins
    frame = pl.DataFrame(
        {
            "PLAYER_ID": ["P1", "P1"],
            "WINDOWSTART": [T0, T0],
            "KILL_COUNT": [1, 2],
            "DEATH_COUNT": [1, 1],
        }
    )
    table = a.kd_table(frame, window_size_ms=60_000)
    assert table.rows() == [("P1", utc(T0), utc(T0 + 60_000), 2, 1, 2.0)]


def test_kd_table_of_an_empty_topic_or_only_tombstones_is_empty() -> None:
    empty = a.kd_table(records([]))
    assert empty.height == 0 and empty.columns == a.empty_kd_table().columns
    deleted = a.kd_table(records([(wkey("P1", T0), None, 0, 0)]))
    assert deleted.height == 0 and deleted.schema == a.empty_kd_table().schema


def test_normalize_ksql_frame_epoch_windows_and_decimals() -> None:
    frame = pl.DataFrame(
        {
            "PLAYER_ID": ["P1"],
            "WINDOWSTART": [T0],
            "WINDOWEND": [T0 + W],
            "KILL_RATIO": pl.Series([Decimal("1.5")], dtype=pl.Decimal(10, 2)),
        }
    )
    out = a.normalize_ksql_frame(frame)
    assert out.columns == ["player_id", "window_start", "window_end", "kill_ratio"]
    assert out.row(0) == ("P1", utc(T0), utc(T0 + W), 1.5)


def test_kd_table_of_the_engines_output_equals_the_truth() -> None:
    """The demo's CTAS on the in-memory engine, one output per input (a long changelog):
    decoding + collapse must give exactly the per-(player, window) counts of the events."""
    gen = TelemetryGenerator(GeneratorConfig(seed=7, players=12, events=2_000))
    events = gen.events()
    kafka = gen.kafka_records()
    driver = InMemoryDriver()
    driver.create_topic("telemetry_events", partitions=2)
    driver.execute(CREATE_STREAM)
    driver.execute(CREATE_TABLE, properties={"auto.offset.reset": "earliest"})
    driver.pipe_batch(
        "telemetry_events",
        pl.DataFrame(
            {
                "key": pl.Series(kafka.keys, dtype=pl.Binary),
                "value": pl.Series(kafka.values, dtype=pl.Binary),
                "timestamp": pl.Series(kafka.timestamps, dtype=pl.Int64),
            }
        ),
    )
    out = driver.read_frame("PLAYER_KILL_RATIO")
    assert out.height == events.height  # every event updated its (player, window) row
    table = a.kd_table(out.select("key", "value", "timestamp", "partition", "offset"))
    truth = a.kd_truth(events)
    check = a.compare_kd(table, truth)
    assert check.ok, check.as_dict()
    assert (check.missing, check.extra, check.count_mismatches) == (0, 0, 0)
    assert table.select(truth.columns).equals(truth)


def test_truth_with_grace_matches_the_engine_on_late_events() -> None:
    """Late records (generator's late/out-of-order delivery) are dropped by the engine as
    ksqlDB does; kd_truth(grace_ms=...) over the topic in partition/offset order agrees."""
    gen = TelemetryGenerator(
        GeneratorConfig(
            seed=7, players=12, events=3_000, late_fraction=0.05, out_of_order_fraction=0.1
        )
    )
    kafka = gen.kafka_records()
    driver = InMemoryDriver()
    driver.create_topic("telemetry_events", partitions=2)
    driver.execute(CREATE_STREAM)
    with_grace = CREATE_TABLE.replace("SIZE 5 MINUTES", "SIZE 5 MINUTES, GRACE PERIOD 1 MINUTE")
    driver.execute(with_grace, properties={"auto.offset.reset": "earliest"})
    driver.pipe_batch(
        "telemetry_events",
        pl.DataFrame(
            {
                "key": pl.Series(kafka.keys, dtype=pl.Binary),
                "value": pl.Series(kafka.values, dtype=pl.Binary),
                "timestamp": pl.Series(kafka.timestamps, dtype=pl.Int64),
            }
        ),
    )
    out = driver.read_frame("PLAYER_KILL_RATIO")
    table = a.kd_table(out.select("key", "value", "timestamp", "partition", "offset"))
    topic = driver.topics.records("telemetry_events").sort("partition", "offset")
    schema = pl.Struct({"player_id": pl.String, "event_type": pl.String, "timestamp": pl.Int64})
    delivered = (
        pl.DataFrame({"v": topic["value"].cast(pl.String)})
        .select(pl.col("v").str.json_decode(schema))
        .unnest("v")
        .with_columns(topic["partition"])
    )
    assert a.compare_kd(table, a.kd_truth(delivered, grace_ms=60_000)).ok
    # without the grace rule the late records would count: the check must see the difference
    assert a.compare_kd(table, a.kd_truth(delivered)).count_mismatches > 0
