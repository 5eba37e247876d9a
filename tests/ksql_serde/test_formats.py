"""Format registry and CREATE-time validation: ksqlDB's rules and wording (reference §2.3, §4.1)."""

from __future__ import annotations

import pytest

from telemetry_lib.ksql.errors import KsqlStatementError
from telemetry_lib.ksql.serde import (
    SerdeFeature,
    check_format_properties,
    get_format,
    parse_delimiter,
    resolve_format_names,
    resolve_key_features,
    resolve_value_features,
    validate_key_schema,
    validate_value_schema,
)
from telemetry_lib.ksql.types import (
    BIGINT,
    BOOLEAN,
    DOUBLE,
    INTEGER,
    STRING,
    SqlArray,
    SqlDecimal,
    SqlMap,
    SqlStruct,
)


def test_unknown_format_is_refused_with_ksql_wording() -> None:
    with pytest.raises(KsqlStatementError, match="^Unknown format: FOO"):
        get_format("foo")
    assert get_format("json").name == "JSON"
    assert get_format("AVRO").requires_schema_registry
    assert not get_format("NONE").supports_value


def test_format_and_key_format_cannot_be_combined() -> None:
    with pytest.raises(KsqlStatementError) as err:
        resolve_format_names(format_name="KAFKA", key_format="KAFKA", value_format=None)
    assert "Cannot supply both 'KEY_FORMAT' and 'FORMAT' properties" in err.value.message
    with pytest.raises(KsqlStatementError, match="Cannot supply both 'VALUE_FORMAT' and 'FORMAT'"):
        resolve_format_names(format_name="KAFKA", key_format=None, value_format="JSON")
    assert resolve_format_names(format_name="json", key_format=None, value_format=None) == (
        "JSON",
        "JSON",
    )
    assert resolve_format_names(format_name=None, key_format=None, value_format="json") == (
        "KAFKA",
        "JSON",
    )


@pytest.mark.parametrize("value", ["", " ", "\t"])
def test_blank_delimiters_are_refused(value: str) -> None:
    with pytest.raises(KsqlStatementError) as err:
        parse_delimiter(value)
    assert err.value.message.startswith(
        "Failed to prepare statement: Configuration VALUE_DELIMITER is invalid: Delimiter cannot "
        "be empty, if you meant to have a tab or space for delimiter, please use the special "
        "values 'TAB' or 'SPACE'\nExample valid value: ';'"
    )


def test_delimiter_words_and_single_characters() -> None:
    assert parse_delimiter("TAB") == "\t"
    assert parse_delimiter("SPACE") == " "
    assert parse_delimiter("|") == "|"
    with pytest.raises(KsqlStatementError, match="Invalid delimiter value: '::'"):
        parse_delimiter("::", property_name="KEY_DELIMITER")


def test_delimiter_property_only_for_delimited() -> None:
    check_format_properties(get_format("DELIMITED"), {"delimiter": "|"})
    with pytest.raises(KsqlStatementError, match=r"JSON does not support the following configs"):
        check_format_properties(get_format("JSON"), {"delimiter": "|"})


def test_wrap_single_value_rules() -> None:
    json_fmt, delimited, kafka = get_format("JSON"), get_format("DELIMITED"), get_format("KAFKA")
    assert resolve_value_features(json_fmt, 1, wrap_single_value=False) == {
        SerdeFeature.UNWRAP_SINGLES
    }
    assert resolve_value_features(delimited, 1, wrap_single_value=False) == {
        SerdeFeature.UNWRAP_SINGLES
    }
    with pytest.raises(KsqlStatementError) as err:
        resolve_value_features(delimited, 1, wrap_single_value=True)
    assert err.value.message == (
        "Format 'DELIMITED' does not support 'WRAP_SINGLE_VALUE' set to 'true'."
    )
    with pytest.raises(KsqlStatementError, match="Format 'KAFKA' does not support"):
        resolve_value_features(kafka, 1, wrap_single_value=True)
    for wrap in (True, False):
        with pytest.raises(KsqlStatementError) as err:
            resolve_value_features(json_fmt, 2, wrap_single_value=wrap)
        assert err.value.message == (
            "'WRAP_SINGLE_VALUE' is only valid for single-field value schemas"
        )
    # ksql.persistence.wrap.single.values=false unwraps single JSON values, never multi-column.
    assert resolve_value_features(json_fmt, 1, wrap_single_value=None, default_wrap=False) == {
        SerdeFeature.UNWRAP_SINGLES
    }
    assert resolve_value_features(json_fmt, 2, wrap_single_value=None, default_wrap=False) == set()
    # A single JSON key is unwrapped; KAFKA supports only unwrapped values so needs no feature.
    assert resolve_key_features(json_fmt, 1) == {SerdeFeature.UNWRAP_SINGLES}
    assert resolve_key_features(kafka, 1) == set()


