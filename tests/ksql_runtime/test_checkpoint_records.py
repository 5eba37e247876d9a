"""Pure parts of the runtime: checkpoint records, the eos header, command classification."""

from __future__ import annotations

import polars as pl

from telemetry_lib.ksql.runtime import checkpoint as cp
from telemetry_lib.ksql.runtime.command_log import Command, command_topic
from telemetry_lib.ksql.runtime.io import RECORD_SCHEMA


def _records(pairs: list[tuple[bytes, bytes]]) -> pl.DataFrame:
    return pl.DataFrame(
        {"key": [k for k, _ in pairs], "value": [v for _, v in pairs]},
        schema={"key": pl.Binary, "value": pl.Binary},
    )


def test_last_complete_snapshot_and_later_intents() -> None:
    big_state = bytes(range(256)) * 5000  # > 2 chunks
    snap1 = cp.Snapshot(0, 2, {("t", 0): 10}, (None, big_state), {"OUT": {0: 5}})
    snap2 = cp.Snapshot(1, 4, {("t", 0): 30}, (None, big_state[::-1]), {"OUT": {0: 9}})
    chunks1 = cp.encode_snapshot(snap1)
    assert len(chunks1) >= 3
    records = (
        [cp.encode_intent(cp.Intent(0, b, {("t", 0): (b * 5, b * 5 + 5)})) for b in (1, 2)]
        + chunks1
        + [cp.encode_intent(cp.Intent(0, 3, {("t", 0): (10, 20)}))]
        + cp.encode_snapshot(snap2)[:0]  # not written: a crash before the snapshot
        + [cp.encode_intent(cp.Intent(1, 4, {("t", 0): (20, 30)}))]
    )
    snapshot, intents = cp.decode_checkpoints(_records(records))
    assert snapshot == snap1
    assert [(i.epoch, i.batch) for i in intents] == [(0, 3), (1, 4)]
    assert intents[1].end_positions() == {("t", 0): 30}

    # A torn snapshot (its first chunk only) is ignored: the previous complete one counts.
    torn = records + cp.encode_snapshot(snap2)[:1]
    snapshot, intents = cp.decode_checkpoints(_records(torn))
    assert snapshot == snap1 and [i.batch for i in intents] == [3, 4]
    with_snap2 = records + cp.encode_snapshot(snap2)
    snapshot, intents = cp.decode_checkpoints(_records(with_snap2))
    assert snapshot == snap2 and intents == []


def test_eos_values_round_trip_through_published_indexes() -> None:
    frame = pl.DataFrame(
        {
            "key": [b"a", b"b", b"c"],
            "value": [b"1", b"2", b"3"],
            "timestamp": [1, 2, 3],
            "partition": [None, None, None],
            "offset": [None, None, None],
            "headers": [[], [{"key": "h", "value": b"x"}], []],
        },  # fmt: skip
        schema=RECORD_SCHEMA,
    )
    eos = cp.eos_values("CSAS_Q_0", epoch=2, batch=7, indexes=[4, 5, 16])
    assert eos == [b"CSAS_Q_0:2:7:4", b"CSAS_Q_0:2:7:5", b"CSAS_Q_0:2:7:16"]
    # As a reader sees them: the record's own headers, then ksql-eos.
    published = frame.with_columns(
        pl.Series(
            "headers",
            [
                [*own, {"key": cp.EOS_HEADER, "value": value}]
                for own, value in zip(frame["headers"].to_list(), eos, strict=True)
            ],
            dtype=RECORD_SCHEMA["headers"],
        )
    )
    assert cp.published_indexes([published], "CSAS_Q_0") == {(7, 4), (7, 5), (7, 16)}
    assert cp.published_indexes([published], "CSAS_OTHER_1") == set()


def test_internal_topic_names_follow_ksqldb() -> None:
    assert cp.app_id("default_", "CTAS_X_0") == "_confluent-ksql-default_query_CTAS_X_0"
    assert (
        cp.checkpoint_topic("default_", "CTAS_X_0", stateful=True)
        == "_confluent-ksql-default_query_CTAS_X_0-Aggregate-Aggregate-Materialize-changelog"
    )
    assert command_topic("default_") == "_confluent-ksql-default__command_topic"


def test_a_command_round_trips_through_its_json_record() -> None:
    # What a restarted server reads back from the command topic / commands.jsonl.
    command = Command(
        "CREATE STREAM s (id INT KEY, v STRING) WITH (KAFKA_TOPIC='t', VALUE_FORMAT='JSON');",
        {"commit.interval.ms": "50", "auto.offset.reset": "earliest"},
        {"t": 4},
    )
    raw = command.to_json()
    assert Command.from_json(raw) == command
    assert Command.from_json(raw.decode()) == command
    # Records without the optional fields (older writers) still load.
    assert Command.from_json(b'{"statement": "DROP STREAM s;"}') == Command("DROP STREAM s;")
