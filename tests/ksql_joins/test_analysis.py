"""Join analysis: column naming, key columns, kinds, repartitioning and ksqlDB's errors.

Expected schemas and messages follow ksqlDB's documented behaviour (reference §2.4/§4.6 and
docs/developer-guide/joins): ``SELECT *`` prefixes every column with its source alias, a column
reference keeps its name unless another source has that name, the join key is the first join
column the projection selects, FULL OUTER joins get a synthetic ROWKEY.
"""

from __future__ import annotations

import pytest

from telemetry_lib.ksql.errors import KsqlEngineError
from tests.ksql_joins.support import driver_with

SOURCES = (
    "CREATE STREAM S (ID STRING KEY, PLAYER STRING, KILLS INT) "
    "WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', PARTITIONS=1);"
    "CREATE STREAM S2 (ID STRING KEY, PLAYER STRING, DEATHS INT) "
    "WITH (KAFKA_TOPIC='s2', VALUE_FORMAT='JSON', PARTITIONS=1);"
    "CREATE TABLE P (ID STRING PRIMARY KEY, TEAM STRING, SKILL INT) "
    "WITH (KAFKA_TOPIC='p', VALUE_FORMAT='JSON', PARTITIONS=1);"
    "CREATE TABLE Q (ID STRING PRIMARY KEY, REGION STRING) "
    "WITH (KAFKA_TOPIC='q', VALUE_FORMAT='JSON', PARTITIONS=1);"
    "CREATE TABLE WIDE (ID STRING PRIMARY KEY, X STRING) "
    "WITH (KAFKA_TOPIC='wide', VALUE_FORMAT='JSON', PARTITIONS=2);"
)


def _schema(sql: str, name: str = "OUT") -> str:
    driver = driver_with(SOURCES + sql)
    source = driver.engine.catalog.get_source(name)
    assert source is not None
    return source.schema_text().replace("`", "")


def _error(sql: str) -> str:
    with pytest.raises(KsqlEngineError) as info:
        driver_with(SOURCES + sql)
    return str(info.value.message)


@pytest.mark.parametrize(
    ("select", "schema"),
    [
        # * prefixes every column with its alias; the first join column is the key
        (
            "SELECT * FROM S JOIN P ON S.ID = P.ID",
            "S_ID STRING KEY, S_PLAYER STRING, S_KILLS INTEGER, P_ID STRING, P_TEAM STRING, "
            "P_SKILL INTEGER",
        ),
        # aliases prefix too; a.* lists one source
        (
            "SELECT a.*, b.TEAM FROM S a JOIN P b ON a.ID = b.ID",
            "A_ID STRING KEY, A_PLAYER STRING, A_KILLS INTEGER, TEAM STRING",
        ),
        # unique names keep their name, shared ones (ID) get the prefix
        (
            "SELECT P.ID, PLAYER, TEAM FROM S JOIN P ON S.ID = P.ID",
            "P_ID STRING KEY, PLAYER STRING, TEAM STRING",
        ),
        # a non-key stream column joins through a repartition and becomes the key
        (
            "SELECT S.PLAYER, KILLS, TEAM FROM S LEFT JOIN P ON S.PLAYER = P.ID",
            "PLAYER STRING KEY, KILLS INTEGER, TEAM STRING",
        ),
    ],
)
def test_stream_table_result_schema(select: str, schema: str) -> None:
    assert _schema(f"CREATE STREAM OUT AS {select};") == schema


def test_full_outer_join_has_a_synthetic_rowkey() -> None:
    schema = _schema(
        "CREATE TABLE OUT AS SELECT ROWKEY, P.TEAM, Q.REGION FROM P FULL OUTER JOIN Q "
        "ON P.ID = Q.ID;"
    )
    assert schema == "ROWKEY STRING KEY, TEAM STRING, REGION STRING"


def test_select_star_of_a_full_outer_join_leads_with_the_synthetic_key() -> None:
    schema = _schema("CREATE TABLE OUT AS SELECT * FROM P FULL OUTER JOIN Q ON P.ID = Q.ID;")
    assert schema.startswith("ROWKEY STRING KEY, P_ID STRING, P_TEAM STRING")


