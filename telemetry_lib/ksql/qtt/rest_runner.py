"""Running one RQTT case (``rest-*`` files) over HTTP, the way ksqlDB's ``RestTestExecutor`` does.

Owns :func:`run_rest_case`. Per case:

1. Build a fresh in-memory engine (the QTT base config plus ``auto.offset.reset=earliest`` so a
   push query sees the inputs produced before it, as the RQTT server's config does, plus the
   test's ``properties``) and serve it with the REST app (:mod:`telemetry_lib.ksql.rest`) under
   uvicorn on a free 127.0.0.1 port — the runner starts its own server.
2. Create the topics the QTT runner creates (test topics, CREATE statements' topics, inputs).
3. Send every statement before the first ``SELECT`` to ``/ksql`` in one request, joined by
   newlines (the test's properties as ``streamsProperties``); each returned entity is one
   ``admin`` response. An error response is compared with ``expectedError`` (entity class,
   HTTP status, message substring) and ends the case.
4. Produce the inputs (serialized with the formats of the source over each topic); persistent
   queries process them before the next step.
5. Send each remaining statement to ``/query`` (legacy JSON array: header / row / finalMessage);
   each is one ``query`` response, or an error handled as in step 3.
6. Compare the records of every expected output topic (QTT rules), then the responses: the
   expected fields only (subset match, ``key|startsWith`` operator, ``{STATEMENT}`` macro), and
   the same number of rows in each query response.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import httpx

from telemetry_lib.ksql.qtt.model import QttCase
from telemetry_lib.ksql.qtt.runner import (
    BASE_CONFIG,
    CaseResult,
    _create_topics,
    _Failure,
    _input_batches,
    _verify_outputs,
)

__all__ = ["run_rest_case"]

logger = logging.getLogger(__name__)

#: A push query without LIMIT never ends; RQTT push tests all carry LIMIT, so a query that
#: stays silent this long is reported as a failure instead of hanging the corpus run.
_QUERY_READ_TIMEOUT_S = 10.0
_STATEMENT_MACRO = "{STATEMENT}"
_ERROR_TYPES = {
    "statement_error": "io.confluent.ksql.rest.entity.KsqlStatementErrorMessage",
    "generic_error": "io.confluent.ksql.rest.entity.KsqlErrorMessage",
}
_SELECT = re.compile(r"^SELECT ")


def run_rest_case(case: QttCase) -> CaseResult:
    """Run one ``rest-*`` case against our REST server; never raises."""
    try:
        _run(case)
    except _Failure as exc:
        return CaseResult(case.file, case.name, "failed", str(exc))
    except Exception as exc:  # a bug in the engine or server: report it, keep going
        logger.debug("RQTT case crashed", exc_info=True)
        return CaseResult(case.file, case.name, "failed", f"crashed: {type(exc).__name__}: {exc}")
    return CaseResult(case.file, case.name, "passed")


def _run(case: QttCase) -> None:
    from telemetry_lib.ksql.driver import InMemoryDriver
    from telemetry_lib.ksql.rest import EngineBackend, InMemoryReader, create_app
    from telemetry_lib.ksql.rest.serve import ServerThread

    raw_responses = case.raw.get("responses") or []
    if len(case.statements) < len(raw_responses):
        raise _Failure("invalid test case: more expected responses than statements")
    admin, queries = _split(case.statements)
    config = {**BASE_CONFIG, "auto.offset.reset": "earliest", **dict(case.properties)}
    # The RQTT server runs on a real Kafka: the producer's murmur2 partitioner spreads keys
    # over the topics' partitions, which decides the order of pull-query scans.
    driver = InMemoryDriver(config=config, partitioner="murmur2")
    backend = EngineBackend(
        engine=driver.engine, reader=InMemoryReader(driver.topics), executor=driver
    )
    _create_topics(case, driver)
    props = _json_properties(case.properties)
    responses: list[tuple[str, Any]] = []
    try:
        with (
            ServerThread(create_app(backend)) as server,
            httpx.Client(
                base_url=server.url, timeout=httpx.Timeout(60.0, read=_QUERY_READ_TIMEOUT_S)
            ) as http,
        ):
            reply = http.post("/ksql", json={"ksql": "\n".join(admin), "streamsProperties": props})
            if reply.status_code != 200:
                _check_error(case, reply)
                return
            responses.extend(("admin", entity) for entity in reply.json())
            for topic, batch in _input_batches(case.inputs, driver):
                driver.pipe_batch(topic, batch)
            for sql in queries:
                try:
                    reply = http.post(
                        "/query",
                        json={"ksql": sql, "streamsProperties": props},
                        headers={"Accept": "application/vnd.ksql.v1+json"},
                    )
                except httpx.ReadTimeout:
                    raise _Failure(
                        f"query gave no complete response within {_QUERY_READ_TIMEOUT_S} s: {sql}"
                    ) from None
                if reply.status_code != 200:
                    _check_error(case, reply)
                    return
                responses.append(("query", reply.json()))
        if case.raw.get("expectedError") is not None:
            raise _Failure(f"expected the last statement to fail: {case.raw['expectedError']}")
        _verify_outputs(case, driver)
        _verify_responses(responses, raw_responses, case.statements)
    finally:
        driver.close()


def _split(statements: Sequence[str]) -> tuple[list[str], list[str]]:
    first = next((i for i, s in enumerate(statements) if _SELECT.match(s)), len(statements))
    return list(statements[:first]), list(statements[first:])


def _json_properties(properties: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k): v for k, v in properties.items()}


def _check_error(case: QttCase, reply: httpx.Response) -> None:
    try:
        body = reply.json()
    except ValueError:
        body = {"message": reply.text}
    expected = case.raw.get("expectedError")
    if expected is None:
        raise _Failure(
            f"server failed to execute statement {body.get('statementText', '')!r}: "
            f"{reply.status_code} {body.get('message', '')}"
        )
    problems = []
    if expected.get("status") is not None and int(expected["status"]) != reply.status_code:
        problems.append(f"status {reply.status_code} != {expected['status']}")
    actual_type = _ERROR_TYPES.get(str(body.get("@type")), str(body.get("@type")))
    if expected.get("type") is not None and expected["type"] != actual_type:
        problems.append(f"type {actual_type} != {expected['type']}")
    message = expected.get("message")
    if message is not None and str(message) not in str(body.get("message", "")):
        problems.append(f"message {body.get('message', '')!r} lacks {message!r}")
    if problems:
        raise _Failure("expected error mismatch: " + "; ".join(problems))


def _verify_responses(
    actual: list[tuple[str, Any]], expected: list[Mapping[str, Any]], statements: Sequence[str]
) -> None:
    if len(actual) < len(expected):
        raise _Failure(f"not enough responses: {len(actual)} < {len(expected)}")
    for index, wanted in enumerate(expected):
        if len(wanted) != 1:
            raise _Failure(f"responses[{index}] must have exactly one key")
        kind, payload = next(iter(wanted.items()))
        got_kind, got = actual[index]
        if kind != got_kind:
            raise _Failure(f"responses[{index}]: expected {kind} response, got {got_kind}")
        if kind == "admin":
            _match(got, payload, statements, index, f"responses[{index}]->admin")
            continue
        if len(got) != len(payload):
            raise _Failure(
                f"responses[{index}]: row count mismatch: expected {len(payload)} "
                f"{payload} got {len(got)} {got}"
            )
        for i, (row, want) in enumerate(zip(got, payload, strict=True)):
            _match(row, want, statements, index, f"responses[{index}]->query[{i}]")


def _match(
    actual: Any, expected: Mapping[str, Any], statements: Sequence[str], index: int, path: str
) -> None:
    if not isinstance(actual, Mapping):
        raise _Failure(f"response mismatch at {path}: expected an object, got {actual!r}")
    for raw_key, raw_value in expected.items():
        key, _, operator = raw_key.partition("|")
        value = raw_value
        if isinstance(value, str) and index < len(statements):
            value = value.replace(_STATEMENT_MACRO, statements[index])
        if key not in actual:
            raise _Failure(f"response mismatch at {path}: missing {key!r} in {actual}")
        got = actual[key]
        sub = f"{path}->{key}"
        if isinstance(value, Mapping):
            _match(got, value, statements, index, sub)
        elif operator.upper() == "STARTS_WITH" or operator == "startsWith":
            if not (isinstance(got, str) and got.startswith(str(value))):
                raise _Failure(f"response mismatch at {sub}: {got!r} does not start with {value!r}")
        elif not _equal(got, value):
            raise _Failure(f"response mismatch at {sub}: expected {value!r} got {got!r}")


def _equal(got: Any, want: Any) -> bool:
    """JSON equality where numbers compare by value (1 == 1.0, as Jackson's nodes do for
    the RQTT matcher's ``is``) but booleans stay booleans."""
    if isinstance(want, bool) or isinstance(got, bool):
        return type(want) is type(got) and want == got
    if isinstance(want, (int, float, Decimal)) and isinstance(got, (int, float, Decimal)):
        return float(got) == float(want)
    if isinstance(want, list) and isinstance(got, list):
        return len(want) == len(got) and all(_equal(g, w) for g, w in zip(got, want, strict=True))
    if isinstance(want, dict) and isinstance(got, dict):
        return want.keys() == got.keys() and all(_equal(got[k], want[k]) for k in want)
    return bool(got == want)
