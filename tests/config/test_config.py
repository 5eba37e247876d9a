"""Settings: sources and their precedence, profile rules, validation messages, secret masking."""

from __future__ import annotations

from pathlib import Path

import pytest

from telemetry_lib.config import Secret, Settings, load_settings, mask_uri
from telemetry_lib.errors import ConfigError

CLOUD_ENV = {
    "TELEMETRY_PROFILE": "confluent-cloud",
    "TELEMETRY_BOOTSTRAP_SERVERS": "pkc-abc.eu-west-1.aws.confluent.cloud:9092",
    "TELEMETRY_KAFKA_API_KEY": "KEYKEYKEY",
    "TELEMETRY_KAFKA_API_SECRET": "kafka-secret-value-123",
    "TELEMETRY_KSQLDB_URL": "https://pksqlc-xyz.eu-west-1.aws.confluent.cloud:443",
    "TELEMETRY_KSQLDB_API_KEY": "KSQLKEY",
    "TELEMETRY_KSQLDB_API_SECRET": "ksql-secret-value-456",
    "TELEMETRY_MONGO_URI": "mongodb+srv://analyst:mongo-pass-789@cluster0.abcde.mongodb.net/",
}
SECRETS = ("kafka-secret-value-123", "ksql-secret-value-456", "mongo-pass-789")


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "workbench.toml"
    path.write_text(text)
    return path


def _load(**kwargs: object) -> Settings:
    kwargs.setdefault("environ", {})
    kwargs.setdefault("config_file", False)
    return load_settings(**kwargs)  # type: ignore[arg-type]


def test_embedded_defaults_derive_endpoints_from_ports() -> None:
    settings = _load(kafka_port=19092, mongo_port=37017)
    assert settings.profile == "embedded"
    assert settings.bootstrap_servers == "127.0.0.1:19092"
    assert settings.mongo_uri.reveal() == "mongodb://127.0.0.1:37017"
    assert settings.ksqldb_url == "http://127.0.0.1:8088"
    assert settings.connect_url == "http://127.0.0.1:8083"
    assert settings.kafka_config() == {"bootstrap.servers": "127.0.0.1:19092"}
    assert settings.workdir.is_absolute()


def test_precedence_override_beats_env_beats_file_beats_default(tmp_path: Path) -> None:
    path = _toml(tmp_path, "kafka_port = 11111\nmongo_port = 22222\nksqldb_port = 33333\n")
    env = {"TELEMETRY_KAFKA_PORT": "44444", "TELEMETRY_MONGO_PORT": "55555"}
    settings = _load(config_file=path, environ=env, kafka_port=50001)
    assert settings.kafka_port == 50001  # flag / override
    assert settings.mongo_port == 55555  # environment over file
    assert settings.ksqldb_port == 33333  # file over default
    assert settings.connect_port == 8083  # default
    # None means "flag not given": the lower source stays in force.
    assert _load(config_file=path, environ=env, kafka_port=None).kafka_port == 44444


def test_config_file_from_env_and_relative_paths_resolve_next_to_it(tmp_path: Path) -> None:
    path = _toml(tmp_path, 'workdir = "state"\nprofile = "embedded"\n')
    settings = _load(config_file=None, environ={"TELEMETRY_CONFIG": str(path)})
    assert settings.workdir == tmp_path / "state"


def test_missing_config_file_named_by_env_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="nope.toml .*TELEMETRY_CONFIG.* does not exist"):
        _load(config_file=None, environ={"TELEMETRY_CONFIG": str(missing)})


def test_malformed_toml_names_file_line_and_problem(tmp_path: Path) -> None:
    path = _toml(tmp_path, "profile = 'embedded'\nkafka_port = \n")
    with pytest.raises(ConfigError) as info:
        _load(config_file=path)
    message = str(info.value)
    assert str(path) in message
    assert "line 2" in message
    assert "malformed TOML" in message
    assert "kafka_port = " in message  # the offending line is quoted


def test_unknown_toml_key_suggests_the_closest_setting(tmp_path: Path) -> None:
    path = _toml(tmp_path, "profile = 'embedded'\nkafka_prot = 9093\n")
    with pytest.raises(
        ConfigError, match=r"line 2: unknown setting 'kafka_prot' \(did you mean 'kafka_port'\?\)"
    ):
        _load(config_file=path)


