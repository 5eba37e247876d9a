"""Skipped record columns end to end (embedded Tansu, in-process server): a re-keying query that
reads the record key and a header gets both; one that reads neither (they are not built) gives
the same counts; a pass-through query still carries the input headers to its output."""

from __future__ import annotations

import uuid
from pathlib import Path

import msgspec
import pytest

from telemetry_lib.config import Settings
from telemetry_lib.kafka import JsonProducer, create_topic, read_records
from telemetry_lib.ksql.server import KsqlServer
from tests.support.crash import wait_for

pytestmark = pytest.mark.integration

WAIT_S = 90.0
N = 300
GROUPS = 3
BASE_TS = 1_700_000_000_000


def _latest_values(conf: dict[str, object], topic: str) -> dict[str, dict[str, object]]:
    records = read_records(conf, topic)
    out: dict[str, dict[str, object]] = {}
    for key, value in records.select("key", "value").rows():
        out[key.decode()] = msgspec.json.decode(value)
    return out


def test_keys_and_headers_reach_the_queries_that_read_them(
    embedded_stack: Settings, tmp_path: Path
) -> None:
    conf = embedded_stack.kafka_config()
    tag = uuid.uuid4().hex[:8]
    topic = f"fc_{tag}"
    create_topic(conf, topic, 2)
    # Each group g has one key and one header value: what LATEST_BY_OFFSET must return whatever
    # the order of the partitions.
    values = [msgspec.json.encode({"a": f"a{i % GROUPS}", "ts": BASE_TS + i}) for i in range(N)]
    with JsonProducer(conf) as producer:
        producer.produce_values(
            topic,
            values,
            keys=[f"k{i % GROUPS}".encode() for i in range(N)],
            timestamps=[BASE_TS + 10 * i for i in range(N)],
            partitions=[i % 2 for i in range(N)],
            headers=[[("x", f"h{i % GROUPS}".encode()), ("y", b"1")] for i in range(N)],
        )
    server = KsqlServer(conf, service_id=f"fc{tag}_", state_dir=tmp_path, commit_interval_ms=100)
    server.start()
    try:
        server.execute(
            f"""
            CREATE STREAM full_{tag} (k STRING KEY, a STRING, h BYTES HEADER('x'), ts BIGINT)
              WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON', TIMESTAMP='ts');
            CREATE TABLE kh_{tag} AS SELECT a, COUNT(*) AS n, LATEST_BY_OFFSET(k) AS lk,
              LATEST_BY_OFFSET(FROM_BYTES(h, 'utf8')) AS lh, MAX(ROWTIME) AS mt
              FROM full_{tag} GROUP BY a EMIT CHANGES;
            CREATE STREAM lean_{tag} (a STRING, ts BIGINT)
              WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON', TIMESTAMP='ts');
            CREATE TABLE n_{tag} AS SELECT a, COUNT(*) AS n, MAX(ROWTIME) AS mt
              FROM lean_{tag} GROUP BY a EMIT CHANGES;
            CREATE STREAM copy_{tag} AS SELECT * FROM lean_{tag} EMIT CHANGES;
            """,
            properties={"auto.offset.reset": "earliest"},
        )
        runners = server.runtime.runners
        skipped = {qid.split("_")[1]: runners[qid]._input.skip for qid in runners}
        assert skipped == {
            "KH": {topic: frozenset({"timestamp"})},
            "N": {topic: frozenset({"key", "headers", "timestamp"})},
            "COPY": {},
        }
        per_group = N // GROUPS
        last_ts = {
            f"a{g}": max(BASE_TS + i for i in range(N) if i % GROUPS == g) for g in range(GROUPS)
        }
        expected_kh = {
            f"a{g}": {"N": per_group, "LK": f"k{g}", "LH": f"h{g}", "MT": last_ts[f"a{g}"]}
            for g in range(GROUPS)
        }
        wait_for(
            lambda: _latest_values(conf, f"KH_{tag.upper()}") == expected_kh, "KH", timeout=WAIT_S
        )
        expected_n = {f"a{g}": {"N": per_group, "MT": last_ts[f"a{g}"]} for g in range(GROUPS)}
        wait_for(
            lambda: _latest_values(conf, f"N_{tag.upper()}") == expected_n, "N", timeout=WAIT_S
        )
        copy = f"COPY_{tag.upper()}"
        wait_for(lambda: read_records(conf, copy).height == N, "the copied stream", timeout=WAIT_S)
        out = read_records(conf, copy)
        got = sorted(
            (body["A"], body["TS"], [(h["key"], h["value"]) for h in hs if h["key"] != "ksql-eos"])
            for body, hs in zip(
                (msgspec.json.decode(v) for v in out["value"].to_list()),
                out["headers"].to_list(),
                strict=True,
            )
        )
        sent = sorted(
            (f"a{i % GROUPS}", BASE_TS + i, [("x", f"h{i % GROUPS}".encode()), ("y", b"1")])
            for i in range(N)
        )
        assert got == sent
        # The copy's records keep the input timestamps' replacement (TIMESTAMP='ts').
        assert sorted(out["timestamp"].to_list()) == [BASE_TS + i for i in range(N)]
    finally:
        server.close()
