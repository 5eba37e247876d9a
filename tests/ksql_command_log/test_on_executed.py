"""The engine reports each statement of the execution pass once it ran (``on_executed``), with
the properties in force for it; a statement failing while executing stops the request there,
and the statements before it stay run and reported (the server records them, see
test_partial_request)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from telemetry_lib.ksql.commands.connectors import CONNECT_URL_CONFIG, ConnectUnavailableError
from telemetry_lib.ksql.driver import InMemoryDriver
from telemetry_lib.ksql.errors import KsqlEngineError
from telemetry_lib.ksql.parser.ast import Statement
from telemetry_lib.ksql.rest import in_memory_backend
from telemetry_lib.ksql.runtime.command_log import is_recorded
from telemetry_lib.services import free_port

CREATE = "CREATE STREAM s (id INT KEY, v STRING) WITH (KAFKA_TOPIC='t', VALUE_FORMAT='JSON', PARTITIONS=1);"


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, object]]] = []

    def __call__(self, statement: Statement, properties: Mapping[str, object]) -> None:
        self.seen.append((statement.text.strip().rstrip(";").split()[0], dict(properties)))


def _driver() -> InMemoryDriver:
    # Connect at a port nothing listens on: connector statements fail while executing.
    return InMemoryDriver(config={CONNECT_URL_CONFIG: f"http://127.0.0.1:{free_port()}"})


def test_each_executed_statement_is_reported_in_order_with_its_properties() -> None:
    driver = _driver()
    record = Recorder()
    driver.engine.execute(
        f"SET 'auto.offset.reset' = 'earliest'; {CREATE} INSERT INTO s (id, v) VALUES (1, 'a');"
        "UNSET 'auto.offset.reset'; CREATE STREAM o AS SELECT * FROM s; SHOW STREAMS;",
        properties={"commit.interval.ms": "50"},
        on_executed=record,
    )
    assert [kind for kind, _ in record.seen] == ["SET", "CREATE", "INSERT", "UNSET", "CREATE",
                                                 "SHOW"]  # fmt: skip
    earliest = {"commit.interval.ms": "50", "auto.offset.reset": "earliest"}
    assert record.seen[1][1] == earliest
    assert record.seen[4][1] == {"commit.interval.ms": "50"}


def test_a_failure_while_executing_keeps_and_reports_what_ran_before_it() -> None:
    driver = _driver()
    driver.engine.execute(f"{CREATE} CREATE STREAM o AS SELECT * FROM s;")
    (query_id,) = driver.engine.running_queries()
    record = Recorder()
    with pytest.raises(ConnectUnavailableError) as failure:
        driver.engine.execute(
            f"TERMINATE {query_id}; CREATE STREAM k (id INT KEY) WITH (KAFKA_TOPIC='t', "
            "VALUE_FORMAT='JSON'); DROP CONNECTOR gone; DROP STREAM k;",
            on_executed=record,
        )
    assert failure.value.statement_text is not None
    assert failure.value.statement_text.startswith("DROP CONNECTOR gone")
    # What ran stays run; the statement after the failing one never ran.
    assert [kind for kind, _ in record.seen] == ["TERMINATE", "CREATE"]
    assert driver.engine.running_queries() == []
    assert driver.engine.catalog.get_source("K") is not None


def test_a_validation_failure_runs_and_reports_nothing() -> None:
    driver = _driver()
    record = Recorder()
    with pytest.raises(KsqlEngineError):
        driver.engine.execute(f"{CREATE} CREATE STREAM o AS SELECT nope FROM s;",
                              on_executed=record)  # fmt: skip
    assert record.seen == []
    assert driver.engine.catalog.get_source("S") is None


def test_only_catalog_statements_are_recorded() -> None:
    driver = _driver()
    seen: list[tuple[str, bool]] = []

    def record(statement: Statement, properties: Mapping[str, object]) -> None:
        seen.append((type(statement).__name__, is_recorded(statement)))

    driver.engine.execute(
        f"{CREATE} INSERT INTO s (id, v) VALUES (1, 'a'); DESCRIBE s; SET 'a.b' = 'c';"
        "CREATE STREAM o AS SELECT * FROM s; SHOW QUERIES; TERMINATE ALL; DROP STREAM o;",
        on_executed=record,
    )
    assert [recorded for _, recorded in seen] == [True, False, False, False, True, False, True,
                                                  True]  # fmt: skip


def test_the_rest_backend_knows_the_commands_that_ran_before_the_failure() -> None:
    backend = in_memory_backend(config={CONNECT_URL_CONFIG: f"http://127.0.0.1:{free_port()}"})
    with pytest.raises(ConnectUnavailableError):
        backend.execute(f"{CREATE} DROP CONNECTOR gone;", properties={}, variables={})
    statuses = backend.command_statuses()
    assert list(statuses.values()) == ["SUCCESS"], statuses
    (command_id,) = statuses
    assert command_id == "stream/`S`/create"
    # The executed CREATE took sequence number 1: the next command gets 2.
    (entity,) = backend.execute("CREATE STREAM o AS SELECT * FROM s;", properties={},
                                variables={})  # fmt: skip
    assert entity["commandSequenceNumber"] == 2
