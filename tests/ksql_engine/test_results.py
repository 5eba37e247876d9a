"""StatementResult shapes the REST server renders (reference §1.2)."""

from __future__ import annotations

from telemetry_lib.ksql.driver import InMemoryDriver

DDL = (
    "CREATE STREAM TELEM (PLAYER_ID STRING KEY, EV STRING, DMG INT) "
    "WITH (KAFKA_TOPIC='telem', VALUE_FORMAT='JSON', PARTITIONS=1);"
)


def test_create_entity_matches_ksqldb_current_status() -> None:
    driver = InMemoryDriver()
    (result,) = driver.execute(DDL)
    assert result.to_json() == {
        "@type": "currentStatus",
        "statementText": DDL,
        "commandId": "stream/`TELEM`/create",
        "commandStatus": {"status": "SUCCESS", "message": "Stream created", "queryId": None},
        "commandSequenceNumber": -1,
        "warnings": [],
    }


def test_csas_drop_and_terminate_entities() -> None:
    driver = InMemoryDriver()
    driver.execute(DDL)
    csas = driver.execute("CREATE STREAM HITS AS SELECT * FROM TELEM WHERE DMG > 0;")[0]
    assert csas.fields["commandId"] == "stream/`HITS`/create"
    assert csas.fields["commandStatus"] == {
        "status": "SUCCESS",
        "message": "Created query with ID CSAS_HITS_0",
        "queryId": "CSAS_HITS_0",
    }
    terminate = driver.execute("TERMINATE CSAS_HITS_0;")[0]
    assert terminate.fields["commandId"] == "terminate/CSAS_HITS_0/execute"
    assert terminate.message == "Query terminated."
    drop = driver.execute("DROP STREAM HITS;")[0]
    assert drop.fields["commandId"] == "stream/HITS/drop"
    assert drop.message == "Source `HITS` (topic: HITS) was dropped."


def test_session_statements_produce_no_entity_and_if_not_exists_warns() -> None:
    driver = InMemoryDriver()
    results = driver.execute(
        DDL + "SET 'auto.offset.reset'='earliest'; DEFINE x = 'y'; UNSET 'auto.offset.reset';"
        "INSERT INTO TELEM (PLAYER_ID, EV, DMG) VALUES ('p1', 'hit', 3);"
    )
    assert [r.kind for r in results] == ["currentStatus"]
    again = driver.execute(DDL.replace("CREATE STREAM", "CREATE STREAM IF NOT EXISTS"))[0]
    assert again.warnings == ("A stream with the same name already exists.",)


def test_describe_fields_list_key_then_values_with_schema_objects() -> None:
    driver = InMemoryDriver()
    driver.execute(DDL)
    desc = driver.execute("DESCRIBE TELEM;")[0].fields["sourceDescription"]
    assert desc["fields"][0] == {
        "name": "PLAYER_ID",
        "schema": {"type": "STRING", "fields": None, "memberSchema": None},
        "type": "KEY",
    }
    assert [f["name"] for f in desc["fields"]] == ["PLAYER_ID", "EV", "DMG"]
    assert (desc["type"], desc["topic"], desc["statement"]) == ("STREAM", "telem", DDL)
    assert (desc["partitions"], desc["replication"], desc["extended"]) == (0, 0, False)
