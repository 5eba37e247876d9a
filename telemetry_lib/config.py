"""Profiles and settings: one object describing where every service is and how to reach it.

Sources, later ones winning: built-in defaults < ``workbench.toml`` (in the working directory
or ``$TELEMETRY_CONFIG``) < environment variables (``TELEMETRY_*``) < explicit keyword overrides.

Profiles:
- ``embedded`` (default): Tansu, NX-27017 and our own ksqlDB/Connect servers on 127.0.0.1.
- ``self-managed``: your Kafka, ksqlDB, Kafka Connect and MongoDB (see docker-compose.yml).
- ``confluent-cloud``: SASL_SSL + PLAIN with an API key/secret, a ksqlDB endpoint with its
  own API key, and an Atlas ``mongodb+srv://`` URI.

Secrets are :class:`Secret` values: masked in ``repr``/``str``, revealed only by ``reveal()``.

NOTE: this is the skeleton of the settings object; the Foundation work completes loading,
validation and masking behind this same API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = ["Profile", "Secret", "Settings", "load_settings"]

Profile = Literal["embedded", "self-managed", "confluent-cloud"]


@dataclass(frozen=True)
class Secret:
    """A secret string that never shows itself in repr, str, logs or notebook outputs."""

    _value: str = field(repr=False)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    def __str__(self) -> str:
        return "********"


@dataclass(frozen=True)
class Settings:
    """Where every service is and how to reach it (see the module docstring)."""

    profile: Profile = "embedded"
    workdir: Path = Path(".workbench")
    kafka_port: int = 9092
    mongo_port: int = 27017
    ksqldb_port: int = 8088
    connect_port: int = 8083
    bootstrap_servers: str = "127.0.0.1:9092"
    mongo_uri: Secret = Secret("mongodb://127.0.0.1:27017")
    ksqldb_url: str = "http://127.0.0.1:8088"
    connect_url: str = "http://127.0.0.1:8083"
    kafka_api_key: Secret | None = None
    kafka_api_secret: Secret | None = None
    ksqldb_api_key: Secret | None = None
    ksqldb_api_secret: Secret | None = None
    ksql_service_id: str = "default_"

    def kafka_config(self) -> dict[str, str]:
        """confluent-kafka client configuration for this profile (SASL for confluent-cloud)."""
        conf = {"bootstrap.servers": self.bootstrap_servers}
        if self.profile == "confluent-cloud" and self.kafka_api_key and self.kafka_api_secret:
            conf.update(
                {
                    "security.protocol": "SASL_SSL",
                    "sasl.mechanisms": "PLAIN",
                    "sasl.username": self.kafka_api_key.reveal(),
                    "sasl.password": self.kafka_api_secret.reveal(),
                }
            )
        return conf


def load_settings(**overrides: object) -> Settings:
    """Settings from defaults, workbench.toml, environment, then ``overrides``."""
    return Settings(**overrides)  # type: ignore[arg-type]
