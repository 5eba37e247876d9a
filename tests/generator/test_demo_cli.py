"""``telemetry demo`` and ``telemetry generate`` end to end on the real embedded services."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import polars as pl
import pymongo
import pytest

from telemetry_lib import demo, demo_ksql
from telemetry_lib.cli import main
from telemetry_lib.config import Settings, load_settings
from telemetry_lib.generator import TelemetryGenerator, event_checksum
from telemetry_lib.kafka import KafkaAdmin, read_topic
from telemetry_lib.services import Stack, free_port


def _flags(settings: Settings) -> list[str]:
    return [
        "--workdir",
        str(settings.workdir),
        "--kafka-port",
        str(settings.kafka_port),
        "--mongo-port",
        str(settings.mongo_port),
        "--ksqldb-port",
        str(settings.ksqldb_port),
    ]


@pytest.mark.integration
def test_demo_round_trip_passes_and_writes_its_summary(
    embedded_stack: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["demo", "--players", "80", "--events", "6000", "--seed", "3", "--partitions", "3"]
    args += ["--topic", "demo_test_events", "--database", "demo_test"]
    reports = tmp_path / "reports"
    # The session stack has Kafka and MongoDB only: ksqlDB is started here (on its free port)
    # and only it is stopped afterwards.
    with Stack(embedded_stack, services=("ksqldb",)):
        for _ in range(2):  # a second run replaces the first run's data (and ksqlDB table)
            code = main(
                [*args, "--reports-dir", str(reports), "--no-progress", *_flags(embedded_stack)]
            )
            assert code == 0
    out = capsys.readouterr().out
    assert "checks: " in out and "MISMATCH" not in out and "SKIPPED" not in out
    assert "ksqlDB PLAYER_KILL_RATIO" in out
    summaries = sorted(reports.glob("*/summary.json"))
    assert len(summaries) == 2
    summary = json.loads(summaries[-1].read_text())
    assert summary["ok"] is True
    assert summary["generated"]["events"] == 6000 and summary["generated"]["players"] == 80
    assert all(c["ok"] for c in summary["checks"]) and len(summary["checks"]) >= 10
    assert len([c for c in summary["checks"] if c["check"].startswith("ksql")]) == 5
    # Independent look at what the demo left behind.
    truth = TelemetryGenerator(seed=3, players=80, events=6000).events()
    groups = truth.select("player_id", window=pl.col("timestamp") // 300_000).unique()
    ksql = summary["ksql"]
    assert ksql["rows"] == groups.height and ksql["players"] == 80
    assert ksql["windows"] == groups["window"].n_unique()
    nulls = ksql["null_ratio_deaths_zero"] + ksql["null_ratio_non_terminating"]
    assert ksql["ratios_compared"] + nulls == groups.height
    assert ksql["null_ratio_deaths_zero"] > 0 and ksql["null_ratio_non_terminating"] > 0
    assert ksql["query_id"].startswith("CTAS_PLAYER_KILL_RATIO_")
    topic = read_topic(embedded_stack, "demo_test_events")
    assert topic.height == 6000
    assert event_checksum(topic) == event_checksum(truth)
    assert KafkaAdmin(embedded_stack).describe_topic("demo_test_events").partitions == 3
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        embedded_stack.mongo_uri.reveal()
    )
    try:
        assert client["demo_test"]["telemetry_events"].count_documents({}) == 6000
        assert client["demo_test"]["players"].count_documents({}) == 80
    finally:
        client.close()


def test_demo_command_exits_non_zero_on_a_mismatch(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failing = demo.DemoReport(
        started_at="2026-01-01T00:00:00+00:00",
        settings={"profile": "embedded"},
        generated={"seed": 1, "players": 2, "events": 4, "matches": 1, "checksum": "0"},
        steps=[],
        checks=[demo.Check("kafka records", 4, 3), demo.Check("mongo documents", 4, 4)],
        output_dir=tmp_path,
    )
    monkeypatch.setattr(demo, "run_demo", lambda settings, config: failing)
    parser = argparse.ArgumentParser()
    demo.add_demo_arguments(parser)
    code = demo.run_demo_command(parser.parse_args([]), Settings())
    assert code == demo.EXIT_MISMATCH
    out = capsys.readouterr().out
    assert "MISMATCH kafka records: expected 4, got 3" in out
    assert "checks: 1/2 passed" in out


@pytest.mark.integration
def test_generate_command_writes_kafka_and_mongo(
    embedded_stack: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--players", "30", "--events", "2000", "--seed", "9", "--no-progress"]
    kafka = ["generate", *common, "--topic", "cli_gen", "--partitions", "2", "--malformed", "0.05"]
    assert main([*kafka, *_flags(embedded_stack)]) == 0
    assert "malformed records to kafka cli_gen" in capsys.readouterr().out
    # Records that are not JSON objects are skipped by the reader; bad_timestamp ones are
    # objects (with a text timestamp) and stay.
    malformed = TelemetryGenerator(
        seed=9, players=30, events=2000, malformed_fraction=0.05
    ).malformed()
    objects = int((malformed["kind"] == "bad_timestamp").sum())
    raw = read_topic(embedded_stack, "cli_gen", on_malformed="skip")
    assert raw.height == 2000 + objects
    assert 0 < objects < malformed.height
    mongo = [
        "generate",
        *common,
        "--sink",
        "mongo",
        "--database",
        "cli_test",
        "--collection",
        "events",
        "--drop",
        "--players-collection",
        "players",
    ]
    assert main([*mongo, *_flags(embedded_stack)]) == 0
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        embedded_stack.mongo_uri.reveal()
    )
    try:
        assert client["cli_test"]["events"].count_documents({}) == 2000
        profiles = pl.DataFrame(list(client["cli_test"]["players"].find({}))).drop("_id")
        expected = TelemetryGenerator(seed=9, players=30, events=2000).players()
        assert profiles.sort("player_id").equals(expected)
    finally:
        client.close()


def test_generate_command_rejects_bad_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--events", "7", "--sink", "stdout"]) == 1
    assert "odd" in capsys.readouterr().err
    assert main(["generate", "--events", "8", "--start", "yesterday", "--sink", "stdout"]) == 1
    assert "--start" in capsys.readouterr().err


def test_generate_to_stdout_prints_one_json_line_per_event(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["generate", "--events", "6", "--players", "10", "--sink", "stdout"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["event_id"] for line in lines] == list(range(6))


def test_ksql_step_is_skipped_with_a_note_when_ksqldb_is_not_reachable(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    settings = load_settings(config_file=False, environ={}, ksqldb_port=port, workdir=tmp_path)
    client, reason = demo_ksql.ksql_client(settings)
    assert client is None
    assert reason is not None and f"127.0.0.1:{port}" in reason and "not reachable" in reason
    assert demo_ksql.render_section({"skipped": reason}) == [f"  ksqlDB step SKIPPED: {reason}"]


def test_null_ratio_reasons_follow_decimal_expansion() -> None:
    # ksqlDB #9874: a DECIMAL quotient without an exact expansion at the scale is NULL.
    assert demo_ksql._terminates(1, 8, 12) and demo_ksql._terminates(3, 5, 12)
    assert not demo_ksql._terminates(2, 9, 12) and not demo_ksql._terminates(1, 3, 12)
    assert not demo_ksql._terminates(1, 2**13, 12)  # 13 decimal digits
