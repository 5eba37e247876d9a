"""Catalog bookkeeping, query ids, sandbox snapshots, and window/duration parsing."""

from __future__ import annotations

import pytest

from telemetry_lib.ksql.catalog import (
    Catalog,
    Column,
    ColumnRole,
    DataSource,
    FormatSpec,
    QueryInfo,
    SourceType,
)
from telemetry_lib.ksql.errors import KsqlEngineError
from telemetry_lib.ksql.types import INTEGER, STRING
from telemetry_lib.ksql.windows import (
    WindowType,
    format_duration,
    parse_duration,
    parse_window_type,
)


def _stream(name: str, topic: str = "t") -> DataSource:
    return DataSource(
        name=name,
        source_type=SourceType.STREAM,
        columns=(
            Column("NAME", STRING),
            Column("ID", INTEGER, ColumnRole.KEY),
        ),
        topic=topic,
        key_format=FormatSpec("KAFKA"),
        value_format=FormatSpec("JSON"),
    )


def test_schema_text_lists_keys_first_with_backquotes() -> None:
    assert _stream("S").schema_text() == "`ID` INTEGER KEY, `NAME` STRING"


def test_query_ids_share_one_counter() -> None:
    catalog = Catalog()
    assert catalog.next_query_id("CSAS", "out") == "CSAS_OUT_0"
    assert catalog.next_query_id("INSERT", "out") == "INSERTQUERY_1"
    assert catalog.next_query_id("CTAS", "T") == "CTAS_T_2"


def test_snapshot_restore_rolls_back_sources_queries_and_counter() -> None:
    catalog = Catalog()
    catalog.put_source(_stream("A"))
    state = catalog.snapshot()
    catalog.put_source(_stream("B"))
    qid = catalog.next_query_id("CSAS", "B")
    catalog.put_query(QueryInfo(qid, "CSAS", "x", "B", "B", ("A",), ("t",)))
    catalog.restore(state)
    assert [s.name for s in catalog.sources()] == ["A"]
    assert catalog.queries() == []
    assert catalog.next_query_id("CSAS", "B") == "CSAS_B_0"


def test_readers_and_writers_and_missing_source() -> None:
    catalog = Catalog()
    catalog.put_query(QueryInfo("CSAS_B_0", "CSAS", "x", "B", "B", ("A",), ("t",)))
    assert catalog.queries_reading("A") == ["CSAS_B_0"]
    assert catalog.queries_writing("B") == ["CSAS_B_0"]
    with pytest.raises(KsqlEngineError, match="Stream X does not exist"):
        catalog.require_source("X", kind=SourceType.STREAM)


def test_similar_names_for_case_hint() -> None:
    catalog = Catalog()
    catalog.put_source(_stream("input"))
    assert catalog.similar_source_names("INPUT") == ["input"]


@pytest.mark.parametrize(
    ("text", "ms"),
    [("30 SECONDS", 30_000), ("1 minute", 60_000), ("2 HOURS", 7_200_000), ("5 MILLISECONDS", 5)],
)
def test_parse_duration(text: str, ms: int) -> None:
    assert parse_duration(text) == ms


def test_parse_duration_rejects_unknown_unit_with_ksqldb_wording() -> None:
    with pytest.raises(ValueError, match=r"Invalid duration: '30 bobs'. Unknown time unit: 'BOBS'"):
        parse_duration("30 bobs")


def test_window_type_and_format_duration() -> None:
    assert parse_window_type("session") is WindowType.SESSION
    assert not WindowType.SESSION.is_time_window
    assert format_duration(300_000) == "5 MINUTES"
    with pytest.raises(ValueError, match="Valid values are"):
        parse_window_type("sliding")
