"""Checks of the QTT runner: expected exceptions, ``post`` conditions, schema text.

Owns ksqlDB's matching rules for a test's ``expectedException`` (``KsqlExpectedException``:
the type is an ``instanceOf`` test against ksqlDB's Java exception hierarchy, the message a
substring of the error's message, ``cause``/``causeMessage`` the same on the error's cause) and
for ``post`` (``PostConditions``: every listed source exists with its type, schema, key format
— format, window type and window size, the latter two compared even when absent — value
format, serde features and source flag; every listed topic exists with its formats and
partition count; no known topic matches the ``blacklist`` regex). It also parses the schema
text of ``post.sources[].schema`` (``ID BIGINT KEY, NAME STRING``) into columns to compare.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from telemetry_lib.ksql.qtt.model import ExpectedException, PostConditions, PostSource, PostTopic
from telemetry_lib.ksql.types import (
    BaseType,
    SqlArray,
    SqlDecimal,
    SqlMap,
    SqlPrimitive,
    SqlStruct,
    SqlType,
)

__all__ = [
    "ExpectedColumn",
    "SchemaTextError",
    "TopicFacts",
    "check_exception",
    "check_post",
    "java_type_matches",
    "parse_schema_text",
]

logger = logging.getLogger(__name__)

#: ksqlDB's Java exception classes the tests name, each with its superclass, so an expected
#: type matches its subclasses as hamcrest's instanceOf does.
_JAVA_PARENTS: dict[str, str] = {
    "io.confluent.ksql.parser.exception.ParseFailedException": (
        "io.confluent.ksql.util.KsqlStatementException"
    ),
    "io.confluent.ksql.util.KsqlStatementException": "io.confluent.ksql.util.KsqlException",
    "io.confluent.ksql.function.KsqlFunctionException": "io.confluent.ksql.util.KsqlException",
    "io.confluent.ksql.serde.SerdeException": "io.confluent.ksql.util.KsqlException",
    "io.confluent.ksql.util.KsqlServerException": "io.confluent.ksql.util.KsqlException",
    "io.confluent.ksql.util.KsqlException": "java.lang.RuntimeException",
    "org.apache.kafka.streams.errors.StreamsException": "org.apache.kafka.common.KafkaException",
    "org.apache.kafka.common.KafkaException": "java.lang.RuntimeException",
    "java.lang.RuntimeException": "java.lang.Exception",
    "java.lang.Exception": "java.lang.Throwable",
}


# The REST entity for statement errors renders KsqlStatementException (and subclasses).
_STATEMENT_ERROR_ENTITY = "io.confluent.ksql.rest.entity.KsqlStatementErrorMessage"
_STATEMENT_EXCEPTION = "io.confluent.ksql.util.KsqlStatementException"


def java_type_matches(actual: str, expected: str) -> bool:
    """True when Java class ``actual`` is ``expected`` or one of its subclasses."""
    seen: str | None = actual
    while seen is not None:
        if seen == expected:
            return True
        seen = _JAVA_PARENTS.get(seen)
    return False


def _messages(exc: BaseException) -> list[str]:
    texts = [str(exc)]
    raw = getattr(exc, "message", None)
    if isinstance(raw, str):
        texts.append(raw)
    return texts


def check_exception(exc: BaseException, expected: ExpectedException) -> str | None:
    """None when ``exc`` satisfies ``expected``, else the reason it does not."""
    actual_type = getattr(exc, "ksql_type", None) or f"python:{type(exc).__name__}"
    if expected.type is not None and not java_type_matches(actual_type, expected.type):
        return f"expected exception {expected.type}, got {actual_type}: {_first_line(str(exc))}"
    if expected.message is not None and not any(expected.message in m for m in _messages(exc)):
        return (
            f"expected exception message containing {expected.message!r}, got {actual_type}: "
            f"{str(exc)!r}"
        )
    if expected.status is not None:
        status = getattr(exc, "http_status", None)
        if status != expected.status:
            return f"expected an error with HTTP status {expected.status}, got {status}: {exc}"
    if expected.rest_type == _STATEMENT_ERROR_ENTITY and not java_type_matches(
        actual_type, _STATEMENT_EXCEPTION
    ):
        return f"expected a statement error ({expected.rest_type}), got {actual_type}: {exc}"
    if expected.cause is not None or expected.cause_message is not None:
        cause = exc.__cause__
        if cause is None:
            return (
                f"expected a cause {expected.cause or ''} {expected.cause_message or ''}, got none"
            )
        cause_type = getattr(cause, "ksql_type", None) or f"python:{type(cause).__name__}"
        if expected.cause is not None and not java_type_matches(cause_type, expected.cause):
            return f"expected cause {expected.cause}, got {cause_type}: {cause}"
        if expected.cause_message is not None and not any(
            expected.cause_message in m for m in _messages(cause)
        ):
            return (
                f"expected cause message containing {expected.cause_message!r}, got {str(cause)!r}"
            )
    return None


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else text


# --------------------------------------------------------------------------------------------
# schema text
# --------------------------------------------------------------------------------------------


class SchemaTextError(ValueError):
    """The ``schema`` text of a post condition cannot be read."""


@dataclass(frozen=True)
class ExpectedColumn:
    name: str
    type: SqlType
    role: str  # KEY, VALUE or HEADER
    header_key: str | None = None


_PRIMITIVES: dict[str, SqlType] = {
    "BOOLEAN": SqlPrimitive(BaseType.BOOLEAN),
    "INT": SqlPrimitive(BaseType.INTEGER),
    "INTEGER": SqlPrimitive(BaseType.INTEGER),
    "BIGINT": SqlPrimitive(BaseType.BIGINT),
    "DOUBLE": SqlPrimitive(BaseType.DOUBLE),
    "STRING": SqlPrimitive(BaseType.STRING),
    "VARCHAR": SqlPrimitive(BaseType.STRING),
    "BYTES": SqlPrimitive(BaseType.BYTES),
    "DATE": SqlPrimitive(BaseType.DATE),
    "TIME": SqlPrimitive(BaseType.TIME),
    "TIMESTAMP": SqlPrimitive(BaseType.TIMESTAMP),
}

_TOKEN = re.compile(
    r"\s*(`(?:[^`]|``)*`|\"(?:[^\"]|\"\")*\"|'(?:[^']|'')*'|[A-Za-z0-9_@$]+|[<>(),:])"
)


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise SchemaTextError(f"cannot read schema text at {text[pos : pos + 20]!r}")
        out.append(m.group(1))
        pos = m.end()
    return out


class _SchemaParser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None:
            raise SchemaTextError("schema text ended early")
        if expected is not None and tok.upper() != expected:
            raise SchemaTextError(f"expected {expected}, found {tok}")
        self.i += 1
        return tok

    def name(self) -> str:
        tok = self.take()
        if tok.startswith("`"):
            return tok[1:-1].replace("``", "`")
        if tok.startswith('"'):
            return tok[1:-1].replace('""', '"')
        return tok.upper()

    def type(self) -> SqlType:
        word = self.take().upper()
        if word in _PRIMITIVES:
            return _PRIMITIVES[word]
        if word == "DECIMAL":
            self.take("(")
            precision = int(self.take())
            self.take(",")
            scale = int(self.take())
            self.take(")")
            return SqlDecimal(precision, scale)
        if word == "ARRAY":
            self.take("<")
            element = self.type()
            self.take(">")
            return SqlArray(element)
        if word == "MAP":
            self.take("<")
            key = self.type()
            self.take(",")
            value = self.type()
            self.take(">")
            return SqlMap(key, value)
        if word == "STRUCT":
            self.take("<")
            fields: list[tuple[str, SqlType]] = []
            if self.peek() != ">":
                while True:
                    fname = self.name()
                    fields.append((fname, self.type()))
                    if self.peek() == ",":
                        self.take(",")
                        continue
                    break
            self.take(">")
            return SqlStruct(tuple(fields))
        raise SchemaTextError(f"unknown type {word}")

    def columns(self) -> list[ExpectedColumn]:
        cols: list[ExpectedColumn] = []
        while self.peek() is not None:
            name = self.name()
            sql_type = self.type()
            role, header_key = "VALUE", None
            nxt = (self.peek() or "").upper()
            if nxt == "KEY":
                self.take()
                role = "KEY"
            elif nxt == "PRIMARY":
                self.take()
                self.take("KEY")
                role = "KEY"
            elif nxt == "HEADERS":
                self.take()
                role = "HEADER"
            elif nxt == "HEADER":
                self.take()
                self.take("(")
                header_key = self.take()[1:-1].replace("''", "'")
                self.take(")")
                role = "HEADER"
            cols.append(ExpectedColumn(name, sql_type, role, header_key))
            if self.peek() == ",":
                self.take(",")
            elif self.peek() is not None:
                raise SchemaTextError(f"expected ',' found {self.peek()}")
        return cols


def parse_schema_text(text: str) -> list[ExpectedColumn]:
    """Columns of ``ID BIGINT KEY, NAME STRING`` (keys first, as ksqlDB's LogicalSchema)."""
    cols = _SchemaParser(text).columns()
    order = {"KEY": 0, "VALUE": 1, "HEADER": 2}
    return sorted(cols, key=lambda c: order[c.role])


# --------------------------------------------------------------------------------------------
# post conditions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TopicFacts:
    """What the runner knows of a topic after a run, for ``post.topics``."""

    name: str
    partitions: int | None
    key_format: Mapping[str, Any] | None
    value_format: Mapping[str, Any] | None


def _source_columns(source: Any) -> list[ExpectedColumn]:
    cols = []
    for c in source.ordered_columns():
        cols.append(ExpectedColumn(c.name, c.type, c.role.value, getattr(c, "header_key", None)))
    return cols


def _describe_columns(cols: Iterable[ExpectedColumn]) -> str:
    parts = []
    for c in cols:
        suffix = {"KEY": " KEY", "VALUE": "", "HEADER": " HEADERS"}[c.role]
        if c.header_key is not None:
            suffix = f" HEADER('{c.header_key}')"
        parts.append(f"`{c.name}` {c.type.sql()}{suffix}")
    return ", ".join(parts)


def _check_source(expected: PostSource, catalog: Any) -> str | None:
    source = catalog.get_source(expected.name)
    if source is None:
        names = ", ".join(s.name for s in catalog.sources()) or "none"
        return f"post: source {expected.name} does not exist (sources: {names})"
    actual_type = source.source_type.value
    if actual_type != expected.type:
        return f"post: source {expected.name} is a {actual_type}, expected a {expected.type}"
    if expected.schema is not None:
        try:
            want = parse_schema_text(expected.schema)
        except (SchemaTextError, ValueError) as exc:
            return f"post: cannot read expected schema {expected.schema!r}: {exc}"
        have = _source_columns(source)
        if want != have:
            return (
                f"post: source {expected.name} schema is {_describe_columns(have)}, "
                f"expected {_describe_columns(want)}"
            )
    if expected.key_format is not None:
        reason = _check_key_format(expected.name, expected.key_format, source)
        if reason:
            return reason
    if (
        expected.value_format is not None
        and source.value_format.name != expected.value_format.upper()
    ):
        return (
            f"post: source {expected.name} value format is {source.value_format.name}, "
            f"expected {expected.value_format}"
        )
    if expected.value_features is not None:
        have_features = _features(source.value_format, key=False, source=source)
        if sorted(have_features) != sorted(expected.value_features):
            return (
                f"post: source {expected.name} value features are {sorted(have_features)}, "
                f"expected {sorted(expected.value_features)}"
            )
    if expected.key_features is not None:
        have_features = _features(source.key_format, key=True, source=source)
        if sorted(have_features) != sorted(expected.key_features):
            return (
                f"post: source {expected.name} key features are {sorted(have_features)}, "
                f"expected {sorted(expected.key_features)}"
            )
    if expected.is_source is not None and bool(source.is_source) != expected.is_source:
        return (
            f"post: source {expected.name} isSource is {source.is_source}, "
            f"expected {expected.is_source}"
        )
    return None


def _features(fmt: Any, *, key: bool, source: Any) -> list[str]:
    """Serde features as ksqlDB records them: a single key is UNWRAP_SINGLES when its format
    can both wrap and unwrap (buildKeyFeatures); a value has WRAP_SINGLES/UNWRAP_SINGLES when
    WRAP_SINGLE_VALUE was given."""
    explicit = getattr(fmt, "features", None)
    if explicit is not None:
        return [getattr(f, "value", str(f)) for f in explicit]
    if key:
        from telemetry_lib.ksql.serde import get_format, resolve_key_features

        try:
            resolved = resolve_key_features(get_format(fmt.name), len(source.key_columns))
        except Exception:  # an unknown format: no features to report
            return []
        return sorted(f.value for f in resolved)
    wrap = getattr(fmt, "wrap_single_value", None)
    if wrap is None:
        return []
    return ["WRAP_SINGLES"] if wrap else ["UNWRAP_SINGLES"]


def _check_key_format(name: str, expected: Mapping[str, Any], source: Any) -> str | None:
    fmt = expected.get("format")
    if fmt is not None and source.key_format.name != str(fmt).upper():
        return f"post: source {name} key format is {source.key_format.name}, expected {fmt}"
    window = source.window
    have_type = window.type.value if window is not None else None
    want_type = expected.get("windowType")
    want_type = str(want_type).upper() if want_type is not None else None
    if have_type != want_type:
        return f"post: source {name} window type is {have_type}, expected {want_type}"
    have_size = window.size_ms if window is not None else None
    want_size = expected.get("windowSize")
    if have_size != (int(want_size) if want_size is not None else None):
        return f"post: source {name} window size is {have_size}, expected {want_size}"
    return None


def _check_topic(expected: PostTopic, topics: Mapping[str, TopicFacts]) -> str | None:
    facts = topics.get(expected.name)
    if facts is None:
        return f"post: topic {expected.name} does not exist (topics: {', '.join(sorted(topics))})"
    if expected.partitions is not None and facts.partitions != expected.partitions:
        return (
            f"post: topic {expected.name} has {facts.partitions} partitions, "
            f"expected {expected.partitions}"
        )
    for side, want, have in (
        ("key", expected.key_format, facts.key_format),
        ("value", expected.value_format, facts.value_format),
    ):
        if not want:
            continue
        if have is None:
            return f"post: no source describes topic {expected.name}'s {side} format"
        for field_name, want_value in want.items():
            have_value = have.get(field_name)
            if field_name == "features":
                if sorted(have_value or []) != sorted(want_value or []):
                    return (
                        f"post: topic {expected.name} {side} features {have_value}, "
                        f"expected {want_value}"
                    )
            elif _norm(have_value) != _norm(want_value):
                return (
                    f"post: topic {expected.name} {side} {field_name} is {have_value}, "
                    f"expected {want_value}"
                )
    return None


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        return value.upper()
    if isinstance(value, Mapping):
        return {k: _norm(v) for k, v in value.items()}
    return value


def check_post(post: PostConditions, catalog: Any, topics: Mapping[str, TopicFacts]) -> str | None:
    """None when every post condition holds, else the first that does not."""
    for source in post.sources:
        reason = _check_source(source, catalog)
        if reason:
            return reason
    if post.blacklist:
        pattern = re.compile(post.blacklist)
        bad = sorted(name for name in topics if pattern.search(name))
        if bad:
            return f"post: blacklisted topics found: {', '.join(bad)}"
    for topic in post.topics:
        reason = _check_topic(topic, topics)
        if reason:
            return reason
    return None
