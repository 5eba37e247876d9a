"""End-to-end statement execution on the in-memory driver: DDL, persistent queries, INSERT
VALUES, DROP/TERMINATE rules, SHOW/DESCRIBE/EXPLAIN entities, processing log, timestamps."""

from __future__ import annotations

import json
import struct

import pytest

from telemetry_lib.ksql.driver import InMemoryDriver
from telemetry_lib.ksql.errors import KsqlEngineError, StreamsError

INPUT = (
    "CREATE STREAM INPUT (ID INT KEY, NAME STRING, AGE INT) "
    "WITH (kafka_topic='input', value_format='JSON', partitions=1);"
)


def _int_key(value: int) -> bytes:
    return struct.pack(">i", value)


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


def _values(driver: InMemoryDriver, topic: str) -> list[object]:
    return [None if r.value is None else json.loads(r.value) for r in driver.read(topic)]


@pytest.fixture
def driver() -> InMemoryDriver:
    d = InMemoryDriver(partitioner="single")
    d.execute(INPUT)
    return d


def test_filter_project_keeps_key_and_timestamp(driver: InMemoryDriver) -> None:
    results = driver.execute(
        "CREATE STREAM OUT AS SELECT ID, UCASE(NAME) AS N, AGE + 1 FROM INPUT WHERE AGE > 20;"
    )
    assert results[0].kind == "currentStatus"
    assert results[0].query_id == "CSAS_OUT_0"
    assert results[0].message == "Created query with ID CSAS_OUT_0"
    driver.pipe("input", key=_int_key(1), value=_json({"name": "a", "age": 30}), timestamp=7)
    driver.pipe("input", key=_int_key(2), value=_json({"name": "b", "age": 10}), timestamp=8)
    out = driver.read("OUT")
    assert [(r.key, r.timestamp) for r in out] == [(_int_key(1), 7)]
    assert json.loads(out[0].value or b"") == {"N": "A", "KSQL_COL_0": 31}


def test_null_values_pass_select_star_but_not_where(driver: InMemoryDriver) -> None:
    driver.execute("CREATE STREAM ALLROWS AS SELECT * FROM INPUT;")
    driver.execute("CREATE STREAM SOME AS SELECT * FROM INPUT WHERE NAME IS NULL;")
    driver.pipe("input", key=_int_key(1), value=None)
    driver.pipe("input", key=_int_key(2), value=_json({"NAME": None}))
    assert _values(driver, "ALLROWS") == [None, {"NAME": None, "AGE": None}]
    assert [r.key for r in driver.read("SOME")] == [_int_key(2)]


def test_partition_by_rekeys_and_moves_old_key_to_value(driver: InMemoryDriver) -> None:
    driver.execute("CREATE STREAM BYNAME AS SELECT * FROM INPUT PARTITION BY NAME;")
    driver.pipe("input", key=_int_key(10), value=_json({"NAME": "bob", "AGE": 22}))
    driver.pipe("input", key=_int_key(11), value=None)
    out = driver.read("BYNAME")
    assert [r.key for r in out] == [b"bob", None]
    assert _values(driver, "BYNAME") == [{"AGE": 22, "ID": 10}, None]
    described = driver.execute("DESCRIBE BYNAME;")[0].fields["sourceDescription"]
    assert [(f["name"], f.get("type")) for f in described["fields"]] == [
        ("NAME", "KEY"),
        ("AGE", None),
        ("ID", None),
    ]


def test_table_filter_turns_non_matching_rows_into_tombstones() -> None:
    d = InMemoryDriver(partitioner="single")
    d.execute(
        "CREATE TABLE T (K STRING PRIMARY KEY, V INT) WITH (kafka_topic='t', value_format='JSON', "
        "partitions=1);"
        "CREATE TABLE BIG AS SELECT K, V FROM T WHERE V > 5;"
    )
    d.pipe("t", key=b"a", value=_json({"V": 10}))
    d.pipe("t", key=b"a", value=_json({"V": 1}))
    d.pipe("t", key=None, value=_json({"V": 100}))
    d.pipe("t", key=b"b", value=None)
    out = d.read("BIG")
    assert [(r.key, r.value) for r in out] == [(b"a", b'{"V":10}'), (b"a", None), (b"b", None)]


