"""docker-compose.yml is documentation that must stay correct: its services and published ports
must be the ones the ``self-managed`` profile connects to by default."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from telemetry_lib.config import Settings, load_settings

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def profile() -> Settings:
    return load_settings(config_file=False, environ={}, profile="self-managed")


def _published(service: dict[str, Any]) -> dict[int, tuple[str, int]]:
    """container port -> (host ip, host port) from "ip:host:container" entries."""
    result = {}
    for entry in service.get("ports", []):
        host_ip, host_port, container = str(entry).split(":")
        result[int(container)] = (host_ip, int(host_port))
    return result


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "environment must be a mapping"
    return {key: str(value) for key, value in env.items()}


def test_services_are_the_four_of_the_architecture(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"kafka", "ksqldb", "connect", "mongo"}
    assert "zookeeper" not in str(compose).lower()
    assert services["ksqldb"]["image"].startswith("confluentinc/")
    assert "ksqldb-server" in services["ksqldb"]["image"]
    assert services["connect"]["image"].startswith("confluentinc/cp-kafka-connect:")
    assert services["mongo"]["image"].startswith("mongo:")


def test_published_ports_match_the_self_managed_profile(
    compose: dict[str, Any], profile: Settings
) -> None:
    services = compose["services"]
    host, port = profile.bootstrap_servers.split(":")
    assert _published(services["kafka"])[int(port)] == ("127.0.0.1", int(port))
    mongo_port = urlsplit(profile.mongo_uri.reveal()).port
    assert mongo_port is not None
    assert _published(services["mongo"])[27017] == ("127.0.0.1", mongo_port)
    ksqldb_port = urlsplit(profile.ksqldb_url).port
    assert _published(services["ksqldb"])[8088] == ("127.0.0.1", ksqldb_port)
    connect_port = urlsplit(profile.connect_url).port
    assert _published(services["connect"])[8083] == ("127.0.0.1", connect_port)
    assert (profile.kafka_port, profile.mongo_port, profile.ksqldb_port, profile.connect_port) == (
        9092,
        27017,
        8088,
        8083,
    )


def test_kafka_is_kraft_and_advertises_the_profile_address(
    compose: dict[str, Any], profile: Settings
) -> None:
    env = _env(compose["services"]["kafka"])
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(env["KAFKA_NODE_ID"] + "@")
    advertised = dict(item.split("://", 1) for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert profile.bootstrap_servers in advertised.values()
    listener_names = {item.split("://")[0] for item in env["KAFKA_LISTENERS"].split(",")}
    protocol_map = dict(
        item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    assert listener_names <= set(protocol_map)
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in listener_names


def test_ksqldb_and_connect_reach_kafka_inside_the_network(compose: dict[str, Any]) -> None:
    services = compose["services"]
    advertised = _env(services["kafka"])["KAFKA_ADVERTISED_LISTENERS"]
    internal = [item.split("://", 1)[1] for item in advertised.split(",") if "kafka:" in item]
    assert internal, "kafka must advertise an address containers can reach"
    assert _env(services["ksqldb"])["KSQL_BOOTSTRAP_SERVERS"] == internal[0]
    assert _env(services["connect"])["CONNECT_BOOTSTRAP_SERVERS"] == internal[0]
    assert "kafka" in services["ksqldb"]["depends_on"]
    assert {"kafka", "mongo"} <= set(services["connect"]["depends_on"])


def test_ksqldb_service_id_matches_the_settings_default(
    compose: dict[str, Any], profile: Settings
) -> None:
    assert _env(compose["services"]["ksqldb"])["KSQL_KSQL_SERVICE_ID"] == profile.ksql_service_id


def test_connect_installs_the_mongodb_connector(compose: dict[str, Any]) -> None:
    connect = compose["services"]["connect"]
    command = " ".join(connect["command"])
    assert "confluent-hub install --no-prompt mongodb/kafka-connect-mongodb:" in command
    assert "/usr/share/confluent-hub-components" in _env(connect)["CONNECT_PLUGIN_PATH"]


def test_mongo_is_a_replica_set_for_change_streams(
    compose: dict[str, Any], profile: Settings
) -> None:
    mongo = compose["services"]["mongo"]
    assert "--replSet" in mongo["command"]
    replica_set = mongo["command"][mongo["command"].index("--replSet") + 1]
    assert f"_id: '{replica_set}'" in " ".join(mongo["healthcheck"]["test"])
    # The member name resolves only inside the compose network: the host connects directly.
    assert "directConnection=true" in profile.mongo_uri.reveal()