def test_synthetic_key_skips_rowkey_names_taken_by_sources() -> None:
    sql = (
        "CREATE TABLE A (ROWKEY STRING PRIMARY KEY, ROWKEY_2 STRING) "
        "WITH (KAFKA_TOPIC='a', VALUE_FORMAT='JSON', PARTITIONS=1);"
        "CREATE TABLE B (ID STRING PRIMARY KEY, V STRING) "
        "WITH (KAFKA_TOPIC='b', VALUE_FORMAT='JSON', PARTITIONS=1);"
        "CREATE TABLE OUT AS SELECT ROWKEY_3, V FROM A FULL OUTER JOIN B ON A.ROWKEY = B.ID;"
    )
    assert _schema(sql) == "ROWKEY_3 STRING KEY, V STRING"


def test_join_on_expressions_needs_the_synthetic_key_in_the_projection() -> None:
    message = _error(
        "CREATE STREAM OUT AS SELECT S.KILLS FROM S JOIN S2 WITHIN 1 SECOND "
        "ON UCASE(S.PLAYER) = UCASE(S2.PLAYER);"
    )
    assert "must include the join expression ROWKEY in its projection" in message
    assert "ROWKEY was added as a synthetic key column" in message


def test_missing_join_columns_are_listed() -> None:
    message = _error("CREATE STREAM OUT AS SELECT TEAM FROM S JOIN P ON S.ID = P.ID;")
    assert (
        "The query used to build `OUT` must include the join expressions S.ID or P.ID in its "
        "projection (eg, SELECT S.ID...)." in message
    )


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            "CREATE STREAM OUT AS SELECT S.ID, TEAM FROM S JOIN P ON S.PLAYER = P.TEAM;",
            "Invalid join condition: stream-table joins require to join on the table's primary "
            "key. Got S.PLAYER = P.TEAM.",
        ),
        (
            "CREATE TABLE OUT AS SELECT P.ID, REGION FROM P JOIN Q ON P.ID = Q.REGION;",
            "Invalid join condition: table-table joins require to join on the primary key of the "
            "right input table. Got P.ID = Q.REGION.",
        ),
        (
            "CREATE STREAM OUT AS SELECT P.ID, KILLS FROM P JOIN S ON P.ID = S.ID;",
            "Invalid join order: table-stream joins are not supported; only stream-table joins. "
            "Got P [INNER] JOIN S.",
        ),
        (
            "CREATE STREAM OUT AS SELECT S.ID, DEATHS FROM S JOIN S2 ON S.ID = S2.ID;",
            "Stream-Stream joins must have a WITHIN clause specified.",
        ),
        (
            "CREATE STREAM OUT AS SELECT S.ID, TEAM FROM S JOIN P WITHIN 1 SECOND ON S.ID = P.ID;",
            "A window definition was provided for a Stream-Table join.",
        ),
        (
            "CREATE STREAM OUT AS SELECT S.ID, TEAM FROM S JOIN P ON S.ID = P.ID AND S.ID = P.ID;",
            "Invalid join condition: joins on multiple conditions are not yet supported. "
            "Got ((S.ID = P.ID) AND (S.ID = P.ID)).",
        ),
        (
            "CREATE STREAM OUT AS SELECT S.ID, TEAM FROM S JOIN P ON S.ID > P.ID;",
            "Only equality join criteria is supported.",
        ),
        (
            "CREATE STREAM OUT AS SELECT S.ID, TEAM FROM S JOIN P ON S.KILLS = P.ID;",
            "Invalid join condition: types don't match. Got S.KILLS{INTEGER} = P.ID{STRING}.",
        ),
        (
            "CREATE STREAM OUT AS SELECT S.ID, TEAM FROM S JOIN P ON S.ID = 'x';",
            "Invalid comparison expression ''x'' in join '(S.ID = 'x')'. Each side of the join "
            "comparision must contain references from exactly one source.",
        ),
        (
            "CREATE STREAM OUT AS SELECT S.ID, TEAM FROM S RIGHT JOIN P ON S.ID = P.ID;",
            "Invalid join type: right-outer join not supported for stream-table join. "
            "Got S RIGHT [OUTER] JOIN P.",
        ),
        (
            "CREATE STREAM OUT AS SELECT S.ID, TEAM FROM S FULL OUTER JOIN P ON S.ID = P.ID;",
            "Invalid join type: full-outer join not supported for stream-table join. "
            "Got S [FULL] OUTER JOIN P.",
        ),
        (
            "CREATE STREAM OUT AS SELECT a.ID FROM S a JOIN S b WITHIN 1 SECOND ON a.ID = b.ID;",
            "Can not join 'S' to 'S': self joins are not yet supported.",
        ),
        (
            "CREATE STREAM OUT AS SELECT S.ID, X FROM S JOIN WIDE ON S.ID = WIDE.ID;",
            "Can't join S with WIDE since the number of partitions don't match. S partitions = "
            "1; WIDE partitions = 2. Please repartition either one so that the number of "
            "partitions match.",
        ),
        (
            "CREATE TABLE OUT AS SELECT ROWKEY, TEAM, X FROM P FULL OUTER JOIN Q ON P.ID = Q.ID "
            "JOIN WIDE ON P.ID = WIDE.ID;",
            "Cannot repartition a TABLE source.",
        ),
        (
            "CREATE STREAM OUT AS SELECT S.ID, TEAM FROM S JOIN P ON ID = P.ID;",
            "Column 'ID' is ambiguous. Could be S.ID or P.ID.",
        ),
    ],
)
def test_rejections_use_ksqldb_wording(sql: str, message: str) -> None:
    assert message in _error(sql)


