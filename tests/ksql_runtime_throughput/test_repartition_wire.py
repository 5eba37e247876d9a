"""Repartition records as Arrow IPC: exact round trip, value-only chunking, legacy JSON lines."""

from __future__ import annotations

import base64
import datetime as dt
import json
import random
import zlib
from decimal import Decimal

import polars as pl

from telemetry_lib.ksql.runtime.repartition import CHUNK_BYTES, RowCodec
from telemetry_lib.ksql.runtime.repartition_wire import (
    decode_values,
    encode_chunks,
    is_ipc,
    row_sizes,
)


def _frame(n: int, *, seed: int = 1) -> pl.DataFrame:
    rng = random.Random(seed)
    return pl.DataFrame(
        {
            "PLAYER_ID": [f"P{rng.randrange(500):05d}" for _ in range(n)],
            "EVENT_TYPE": [rng.choice(["kill", "death", "respawn"]) for _ in range(n)],
            "ROWTIME": list(range(1_000, 1_000 + n)),
            "ROWPARTITION": [i % 4 for i in range(n)],
            "__ksql_null_value": [i % 97 == 0 for i in range(n)],
        },
        schema_overrides={"ROWPARTITION": pl.Int32},
    )


def _records(codec: RowCodec, frame: pl.DataFrame) -> list[tuple[int, bytes]]:
    records = codec.encode(frame, [pl.col("PLAYER_ID")])
    return list(zip(records["partition"].to_list(), records["value"].to_list(), strict=True))


def test_records_are_ipc_streams_that_give_the_rows_back_in_partition_order() -> None:
    frame = _frame(50_000)
    codec = RowCodec(partitions=4)
    records = codec.encode(frame, [pl.col("PLAYER_ID")])
    assert all(is_ipc(v) for v in records["value"].to_list())
    assert (records["value"].bin.size() <= CHUNK_BYTES).all()
    # Each record's timestamp is its rows' largest ROWTIME; every key sits in one partition.
    seen: list[pl.DataFrame] = []
    for part, value, ts in records.select("partition", "value", "timestamp").rows():
        rows = decode_values([value], codec.schema)
        assert rows["ROWTIME"].max() == ts and rows["ROWTIME"].is_sorted()
        seen.append(rows.with_columns(pl.lit(part).alias("P")))
    back = pl.concat(seen)
    assert back.group_by("PLAYER_ID").agg(pl.col("P").n_unique())["P"].max() == 1
    assert back.drop("P").sort("ROWTIME").equals(frame)
    # Decoding all records at once keeps record order.
    assert RowCodec(codec.schema).decode(records).equals(back.drop("P"))


def test_the_cut_depends_on_the_values_only_not_on_memory_layout() -> None:
    # The exactly-once replay skips records by their index within the batch: the same rows
    # must always be cut into the same records, whatever buffers hold them.
    frame = _frame(40_000, seed=3)
    padded = pl.concat(
        [frame.with_columns(pl.col("PLAYER_ID") + "-long-suffix-held-in-buffers"), frame]
    ).with_columns(pl.col("PLAYER_ID").str.replace("-long-suffix-held-in-buffers", ""))
    filtered = padded.slice(frame.height)  # slices share the larger frame's buffers
    pieces = pl.concat([frame.slice(i, 777) for i in range(0, frame.height, 777)], rechunk=False)
    budget = 64 * 1024  # small: many chunks per partition
    cuts = []
    for variant in (frame, filtered, pieces, frame.rechunk()):
        assert variant.equals(frame)
        values, places, stamps = encode_chunks(
            variant, variant["ROWPARTITION"], variant["ROWTIME"], budget=budget
        )
        sizes = [decode_values([v], None).height for v in values]
        cuts.append((places, stamps, sizes))
        assert max(len(v) for v in values) <= budget
    assert all(cut == cuts[0] for cut in cuts[1:])
    assert len(cuts[0][0]) > 8


def test_incompressible_rows_stay_within_the_budget() -> None:
    rng = random.Random(5)
    frame = pl.DataFrame(
        {
            "K": [f"k{i % 7}" for i in range(3_000)],
            "B": [rng.randbytes(rng.randrange(0, 400)) for _ in range(3_000)],
            "L": [[rng.random() for _ in range(rng.randrange(0, 20))] for _ in range(3_000)],
            "ST": [{"a": rng.randrange(10**9), "s": "v" * rng.randrange(30)} for _ in range(3_000)],
        }
    )
    sizes = row_sizes(frame)
    budget = 48 * 1024
    values, places, _ = encode_chunks(frame, pl.Series([0] * frame.height), sizes, budget=budget)
    assert len(values) > 20 and all(len(v) <= budget for v in values)
    assert set(places) == {0}
    assert decode_values(values, frame.schema).equals(frame)


