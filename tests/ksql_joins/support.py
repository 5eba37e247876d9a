"""Helpers shared by the join tests: a one-partition driver, JSON records, decoded outputs."""

from __future__ import annotations

import json
from typing import Any

from telemetry_lib.ksql.driver import InMemoryDriver

__all__ = ["driver_with", "enc", "outputs"]


def driver_with(sql: str) -> InMemoryDriver:
    """A driver (one partition per topic, as ksqlDB's QTT runs joins) that ran ``sql``."""
    driver = InMemoryDriver(partitioner="single")
    driver.execute(sql)
    return driver


def enc(value: dict[str, Any] | None) -> bytes | None:
    return None if value is None else json.dumps(value).encode()


def outputs(driver: InMemoryDriver, topic: str) -> list[tuple[str | None, Any, int]]:
    """``topic``'s records as (STRING key, decoded JSON value or None, timestamp)."""
    out = []
    for rec in driver.read(topic):
        key = None if rec.key is None else rec.key.decode()
        value = None if rec.value is None else json.loads(rec.value)
        out.append((key, value, rec.timestamp))
    return out