def test_insert_values_orders_keys_first_and_defaults_rowtime(driver: InMemoryDriver) -> None:
    driver.execute("INSERT INTO INPUT (AGE, ROWTIME, ID) VALUES (5, 1234, 3);")
    driver.execute("INSERT INTO INPUT VALUES (4, 'x', 9);")
    records = driver.read("input")
    assert [(r.key, r.timestamp) for r in records][0] == (_int_key(3), 1234)
    assert json.loads(records[0].value or b"") == {"NAME": None, "AGE": 5}
    assert json.loads(records[1].value or b"") == {"NAME": "x", "AGE": 9}
    assert records[1].timestamp > 1_600_000_000_000
    with pytest.raises(KsqlEngineError, match="Expected number columns and values to match: 2, 1"):
        driver.execute("INSERT INTO INPUT (ID, NAME) VALUES (1);")
    with pytest.raises(KsqlEngineError, match=r"Inserting into column `ROWOFFSET` is not allowed."):
        driver.execute("INSERT INTO INPUT (ID, ROWOFFSET) VALUES (1, 2);")


def test_request_is_validated_as_a_whole_before_anything_runs(driver: InMemoryDriver) -> None:
    with pytest.raises(KsqlEngineError, match="SELECT column 'NOPE' cannot be resolved"):
        driver.execute(
            "CREATE STREAM A1 AS SELECT * FROM INPUT; CREATE STREAM A2 AS SELECT ID, NOPE FROM INPUT;"
        )
    assert driver.engine.catalog.get_source("A1") is None
    assert driver.engine.running_queries() == []
    assert driver.engine.io.describe_topic("A1") is None


def test_drop_rules_and_terminate(driver: InMemoryDriver) -> None:
    driver.execute("CREATE STREAM MID AS SELECT * FROM INPUT;")
    driver.execute("CREATE STREAM LAST AS SELECT * FROM MID;")
    with pytest.raises(KsqlEngineError) as info:
        driver.execute("DROP STREAM MID;")
    assert info.value.message == (
        "Cannot drop MID.\nThe following queries read from this source: [CSAS_LAST_1].\n"
        "The following queries write into this source: [].\n"
        "You need to terminate them before dropping MID."
    )
    result = driver.execute("DROP STREAM LAST DELETE TOPIC;")[0]
    assert result.message == "Source `LAST` (topic: LAST) was dropped."
    assert "CSAS_LAST_1" not in driver.engine.running_queries()
    assert driver.engine.io.describe_topic("LAST") is None
    driver.execute("TERMINATE CSAS_MID_0;")
    assert driver.engine.running_queries() == []
    driver.execute("DROP STREAM MID;")
    with pytest.raises(KsqlEngineError, match="Stream MID does not exist"):
        driver.execute("DROP STREAM MID;")
    assert driver.execute("DROP STREAM IF EXISTS MID;")[0].kind == "currentStatus"


def test_show_describe_explain_entities(driver: InMemoryDriver) -> None:
    driver.execute("CREATE STREAM OUT WITH (KAFKA_TOPIC='out_topic') AS SELECT * FROM INPUT;")
    streams = driver.execute("SHOW STREAMS;")[0]
    assert streams.kind == "streams"
    assert {s["name"]: s["topic"] for s in streams.fields["streams"]} == {
        "INPUT": "input",
        "OUT": "out_topic",
    }
    queries = driver.execute("SHOW QUERIES;")[0].fields["queries"]
    assert [(q["id"], q["sinks"], q["sinkKafkaTopics"]) for q in queries] == [
        ("CSAS_OUT_0", ["OUT"], ["out_topic"])
    ]
    described = driver.execute("DESCRIBE OUT EXTENDED;")[0].fields["sourceDescription"]
    assert described["keyFormat"] == "KAFKA" and described["valueFormat"] == "JSON"
    assert described["partitions"] == 1
    assert [q["id"] for q in described["writeQueries"]] == ["CSAS_OUT_0"]
    explained = driver.execute("EXPLAIN CSAS_OUT_0;")[0].fields["queryDescription"]
    assert explained["executionPlan"].startswith("[0] Sink[STREAM OUT, topic=out_topic")
    assert "SourceOperator[INPUT <- input]" in explained["topology"]
    topics = driver.execute("SHOW TOPICS;")[0].fields["topics"]
    assert {t["name"] for t in topics} >= {"input", "out_topic"}


def test_set_and_define_apply_to_later_statements_of_the_request(driver: InMemoryDriver) -> None:
    driver.execute(
        "SET 'ksql.output.topic.name.prefix'='pre-'; DEFINE col = 'NAME';"
        "CREATE STREAM OUT2 AS SELECT ID, ${col} FROM INPUT;"
    )
    assert driver.engine.catalog.require_source("OUT2").topic == "pre-OUT2"
    assert (
        driver.engine.catalog.require_source("OUT2").schema_text()
        == "`ID` INTEGER KEY, `NAME` STRING"
    )


