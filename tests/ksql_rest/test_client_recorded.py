"""KsqlClient against recorded ksqlDB response bodies (the remote path: real ksqlDB / Cloud).

The fixtures in ``fixtures/`` are written from ksqlDB's documented response shapes (reference
§1); an httpx MockTransport stands in for the remote server and records what the client sent.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
from pathlib import Path

import httpx
import polars as pl
import pytest

from telemetry_lib.ksql.client import KsqlClient, KsqlServerError

FIXTURES = Path(__file__).parent / "fixtures"


def _client(routes: dict[str, tuple[int, str, str]], seen: list[httpx.Request]) -> KsqlClient:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status, name, media = routes[request.url.path]
        return httpx.Response(
            status, content=(FIXTURES / name).read_bytes(), headers={"content-type": media}
        )

    return KsqlClient(
        "https://pksqlc-x.eu-west-1.aws.confluent.cloud:443",
        api_key="KEY",
        api_secret="SECRET",
        transport=httpx.MockTransport(handler),
    )


def test_execute_sends_ksql_and_basic_credentials() -> None:
    seen: list[httpx.Request] = []
    client = _client({"/ksql": (200, "create_stream.json", "application/json")}, seen)
    entities = client.execute("CREATE STREAM TELEM (...) WITH (...);", properties={"a": "b"})
    assert entities[0]["commandStatus"]["message"] == "Stream created"
    sent = json.loads(seen[0].content)
    assert sent == {
        "ksql": "CREATE STREAM TELEM (...) WITH (...);",
        "streamsProperties": {"a": "b"},
    }
    expected = "Basic " + base64.b64encode(b"KEY:SECRET").decode()
    assert seen[0].headers["authorization"] == expected
    assert "SECRET" not in repr(client)


def test_statement_error_raises_with_error_code() -> None:
    client = _client({"/ksql": (400, "statement_error.json", "application/json")}, [])
    with pytest.raises(KsqlServerError) as caught:
        client.execute("SELEC * FROM telem;")
    assert caught.value.error_code == 40001
    assert caught.value.status == 400
    assert caught.value.statement_text == "SELEC * FROM telem;"
    assert "Syntax Error" in caught.value.server_message


def test_unauthorized_raises_40100() -> None:
    client = _client({"/info": (401, "unauthorized.json", "application/json")}, [])
    with pytest.raises(KsqlServerError) as caught:
        client.info()
    assert (caught.value.error_code, caught.value.server_message) == (40100, "Unauthorized")


def test_pull_types_columns_and_decodes_window_bounds() -> None:
    seen: list[httpx.Request] = []
    client = _client(
        {"/query-stream": (200, "pull_windowed.delimited", "application/vnd.ksqlapi.delimited.v1")},
        seen,
    )
    frame = client.pull("SELECT * FROM PLAYER_KILL_RATIO;")
    assert json.loads(seen[0].content)["sql"] == "SELECT * FROM PLAYER_KILL_RATIO;"
    assert seen[0].headers["accept"] == "application/vnd.ksqlapi.delimited.v1"
    assert frame.schema == pl.Schema(
        {
            "PLAYER_ID": pl.String,
            "WINDOWSTART": pl.Datetime("ms", "UTC"),
            "WINDOWEND": pl.Datetime("ms", "UTC"),
            "KILLS": pl.Int64,
            "RATIO": pl.Decimal(10, 2),
            "AT": pl.Datetime("ms"),
        }
    )
    first = frame.row(0, named=True)
    assert first["WINDOWSTART"] == dt.datetime(2023, 11, 14, 22, 15, tzinfo=dt.UTC)
    assert first["WINDOWEND"] == dt.datetime(2023, 11, 14, 22, 20, tzinfo=dt.UTC)
    assert first["RATIO"] == decimal.Decimal("3.50")
    assert frame.row(1, named=True)["AT"] == dt.datetime(2023, 11, 14, 22, 16, 30, 250000)


def test_old_single_string_windowed_key_is_split() -> None:
    client = _client({"/query-stream": (200, "old_windowed_key.delimited", "application/json")}, [])
    frame = client.pull("SELECT * FROM T;")
    assert frame.columns == ["ROWKEY", "KILLS", "WINDOWSTART", "WINDOWEND"]
    row = frame.row(0, named=True)
    assert row["ROWKEY"] == "p1"
    assert row["WINDOWSTART"] == dt.datetime(2023, 11, 14, 22, 15, tzinfo=dt.UTC)
    assert row["WINDOWEND"] is None


def test_error_after_the_header_raises() -> None:
    client = _client(
        {"/query-stream": (200, "push_error_after_header.delimited", "application/json")}, []
    )
    rows = client.stream("SELECT * FROM TELEM EMIT CHANGES;")
    assert next(rows) == {"PLAYER_ID": "p1", "DMG": 10}
    with pytest.raises(KsqlServerError) as caught:
        next(rows)
    assert caught.value.error_code == 50000


def test_list_queries_and_wait_until_running() -> None:
    client = _client({"/ksql": (200, "show_queries.json", "application/json")}, [])
    assert [q["id"] for q in client.list_queries()] == ["CTAS_PLAYER_KILL_RATIO_3"]
    client.wait_until_running("ctas_player_kill_ratio_3", timeout=1)
    with pytest.raises(KsqlServerError):
        client.wait_until_running("CTAS_OTHER_1", timeout=0.3)


def test_info() -> None:
    client = _client({"/info": (200, "info.json", "application/json")}, [])
    assert client.info()["kafkaClusterId"] == "j3tOi6E_RtO_TMH3gBmK7A"
