"""The QTT (query-validation test) model: loading ksqlDB's test files into frozen test cases.

Owns reading a QTT/RQTT JSON file (ksqlDB's files may carry ``//`` comments and trailing
commas; Jackson's ALLOW_COMMENTS reads them, so do we), expanding each test into its variants
exactly as ksqlDB's ``TestCaseBuilder`` does — one case per ``format[]`` entry (``{FORMAT}``
replaced in the statements) times one per ``config[]`` entry (the property whose value is
``{CONFIG}`` set to it) — and naming them as ksqlDB does: ``name``, then `` - FORMAT``, then
`` - property=value``. Tests with ``"enabled": false`` yield no case at all (ksqlDB's builder
drops them). Numbers in records are kept exact (``decimal.Decimal`` for non-integers), as the
Java runner reads them with USE_BIG_DECIMAL_FOR_FLOATS.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

__all__ = [
    "ExpectedException",
    "PostConditions",
    "PostSource",
    "PostTopic",
    "QttCase",
    "QttFile",
    "QttFormatError",
    "RecordSpec",
    "TopicDecl",
    "WindowSpec",
    "load_file",
    "parse_json_text",
]

logger = logging.getLogger(__name__)

# The placeholder ksqlDB's TestCaseBuilderUtil puts in statements when a test uses {FORMAT}
# without a `format` list, so such a statement fails to parse as it does in ksqlDB.
_FORMAT_REPLACE_ERROR = (
    "To use {FORMAT} in your statements please set the 'format' test case element"
)
_CONFIG_PLACEHOLDER = "{CONFIG}"


class QttFormatError(ValueError):
    """A QTT file or test case is malformed (the runner reports it, it never crashes)."""


@dataclass(frozen=True)
class WindowSpec:
    """``window`` of a record: ``type`` is TIME or SESSION (ksqlDB's WindowData enum)."""

    start: int
    end: int
    type: str


@dataclass(frozen=True)
class RecordSpec:
    """One input or expected output record as written in the test (JSON values, exact numbers)."""

    topic: str
    key: Any
    value: Any
    timestamp: int | None
    window: WindowSpec | None
    headers: tuple[tuple[str, bytes | None], ...] | None


@dataclass(frozen=True)
class TopicDecl:
    """An entry of the test's ``topics``: a topic to create before the statements run."""

    name: str
    partitions: int | None
    replicas: int | None
    key_format: str | None
    value_format: str | None
    has_schema: bool


@dataclass(frozen=True)
class ExpectedException:
    type: str | None
    message: str | None
    cause: str | None = None
    cause_message: str | None = None
    #: From a REST ``expectedError``: the error entity class and the HTTP status.
    rest_type: str | None = None
    status: int | None = None


@dataclass(frozen=True)
class PostSource:
    """``post.sources[]``: a source that must exist after the statements, with these traits."""

    name: str
    type: str
    schema: str | None
    key_format: Mapping[str, Any] | None
    value_format: str | None
    key_features: tuple[str, ...] | None
    value_features: tuple[str, ...] | None
    is_source: bool | None


@dataclass(frozen=True)
class PostTopic:
    """``post.topics.topics[]``: a topic that must exist with these formats."""

    name: str
    key_format: Mapping[str, Any]
    value_format: Mapping[str, Any]
    partitions: int | None


@dataclass(frozen=True)
class PostConditions:
    sources: tuple[PostSource, ...] = ()
    topics: tuple[PostTopic, ...] = ()
    blacklist: str | None = None


@dataclass(frozen=True)
class QttCase:
    """One runnable test: a test of a file, for one format/config variant."""

    file: str
    name: str
    statements: tuple[str, ...]
    properties: Mapping[str, Any]
    topics: tuple[TopicDecl, ...]
    inputs: tuple[RecordSpec, ...]
    outputs: tuple[RecordSpec, ...]
    expected_exception: ExpectedException | None
    post: PostConditions | None
    format: str | None = None
    is_rest: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class QttFile:
    path: Path
    cases: tuple[QttCase, ...]
    # Tests that could not be read, with the reason (reported as failed by the runner).
    invalid: tuple[tuple[str, str], ...] = ()


# --------------------------------------------------------------------------------------------
# Reading JSON with comments
# --------------------------------------------------------------------------------------------

_TRAILING_COMMA = re.compile(r",(\s*[\]}])")


def _strip_comments(text: str) -> str:
    """Remove ``//`` and ``/* */`` comments outside JSON strings."""
    out: list[str] = []
    i, n = 0, len(text)
    in_string = False
    while i < n:
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if c == '"':
                in_string = False
            i += 1
            continue
        if c == '"':
            in_string = True
            out.append(c)
            i += 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def parse_json_text(text: str) -> Any:
    """Parse QTT JSON: exact decimals for non-integers; comments and trailing commas allowed."""
    try:
        return json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError:
        cleaned = _TRAILING_COMMA.sub(r"\1", _strip_comments(text))
        return json.loads(cleaned, parse_float=Decimal)


# --------------------------------------------------------------------------------------------
# Building cases
# --------------------------------------------------------------------------------------------


def load_file(path: Path) -> QttFile:
    """Read ``path`` and expand every enabled test into its variants."""
    data = parse_json_text(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("tests"), list):
        raise QttFormatError(f"{path}: expected an object with a 'tests' list")
    is_rest_file = path.name.startswith("rest-")
    cases: list[QttCase] = []
    invalid: list[tuple[str, str]] = []
    for test in data["tests"]:
        name = str(test.get("name", "")) if isinstance(test, dict) else ""
        try:
            cases.extend(build_cases(path.name, test, is_rest=is_rest_file))
        except (QttFormatError, KeyError, TypeError, ValueError) as exc:
            invalid.append((name or "<unnamed>", f"invalid test: {exc}"))
    return QttFile(path=path, cases=tuple(cases), invalid=tuple(invalid))


def build_cases(file: str, test: Mapping[str, Any], *, is_rest: bool = False) -> list[QttCase]:
    """The variants of one test (``TestCaseBuilder.buildTests``)."""
    if not isinstance(test, Mapping):
        raise QttFormatError("a test must be a JSON object")
    name = test.get("name")
    if not name:
        raise QttFormatError("missing field 'name'")
    if test.get("enabled") is False:
        return []
    statements = test.get("statements")
    if not statements:
        raise QttFormatError(f"test {name!r}: 'statements' missing or empty")
    # Only rest- files need the REST server; a QTT file's test may carry REST fields too
    # (``responses`` is then ignored, ``expectedError`` checked like an expected exception).
    rest = is_rest
    formats: list[str | None] = list(test.get("format") or []) or [None]
    configs: list[str | None] = list(test.get("config") or []) or [None]
    properties: dict[str, Any] = dict(test.get("properties") or {})
    override: str | None = None
    if configs != [None]:
        keys = [
            k
            for k, v in properties.items()
            if isinstance(v, str) and v.upper() == _CONFIG_PLACEHOLDER
        ]
        if len(keys) != 1:
            raise QttFormatError(
                f"test {name!r}: 'config' needs exactly one property set to {_CONFIG_PLACEHOLDER}"
            )
        override = keys[0]
    if (
        not rest
        and "expectedException" not in test
        and "expectedError" not in test
        and not test.get("inputs")
        and not test.get("outputs")
    ):
        raise QttFormatError(f"test {name!r}: no inputs, outputs or expectedException provided")

    topics = tuple(_topic_decl(t) for t in test.get("topics") or [])
    inputs = tuple(_record(r) for r in test.get("inputs") or [])
    outputs = tuple(_record(r) for r in test.get("outputs") or [])
    expected = _expected_exception(test.get("expectedException"))
    if expected is None and not rest and test.get("expectedError") is not None:
        expected = _expected_error(test["expectedError"])
    post = _post(test.get("post"))

    cases: list[QttCase] = []
    for fmt in formats:
        for cfg in configs:
            case_name = str(name)
            if fmt is not None:
                case_name += f" - {fmt}"
            props = dict(properties)
            if cfg is not None and override is not None:
                props[override] = cfg
                case_name += f" - {override}={cfg}"
            replacement = fmt if fmt is not None else _FORMAT_REPLACE_ERROR
            stmts = tuple(str(s).replace("{FORMAT}", replacement) for s in statements)
            cases.append(
                QttCase(
                    file=file,
                    name=case_name,
                    statements=stmts,
                    properties=props,
                    topics=topics,
                    inputs=inputs,
                    outputs=outputs,
                    expected_exception=expected,
                    post=post,
                    format=fmt,
                    is_rest=rest,
                    raw=test,
                )
            )
    return cases


def _topic_decl(node: Mapping[str, Any]) -> TopicDecl:
    name = node.get("name")
    if not name:
        raise QttFormatError("a topic needs a 'name'")
    partitions = node.get("partitions")
    replicas = node.get("replicas")
    fmt = node.get("format")
    schema_keys = (
        "keySchema",
        "valueSchema",
        "keySchemaId",
        "valueSchemaId",
        "schema",
        "valueSchemaReferences",
        "keySchemaReferences",
    )
    return TopicDecl(
        name=str(name),
        partitions=int(partitions) if partitions is not None else None,
        replicas=int(replicas) if replicas is not None else None,
        key_format=node.get("keyFormat", fmt),
        value_format=node.get("valueFormat", fmt),
        has_schema=any(node.get(k) is not None for k in schema_keys),
    )


def _record(node: Mapping[str, Any]) -> RecordSpec:
    topic = node.get("topic")
    if not topic:
        raise QttFormatError("a record needs a 'topic'")
    if "value" not in node:
        raise QttFormatError(f"record on topic {topic!r} has no 'value'")
    ts = node.get("timestamp")
    window = node.get("window")
    headers = node.get("headers")
    return RecordSpec(
        topic=str(topic),
        key=node.get("key"),
        value=node.get("value"),
        timestamp=int(ts) if ts is not None else None,
        window=_window(window) if window is not None else None,
        headers=_headers(headers) if headers is not None else None,
    )


def _window(node: Mapping[str, Any]) -> WindowSpec:
    wtype = str(node.get("type", "")).upper()
    if wtype not in ("TIME", "SESSION"):
        raise QttFormatError(f"window type must be TIME or SESSION, got {node.get('type')!r}")
    return WindowSpec(start=int(node["start"]), end=int(node["end"]), type=wtype)


def _headers(nodes: Sequence[Mapping[str, Any]]) -> tuple[tuple[str, bytes | None], ...]:
    import base64

    out: list[tuple[str, bytes | None]] = []
    for h in nodes:
        key = h.get("KEY", h.get("key"))
        value = h.get("VALUE", h.get("value"))
        out.append((str(key), None if value is None else base64.b64decode(str(value))))
    return tuple(out)


def _expected_exception(node: Mapping[str, Any] | None) -> ExpectedException | None:
    if node is None:
        return None
    if node.get("type") is None and node.get("message") is None:
        raise QttFormatError("expectedException needs a type or a message")
    return ExpectedException(
        type=node.get("type"),
        message=node.get("message"),
        cause=node.get("cause"),
        cause_message=node.get("causeMessage"),
    )


def _expected_error(node: Mapping[str, Any]) -> ExpectedException:
    """A REST ``expectedError`` read as the engine error the server would render."""
    status = node.get("status")
    return ExpectedException(
        type=None,
        message=node.get("message"),
        rest_type=node.get("type"),
        status=int(status) if status is not None else None,
    )


def _post(node: Mapping[str, Any] | None) -> PostConditions | None:
    if node is None:
        return None
    sources = []
    for s in node.get("sources") or []:
        kf = s.get("keyFormat")
        sources.append(
            PostSource(
                name=str(s["name"]),
                type=str(s["type"]).upper(),
                schema=s.get("schema"),
                key_format=dict(kf) if kf is not None else None,
                value_format=s.get("valueFormat"),
                key_features=tuple(s["keyFeatures"]) if s.get("keyFeatures") is not None else None,
                value_features=(
                    tuple(s["valueFeatures"]) if s.get("valueFeatures") is not None else None
                ),
                is_source=s.get("isSource"),
            )
        )
    topics_node = node.get("topics") or {}
    topics = []
    for t in topics_node.get("topics") or []:
        parts = t.get("partitions")
        topics.append(
            PostTopic(
                name=str(t["name"]),
                key_format=dict(t.get("keyFormat") or {}),
                value_format=dict(t.get("valueFormat") or {}),
                partitions=int(parts) if parts is not None else None,
            )
        )
    return PostConditions(
        sources=tuple(sources), topics=tuple(topics), blacklist=topics_node.get("blacklist")
    )
