"""Pure parts of the multi-topic runtime: the time merge of several topics, the repartition row
codec (lossless for every column type the engine uses) and the internal topic names."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl

from telemetry_lib.ksql.runtime.checkpoint import decode_schemas, encode_schema
from telemetry_lib.ksql.runtime.io import RECORD_SCHEMA
from telemetry_lib.ksql.runtime.query_runner import interleave
from telemetry_lib.ksql.runtime.repartition import RowCodec, repartition_topic


def _records(rows: list[tuple[str, int, int, int]]) -> pl.DataFrame:
    """(topic, partition, offset, timestamp) rows as a record frame with a topic column."""
    return pl.DataFrame(
        {
            "topic": [r[0] for r in rows],
            "key": [None] * len(rows),
            "value": [f"{r[0]}{r[1]}@{r[2]}".encode() for r in rows],
            "timestamp": [r[3] for r in rows],
            "partition": [r[1] for r in rows],
            "offset": [r[2] for r in rows],
            "headers": [[]] * len(rows),
        },
        schema={"topic": pl.String, **RECORD_SCHEMA},
    )


def test_interleave_merges_by_head_timestamp_keeping_partition_order() -> None:
    # Kafka Streams picks the partition whose head has the smallest timestamp: s0: 10, 5
    # (late), 30; t0: 7, 20; u0 (listed first, same time as a t record).
    records = _records([
        ("s", 0, 0, 10), ("s", 0, 1, 5), ("s", 0, 2, 30),
        ("t", 0, 0, 7), ("t", 0, 1, 20), ("u", 0, 0, 20),
    ])  # fmt: skip
    out = interleave(records, ("u", "t", "s"))
    # by hand: heads s10 t7 u20 -> t7; s10 t20 u20 -> s10, then s's head is 5 -> s5;
    # s30 t20 u20 -> tie at 20: u listed before t -> u20, t20; then s30.
    assert out["value"].cast(pl.String).to_list() == [
        "t0@0",
        "s0@0",
        "s0@1",
        "u0@0",
        "t0@1",
        "s0@2",
    ]


def test_interleave_keeps_each_partitions_offset_order() -> None:
    records = _records([("a", p, o, (o * 37 + p * 11) % 50) for p in range(3) for o in range(20)]
                       + [("b", 0, o, o * 3) for o in range(20)])  # fmt: skip
    out = interleave(records.sample(fraction=1.0, shuffle=True, seed=3), ("a", "b"))
    for (_t, _p), sub in out.group_by("topic", "partition"):
        assert sub["offset"].to_list() == sorted(sub["offset"].to_list())
    assert out.height == records.height


def test_row_codec_round_trips_every_engine_type() -> None:
    frame = pl.DataFrame(
        {
            "I": [1, None, -3],
            "D": [Decimal("1.25"), None, Decimal("-0.01")],
            "F": [1.5, float("nan"), float("-inf")],
            "S": ["x", None, 'q"uote\n'],
            "B": [b"\x00\xff", None, b""],
            "L": [[1, 2], None, []],
            "ST": [{"x": 1, "y": "z"}, None, {"x": None, "y": None}],
            "M": [[{"key": "a", "value": Decimal("2.50")}], None, []],
            "TS": [dt.datetime(2020, 1, 1, 12, 0, 0, 123000), None, dt.datetime(1969, 12, 31)],
            "DT": [dt.date(2020, 1, 1), None, dt.date(1900, 3, 1)],
            "TM": [dt.time(13, 14, 15), None, dt.time(0)],
            "ROWTIME": [5, 6, 7],
            "__ksql_null_value": [False, True, False],
            "__ksql_headers": [[{"key": "h", "value": b"\x01"}], [], [{"key": "n", "value": None}]],
        },
        schema_overrides={
            "D": pl.Decimal(10, 2),
            "M": pl.List(pl.Struct({"key": pl.String, "value": pl.Decimal(10, 2)})),
            "TS": pl.Datetime("ms"),
            "__ksql_headers": RECORD_SCHEMA["headers"],
        },
    )
    codec = RowCodec()
    records = codec.encode(frame, [pl.col("S")])
    assert records.schema == pl.Schema(RECORD_SCHEMA)
    assert records.height == 1 and records["timestamp"].to_list() == [7]  # one partition
    back = RowCodec(codec.schema).decode(records)
    assert back.schema == frame.schema
    assert back.equals(frame, null_equal=True)
    # NaN survives (JSON has no NaN: DOUBLE travels as text).
    assert back["F"].is_nan().to_list() == [False, True, False]


def test_row_codec_places_each_key_in_one_partition_and_keeps_row_order() -> None:
    n = 20_000  # ~3 MB of rows: several chunks per partition
    frame = pl.DataFrame({"K": [f"p{i % 37}" for i in range(n)], "ROWTIME": list(range(n)),
                          "V": ["x" * (i % 300) for i in range(n)]})  # fmt: skip
    codec = RowCodec(partitions=4)
    records = codec.encode(frame, [pl.col("K")])
    assert records["partition"].n_unique() == 4
    assert (records["value"].bin.size() <= 512 * 1024).all() and records.height > 4  # chunked
    rows = []
    for part, value in records.select("partition", "value").rows():
        back = RowCodec(codec.schema).decode(pl.DataFrame({"value": [value]}))
        rows.append(back.with_columns(pl.lit(part).alias("P")))
    decoded = pl.concat(rows)
    assert decoded.group_by("K").agg(pl.col("P").n_unique())["P"].max() == 1
    # Within a partition the rows keep their order; together they are the input rows.
    for (_p,), sub in decoded.group_by("P"):
        assert sub["ROWTIME"].is_sorted()
    assert decoded.drop("P").sort("ROWTIME").equals(frame)
    # A restarted codec (same partition count) places keys identically (CRC-32, not a seed).
    again = RowCodec(partitions=4).encode(frame, [pl.col("K")])
    assert again["partition"].to_list() == records["partition"].to_list()


def test_schema_records_and_topic_names() -> None:
    schema = pl.Schema({"A": pl.Decimal(5, 1), "B": pl.List(pl.Binary)})
    key, value = encode_schema("t1", schema)
    frame = pl.DataFrame({"key": [key, b"intent"], "value": [value, b"x"]})
    assert decode_schemas(frame) == {"t1": schema}
    assert (
        repartition_topic("default_", "CTAS_T_3", "Aggregate-GroupBy")
        == "_confluent-ksql-default_query_CTAS_T_3-Aggregate-GroupBy-repartition"
    )