def test_repartitioned_side_appears_in_explain() -> None:
    driver = driver_with(
        SOURCES + "CREATE STREAM OUT AS SELECT S.PLAYER, TEAM FROM S JOIN P ON S.PLAYER = P.ID;"
    )
    (query_id,) = driver.engine.running_queries()
    running = driver.engine.running_query(query_id)
    assert running is not None
    text = running.explain_text
    assert "Join[stream-table INNER S x P ON S_PLAYER = P_ID; key=S_PLAYER]" in text
    assert "Repartition[S_PLAYER; topic=-Join-repartition]" in text
    assert running.source_topics == ("s", "p")


def test_joinkey_names_the_synthetic_key() -> None:
    schema = _schema(
        "CREATE TABLE OUT AS SELECT JOINKEY(P.ID, Q.ID) AS ID, TEAM, REGION "
        "FROM P FULL OUTER JOIN Q ON P.ID = Q.ID;"
    )
    assert schema == "ID STRING KEY, TEAM STRING, REGION STRING"


def test_n_way_join_plan_names_nested_repartitions_with_l_prefixes() -> None:
    driver = driver_with(
        SOURCES + "CREATE STREAM OUT AS SELECT S.PLAYER, TEAM, REGION FROM S "
        "JOIN P ON S.PLAYER = P.ID LEFT JOIN Q ON S.PLAYER = Q.ID;"
    )
    (query_id,) = driver.engine.running_queries()
    running = driver.engine.running_query(query_id)
    assert running is not None
    lines = running.explain_text.splitlines()
    # the second join keeps the first one's key (S.PLAYER): only the stream is re-keyed, once
    assert [line.strip() for line in lines if "Repartition[" in line] == [
        "[4] Repartition[S_PLAYER; topic=-L_Join-repartition]"
    ]
    assert "[2] Join[stream-table LEFT S x Q ON S_PLAYER = Q_ID; key=S_PLAYER]" in [
        line.strip() for line in lines
    ]
    assert running.source_topics == ("s", "p", "q")


def test_session_windowed_sources_join_only_session_windowed_sources() -> None:
    with pytest.raises(KsqlEngineError) as info:
        driver_with(
            "CREATE STREAM W1 (K STRING KEY, V INT) WITH (KAFKA_TOPIC='w1', VALUE_FORMAT='JSON', "
            "PARTITIONS=1, WINDOW_TYPE='SESSION');"
            "CREATE STREAM W2 (K STRING KEY, V INT) WITH (KAFKA_TOPIC='w2', VALUE_FORMAT='JSON', "
            "PARTITIONS=1, WINDOW_TYPE='TUMBLING', WINDOW_SIZE='1 SECOND');"
            "CREATE STREAM OUT AS SELECT W1.K, W2.V FROM W1 JOIN W2 WITHIN 1 MINUTE "
            "ON W1.K = W2.K;"
        )
    message = str(info.value.message)
    assert message.startswith("Incompatible windowed sources.\nLeft source: SESSION\n")
    assert "Right source: TUMBLING" in message


def test_windowed_with_plain_source_names_both_sides_in_criteria_order() -> None:
    message = _error(
        "CREATE STREAM W (ID STRING KEY, V INT) WITH (KAFKA_TOPIC='w', VALUE_FORMAT='JSON', "
        "PARTITIONS=1, WINDOW_TYPE='HOPPING', WINDOW_SIZE='2 SECONDS');"
        "CREATE STREAM OUT AS SELECT S.ID, V FROM S JOIN W WITHIN 1 MINUTE ON W.ID = S.ID;"
    )
    assert message == (
        "Can not join windowed source to non-windowed source.\n"
        "`W` is HOPPING windowed\n`S` is not windowed"
    )
