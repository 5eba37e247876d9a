"""Running one QTT case on the in-memory driver, the way ksqlDB's ``TestExecutor`` does.

Owns the per-case algorithm:

1. Decide up front what this engine cannot run: ``rest-`` tests (they need the REST server)
   and tests using Schema Registry formats (AVRO, PROTOBUF, PROTOBUF_NOSR, JSON_SR, schema ids
   or registered schemas) are ``unsupported`` with the feature named.
2. Build a fresh engine on a fresh driver with ksqlDB's QTT base config
   (``cache.max.bytes.buffering=0``, ``auto.offset.reset=earliest``) plus the test's
   ``properties``. The driver puts every record in partition 0, as TopologyTestDriver does.
3. Create the topics ksqlDB's runner creates before the statements: the test's ``topics``, the
   ``KAFKA_TOPIC`` of every CREATE STREAM/TABLE statement, and the input topics (4 partitions
   unless a ``PARTITIONS`` property or the topic entry says otherwise).
4. Execute the statements one by one; an exception is compared with ``expectedException``.
5. Serialize the inputs with the format and schema of the source declared over their topic
   and feed them query by query (``InMemoryDriver.pipe_per_query``), as each query has its own
   TopologyTestDriver in ksqlDB's runner.
6. Compare the outputs of every topic named in the expected outputs: same count and order;
   key, value, window, headers and (when given) timestamp. Then check ``post``.

Any :class:`~telemetry_lib.ksql.errors.UnsupportedError` raised by the engine makes the case
``unsupported`` (naming the feature); any other unexpected Python exception is a ``failed``
case carrying the exception text — the runner itself never crashes on a case.
"""

from __future__ import annotations

import logging
import re
import signal
import threading
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from telemetry_lib.ksql.errors import UnsupportedError
from telemetry_lib.ksql.qtt.checks import (
    TopicFacts,
    check_exception,
    check_post,
    java_type_matches,
)
from telemetry_lib.ksql.qtt.model import QttCase, RecordSpec
from telemetry_lib.ksql.qtt.records import (
    DecodeError,
    SerdeInfo,
    decode_key,
    decode_value,
    encode_key,
    encode_value,
    matches,
    render,
)
from telemetry_lib.ksql.runtime.io import RECORD_SCHEMA, TopicSpec

__all__ = [
    "BASE_CONFIG",
    "CASE_TIMEOUT_SECONDS",
    "CaseResult",
    "Status",
    "run_case",
    "unsupported_reason",
]

logger = logging.getLogger(__name__)

Status = Literal["passed", "failed", "unsupported"]

#: ksqlDB TestExecutor.BASE_CONFIG (the parts that change engine behaviour).
BASE_CONFIG: Mapping[str, object] = {
    "cache.max.bytes.buffering": 0,
    "auto.offset.reset": "earliest",
    "ksql.service.id": "some.ksql.service.id",
}

#: A case that runs longer than this is an engine bug (a hang): real cases take well under a
#: second even on a loaded 2-core machine, and every hung case costs the ratchet this long.
CASE_TIMEOUT_SECONDS = 20

# ksqlDB's runner creates topics it infers with this many partitions (Topic's default).
_DEFAULT_PARTITIONS = 4
# How many actual records a count-mismatch reason lists before eliding the rest.
_MAX_LISTED_RECORDS = 10

_SR_FORMATS = ("AVRO", "PROTOBUF", "PROTOBUF_NOSR", "JSON_SR")
_SR_FORMAT_IN_SQL = re.compile(r"'\s*(?:" + "|".join(_SR_FORMATS) + r")\s*'", re.IGNORECASE)
_SR_PROPERTY_IN_SQL = re.compile(r"\b(?:KEY_|VALUE_)?SCHEMA_(?:ID|FULL_NAME)\b", re.IGNORECASE)

# Test property of ksqlDB's runner: true compares decimals as BigDecimal.equals (scale
# included); otherwise numbers compare by exact value (see records.matches).
_EXACT_NUMBERS = "use.exact.numeric.comparison"

_STATEMENT_EXCEPTION = "io.confluent.ksql.util.KsqlStatementException"
_PARSE_EXCEPTION = "io.confluent.ksql.parser.exception.ParseFailedException"

UNSUPPORTED_REST = "REST server (ksqlDB server issue)"
UNSUPPORTED_SR = "schema registry formats"


@dataclass(frozen=True)
class CaseResult:
    file: str
    test: str
    status: Status
    reason: str = ""


class _CaseTimeout(BaseException):  # not Exception: engine code must not swallow it
    pass


class _Failure(Exception):
    """A check did not hold; the message is the case's failure reason."""