def test_bad_records_go_to_the_processing_log_and_do_not_stop_the_query(
    driver: InMemoryDriver,
) -> None:
    driver.execute("CREATE STREAM OUT AS SELECT * FROM INPUT;")
    driver.pipe("input", key=_int_key(1), value=b"{not json")
    driver.pipe("input", key=_int_key(2), value=_json({"NAME": "ok"}))
    assert [r.key for r in driver.read("OUT")] == [_int_key(2)]
    log = [json.loads(r.value or b"") for r in driver.read("default_ksql_processing_log")]
    assert len(log) == 1
    entry = log[0]
    assert entry["level"] == "ERROR"
    assert entry["logger"] == "processing.CSAS_OUT_0.KsqlTopic.Source.deserializer"
    assert entry["message"]["type"] == 0
    assert entry["message"]["deserializationError"]["target"] == "value"
    assert entry["message"]["recordProcessingError"] is None
    assert driver.engine.processing_log.counts["CSAS_OUT_0"] == 1


def test_timestamp_format_extraction_skips_invalid_or_raises_when_asked() -> None:
    ddl = (
        "CREATE STREAM E (ID INT KEY, TS STRING) WITH (kafka_topic='e', value_format='JSON', "
        "partitions=1, timestamp='ts', timestamp_format='yyyy-MM-dd''T''HH:mm:ssX');"
        "CREATE STREAM F AS SELECT * FROM E;"
    )
    d = InMemoryDriver(partitioner="single")
    d.execute(ddl)
    d.pipe("e", key=_int_key(1), value=_json({"TS": "2018-05-11T21:58:33Z"}), timestamp=1)
    d.pipe("e", key=_int_key(2), value=_json({"TS": "garbage"}), timestamp=2)
    assert [r.timestamp for r in d.read("F")] == [1526075913000]
    strict = InMemoryDriver(
        partitioner="single", config={"ksql.timestamp.throw.on.invalid": "true"}
    )
    strict.execute(ddl)
    with pytest.raises(StreamsError, match="Fatal user code error in TimestampExtractor callback"):
        strict.pipe("e", key=_int_key(2), value=_json({"TS": "garbage"}), timestamp=2)


def test_sink_timestamp_column_sets_record_time_and_drops_negative(driver: InMemoryDriver) -> None:
    driver.execute(
        "CREATE STREAM TS WITH (timestamp='T') AS SELECT ID, CAST(AGE AS BIGINT) AS T FROM INPUT;"
    )
    driver.pipe("input", key=_int_key(1), value=_json({"AGE": 42}), timestamp=1000)
    driver.pipe("input", key=_int_key(2), value=_json({"AGE": -2}), timestamp=1000)
    assert [(r.key, r.timestamp) for r in driver.read("TS")] == [(_int_key(1), 42)]


def test_insert_into_checks_schema_and_targets(driver: InMemoryDriver) -> None:
    driver.execute(
        "CREATE STREAM OTHER (ID INT KEY, NAME STRING, AGE INT) WITH (kafka_topic='other', "
        "value_format='DELIMITED', partitions=1);"
        "CREATE STREAM OUT AS SELECT * FROM INPUT;"
    )
    result = driver.execute("INSERT INTO OUT SELECT * FROM OTHER;")[0]
    assert result.query_id == "INSERTQUERY_1"
    driver.pipe("other", key=_int_key(5), value=b"x,3")
    assert _values(driver, "OUT") == [{"NAME": "x", "AGE": 3}]
    with pytest.raises(KsqlEngineError) as info:
        driver.execute("INSERT INTO OUT SELECT ID, NAME FROM OTHER;")
    assert "Result schema is `ID` INTEGER KEY, `NAME` STRING\nSink schema is" in info.value.message
    with pytest.raises(KsqlEngineError, match="Source `NOPE` does not exist."):
        driver.execute("INSERT INTO NOPE SELECT * FROM OTHER;")


def test_fail_on_deserialization_error_stops_the_query() -> None:
    d = InMemoryDriver(partitioner="single", config={"ksql.fail.on.deserialization.error": "true"})
    d.execute(INPUT + "CREATE STREAM OUT AS SELECT * FROM INPUT;")
    with pytest.raises(StreamsError, match="fail upon a deserialization error"):
        d.pipe("input", key=_int_key(1), value=b"{not json")


def test_expression_errors_are_logged_and_the_row_continues(driver: InMemoryDriver) -> None:
    driver.execute("CREATE STREAM Q AS SELECT ID, AGE / 0 AS BAD, NAME FROM INPUT;")
    driver.pipe("input", key=_int_key(1), value=_json({"NAME": "n", "AGE": 3}))
    assert _values(driver, "Q") == [{"BAD": None, "NAME": "n"}]
    log = [json.loads(r.value or b"") for r in driver.read("default_ksql_processing_log")]
    assert [e["message"]["type"] for e in log] == [1]
    message = log[0]["message"]["recordProcessingError"]["errorMessage"]
    assert message.startswith("Error computing expression (AGE / 0) for column BAD with index 1")


