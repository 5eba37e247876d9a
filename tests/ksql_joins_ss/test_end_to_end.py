"""Stream-stream and foreign-key joins through SQL on the in-memory driver (J2's operators
wired by the join planner): custom timestamps on both sides, GRACE PERIOD's delayed outer rows,
foreign-key update semantics and ksqlDB's fan-out order. Expected rows derived by hand.
"""

from __future__ import annotations

import json
import struct

import pytest

from telemetry_lib.ksql.driver import InMemoryDriver


def _long(v: int) -> bytes:
    return struct.pack(">q", v)


def _json(d: dict[str, object] | None) -> bytes | None:
    return None if d is None else json.dumps(d).encode()


@pytest.fixture
def driver() -> InMemoryDriver:
    # one partition per topic, as Kafka Streams' TopologyTestDriver (ksqlDB's QTT) runs joins
    return InMemoryDriver(partitioner="single")


def _values(
    driver: InMemoryDriver, topic: str, *, json_key: bool = False
) -> list[tuple[object, object, int]]:
    out = []
    for rec in driver.read(topic):
        key = json.loads(rec.key) if json_key and rec.key is not None else rec.key
        out.append((key, None if rec.value is None else json.loads(rec.value), rec.timestamp))
    return out


def test_kills_left_join_deaths_with_event_time_and_grace(driver: InMemoryDriver) -> None:
    driver.execute(
        "CREATE STREAM kills (player BIGINT KEY, victim STRING, ts BIGINT) "
        "WITH (KAFKA_TOPIC='kills', VALUE_FORMAT='JSON', PARTITIONS=1, TIMESTAMP='TS');"
        "CREATE STREAM deaths (player BIGINT KEY, killer STRING, ts BIGINT) "
        "WITH (KAFKA_TOPIC='deaths', VALUE_FORMAT='JSON', PARTITIONS=1, TIMESTAMP='TS');"
        "CREATE STREAM trades AS SELECT k.player AS player, victim, killer "
        "FROM kills k LEFT JOIN deaths d WITHIN 2 SECONDS GRACE PERIOD 1 SECOND "
        "ON k.player = d.player;"
    )
    # record timestamps are 0: the TS columns are the event times on both sides
    driver.pipe("kills", key=_long(1), value=_json({"VICTIM": "v1", "TS": 10_000}), timestamp=0)
    driver.pipe("deaths", key=_long(1), value=_json({"KILLER": "k1", "TS": 11_500}), timestamp=0)
    driver.pipe("kills", key=_long(2), value=_json({"VICTIM": "v2", "TS": 12_000}), timestamp=0)
    assert _values(driver, "TRADES") == [
        (_long(1), {"VICTIM": "v1", "KILLER": "k1"}, 11_500),
    ]
    # 12 000 + 2 000 + 1 000 < 15 001: the kill of player 2 found no death in time
    driver.pipe("deaths", key=_long(7), value=_json({"KILLER": "x", "TS": 15_001}), timestamp=0)
    assert _values(driver, "TRADES")[1:] == [
        (_long(2), {"VICTIM": "v2", "KILLER": None}, 12_000),
    ]


def test_full_outer_stream_join_select_star_names_and_synthetic_key(driver: InMemoryDriver) -> None:
    driver.execute(
        "CREATE STREAM a (id BIGINT KEY, x STRING) WITH (KAFKA_TOPIC='a', VALUE_FORMAT='JSON', PARTITIONS=1);"
        "CREATE STREAM b (id BIGINT KEY, y STRING) WITH (KAFKA_TOPIC='b', VALUE_FORMAT='JSON', PARTITIONS=1);"
        "CREATE STREAM ab AS SELECT * FROM a FULL OUTER JOIN b WITHIN 1 SECOND ON a.id = b.id;"
    )
    driver.pipe("a", key=_long(5), value=_json({"X": "a5"}), timestamp=1_000)
    driver.pipe("b", key=_long(6), value=_json({"Y": "b6"}), timestamp=1_100)
    driver.pipe("b", key=_long(5), value=_json({"Y": "b5"}), timestamp=1_900)
    assert _values(driver, "AB") == [
        # no GRACE: unmatched rows at once (old semantics), then the joined row
        (_long(5), {"A_ID": 5, "A_X": "a5", "B_ID": None, "B_Y": None}, 1_000),
        (_long(6), {"A_ID": None, "A_X": None, "B_ID": 6, "B_Y": "b6"}, 1_100),
        (_long(5), {"A_ID": 5, "A_X": "a5", "B_ID": 5, "B_Y": "b5"}, 1_900),
    ]