def unsupported_reason(case: QttCase) -> str | None:
    """The feature a case needs that this engine does not provide, decided before running."""
    if case.format is not None and case.format.upper() in _SR_FORMATS:
        return UNSUPPORTED_SR
    for stmt in case.statements:
        if _SR_FORMAT_IN_SQL.search(stmt) or _SR_PROPERTY_IN_SQL.search(stmt):
            return UNSUPPORTED_SR
    for value in case.properties.values():
        if isinstance(value, str) and value.strip().upper() in _SR_FORMATS:
            return UNSUPPORTED_SR
    for topic in case.topics:
        formats = (topic.key_format, topic.value_format)
        if topic.has_schema or any(
            f is not None and str(f).upper() in _SR_FORMATS for f in formats
        ):
            return UNSUPPORTED_SR
    return None


def run_case(case: QttCase, *, timeout: float | None = CASE_TIMEOUT_SECONDS) -> CaseResult:
    """Run one case; never raises (a crash of the engine is a failed case)."""
    reason = unsupported_reason(case)
    if reason is not None:
        return CaseResult(case.file, case.name, "unsupported", reason)
    if case.is_rest:  # rest-* files run over HTTP against the REST server
        from telemetry_lib.ksql.qtt.rest_runner import run_rest_case

        return run_rest_case(case)
    try:
        with _time_limit(timeout):
            return _run(case)
    except UnsupportedError as exc:
        return CaseResult(case.file, case.name, "unsupported", exc.feature)
    except _Failure as exc:
        return CaseResult(case.file, case.name, "failed", str(exc))
    except _CaseTimeout:
        return CaseResult(case.file, case.name, "failed", f"timed out after {timeout} s")
    except Exception as exc:  # an engine bug: report it, keep running the corpus
        return CaseResult(case.file, case.name, "failed", _crash_text(exc))


