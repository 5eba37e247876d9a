"""Pure parts of the workbench (no services): secrets stay out of kernels and displayed
configs, connector topic naming, the pipeline statement text, lineage paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from telemetry_lib.config import load_settings
from telemetry_lib.errors import TelemetryError
from telemetry_lib.workbench import Lineage, LineageNode, PipelineNames, pipeline_sql
from telemetry_lib.workbench.connect import masked, sink_config, source_config, source_topic
from telemetry_lib.workbench.facade import find_config_file, project_root
from telemetry_lib.workbench.report import kernel_environment

SECRETS = {"kafka_api_secret": "kafka-SECRET-1", "ksqldb_api_secret": "ksql-SECRET-2"}


def _cloud() -> object:
    return load_settings(
        config_file=False,
        environ={},
        profile="confluent-cloud",
        bootstrap_servers="pkc-1.example.cloud:9092",
        kafka_api_key="KEY1",
        ksqldb_url="https://ksql.example.cloud",
        ksqldb_api_key="KEY2",
        mongo_uri="mongodb+srv://analyst:MONGO-SECRET-3@cluster0.example.net/game",
        **SECRETS,
    )


def test_kernels_get_no_secret() -> None:
    env = kernel_environment(_cloud())  # type: ignore[arg-type]
    joined = " ".join(env.values())
    for secret in (*SECRETS.values(), "MONGO-SECRET-3"):
        assert secret not in joined
    assert env["TELEMETRY_PROFILE"] == "confluent-cloud"
    assert env["TELEMETRY_KSQLDB_URL"] == "https://ksql.example.cloud"
    assert env["PLOTLY_RENDERER"] == "plotly_mimetype+notebook"


def test_connector_configs_are_official_and_shown_masked() -> None:
    settings = _cloud()
    source = source_config(settings, database="game", collection="telemetry_events")  # type: ignore[arg-type]
    assert source["connection.uri"].endswith("MONGO-SECRET-3@cluster0.example.net/game")
    shown = masked(source)
    assert "MONGO-SECRET-3" not in str(shown) and "analyst:****@" in shown["connection.uri"]
    sink = sink_config(settings, topic="PLAYER_KILL_RATIO", database="game",  # type: ignore[arg-type]
                       collection="player_kill_ratio", window_minutes=10)  # fmt: skip
    assert sink["connector.class"] == "com.mongodb.kafka.connect.MongoSinkConnector"
    assert sink["ksql.window.size"] == "10 MINUTES" and sink["topics"] == "PLAYER_KILL_RATIO"
    assert source_topic("game", "telemetry_events") == "game.telemetry_events"
    assert source_topic("game", "players", prefix="mongo") == "mongo.game.players"


def test_pipeline_statement_has_the_window_and_event_time() -> None:
    stream, table = pipeline_sql(PipelineNames(topic="t1", stream="S1", table="T1"), 10)
    assert "KAFKA_TOPIC='t1'" in stream and "TIMESTAMP='timestamp'" in stream
    assert "WINDOW TUMBLING (SIZE 10 MINUTES)" in table and "FROM S1" in table
    assert table.startswith("CREATE TABLE T1 AS") and table.endswith("EMIT CHANGES;")
    with pytest.raises(TelemetryError, match="window_minutes"):
        pipeline_sql(PipelineNames(), 0)


def test_lineage_paths_follow_the_edges() -> None:
    nodes = tuple(LineageNode(k, n) for k, n in [("collection", "g.e"), ("topic", "e"),  # type: ignore[arg-type]
                                                  ("stream", "S"), ("table", "T")])  # fmt: skip
    edges = (("collection:g.e", "topic:e"), ("topic:e", "stream:S"), ("stream:S", "table:T"))
    lineage = Lineage(nodes=nodes, edges=edges)
    assert lineage.paths() == [["collection:g.e", "topic:e", "stream:S", "table:T"]]
    assert lineage.lines()[0] == "collection:g.e -> topic:e"


def test_workbench_finds_the_settings_file_from_the_notebooks_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TELEMETRY_CONFIG", raising=False)
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "workbench.toml").write_text("")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / ".git").mkdir()
    assert project_root(tmp_path / "notebooks") == tmp_path
    assert find_config_file(tmp_path / "notebooks") == tmp_path / "workbench.toml"