def test_alter_adds_value_columns_but_not_to_query_sinks(driver: InMemoryDriver) -> None:
    driver.execute("ALTER STREAM INPUT ADD COLUMN CITY STRING;")
    source = driver.engine.catalog.require_source("INPUT")
    assert source.schema_text() == "`ID` INTEGER KEY, `NAME` STRING, `AGE` INTEGER, `CITY` STRING"
    with pytest.raises(KsqlEngineError, match="A column with the same name already exists"):
        driver.execute("ALTER STREAM INPUT ADD COLUMN NAME STRING;")
    driver.execute("CREATE STREAM OUT AS SELECT * FROM INPUT;")
    with pytest.raises(KsqlEngineError, match="not supported for CREATE ... AS statements"):
        driver.execute("ALTER STREAM OUT ADD COLUMN X INT;")


def test_pause_holds_input_until_resume(driver: InMemoryDriver) -> None:
    driver.execute("CREATE STREAM OUT AS SELECT * FROM INPUT;")
    driver.execute("PAUSE CSAS_OUT_0;")
    assert driver.execute("SHOW QUERIES;")[0].fields["queries"][0]["state"] == "PAUSED"
    driver.pipe("input", key=_int_key(1), value=_json({"NAME": "a"}))
    assert driver.read("OUT") == []
    driver.execute("RESUME ALL;")
    assert [r.key for r in driver.read("OUT")] == [_int_key(1)]


def test_limit_in_a_persistent_query_stops_after_n_rows(driver: InMemoryDriver) -> None:
    driver.execute("CREATE STREAM FIRST2 AS SELECT * FROM INPUT WHERE AGE > 0 LIMIT 2;")
    for i in range(5):
        driver.pipe("input", key=_int_key(i), value=_json({"AGE": i}))
    assert [r.key for r in driver.read("FIRST2")] == [_int_key(1), _int_key(2)]


def test_window_without_group_by_is_rejected(driver: InMemoryDriver) -> None:
    with pytest.raises(KsqlEngineError, match="WINDOW clause requires a GROUP BY clause."):
        driver.execute("CREATE STREAM W AS SELECT * FROM INPUT WINDOW TUMBLING (SIZE 1 SECOND);")


def test_insert_values_into_a_table_needs_the_primary_key() -> None:
    d = InMemoryDriver(partitioner="single")
    d.execute(
        "CREATE TABLE T (K STRING PRIMARY KEY, V INT) WITH (kafka_topic='t', value_format='JSON', "
        "partitions=1);"
    )
    d.execute("INSERT INTO T (K, V) VALUES ('a', 1);")
    assert [(r.key, r.value) for r in d.read("t")] == [(b"a", b'{"V":1}')]
    with pytest.raises(KsqlEngineError) as info:
        d.execute("INSERT INTO T (V) VALUES (2);")
    assert info.value.message == (
        "Failed to insert values into 'T'. Value for primary key column(s) K is required for tables"
    )


def test_processing_log_includes_rows_when_configured() -> None:
    d = InMemoryDriver(
        partitioner="single", config={"ksql.logging.processing.rows.include": "true"}
    )
    d.execute(INPUT + "CREATE STREAM Q AS SELECT ID, AGE / 0 AS BAD FROM INPUT;")
    d.pipe("input", key=_int_key(1), value=_json({"NAME": "n", "AGE": 3}), timestamp=9)
    (entry,) = [json.loads(r.value or b"") for r in d.read("default_ksql_processing_log")]
    record = json.loads(entry["message"]["recordProcessingError"]["record"])
    assert record == {
        "NAME": "n",
        "AGE": 3,
        "ID": 1,
        "ROWTIME": 9,
        "ROWPARTITION": 0,
        "ROWOFFSET": 0,
    }


def test_a_failed_query_shows_error_and_ignores_later_input() -> None:
    d = InMemoryDriver(partitioner="single", config={"ksql.fail.on.deserialization.error": "true"})
    d.execute(INPUT + "CREATE STREAM OUT AS SELECT * FROM INPUT;")
    with pytest.raises(StreamsError):
        d.pipe("input", key=_int_key(1), value=b"{bad")
    d.pipe("input", key=_int_key(2), value=_json({"NAME": "late"}))
    assert d.read("OUT") == []
    assert d.execute("SHOW QUERIES;")[0].fields["queries"][0]["state"] == "ERROR"