def test_map_keys_are_refused_before_format_checks() -> None:
    with pytest.raises(KsqlStatementError) as err:
        validate_key_schema(get_format("DELIMITED"), [("K", SqlMap(INTEGER, DOUBLE))])
    assert err.value.message == (
        "Map keys, including types that contain maps, are not supported as they may lead to "
        "unexpected behavior due to inconsistent serialization. Key column name: `K`. Column "
        "type: MAP<INTEGER, DOUBLE>. See https://github.com/confluentinc/ksql/issues/6621 for more."
    )
    with pytest.raises(KsqlStatementError, match=r"Column type: ARRAY<MAP<INTEGER, DOUBLE>>\."):
        validate_key_schema(get_format("JSON"), [("K", SqlArray(SqlMap(INTEGER, DOUBLE)))])


def test_kafka_key_schema_errors_quote_the_persistence_schema() -> None:
    with pytest.raises(KsqlStatementError) as err:
        validate_key_schema(get_format("KAFKA"), [("K", SqlDecimal(21, 19))])
    assert err.value.message == (
        "Key format does not support schema.\nformat: KAFKA\n"
        "schema: Persistence{columns=[`K` DECIMAL(21, 19) KEY], features=[]}\n"
        "reason: The 'KAFKA' format does not support type 'DECIMAL'"
    )
    with pytest.raises(KsqlStatementError) as err:
        validate_key_schema(get_format("KAFKA"), [("ID", INTEGER), ("AGE", INTEGER)])
    assert err.value.message.endswith(
        "reason: The 'KAFKA' format only supports a single field. "
        "Got: [`ID` INTEGER KEY, `AGE` INTEGER KEY]"
    )
    validate_key_schema(get_format("KAFKA"), [("K", BIGINT)])
    validate_key_schema(get_format("JSON"), [("K", BOOLEAN), ("J", STRING)])
    with pytest.raises(KsqlStatementError, match="does not support type 'BOOLEAN'"):
        validate_key_schema(get_format("KAFKA"), [("K", BOOLEAN)])


def test_delimited_types() -> None:
    with pytest.raises(KsqlStatementError) as err:
        validate_key_schema(get_format("DELIMITED"), [("K", SqlArray(DOUBLE))])
    assert err.value.message.endswith(
        "reason: The 'DELIMITED' format does not support type 'ARRAY', column: `K`"
    )
    for t in (SqlArray(INTEGER), SqlStruct((("F1", DOUBLE),)), SqlMap(STRING, INTEGER)):
        with pytest.raises(KsqlStatementError) as err:
            validate_value_schema(get_format("DELIMITED"), [("FOO", t)])
        assert f"The 'DELIMITED' format does not support type '{t.base.value}'" in err.value.message
    validate_value_schema(get_format("DELIMITED"), [("A", SqlDecimal(4, 2)), ("B", STRING)])


def test_json_maps_need_string_keys_and_kafka_one_value_column() -> None:
    with pytest.raises(KsqlStatementError, match="JSON only supports MAP types with STRING keys"):
        validate_value_schema(get_format("JSON"), [("FOO", SqlMap(INTEGER, DOUBLE))])
    validate_value_schema(get_format("JSON"), [("FOO", SqlMap(STRING, DOUBLE))])
    with pytest.raises(KsqlStatementError, match="The 'KAFKA' format only supports a single field"):
        validate_value_schema(get_format("KAFKA"), [("A", INTEGER), ("B", INTEGER)])
    with pytest.raises(KsqlStatementError, match="The 'KAFKA' format does not support type 'MAP'"):
        validate_value_schema(get_format("KAFKA"), [("A", SqlMap(STRING, INTEGER))])
    with pytest.raises(KsqlStatementError, match="only be used when no columns are defined"):
        validate_key_schema(get_format("NONE"), [("K", STRING)])
    validate_key_schema(get_format("NONE"), [])
