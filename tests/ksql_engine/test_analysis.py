"""Statement analysis: output naming, key columns, PARTITION BY, and ksqlDB's error wording."""

from __future__ import annotations

import pytest

from telemetry_lib.ksql.analyzer.ddl import analyze_create_source
from telemetry_lib.ksql.analyzer.query import AnalyzedQuery, analyze_query
from telemetry_lib.ksql.catalog import Catalog
from telemetry_lib.ksql.errors import AnalysisError, KsqlEngineError, KsqlStatementError
from telemetry_lib.ksql.parser import parse
from telemetry_lib.ksql.parser.ast import CreateAsSelect, CreateSource

CONFIG = {"ksql.persistence.default.format.key": "KAFKA"}


def _catalog(*ddl: str) -> Catalog:
    catalog = Catalog()
    for text in ddl:
        for stmt in parse(text):
            assert isinstance(stmt, CreateSource)
            plan = analyze_create_source(stmt, config=CONFIG, type_lookup=catalog.get_type)
            catalog.put_source(plan.source)
    return catalog


INPUT = "CREATE STREAM INPUT (ID INT KEY, NAME STRING, AGE INT) WITH (kafka_topic='i', value_format='JSON');"


def _analyze(sql: str, *ddl: str, config: dict[str, object] | None = None) -> AnalyzedQuery:
    catalog = _catalog(*(ddl or (INPUT,)))
    stmt = parse(sql)[0]
    assert isinstance(stmt, CreateAsSelect)
    return analyze_query(stmt.query, catalog, None, sink_name=stmt.name, config=config or CONFIG)


@pytest.mark.parametrize(
    ("sql", "schema"),
    [
        (
            "CREATE STREAM O AS SELECT * FROM INPUT;",
            "`ID` INTEGER KEY, `NAME` STRING, `AGE` INTEGER",
        ),
        (
            "CREATE STREAM O AS SELECT ID, 'foo', NAME, AGE + 1, ABS(AGE) AS A FROM INPUT;",
            "`ID` INTEGER KEY, `KSQL_COL_0` STRING, `NAME` STRING, `KSQL_COL_1` INTEGER, `A` INTEGER",
        ),
        (
            "CREATE STREAM O AS SELECT ID AS NEW_KEY, NAME FROM INPUT;",
            "`NEW_KEY` INTEGER KEY, `NAME` STRING",
        ),
        (
            "CREATE STREAM O AS SELECT * FROM INPUT PARTITION BY NAME;",
            "`NAME` STRING KEY, `AGE` INTEGER, `ID` INTEGER",
        ),
        (
            "CREATE STREAM O AS SELECT * FROM INPUT PARTITION BY ABS(ID);",
            "`KSQL_COL_0` INTEGER KEY, `NAME` STRING, `AGE` INTEGER, `ID` INTEGER",
        ),
        (
            "CREATE STREAM O AS SELECT NAME AS ID, AGE, ID AS OLD FROM INPUT PARTITION BY NAME;",
            "`ID` STRING KEY, `AGE` INTEGER, `OLD` INTEGER",
        ),
        (
            "CREATE STREAM O AS SELECT ID, NAME FROM INPUT PARTITION BY NULL;",
            "`ID` INTEGER, `NAME` STRING",
        ),
        (
            "CREATE STREAM O AS SELECT AGE, ID, NAME FROM INPUT PARTITION BY NAME, AGE;",
            "`NAME` STRING KEY, `AGE` INTEGER KEY, `ID` INTEGER",
        ),
        (
            "CREATE STREAM O AS SELECT ID, ROWTIME AS RT, ROWPARTITION AS RP, ROWOFFSET AS RO FROM INPUT;",
            "`ID` INTEGER KEY, `RT` BIGINT, `RP` INTEGER, `RO` BIGINT",
        ),
    ],
)
def test_output_schema(sql: str, schema: str) -> None:
    assert _analyze(sql).schema_text() == schema


def test_generated_names_skip_numbers_taken_by_source_columns() -> None:
    ddl = "CREATE STREAM S (K INT KEY, KSQL_COL_0 INT) WITH (kafka_topic='s', value_format='JSON');"
    analysis = _analyze("CREATE STREAM O AS SELECT K, KSQL_COL_0, K + 1 FROM S;", ddl)
    assert [c.name for c in analysis.columns] == ["K", "KSQL_COL_0", "KSQL_COL_1"]


def test_struct_field_names_come_from_the_dereference() -> None:
    ddl = (
        "CREATE STREAM S (K INT KEY, A STRUCT<X INT, Y STRING>, B STRUCT<X INT>) "
        "WITH (kafka_topic='s', value_format='JSON');"
    )
    analysis = _analyze("CREATE STREAM O AS SELECT K, A->X, B->X FROM S;", ddl)
    assert [c.name for c in analysis.columns] == ["K", "X", "X_1"]