def test_records_written_as_json_lines_by_earlier_versions_are_still_read() -> None:
    schema = pl.Schema(
        {
            "S": pl.String(),
            "B": pl.Binary(),
            "D": pl.Decimal(10, 2),
            "F": pl.Float64(),
            "TS": pl.Datetime("ms"),
            "ROWTIME": pl.Int64(),
        }
    )
    b64 = base64.b64encode(b"\x00\xff").decode()
    legacy_1 = (
        f'{{"S":"a","B":"{b64}","D":"1.25","F":"NaN","TS":1577880000123,"ROWTIME":1}}\n'
        '{"S":null,"B":null,"D":null,"F":"-0.5","TS":null,"ROWTIME":2}'
    ).encode()
    legacy_2 = b'{"S":"z","B":"","D":"-0.01","F":"1e300","TS":0,"ROWTIME":5}'
    middle = pl.DataFrame(
        {
            "S": ["m"],
            "B": [b"\x01"],
            "D": [Decimal("3.50")],
            "F": [2.0],
            "TS": [dt.datetime(2021, 5, 6)],
            "ROWTIME": [3],
        },
        schema=schema,
    )
    codec = RowCodec(schema)
    ipc = codec.encode(middle, [])["value"].to_list()
    back = codec.decode(
        pl.DataFrame({"value": [legacy_1, *ipc, legacy_2]}, schema={"value": pl.Binary})
    )
    assert back.schema == schema
    assert back["ROWTIME"].to_list() == [1, 2, 3, 5]
    assert back["S"].to_list() == ["a", None, "m", "z"]
    assert back["B"].to_list() == [b"\x00\xff", None, b"\x01", b""]
    assert back["D"].to_list() == [Decimal("1.25"), None, Decimal("3.50"), Decimal("-0.01")]
    assert back["F"][0] != back["F"][0] and back["F"].to_list()[1:] == [-0.5, 2.0, 1e300]
    assert back["TS"].to_list() == [
        dt.datetime(2020, 1, 1, 12, 0, 0, 123000), None, dt.datetime(2021, 5, 6),
        dt.datetime(1970, 1, 1),
    ]  # fmt: skip


def _expected_partition(key: dict[str, object], partitions: int) -> int:
    """CRC-32 of the key object as compact JSON (the placement rule), computed in Python."""
    return zlib.crc32(json.dumps(key, separators=(",", ":")).encode()) % partitions


def test_rows_are_placed_by_the_crc32_of_their_key_json_for_every_key_shape() -> None:
    # The placement must never change: records already in a repartition topic are read by
    # restarted runners, and instances sharing the topic must agree. Keys with repeats, nulls,
    # several columns, and a float key (placed row by row: -0.0 and 0.0 print differently).
    rng = random.Random(11)
    n = 3_000
    names = [None, "a", 'q"uote', "back\\slash", *[f"P{i:03d}" for i in range(40)]]
    frame = pl.DataFrame(
        {
            "S": [rng.choice(names) for _ in range(n)],
            "I": [rng.choice([None, -3, 0, 7, 2**40]) for _ in range(n)],
            "T": [rng.choice([None, True, False]) for _ in range(n)],
            "F": [rng.choice([None, 0.0, -0.0, 1.5]) for _ in range(n)],
        },
        schema={"S": pl.String, "I": pl.Int64, "T": pl.Boolean, "F": pl.Float64},
    )
    rows = frame.to_dicts()
    for cols in (["S"], ["I"], ["S", "I", "T"], ["F"], ["S", "F"]):
        codec = RowCodec(partitions=7)
        placed = codec._partitions(frame, [pl.col(c) for c in cols]).to_list()
        wire = {"F": lambda v: None if v is None else str(v)}  # DOUBLE travels as text
        expected = [
            _expected_partition(
                {f"K{i}": wire.get(c, lambda v: v)(row[c]) for i, c in enumerate(cols)}, 7
            )
            for row in rows
        ]
        assert placed == expected, cols


def test_binary_and_temporal_keys_are_placed_by_their_wire_json() -> None:
    # BYTES travel as base64 text, timestamps as epoch milliseconds, dates as epoch days.
    day = dt.date(2020, 1, 1)
    moment = dt.datetime(2020, 1, 1, 1, 2, 3, 123000)
    frame = pl.DataFrame(
        {
            "B": [b"a", None, b"\x00\xff", b"a"],
            "D": [day, None, dt.date(1960, 5, 5), day],
            "T": [moment, None, dt.datetime(1950, 1, 1), moment],
        },
        schema={"B": pl.Binary, "D": pl.Date, "T": pl.Datetime("ms")},
    )
    epoch = dt.datetime(1970, 1, 1)
    wire = {
        "B": lambda v: None if v is None else base64.b64encode(v).decode(),
        "D": lambda v: None if v is None else (v - dt.date(1970, 1, 1)).days,
        "T": lambda v: None if v is None else (v - epoch) // dt.timedelta(milliseconds=1),
    }
    for col, to_wire in wire.items():
        placed = RowCodec(partitions=5)._partitions(frame, [pl.col(col)]).to_list()
        expected = [_expected_partition({"K0": to_wire(v)}, 5) for v in frame[col].to_list()]
        assert placed == expected, col
