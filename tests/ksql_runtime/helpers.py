"""Helpers for the Kafka runtime tests: a ksql server subprocess, the demo-like input, its truth."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import msgspec
import polars as pl

from tests.support.processes import CliServerProcess

__all__ = ["BASE_TS", "WINDOW_MS", "ServerProcess", "decode_windowed", "events", "latest", "truth"]

WINDOW_MS = 5 * 60 * 1000
BASE_TS = 1_700_000_000_000
# A statement on the real stack creates topics and starts queries: seconds on a loaded machine.
KSQL_TIMEOUT_S = 60.0


class ServerProcess(CliServerProcess):
    """``python -m telemetry_lib.ksql.server`` on a free port, killed by pid at the end."""

    MODULE = "telemetry_lib.ksql.server"
    HEALTH_PATH = "/info"

    def __init__(self, bootstrap: str, state_dir: Path, service_id: str, log: Path) -> None:
        super().__init__(log)
        self.bootstrap = bootstrap
        self.state_dir = state_dir
        self.service_id = service_id

    def arguments(self) -> list[str]:
        return ["--bootstrap", self.bootstrap, "--state-dir", str(self.state_dir),
                "--service-id", self.service_id]  # fmt: skip

    def ksql(self, sql: str, properties: Mapping[str, Any] | None = None) -> Any:
        body = {"ksql": sql, "streamsProperties": dict(properties or {})}
        response = httpx.post(f"{self.url}/ksql", json=body, timeout=KSQL_TIMEOUT_S)
        assert response.status_code == 200, response.text
        return response.json()


def events(start: int, count: int, *, players: int = 7) -> list[dict[str, Any]]:
    """Deterministic kill/death events: one every 250 ms of event time."""
    return [
        {
            "player_id": f"p{i % players}",
            "kind": "kill" if (i * 7) % 3 else "death",
            "ts": BASE_TS + i * 250,
        }  # fmt: skip
        for i in range(start, start + count)
    ]


def truth(docs: list[dict[str, Any]]) -> pl.DataFrame:
    """Independent polars batch answer: kills and events per player and 5-minute window."""
    frame = pl.DataFrame(docs)
    return (
        frame.with_columns(((pl.col("ts") // WINDOW_MS) * WINDOW_MS).alias("window_start"))
        .group_by("player_id", "window_start")
        .agg(
            (pl.col("kind") == "kill").sum().cast(pl.Int64).alias("KILLS"),
            pl.len().cast(pl.Int64).alias("EVENTS"),
        )  # fmt: skip
        .sort("player_id", "window_start")
    )


def decode_windowed(records: pl.DataFrame) -> pl.DataFrame:
    """Output records of the windowed table: player, window start, KILLS, EVENTS, in order."""
    rows = []
    decoder = msgspec.json.Decoder()
    for key, value, part, off in records.select("key", "value", "partition", "offset").rows():
        body = decoder.decode(value) if value is not None else {}
        rows.append({
            "player_id": key[:-8].decode(), "window_start": int.from_bytes(key[-8:], "big"),
            "KILLS": body.get("KILLS"), "EVENTS": body.get("EVENTS"),
            "partition": part, "offset": off,
        })  # fmt: skip
    schema = {"player_id": pl.String, "window_start": pl.Int64, "KILLS": pl.Int64,
              "EVENTS": pl.Int64, "partition": pl.Int32, "offset": pl.Int64}  # fmt: skip
    return pl.DataFrame(rows, schema=schema).sort("partition", "offset")


def latest(updates: pl.DataFrame) -> pl.DataFrame:
    return (
        updates.group_by("player_id", "window_start", maintain_order=True)
        .last()
        .select("player_id", "window_start", "KILLS", "EVENTS")
        .sort("player_id", "window_start")
    )