def test_new_planner_allows_a_projection_without_the_key() -> None:
    analysis = _analyze(
        "CREATE STREAM O AS SELECT NAME FROM INPUT;",
        config={**CONFIG, "ksql.new.query.planner.enabled": "true"},
    )
    assert analysis.schema_text() == "`NAME` STRING"


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            "CREATE STREAM O AS SELECT NAME FROM INPUT;",
            "The query used to build `O` must include the key column ID in its projection "
            "(eg, SELECT ID...).",
        ),
        (
            "CREATE STREAM O AS SELECT ID, ID AS ID2, NAME FROM INPUT;",
            "The projection contains a key column (`ID`) more than once, aliased as: ID and ID2.\n",
        ),
        (
            "CREATE STREAM O AS SELECT ID, BOB FROM INPUT;",
            "SELECT column 'BOB' cannot be resolved.",
        ),
        (
            "CREATE STREAM O AS SELECT * FROM INPUT WHERE ABS(BOB) < 10;",
            "WHERE column 'BOB' cannot be resolved.",
        ),
        (
            "CREATE STREAM O AS SELECT ID, NAME AS ROWTIME FROM INPUT;",
            "`ROWTIME` is a reserved column name. You cannot use it as an alias for a column.",
        ),
        (
            "CREATE STREAM O AS SELECT ID, ROWPARTITION FROM INPUT;",
            "Reserved column name in select: `ROWPARTITION`. Please remove or alias the column.",
        ),
        (
            "CREATE STREAM O AS SELECT NAME AS ID, NAME FROM INPUT PARTITION BY ID;",
            "The query used to build `O` must include the partitioning expression INPUT.ID in its "
            "projection (eg, SELECT INPUT.ID...).",
        ),
        (
            "CREATE STREAM O AS SELECT ID, NAME AS X FROM INPUT PARTITION BY X;",
            "PARTITION BY column 'X' cannot be resolved. 'X' must be a column in the source schema "
            "since PARTITION BY is applied on the input.",
        ),
        (
            "CREATE STREAM O AS SELECT ID, NAME FROM INPUT PARTITION BY NULL, ID;",
            "Cannot PARTITION BY multiple columns including NULL",
        ),
        (
            "CREATE STREAM O AS SELECT * FROM INPUT WHERE AGE;",
            "Type error in WHERE expression: Should evaluate to boolean but is AGE (INTEGER) instead.",
        ),
    ],
)
def test_rejections_use_ksqldb_wording(sql: str, message: str) -> None:
    with pytest.raises(AnalysisError) as info:
        _analyze(sql)
    assert message in info.value.message


def test_self_join_is_refused_with_ksqldb_wording() -> None:
    # JOINs are analysed since engine III; a self join is one ksqlDB refuses.
    with pytest.raises(KsqlStatementError) as info:
        _analyze(
            "CREATE STREAM O AS SELECT A.ID, B.NAME FROM INPUT A JOIN INPUT B WITHIN 1 SECOND "
            "ON A.ID = B.ID;"
        )
    assert "Can not join 'INPUT' to 'INPUT': self joins are not yet supported." in str(
        info.value.message
    )


def test_unknown_source_points_at_it() -> None:
    with pytest.raises(AnalysisError, match=r"Line: 1, Col: 34: NOPE does not exist."):
        _analyze("CREATE STREAM O AS SELECT * FROM NOPE;")