def test_players_left_join_teams_on_a_foreign_key(driver: InMemoryDriver) -> None:
    driver.execute(
        "CREATE TABLE players (id BIGINT PRIMARY KEY, name STRING, team BIGINT) "
        "WITH (KAFKA_TOPIC='players', KEY_FORMAT='JSON', VALUE_FORMAT='JSON', PARTITIONS=1);"
        "CREATE TABLE teams (id BIGINT PRIMARY KEY, title STRING) "
        "WITH (KAFKA_TOPIC='teams', VALUE_FORMAT='JSON', PARTITIONS=1);"
        "CREATE TABLE rosters AS SELECT p.id AS id, name, title "
        "FROM players p LEFT JOIN teams t ON p.team = t.id;"
    )
    driver.pipe("players", key=b"9", value=_json({"NAME": "nine", "TEAM": 1}), timestamp=10)
    driver.pipe("players", key=b"10", value=_json({"NAME": "ten", "TEAM": 1}), timestamp=20)
    driver.pipe("teams", key=_long(1), value=_json({"TITLE": "red"}), timestamp=30)
    driver.pipe("players", key=b"9", value=_json({"NAME": "nine", "TEAM": 2}), timestamp=40)
    driver.pipe("teams", key=_long(2), value=_json({"TITLE": "blue"}), timestamp=35)
    driver.pipe("players", key=b"9", value=_json({"NAME": "nine", "TEAM": 1}), timestamp=50)
    driver.pipe("teams", key=_long(1), value=None, timestamp=60)
    driver.pipe("players", key=b"10", value=None, timestamp=70)
    assert _values(driver, "ROSTERS", json_key=True) == [
        (9, {"NAME": "nine", "TITLE": None}, 10),
        (10, {"NAME": "ten", "TITLE": None}, 20),
        # a team change fans out in serialized-key order: JSON "10" sorts before "9"
        (10, {"NAME": "ten", "TITLE": "red"}, 30),
        (9, {"NAME": "nine", "TITLE": "red"}, 30),
        (9, {"NAME": "nine", "TITLE": None}, 40),  # moved to a team not there yet
        (9, {"NAME": "nine", "TITLE": "blue"}, 35),  # team 2 arrives: the right record's time
        (9, {"NAME": "nine", "TITLE": "red"}, 50),  # back to team 1: max(50, 30)
        (10, {"NAME": "ten", "TITLE": None}, 60),  # team 1 deleted
        (9, {"NAME": "nine", "TITLE": None}, 60),
        (10, None, 70),
    ]


def test_inner_foreign_key_join_retracts_with_tombstones(driver: InMemoryDriver) -> None:
    driver.execute(
        "CREATE TABLE players (id BIGINT PRIMARY KEY, team BIGINT) "
        "WITH (KAFKA_TOPIC='players', VALUE_FORMAT='JSON', PARTITIONS=1);"
        "CREATE TABLE teams (id BIGINT PRIMARY KEY, title STRING) "
        "WITH (KAFKA_TOPIC='teams', VALUE_FORMAT='JSON', PARTITIONS=1);"
        "CREATE TABLE rosters AS SELECT p.id AS id, title "
        "FROM players p JOIN teams t ON p.team = t.id;"
    )
    driver.pipe("teams", key=_long(1), value=_json({"TITLE": "red"}), timestamp=5)
    driver.pipe("players", key=_long(3), value=_json({"TEAM": 1}), timestamp=10)
    driver.pipe("players", key=_long(4), value=_json({"TEAM": 2}), timestamp=11)  # no team 2
    driver.pipe("players", key=_long(3), value=_json({"TEAM": 2}), timestamp=12)
    driver.pipe("players", key=_long(3), value=None, timestamp=13)
    assert _values(driver, "ROSTERS") == [
        (_long(3), {"TITLE": "red"}, 10),
        (_long(3), None, 12),
        (_long(3), None, 13),
    ]


def _windowed(key: int, start: int, end: int, *, session: bool) -> bytes:
    # Kafka Streams' windowed keys: time windows append the start; sessions the end, then start
    bounds = struct.pack(">qq", end, start) if session else struct.pack(">q", start)
    return json.dumps(key).encode() + bounds


@pytest.mark.parametrize("session", [False, True])
def test_windowed_sources_join_on_key_and_window(driver: InMemoryDriver, session: bool) -> None:
    kind = "WINDOW_TYPE='SESSION'" if session else "WINDOW_TYPE='TUMBLING', WINDOW_SIZE='1 SECOND'"
    driver.execute(
        f"CREATE STREAM w1 (id INT KEY, v BIGINT) WITH (KAFKA_TOPIC='w1', KEY_FORMAT='JSON', "
        f"VALUE_FORMAT='JSON', PARTITIONS=1, {kind});"
        f"CREATE STREAM w2 (id INT KEY, v BIGINT) WITH (KAFKA_TOPIC='w2', KEY_FORMAT='JSON', "
        f"VALUE_FORMAT='JSON', PARTITIONS=1, {kind});"
        "CREATE STREAM wj AS SELECT w1.id, w1.v AS v1, w2.v AS v2 "
        "FROM w1 JOIN w2 WITHIN 1 MINUTE ON w1.id = w2.id;"
    )
    driver.pipe("w1", key=_windowed(1, 0, 1000, session=session), value=b'{"V":1}', timestamp=900)
    # same key, window starting at 0: a tumbling window is the same window (its key holds only
    # the start); a session [0, 500] is another session than [0, 1000]
    driver.pipe("w2", key=_windowed(1, 0, 500, session=session), value=b'{"V":2}', timestamp=500)
    driver.pipe("w2", key=_windowed(1, 0, 1000, session=session), value=b'{"V":3}', timestamp=950)
    driver.pipe(
        "w2", key=_windowed(1, 1000, 2000, session=session), value=b'{"V":4}', timestamp=990
    )
    values = [json.loads(r.value) for r in driver.read("WJ")]
    expected = [{"V1": 1, "V2": 3}] if session else [{"V1": 1, "V2": 2}, {"V1": 1, "V2": 3}]
    assert values == expected
