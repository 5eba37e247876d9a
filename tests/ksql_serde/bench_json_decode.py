"""Micro-benchmark (not collected by pytest, asserts nothing about time): JSON decode throughput.

Decodes N typical telemetry JSON values with ``serde.deserialize`` and, on the same bytes,
``pl.read_ndjson`` (no case-insensitive matching, no coercion, no per-row errors) as the
baseline; prints both rates and their ratio. Also times ``serde.serialize`` back to JSON.

    .venv/bin/python -m tests.ksql_serde.bench_json_decode [N]
"""

from __future__ import annotations

import json
import random
import sys
import time

import polars as pl

from telemetry_lib.ksql.serde import SerdeOptions, deserialize, serialize
from telemetry_lib.ksql.types import BIGINT, DOUBLE, INTEGER, STRING

COLUMNS = [
    ("PLAYER_ID", STRING),
    ("EVENT_TYPE", STRING),
    ("TIMESTAMP", BIGINT),
    ("MATCH_ID", STRING),
    ("X", DOUBLE),
    ("Y", DOUBLE),
    ("WEAPON", STRING),
    ("DAMAGE", INTEGER),
]


def _payloads(n: int) -> list[bytes]:
    rng = random.Random(1)
    out = []
    for i in range(n):
        doc = {
            "player_id": f"p{i % 500}",
            "event_type": rng.choice(["kill", "death", "spawn"]),
            "timestamp": 1_700_000_000_000 + i,
            "match_id": f"m{i % 50}",
            "x": round(rng.random() * 100, 2),
            "y": round(rng.random() * 100, 2),
            "weapon": rng.choice(["ak", "m4", None]),
            "damage": rng.randint(0, 100),
        }
        out.append(json.dumps(doc, separators=(",", ":")).encode())
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    raw = _payloads(n)
    series = pl.Series("value", raw, dtype=pl.Binary)
    ndjson = b"\n".join(raw)
    best_serde = best_polars = best_write = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        decoded = deserialize("JSON", COLUMNS, series, options=SerdeOptions(topic="t"))
        best_serde = min(best_serde, time.perf_counter() - start)
        start = time.perf_counter()
        pl.read_ndjson(ndjson)
        best_polars = min(best_polars, time.perf_counter() - start)
        start = time.perf_counter()
        serialize("JSON", COLUMNS, decoded.frame)
        best_write = min(best_write, time.perf_counter() - start)
    assert not decoded.errors
    print(f"records: {n}")
    print(f"serde.deserialize JSON: {n / best_serde:,.0f} rec/s ({best_serde:.3f} s)")
    print(f"pl.read_ndjson        : {n / best_polars:,.0f} rec/s ({best_polars:.3f} s)")
    print(f"ratio serde/polars    : {best_polars / best_serde:.2f}")
    print(f"serde.serialize JSON  : {n / best_write:,.0f} rec/s ({best_write:.3f} s)")


if __name__ == "__main__":
    main()