@pytest.mark.parametrize(
    ("ddl", "message"),
    [
        (
            "CREATE TABLE T (ID INT, V STRING) WITH (kafka_topic='t', value_format='JSON');",
            "Tables require a PRIMARY KEY. Please define the PRIMARY KEY.",
        ),
        (
            "CREATE STREAM S (ID INT PRIMARY KEY, V STRING) WITH (kafka_topic='t', value_format='JSON');",
            "Column `ID` is a 'PRIMARY KEY' column: please use 'KEY' for streams.",
        ),
        (
            "CREATE TABLE T (ID INT KEY, V STRING) WITH (kafka_topic='t', value_format='JSON');",
            "Column `ID` is a 'KEY' column: please use 'PRIMARY KEY' for tables.",
        ),
        (
            "CREATE STREAM S (ID INT KEY, V STRING) WITH (kafka_topic='t');",
            "Statement is missing the 'VALUE_FORMAT' property from the WITH clause.",
        ),
        (
            "CREATE STREAM S (ID INT KEY, V STRING) WITH (kafka_topic='t', value_format='FOO');",
            "Unknown format: FOO",
        ),
        (
            "CREATE STREAM S (K MAP<STRING, INT> KEY, V STRING) WITH (kafka_topic='t', format='JSON');",
            "Map keys, including types that contain maps, are not supported",
        ),
        (
            "CREATE STREAM S (K DECIMAL(4, 2) KEY, V STRING) WITH (kafka_topic='t', value_format='JSON');",
            "Key format does not support schema.\nformat: KAFKA\nschema: Persistence{columns=[`K` "
            "DECIMAL(4, 2) KEY], features=[]}\nreason: The 'KAFKA' format does not support type "
            "'DECIMAL'",
        ),
        (
            "CREATE STREAM S (K INT KEY, V ARRAY<INT>) WITH (kafka_topic='t', value_format='DELIMITED');",
            "The 'DELIMITED' format does not support type 'ARRAY'",
        ),
        (
            "CREATE STREAM S (K INT KEY, V INT, W INT) WITH (kafka_topic='t', value_format='JSON', "
            "wrap_single_value=true);",
            "'WRAP_SINGLE_VALUE' is only valid for single-field value schemas",
        ),
        (
            "CREATE STREAM S (K INT KEY, V INT) WITH (kafka_topic='t', value_format='JSON', "
            "timestamp='nope');",
            "The TIMESTAMP column set in the WITH clause does not exist in the schema: 'NOPE'",
        ),
        (
            "CREATE STREAM S (K INT KEY, V INT) WITH (kafka_topic='t', value_format='JSON', "
            "window_type='tumbling', window_size='30 bobs');",
            "Configuration WINDOW_SIZE is invalid: Invalid duration: '30 bobs'. Unknown time unit: "
            "'BOBS'",
        ),
        (
            "CREATE STREAM S (K INT KEY, V INT) WITH (kafka_topic='t', value_format='JSON', "
            "value_delimiter=' ');",
            "Delimiter cannot be empty, if you meant to have a tab or space for delimiter",
        ),
    ],
)
def test_create_source_rejections(ddl: str, message: str) -> None:
    with pytest.raises(KsqlEngineError) as info:
        _catalog(ddl)
    assert message in info.value.message


def test_keyless_stream_has_key_format_none_and_windowed_source_records_window() -> None:
    catalog = _catalog(
        "CREATE STREAM S (V INT) WITH (kafka_topic='t', value_format='JSON');",
        "CREATE STREAM W (K STRING KEY, V INT) WITH (kafka_topic='w', value_format='JSON', "
        "window_type='Hopping', window_size='10 SECONDS');",
    )
    keyless = catalog.require_source("S")
    windowed = catalog.require_source("W")
    assert keyless.key_format.name == "NONE"
    assert windowed.window is not None and windowed.window.size_ms == 10_000


def test_projection_needs_a_value_column_and_all_missing_keys_are_named() -> None:
    with pytest.raises(AnalysisError, match="The projection contains no value columns."):
        _analyze("CREATE STREAM O AS SELECT ID FROM INPUT;")
    ddl = "CREATE STREAM M (A INT KEY, B INT KEY, V INT) WITH (kafka_topic='m', format='JSON');"
    with pytest.raises(AnalysisError) as info:
        _analyze("CREATE STREAM O AS SELECT V FROM M;", ddl)
    assert "must include the key columns A and B in its projection (eg, SELECT A, B...)." in (
        info.value.message
    )


def test_unaliased_window_bounds_are_dropped_from_persistent_projections() -> None:
    ddl = (
        "CREATE STREAM W (K STRING KEY, V INT) WITH (kafka_topic='w', value_format='JSON', "
        "window_type='tumbling', window_size='1 second');"
    )
    analysis = _analyze("CREATE STREAM O AS SELECT K, WINDOWSTART, WINDOWEND AS WE, V FROM W;", ddl)
    assert [c.name for c in analysis.columns] == ["K", "WE", "V"]


def test_partition_by_on_a_table_only_accepts_its_own_key() -> None:
    ddl = (
        "CREATE TABLE T (K STRING PRIMARY KEY, V INT) WITH (kafka_topic='t', value_format='JSON');"
    )
    analysis = _analyze("CREATE TABLE O AS SELECT * FROM T PARTITION BY K;", ddl)
    assert analysis.partition_by is None
    assert analysis.schema_text() == "`K` STRING KEY, `V` INTEGER"
    with pytest.raises(KsqlEngineError, match="Cannot repartition a TABLE source."):
        _analyze("CREATE TABLE O AS SELECT * FROM T PARTITION BY V;", ddl)


def test_multi_column_kafka_key_error_suggests_a_key_format() -> None:
    ddl = (
        "CREATE STREAM M (A INT KEY, B INT KEY, V INT) WITH (kafka_topic='m', value_format='JSON');"
    )
    with pytest.raises(KsqlEngineError) as info:
        _catalog(ddl)
    assert "The 'KAFKA' format only supports a single field" in info.value.message
    assert info.value.hint is not None and "KEY_FORMAT='JSON'" in info.value.hint
