"""Typed hand-off between queries of one driver: the handed values are what decoding gives.

The claim under test (telemetry_lib.ksql.exec.typed_handoff): where the sink hands its typed
value columns over, they equal ``decode(encode(columns))`` bit for bit, and a driver run with
the hand-off produces exactly the records (every topic, the processing log included) of a run
that decodes every batch.
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from telemetry_lib.ksql.catalog import Column, ColumnRole, DataSource, FormatSpec, SourceType
from telemetry_lib.ksql.driver import InMemoryDriver
from telemetry_lib.ksql.exec import source as source_module
from telemetry_lib.ksql.exec.serde_bridge import decode_value, encode_value
from telemetry_lib.ksql.exec.typed_handoff import TYPED_VALUE, handed_values, typed_value_column
from telemetry_lib.ksql.types import BIGINT, BOOLEAN, DOUBLE, INTEGER, STRING, SqlDecimal

JSON = FormatSpec("JSON")
KAFKA = FormatSpec("KAFKA")
COLUMNS = (
    Column("S", STRING),
    Column("B", BOOLEAN),
    Column("I", INTEGER),
    Column("L", BIGINT),
    Column("D", DOUBLE),
    Column("MixedCase", STRING),
)
# Characters that stress the JSON text: quotes, escapes, control characters, line breaks,
# non-ASCII (2-4 byte UTF-8), and first characters the decoder treats as ambiguous.
ALPHABET = list('ab"\\/\n\r\t\x00\x01\x1f -.09[]{}:,eé€😀\u2028\ufeff') + [
    "null", "true", "1e5", "NaN", "-0", "0.10",
]  # fmt: skip
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
DOUBLES = [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
           -1.7976931348623157e308, 0.1, 1e16, 123456789012345678.0, 1.0, 1e-7, 1e21]  # fmt: skip


def _source(columns: tuple[Column, ...] = COLUMNS, fmt: FormatSpec = JSON) -> DataSource:
    key = Column("K", STRING, ColumnRole.KEY)
    return DataSource("SRC", SourceType.STREAM, (key, *columns), "src", KAFKA, fmt)


def _random_frame(rng: np.random.Generator, n: int) -> pl.DataFrame:
    strings = ["".join(rng.choice(ALPHABET, size=int(rng.integers(0, 8)))) for _ in range(n)]
    bits = rng.integers(0, 2**64 - 1, size=n, dtype=np.uint64, endpoint=True)
    doubles = bits.view(np.float64).copy()
    doubles[~np.isfinite(doubles)] = 0.5
    doubles[: len(DOUBLES)] = DOUBLES
    ints = rng.integers(*INT32, size=n, endpoint=True)
    ints[:2] = INT32
    longs = rng.integers(*INT64, size=n, dtype=np.int64, endpoint=True)
    longs[:2] = INT64
    frame = pl.DataFrame(
        {
            "S": pl.Series(strings, dtype=pl.String),
            "B": pl.Series(rng.integers(0, 2, size=n).astype(bool)),
            "I": pl.Series(ints, dtype=pl.Int32),
            "L": pl.Series(longs, dtype=pl.Int64),
            "D": pl.Series(doubles, dtype=pl.Float64),
            "MixedCase": pl.Series(strings[::-1], dtype=pl.String),
        }
    )
    # About one value in eight is null, independently per column.
    return frame.with_columns(
        pl.when(pl.Series(rng.random(n) < 0.125)).then(None).otherwise(pl.col(c)).alias(c)
        for c in frame.columns
    )


def _bits(frame: pl.DataFrame) -> pl.DataFrame:
    """Doubles as their bit patterns, so -0.0 and 0.0 differ in comparisons."""
    return frame.with_columns(
        pl.col(c).reinterpret(signed=False) for c, t in frame.schema.items() if t == pl.Float64
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_handed_values_equal_the_decode_of_the_written_bytes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 3000
    frame = _random_frame(rng, n)
    null_value = pl.Series(rng.random(n) < 0.05)
    values, errors = encode_value(frame, COLUMNS, JSON, topic="t", null_value=null_value)
    assert errors.null_count() == n
    typed = typed_value_column(frame, COLUMNS, JSON, null_value=null_value)
    assert typed is not None
    batch = pl.DataFrame({"key": pl.Series([None] * n, dtype=pl.Binary), "value": values})
    handed = handed_values(batch.with_columns(typed.alias(TYPED_VALUE)), _source())
    assert handed is not None
    columns, null_payload = handed

    decoded = decode_value(values, _source())
    assert decoded.errors.null_count() == n  # our own bytes always decode
    assert decoded.null_payload is not None
    assert null_payload.to_list() == decoded.null_payload.to_list()
    assert columns.schema == decoded.columns.schema
    assert _bits(columns).equals(_bits(decoded.columns))
    # And they are the written values where the record has a value.
    kept = ~null_value
    assert _bits(columns.filter(kept)).equals(_bits(frame.filter(kept)))
    assert columns.filter(null_value).null_count().row(0) == (int(null_value.sum()),) * 6


def test_values_without_an_exact_round_trip_are_not_handed_over() -> None:
    frame = pl.DataFrame({"S": ["a", "b"], "D": [1.0, 2.0]})
    cols = (Column("S", STRING), Column("D", DOUBLE))
    none = pl.Series([False, False])
    assert typed_value_column(frame, cols, JSON, null_value=none) is not None
    for odd in (float("nan"), float("inf"), float("-inf")):  # written as strings by Jackson
        bad = frame.with_columns(pl.Series("D", [1.0, odd]))
        assert typed_value_column(bad, cols, JSON, null_value=none) is None
    # Names equal when upper-cased: a reader matches them case-insensitively.
    clash = (Column("S", STRING), Column("s", STRING))
    both = pl.DataFrame({"S": ["a", None], "s": [None, "b"]})
    assert typed_value_column(both, clash, JSON, null_value=none) is None
    # Types outside the rule, dtypes other than the type's, other formats, unwrapped values.
    dec = (Column("X", SqlDecimal(4, 2)),)
    decimals = pl.DataFrame({"X": pl.Series(["1.50", "2.00"]).cast(pl.Decimal(4, 2))})
    assert typed_value_column(decimals, dec, JSON, null_value=none) is None
    narrow = pl.DataFrame({"L": pl.Series([1, 2], dtype=pl.Int32)})
    assert typed_value_column(narrow, (Column("L", BIGINT),), JSON, null_value=none) is None
    assert typed_value_column(frame, cols, FormatSpec("DELIMITED"), null_value=none) is None
    unwrapped = FormatSpec("JSON", wrap_single_value=False)
    single = frame.select("S")
    assert typed_value_column(single, cols[:1], unwrapped, null_value=none) is None
    assert typed_value_column(single, cols[:1], JSON, null_value=none) is not None


def test_a_source_takes_handed_values_only_for_its_own_schema() -> None:
    frame = pl.DataFrame({"S": ["a"], "D": [1.5]})
    cols = (Column("S", STRING), Column("D", DOUBLE))
    none = pl.Series([False])
    typed = typed_value_column(frame, cols, JSON, null_value=none)
    assert typed is not None
    values, _ = encode_value(frame, cols, JSON, topic="t", null_value=none)
    batch = pl.DataFrame({"key": pl.Series([None], dtype=pl.Binary), "value": values})
    with_typed = batch.with_columns(typed.alias(TYPED_VALUE))
    assert handed_values(with_typed, _source(cols)) is not None
    assert handed_values(batch, _source(cols)) is None  # nothing handed over
    for other in (
        cols[:1],  # fewer columns
        (cols[1], cols[0]),  # another order
        (Column("S", STRING), Column("D", BIGINT)),  # another type
        (Column("S", STRING), Column("d", DOUBLE)),  # another name
    ):
        assert handed_values(with_typed, _source(other)) is None
    assert handed_values(with_typed, _source(cols, FormatSpec("DELIMITED"))) is None


# --------------------------------------------------------------------------------------------
# Whole driver runs: with and without the hand-off, every topic holds the same records.
# --------------------------------------------------------------------------------------------

STATEMENTS = """
CREATE STREAM S (K STRING KEY, NAME STRING, N INT, L BIGINT, D DOUBLE, B BOOLEAN)
  WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', PARTITIONS=2);