def test_toml_tables_are_rejected_with_the_line(tmp_path: Path) -> None:
    path = _toml(tmp_path, "[kafka_port]\nvalue = 1\n")
    with pytest.raises(ConfigError, match="line 1: setting 'kafka_port' must be a plain value"):
        _load(config_file=path)


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        (
            {"TELEMETRY_KAFKA_PORT": "abc"},
            "kafka_port = 'abc' (from environment variable TELEMETRY_KAFKA_PORT): "
            "accepted values are an integer port 1-65535",
        ),
        ({"TELEMETRY_MONGO_PORT": "70000"}, "mongo_port = '70000'"),
        (
            {"TELEMETRY_PROFILE": "cloud"},
            "accepted values are embedded | self-managed | confluent-cloud",
        ),
        (
            {"TELEMETRY_UP_TIMEOUT_S": "-1"},
            "up_timeout_s = '-1' (from environment variable TELEMETRY_UP_TIMEOUT_S): "
            "accepted values are a number of seconds > 0",
        ),
        ({"TELEMETRY_TANSU_SHA256": "xyz"}, "accepted values are 64 hexadecimal digits"),
        (
            {"TELEMETRY_PROFILE": "self-managed", "TELEMETRY_BOOTSTRAP_SERVERS": "kafka"},
            "bootstrap_servers = 'kafka'",
        ),
        (
            {"TELEMETRY_PROFILE": "self-managed", "TELEMETRY_KSQLDB_URL": "localhost:8088"},
            "an http:// or https:// URL",
        ),
    ],
)
def test_invalid_values_name_the_setting_source_and_accepted_values(
    env: dict[str, str], fragment: str
) -> None:
    with pytest.raises(ConfigError) as info:
        _load(environ=env)
    assert fragment in str(info.value)


def test_unknown_override_is_rejected() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown setting 'kafka_prt' \(did you mean 'kafka_port'\?\)"
    ):
        _load(kafka_prt=1)


def test_embedded_endpoints_cannot_be_set_directly() -> None:
    with pytest.raises(ConfigError, match="bootstrap_servers .* derived from kafka_port") as info:
        _load(environ={"TELEMETRY_BOOTSTRAP_SERVERS": "127.0.0.1:9999"})
    assert "TELEMETRY_KAFKA_PORT" in str(info.value)


def test_self_managed_defaults_and_overrides() -> None:
    settings = _load(
        environ={
            "TELEMETRY_PROFILE": "self-managed",
            "TELEMETRY_KSQLDB_URL": "http://ksql.internal:8088/",
        }
    )
    assert settings.bootstrap_servers == "localhost:9092"
    assert settings.mongo_uri.reveal() == "mongodb://localhost:27017/?directConnection=true"
    assert settings.ksqldb_url == "http://ksql.internal:8088"  # trailing slash dropped
    assert settings.connect_url == "http://localhost:8083"
    assert "security.protocol" not in settings.kafka_config()


def test_confluent_cloud_requires_everything_and_lists_what_is_missing() -> None:
    env = dict(CLOUD_ENV)
    del env["TELEMETRY_KAFKA_API_SECRET"], env["TELEMETRY_MONGO_URI"]
    with pytest.raises(ConfigError) as info:
        _load(environ=env)
    message = str(info.value)
    assert "kafka_api_secret (TELEMETRY_KAFKA_API_SECRET)" in message
    assert "mongo_uri (TELEMETRY_MONGO_URI)" in message
    assert "ksqldb_url" not in message


def test_confluent_cloud_wants_atlas_srv_uri_and_https_ksqldb() -> None:
    env = dict(CLOUD_ENV, TELEMETRY_MONGO_URI="mongodb://u:mongo-pass-789@host:27017")
    with pytest.raises(ConfigError, match="mongodb\\+srv://") as info:
        _load(environ=env)
    assert "mongo-pass-789" not in str(info.value)
    env = dict(CLOUD_ENV, TELEMETRY_KSQLDB_URL="http://pksqlc-xyz:8088")
    with pytest.raises(ConfigError, match="https://"):
        _load(environ=env)


def test_confluent_cloud_client_config_and_masking() -> None:
    settings = _load(environ=CLOUD_ENV)
    conf = settings.kafka_config()
    assert conf["security.protocol"] == "SASL_SSL"
    assert conf["sasl.mechanisms"] == "PLAIN"
    assert conf["sasl.username"] == "KEYKEYKEY"
    assert conf["sasl.password"] == "kafka-secret-value-123"
    assert settings.ksqldb_auth() == ("KSQLKEY", "ksql-secret-value-456")
    assert settings.connect_url == ""
    shown = repr(settings) + str(settings) + repr(settings.endpoints())
    for secret in SECRETS:
        assert secret not in shown
    assert settings.endpoints()["mongo"] == "mongodb+srv://analyst:****@cluster0.abcde.mongodb.net/"


def test_bad_secret_value_is_not_echoed(tmp_path: Path) -> None:
    path = _toml(tmp_path, "kafka_api_secret = 12345\n")
    with pytest.raises(ConfigError) as info:
        _load(config_file=path)
    assert "12345" not in str(info.value)
    assert "kafka_api_secret" in str(info.value)


def test_secret_and_uri_masking() -> None:
    secret = Secret("hunter2")
    assert "hunter2" not in repr(secret) and "hunter2" not in str(secret)
    assert f"{secret}" == "********"
    assert secret.reveal() == "hunter2"
    assert mask_uri("mongodb://u:p%40ss@h:1/db?x=1") == "mongodb://u:****@h:1/db?x=1"
    assert mask_uri("mongodb://h:1") == "mongodb://h:1"


def test_misspelt_environment_variable_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="telemetry_lib.config"):
        settings = _load(environ={"TELEMETRY_KAFKA_PROT": "19092"})
    assert settings.kafka_port == 9092
    assert "TELEMETRY_KAFKA_PROT (did you mean 'TELEMETRY_KAFKA_PORT'?)" in caplog.text
