"""The REST server's HTTP stack: hypercorn (HTTP/1.1 + HTTP/2, the default) against uvicorn.

- ``http_stream_rows_per_s``: rows/s of a pull scan of a :data:`ROWS`-row stream over
  ``/query-stream`` (delimited), served by hypercorn, read over HTTP/2 (h2c prior knowledge)
  and over HTTP/1.1, against uvicorn over HTTP/1.1 (the baseline). The notes carry the
  HTTP/1.1-on-hypercorn number too.
- ``http_request_ms``: median latency of a small request (``GET /info``) on hypercorn (HTTP/1.1)
  against uvicorn.

Same in-memory backend (the rows are in memory: the numbers are the HTTP stack's, not
Kafka's), same process, alternated runs.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable

import httpx
import polars as pl

from bench.harness import BenchResult, alternate
from telemetry_lib.ksql.rest import EngineBackend, create_app, in_memory_backend
from telemetry_lib.ksql.rest.serve import ServerThread

__all__ = ["bench_http_request_ms", "bench_http_stream_rows_per_s"]

logger = logging.getLogger(__name__)

#: Rows of the scanned stream: enough for a run of a second or more per side.
ROWS = 100_000
#: Requests per latency run (each run's value is their median).
REQUESTS = 200
_DELIMITED = "application/vnd.ksqlapi.delimited.v1"


def _backend() -> EngineBackend:
    backend = in_memory_backend()
    backend.execute(
        "CREATE STREAM S (ID STRING KEY, V INT, NAME STRING) "
        "WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', PARTITIONS=1);",
        properties={},
        variables={},
    )
    values = [f'{{"V":{i},"NAME":"player-{i % 1000}"}}'.encode() for i in range(ROWS)]
    records = pl.DataFrame(
        {
            "key": [f"k{i}".encode() for i in range(ROWS)],
            "value": values,
            "timestamp": list(range(ROWS)),
        },  # fmt: skip
        schema={"key": pl.Binary, "value": pl.Binary, "timestamp": pl.Int64},
    )
    backend.executor.pipe_batch("s", records)  # type: ignore[union-attr]
    return backend


def _scan(url: str, *, http2: bool) -> Callable[[], float]:
    def run() -> float:
        with httpx.Client(base_url=url, http1=not http2, http2=http2, timeout=300) as http:
            began = time.perf_counter()
            with http.stream(
                "POST",
                "/query-stream",
                json={"sql": "SELECT * FROM S;", "properties": {}},
                headers={"Accept": _DELIMITED},
            ) as response:
                rows = sum(1 for line in response.iter_lines() if line) - 1
            took = time.perf_counter() - began
        if rows != ROWS:
            raise RuntimeError(f"scanned {rows} rows, expected {ROWS}")
        return rows / took

    return run


def _requests(url: str) -> Callable[[], float]:
    def run() -> float:
        took = []
        with httpx.Client(base_url=url, timeout=30) as http:
            for _ in range(REQUESTS):
                began = time.perf_counter()
                http.get("/info").raise_for_status()
                took.append((time.perf_counter() - began) * 1e3)
        return statistics.median(took)

    return run


def bench_http_stream_rows_per_s() -> BenchResult:
    app = create_app(_backend())
    with ServerThread(app, server="hypercorn") as hyper, ServerThread(app, server="uvicorn") as uvi:
        h2 = alternate(_scan(hyper.url, http2=True), _scan(uvi.url, http2=False), runs=3)
        h11 = alternate(_scan(hyper.url, http2=False), _scan(uvi.url, http2=False), runs=3)
    return h2.result(
        "http_stream_rows_per_s",
        "rows/s",
        "uvicorn, HTTP/1.1, same app and rows",
        notes=f"pull scan of a {ROWS}-row in-memory stream over /query-stream (delimited); "
        f"subject = hypercorn over HTTP/2 (h2c); hypercorn over HTTP/1.1: "
        f"{h11.subject_median:.0f} rows/s = {h11.ratio:.2f} x uvicorn",
    )


def bench_http_request_ms() -> BenchResult:
    app = create_app(_backend())
    with ServerThread(app, server="hypercorn") as hyper, ServerThread(app, server="uvicorn") as uvi:
        comparison = alternate(
            _requests(hyper.url), _requests(uvi.url), runs=3, higher_is_better=False
        )
    return comparison.result(
        "http_request_ms",
        "ms",
        "uvicorn, same request",
        notes=f"median of {REQUESTS} GET /info per run over one HTTP/1.1 keep-alive connection; "
        "subject = hypercorn",
    )