CREATE STREAM A AS SELECT K, NAME, N, L, D, B FROM S WHERE N IS NULL OR N <> 3;
CREATE STREAM A_NEXT AS SELECT K, UCASE(NAME) AS U, N + 1 AS N1, L, D * 2 AS D2, B FROM A;
CREATE TABLE A_TOTALS AS SELECT K, COUNT(*) AS C, SUM(L) AS SL, MAX(D) AS MD FROM A GROUP BY K;
CREATE STREAM A_NAMES (K STRING KEY, NAME STRING) WITH (KAFKA_TOPIC='A', VALUE_FORMAT='JSON');
CREATE STREAM NAMES AS SELECT K, NAME FROM A_NAMES;
"""


def _input_batches(seed: int) -> list[pl.DataFrame]:
    rng = np.random.default_rng(seed)
    batches = []
    for b in range(4):
        n = 400
        frame = _random_frame(rng, n)
        rows = []
        for i, row in enumerate(frame.iter_rows(named=True)):
            doc = {"NAME": row["S"], "N": row["I"], "L": row["L"], "D": row["D"], "B": row["B"]}
            if b == 2 and i % 50 == 0:
                doc["D"] = "NaN"  # read as NaN: this batch is written as text, not handed over
            text = json.dumps(doc, ensure_ascii=bool(i % 2), allow_nan=False).encode()
            if i % 97 == 5:
                text = b'{"NAME": "unterminated'  # a deserialization error in S
            if i % 89 == 7:
                text = None  # a null value
            rows.append((f"k{i % 13}".encode(), text, 1000 * b + i))
        keys, values, ts = zip(*rows, strict=True)
        batches.append(
            pl.DataFrame(
                {
                    "key": pl.Series(keys, dtype=pl.Binary),
                    "value": pl.Series(values, dtype=pl.Binary),
                    "timestamp": pl.Series(ts, dtype=pl.Int64),
                }
            )
        )
    return batches


def _run(batches: list[pl.DataFrame], *, handoff: bool) -> dict[str, pl.DataFrame]:
    driver = InMemoryDriver()
    driver.topics.delivers_typed_values = handoff  # type: ignore[misc]
    driver.execute(STATEMENTS)
    for batch in batches:
        driver.pipe_batch("s", batch)
    out = {}
    for spec in driver.topics.list_topics():
        frame = driver.read_frame(spec.name)
        if spec.name.endswith("processing_log"):  # without the wall-clock time of logging
            entries = [json.loads(v) for v in frame.get_column("value").to_list()]
            texts = [json.dumps({k: v for k, v in e.items() if k != "time"}) for e in entries]
            frame = frame.drop("timestamp").with_columns(pl.Series("value", texts))
        out[spec.name] = frame
    driver.close()
    return out


def test_driver_runs_with_and_without_the_hand_off_write_the_same_records(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batches = _input_batches(11)
    decoded: dict[str, int] = {}
    real = source_module.decode_value

    def counting(data: pl.Series, source: DataSource):  # type: ignore[no-untyped-def]
        decoded[source.name] = decoded.get(source.name, 0) + 1
        return real(data, source)

    monkeypatch.setattr(source_module, "decode_value", counting)
    plain = _run(batches, handoff=False)
    decoded_plain = dict(decoded)
    decoded.clear()
    handed = _run(batches, handoff=True)

    # The hand-off was taken: A's readers with A's schema decoded only the batch holding NaN
    # (A_NAMES has another schema and always decodes).
    assert decoded_plain["A"] == 2 * len(batches)
    assert decoded["A"] == 2
    assert decoded["A_NAMES"] == decoded_plain["A_NAMES"] == len(batches)
    assert set(plain) == set(handed)
    assert "default_ksql_processing_log" in plain
    for topic, frame in plain.items():
        assert frame.height, topic
        assert frame.equals(handed[topic]), topic


# --------------------------------------------------------------------------------------------
# The sink's two-half value encode (exec/sink.py) and its whole-batch error fallback.
# --------------------------------------------------------------------------------------------


def _sink_run(batch: pl.DataFrame, *, split: bool, monkeypatch: pytest.MonkeyPatch) -> tuple:
    from telemetry_lib.ksql.exec import sink as sink_module

    monkeypatch.setattr(sink_module, "_SPLIT_VALUES_ROWS", 2 if split else batch.height + 1)
    monkeypatch.setattr(sink_module, "_PARALLEL_ENCODE_ROWS", batch.height + 1)
    driver = InMemoryDriver()
    driver.execute(
        "CREATE STREAM S (K STRING KEY, NAME STRING, D DOUBLE) WITH (KAFKA_TOPIC='s', "
        "VALUE_FORMAT='JSON', PARTITIONS=1);"
        "CREATE STREAM OUT AS SELECT K, NAME, D FROM S;"
    )
    driver.pipe_batch("s", batch)
    out = driver.topics.records("OUT").select("key", "value", "timestamp")
    log = [
        {k: v for k, v in json.loads(value).items() if k != "time"}
        for value in driver.topics.records("default_ksql_processing_log")["value"].to_list()
    ]
    driver.close()
    return out, log


def test_two_half_value_encode_equals_one_piece(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    frame = _random_frame(rng, 501)
    docs = [
        json.dumps({"NAME": s, "D": d if i % 7 else "NaN"}).encode()
        for i, (s, d) in enumerate(zip(frame["S"], frame["D"], strict=True))
    ]
    batch = pl.DataFrame(
        {
            "key": pl.Series([f"k{i}".encode() for i in range(501)], dtype=pl.Binary),
            "value": pl.Series(docs, dtype=pl.Binary),
            "timestamp": pl.Series(range(501), dtype=pl.Int64),
        }
    )
    split = _sink_run(batch, split=True, monkeypatch=monkeypatch)
    whole = _sink_run(batch, split=False, monkeypatch=monkeypatch)
    assert split[0].height == 501
    assert split[0].equals(whole[0])
    assert split[1] == whole[1]


def test_an_encode_error_in_one_half_is_reported_as_the_one_piece_encode_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A value encoder that refuses a batch holding a marker row refuses the whole batch (as
    SerdeError does in serde_bridge.encode_value): the split encode must not write the other
    half's rows."""
    from telemetry_lib.ksql.exec import sink as sink_module

    real = sink_module.encode_value

    def refusing(frame: pl.DataFrame, *args: object, **kwargs: object) -> tuple:
        values, errors = real(frame, *args, **kwargs)  # type: ignore[arg-type]
        if "refuse" in frame["NAME"].to_list():
            return values.clear(frame.height), pl.Series(["refused"] * frame.height)
        return values, errors

    monkeypatch.setattr(sink_module, "encode_value", refusing)
    names = ["ok"] * 300
    names[250] = "refuse"
    batch = pl.DataFrame(
        {
            "key": pl.Series([b"k"] * 300, dtype=pl.Binary),
            "value": pl.Series([json.dumps({"NAME": n}).encode() for n in names]),
            "timestamp": pl.Series(range(300), dtype=pl.Int64),
        }
    )
    split = _sink_run(batch, split=True, monkeypatch=monkeypatch)
    whole = _sink_run(batch, split=False, monkeypatch=monkeypatch)
    assert whole[0].height == 0 and len(whole[1]) == 300
    assert split[0].equals(whole[0])
    assert split[1] == whole[1]