def _crash_text(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else ""
    return f"engine crashed: {type(exc).__name__}: {exc}{where}"


@contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def _alarm(signum: int, frame: Any) -> None:
        raise _CaseTimeout()

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --------------------------------------------------------------------------------------------
# the algorithm
# --------------------------------------------------------------------------------------------


def _run(case: QttCase) -> CaseResult:
    from telemetry_lib.ksql.driver import InMemoryDriver

    config = {**BASE_CONFIG, **dict(case.properties)}
    driver = InMemoryDriver(config=config, partitioner="single")
    driver.deliver_automatically = False
    try:
        _create_topics(case, driver)
        failed_at: int | None = None  # index of the statement that raised, if one did
        try:
            for index, statement in enumerate(_positioned(case.statements)):
                failed_at = index
                driver.engine.execute(statement, properties=dict(case.properties))
            failed_at = None
            driver.pipe_per_query(_input_batches(case.inputs, driver))
        except UnsupportedError:
            raise
        except _Failure:
            raise
        except Exception as exc:
            expected = case.expected_exception
            if expected is None:
                kind = getattr(exc, "ksql_type", None)
                if kind is None:
                    raise
                raise _Failure(f"unexpected {kind}: {exc}") from exc
            mismatch = check_exception(exc, expected)
            if mismatch is None:
                mismatch = _check_failing_statement(exc, expected, failed_at, case)
            if mismatch is None:
                return CaseResult(case.file, case.name, "passed")
            raise _Failure(mismatch) from exc
        if case.expected_exception is not None:
            _verify_outputs(case, driver)  # a failing output check explains more than "no error"
            exp = case.expected_exception
            raise _Failure(
                f"expected exception {exp.type or ''} {exp.message or ''!r} but none was raised"
            )
        _verify_outputs(case, driver)
        if case.post is not None:
            reason = check_post(case.post, driver.engine.catalog, _topic_facts(driver))
            if reason:
                raise _Failure(reason)
        return CaseResult(case.file, case.name, "passed")
    finally:
        try:
            driver.close()
        except Exception:  # closing must not hide the case's result
            logger.debug("driver close failed", exc_info=True)


def _check_failing_statement(
    exc: BaseException, expected: Any, failed_at: int | None, case: QttCase
) -> str | None:
    """ksqlDB requires an expected KsqlStatementException to carry the **last** statement's
    text (``KsqlExceptionMatcher.statementText``): the test means the last statement fails.
    A parse error qualifies wherever it is, as ksqlDB parses the joined script at once."""
    if expected.type is None or not java_type_matches(expected.type, _STATEMENT_EXCEPTION):
        return None
    if failed_at is None or failed_at == len(case.statements) - 1:
        return None
    actual_type = getattr(exc, "ksql_type", "")
    if java_type_matches(actual_type, _PARSE_EXCEPTION):
        return None
    return (
        f"statement {failed_at + 1} of {len(case.statements)} failed, but the test expects "
        f"the last one to: {_first_line(str(exc))}"
    )


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else text


def _positioned(statements: Sequence[str]) -> list[str]:
    """Each statement preceded by as many newlines as lines before it in the script.

    ksqlDB's runner joins the statements with line separators and parses them as one script,
    so error locations (``line 2:13``) count lines from the first statement; running them
    one by one with this padding reports the same positions.
    """
    out: list[str] = []
    line = 0
    for text in statements:
        out.append("\n" * line + text)
        line += text.count("\n") + 1
    return out


def _create_topics(case: QttCase, driver: Any) -> None:
    """The topics ksqlDB's runner creates before running the statements."""
    specs: dict[str, TopicSpec] = {}
    for decl in case.topics:
        specs[decl.name] = TopicSpec(
            name=decl.name,
            partitions=decl.partitions or _DEFAULT_PARTITIONS,
            replicas=decl.replicas or 1,
        )
    for name, partitions, replicas in _statement_topics(case.statements):
        specs.setdefault(name, TopicSpec(name=name, partitions=partitions, replicas=replicas))
    for record in case.inputs:
        specs.setdefault(record.topic, TopicSpec(name=record.topic, partitions=_DEFAULT_PARTITIONS))
    for spec in specs.values():
        driver.topics.create_topic(spec)


def _statement_topics(statements: Sequence[str]) -> list[tuple[str, int, int]]:
    """``(topic, partitions, replicas)`` of each CREATE STREAM/TABLE (not AS SELECT)."""
    from telemetry_lib.ksql.parser import parse
    from telemetry_lib.ksql.parser.ast import CreateSource, properties_dict

    out: list[tuple[str, int, int]] = []
    for text in statements:
        try:
            parsed = parse(text)
        except Exception:  # the statement will fail (or be expected to) when executed
            continue
        for stmt in parsed:
            if not isinstance(stmt, CreateSource):
                continue
            props = properties_dict(stmt.properties)
            topic = props.get("KAFKA_TOPIC") or stmt.name
            partitions = props.get("PARTITIONS")
            replicas = props.get("REPLICAS")
            out.append(
                (
                    str(topic),
                    int(partitions)
                    if isinstance(partitions, int) and partitions > 0
                    else _DEFAULT_PARTITIONS,
                    int(replicas) if isinstance(replicas, int) and replicas > 0 else 1,
                )
            )
    return out


# --------------------------------------------------------------------------------------------
# topic info (TopicInfoCache)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TopicInfo:
    source: str
    key: SerdeInfo
    value: SerdeInfo


def _topic_info(driver: Any, topic: str) -> _TopicInfo:
    """Formats and schema of the (first) source declared over ``topic``."""
    for source in driver.engine.catalog.sources():
        if source.topic != topic:
            continue
        window = source.window
        key = SerdeInfo(
            format=source.key_format.name,
            column_types=tuple(c.type for c in source.key_columns),
            window_type=window.type.value if window is not None else None,
            window_size_ms=window.size_ms if window is not None else None,
        )
        value = SerdeInfo(
            format=source.value_format.name,
            column_types=tuple(c.type for c in source.value_columns),
        )
        return _TopicInfo(source.name, key, value)
    raise _Failure(f"no source found for topic {topic!r}: cannot (de)serialize its records")


def _input_batches(inputs: Sequence[RecordSpec], driver: Any) -> list[tuple[str, pl.DataFrame]]:
    """Inputs serialized per their topic's source, grouped into runs of the same topic."""
    batches: list[tuple[str, pl.DataFrame]] = []
    run_topic: str | None = None
    rows: list[dict[str, Any]] = []
    infos: dict[str, _TopicInfo] = {}

    def flush() -> None:
        if run_topic is not None and rows:
            batches.append((run_topic, pl.DataFrame(rows, schema=RECORD_SCHEMA)))

    for index, record in enumerate(inputs):
        if record.topic != run_topic:
            flush()
            run_topic, rows = record.topic, []
        info = infos.get(record.topic)
        if info is None:
            info = infos[record.topic] = _topic_info(driver, record.topic)
        window = (record.window.start, record.window.end) if record.window else None
        try:
            key = encode_key(record.key, info.key, window=window)
            value = encode_value(record.value, info.value)
        except DecodeError as exc:
            raise _Failure(f"input {index} on topic {record.topic!r}: {exc}") from exc
        rows.append(
            {
                "key": key,
                "value": value,
                "timestamp": record.timestamp if record.timestamp is not None else 0,
                "partition": None,
                "offset": None,
                "headers": [{"key": k, "value": v} for k, v in (record.headers or ())],
            }
        )
    flush()
    return batches


# --------------------------------------------------------------------------------------------
# output verification (TestExecutor.verifyOutput / validateCreatedMessage)
# --------------------------------------------------------------------------------------------


def _verify_outputs(case: QttCase, driver: Any) -> None:
    expected_by_topic: dict[str, list[RecordSpec]] = {}
    for record in case.outputs:
        expected_by_topic.setdefault(record.topic, []).append(record)
    ran_with_inserts = not case.inputs
    exact = str(case.properties.get(_EXACT_NUMBERS, "false")).strip().lower() == "true"
    for topic, expected in expected_by_topic.items():
        info = _topic_info(driver, topic)
        actual = driver.topics.records(topic)
        decoded = [
            _decode(row, info, topic, i) for i, row in enumerate(actual.iter_rows(named=True))
        ]
        if len(decoded) != len(expected):
            listing = "\n".join(_describe(d) for d in decoded[:_MAX_LISTED_RECORDS])
            more = (
                ""
                if len(decoded) <= _MAX_LISTED_RECORDS
                else f"\n... {len(decoded) - _MAX_LISTED_RECORDS} more"
            )
            raise _Failure(
                f"Topic {topic}. Expected <{len(expected)}> records but it was <{len(decoded)}>\n"
                f"Actual records:\n{listing}{more}"
            )
        for i, (exp, act) in enumerate(zip(expected, decoded, strict=True)):
            _check_record(topic, i, exp, act, ran_with_inserts, scale_sensitive=exact)


@dataclass(frozen=True)
class _Actual:
    key: Any
    value: Any
    timestamp: int
    window: tuple[int, int, str] | None
    headers: tuple[tuple[str, bytes | None], ...]


def _decode(row: Mapping[str, Any], info: _TopicInfo, topic: str, index: int) -> _Actual:
    try:
        key, window = decode_key(row["key"], info.key)
    except DecodeError as exc:
        raise _Failure(
            f"Topic '{topic}', message {index}: {exc}; key bytes {row['key']!r}"
        ) from exc
    try:
        value = decode_value(row["value"], info.value)
    except DecodeError as exc:
        raise _Failure(
            f"Topic '{topic}', message {index}: {exc}; value bytes {row['value']!r}"
        ) from exc
    headers = tuple((h["key"], h["value"]) for h in (row["headers"] or ()))
    return _Actual(key, value, int(row["timestamp"]), window, headers)


def _describe(actual: _Actual) -> str:
    window = ""
    if actual.window is not None:
        window = f" window=[{actual.window[0]},{actual.window[1]}]"
    headers = ""
    if actual.headers:
        headers = f" headers={list(actual.headers)}"
    return (
        f"<{render(actual.key)}, {render(actual.value)}> with timestamp={actual.timestamp}"
        f"{window}{headers}"
    )


def _check_record(
    topic: str,
    index: int,
    expected: RecordSpec,
    actual: _Actual,
    ran_with_inserts: bool,
    *,
    scale_sensitive: bool = False,
) -> None:
    exp_ts = expected.timestamp if expected.timestamp is not None else actual.timestamp
    exp_window = ""
    if expected.window is not None:
        exp_window = f" window=[{expected.window.start},{expected.window.end}]"

    def fail(what: str) -> _Failure:
        return _Failure(
            f"Topic '{topic}', message {index} ({what} differs): Expected "
            f"<{render(expected.key)}, {render(expected.value)}> with timestamp={exp_ts}"
            f"{exp_window} but was {_describe(actual)}"
        )

    if expected.window is None:
        if actual.window is not None:  # ksqlDB compares the Windowed key itself: no match
            raise fail("window")
    else:
        if actual.window is None:
            raise fail("window")
        start, end, wtype = actual.window
        if (start, end, wtype) != (
            expected.window.start,
            expected.window.end,
            expected.window.type,
        ):
            raise fail("window")
    if not matches(actual.key, expected.key, scale_sensitive=scale_sensitive):
        raise fail("key")
    if not matches(actual.value, expected.value, scale_sensitive=scale_sensitive):
        raise fail("value")
    expected_headers = expected.headers or ()
    if tuple(actual.headers) != tuple(expected_headers):
        raise fail("headers")
    if actual.timestamp != exp_ts and (not ran_with_inserts or exp_ts != 0):
        raise fail("timestamp")


def _topic_facts(driver: Any) -> dict[str, TopicFacts]:
    facts: dict[str, TopicFacts] = {}
    sources = driver.engine.catalog.sources()
    for spec in driver.topics.list_topics():
        key_format: dict[str, Any] | None = None
        value_format: dict[str, Any] | None = None
        for source in sources:
            if source.topic == spec.name:
                key_format = {"format": source.key_format.name}
                if source.window is not None:
                    window_info: dict[str, Any] = {"type": source.window.type.value}
                    if source.window.size_ms is not None:
                        window_info["size"] = source.window.size_ms
                    key_format["windowInfo"] = window_info
                value_format = {"format": source.value_format.name}
                break
        facts[spec.name] = TopicFacts(spec.name, spec.partitions, key_format, value_format)
    return facts
