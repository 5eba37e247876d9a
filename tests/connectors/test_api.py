"""The plugin API without a worker: ConfigDef parsing/validation with Connect's wording, the
connector-level validation response, converters' wire formats, the plugin registry."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from telemetry_lib.connectors.api import (
    ConfigDef,
    NonEmptyString,
    Range,
    SinkConnector,
    SinkRecord,
    SinkTask,
    SourceConnector,
    SourceRecord,
    SourceTask,
    ValidString,
    plugin,
    plugins,
    register_plugin,
)
from telemetry_lib.connectors.connector_config import (
    ErrorHandling,
    config_error_message,
    dlq_headers,
    validate_connector_config,
)
from telemetry_lib.connectors.converters import (
    BYTE_ARRAY_CONVERTER,
    JSON_CONVERTER,
    STRING_CONVERTER,
    make_converter,
)
from telemetry_lib.connectors.errors import ConnectorConfigError, DataError, NotFoundError

DEF = (
    ConfigDef()
    .define("uri", "STRING", validator=NonEmptyString(), importance="HIGH", group="Conn")
    .define("batch", "INT", default=10, validator=Range(at_least=1, at_most=100))
    .define("flag", "BOOLEAN", default=False)
    .define("mode", "STRING", default="a", validator=ValidString(("a", "b")))
    .define("items", "LIST", default="x, y")
    .define("secret", "PASSWORD", default=None)
)


def test_parse_types_defaults_and_unknown_keys() -> None:
    parsed = DEF.parse({"uri": "mongodb://h", "batch": "5", "flag": "TRUE", "other": "kept"})
    assert parsed["batch"] == 5 and parsed["flag"] is True and parsed["mode"] == "a"
    assert parsed["items"] == ["x", "y"] and parsed["other"] == "kept"
    # JSON scalars are accepted as Connect's Jackson does
    assert DEF.parse({"uri": "u", "batch": 7, "flag": True})["batch"] == 7


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({}, 'Missing required configuration "uri" which has no default value.'),
        ({"uri": " "}, "Invalid value   for configuration uri: String must be non-empty"),
        ({"uri": "u", "batch": "x"}, "Invalid value x for configuration batch: Not a number of type INT"),
        ({"uri": "u", "batch": "0"}, "Invalid value 0 for configuration batch: Value must be at least 1"),
        ({"uri": "u", "batch": "101"}, "Invalid value 101 for configuration batch: Value must be no more than 100"),
        ({"uri": "u", "flag": "yes"},
         "Invalid value yes for configuration flag: Expected value to be either true or false"),
        ({"uri": "u", "mode": "c"}, "Invalid value c for configuration mode: String must be one of: a, b"),
        ({"uri": "u", "batch": "99999999999"},
         "Invalid value 99999999999 for configuration batch: Not a number of type INT"),
    ],
)  # fmt: skip
def test_parse_errors_use_connect_wording(props: dict[str, str], message: str) -> None:
    with pytest.raises(ConnectorConfigError) as info:
        DEF.parse(props)
    assert info.value.message == message
    assert [v.errors for v in DEF.validate(props) if v.errors] == [(message,)]


def test_validate_hides_passwords_and_reports_every_property() -> None:
    values = {v.name: v for v in DEF.validate({"uri": "u", "secret": "s3cr3t"})}
    assert list(values) == ["uri", "batch", "flag", "mode", "items", "secret"]
    assert values["secret"].value == "[hidden]"
    assert values["batch"].value == "10" and values["items"].value == "x,y"
    definition = DEF["uri"].definition()
    assert definition["required"] is True and definition["group"] == "Conn"
    assert DEF["batch"].definition()["default_value"] == "10"


def test_define_twice_is_rejected() -> None:
    with pytest.raises(ValueError, match="defined twice"):
        DEF.define("uri", "STRING")


class _Task(SourceTask):
    def start(self, props: Mapping[str, str]) -> None:
        pass

    def poll(self) -> list[SourceRecord]:
        return []

    def stop(self) -> None:
        pass


@register_plugin("org.example.ApiTestSource", aliases=("ApiTestAlias",))
class _Source(SourceConnector):
    VERSION = "1.2.3"

    def config_def(self) -> ConfigDef:
        return ConfigDef().define("uri", "STRING", importance="HIGH", group="Test")

    def start(self, props: Mapping[str, str]) -> None:
        pass

    def task_class(self) -> type[SourceTask]:
        return _Task

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [{}]


class _SinkTask(SinkTask):
    def start(self, props: Mapping[str, str]) -> None:
        pass

    def put(self, records: list[SinkRecord]) -> None:
        pass

    def stop(self) -> None:
        pass


@register_plugin("org.example.ApiTestSink")
class _Sink(SinkConnector):
    def config_def(self) -> ConfigDef:
        return ConfigDef()

    def start(self, props: Mapping[str, str]) -> None:
        pass

    def task_class(self) -> type[SinkTask]:
        return _SinkTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [{}] * max_tasks


def test_registry_by_class_name_simple_name_and_alias() -> None:
    info = plugin("org.example.ApiTestSource")
    assert info.type == "source" and info.version == "1.2.3"
    assert plugin("ApiTestSource") is info and plugin("ApiTestAlias") is info
    assert plugin("org.example.ApiTestSink").type == "sink"
    names = {p.class_name for p in plugins(types=("converter",))}
    assert {JSON_CONVERTER, STRING_CONVERTER, BYTE_ARRAY_CONVERTER} <= names
    with pytest.raises(NotFoundError, match="org.example.Nope"):
        plugin("org.example.Nope")
    with pytest.raises(NotFoundError):
        plugin(JSON_CONVERTER, types=("source", "sink"))


def test_connector_validation_merges_common_and_plugin_keys() -> None:
    result = validate_connector_config(
        {"name": "n", "connector.class": "ApiTestSource", "tasks.max": "0"}
    )
    assert result.name == "org.example.ApiTestSource"
    assert result.errors() == [
        ("tasks.max", "Invalid value 0 for configuration tasks.max: Value must be at least 1"),
        ("uri", 'Missing required configuration "uri" which has no default value.'),
    ]
    body = result.to_json()
    assert body["error_count"] == 2 and "Common" in body["groups"] and "Test" in body["groups"]
    names = [c["definition"]["name"] for c in body["configs"]]
    assert names[:3] == ["name", "connector.class", "tasks.max"] and "uri" in names
    message = config_error_message(result)
    assert message.startswith(
        "Connector configuration is invalid and contains the following 2 error(s):"
    )


def test_sink_topic_rules_and_unsupported_transforms() -> None:
    base = {"name": "s", "connector.class": "org.example.ApiTestSink"}
    assert validate_connector_config({**base, "topics": "a"}).error_count == 0
    none = validate_connector_config(base).errors()
    assert ("topics", "Must configure one of topics or topics.regex") in none
    both = validate_connector_config({**base, "topics": "a", "topics.regex": "a.*"}).errors()
    assert ("topics.regex", "topics and topics.regex are mutually exclusive.") in both
    dlq = validate_connector_config(
        {**base, "topics": "a", "errors.deadletterqueue.topic.name": "a"}
    ).errors()
    assert dlq and dlq[0][0] == "errors.deadletterqueue.topic.name"
    smt = validate_connector_config({**base, "topics": "a", "transforms": "unwrap"}).errors()
    assert smt and smt[0][0] == "transforms"


def test_error_handling_settings_and_backoff() -> None:
    handling = ErrorHandling.from_config(
        {"errors.tolerance": "ALL", "errors.retry.delay.max.ms": 1000,
         "errors.deadletterqueue.topic.name": "dlq"}
    )  # fmt: skip
    assert handling.tolerance == "all" and handling.dlq_topic == "dlq"
    assert [handling.backoff_ms(n) for n in (1, 2, 3, 4)] == [300, 600, 1000, 1000]


def test_dlq_headers_are_connects() -> None:
    try:
        raise DataError("bad json")
    except DataError as exc:
        headers = dict(dlq_headers(topic="t", partition=1, offset=7, connector="c", task_id=0,
                                   stage="VALUE_CONVERTER", executing_class=JSON_CONVERTER,
                                   error=exc))  # fmt: skip
    assert headers["__connect.errors.topic"] == b"t"
    assert headers["__connect.errors.offset"] == b"7"
    assert headers["__connect.errors.stage"] == b"VALUE_CONVERTER"
    assert headers["__connect.errors.exception.message"] == b"bad json"
    assert b"DataError" in headers["__connect.errors.exception.stacktrace"]


def test_json_converter_envelope_and_plain() -> None:
    with_schema = make_converter(JSON_CONVERTER, {}, is_key=False)
    data = with_schema.to_bytes("t", {"a": 1, "b": b"\x01"}, None)
    assert json.loads(data or b"") == {"schema": None, "payload": {"a": 1, "b": "AQ=="}}
    assert with_schema.from_bytes("t", data) == ({"a": 1, "b": "AQ=="}, None)
    assert with_schema.to_bytes("t", None, None) is None
    with pytest.raises(DataError, match='requires "schema" and "payload" fields'):
        with_schema.from_bytes("t", b'{"a": 1}')
    plain = make_converter(JSON_CONVERTER, {"schemas.enable": "false"}, is_key=True)
    assert plain.to_bytes("t", [1, "x"], None) == b'[1,"x"]'
    assert plain.from_bytes("t", b'{"a": 1}') == ({"a": 1}, None)
    with pytest.raises(DataError, match="serialization error"):
        plain.from_bytes("t", b"{not json")


def test_string_and_bytearray_converters() -> None:
    string = make_converter("StringConverter", {}, is_key=False)
    assert string.to_bytes("t", "hé", None) == "hé".encode()
    assert string.to_bytes("t", {"a": 1}, None) == b'{"a":1}'
    assert string.from_bytes("t", b"abc") == ("abc", None)
    raw = make_converter(BYTE_ARRAY_CONVERTER, {}, is_key=False)
    assert raw.to_bytes("t", b"\x00", None) == b"\x00"
    with pytest.raises(DataError, match="not compatible with objects of type str"):
        raw.to_bytes("t", "text", None)
