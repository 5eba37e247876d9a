"""The README's Kafka Connect curl examples, run as written (ports and names made unique)
against the worker on the embedded Kafka and MongoDB: the official connector JSON copies a
collection through a topic into another collection, and every other example answers as the
README says."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
import pymongo

from telemetry_lib.config import Settings
from telemetry_lib.connectors.client import ConnectClient
from tests.connectors.helpers import ROOT, WorkerProcess, wait_for

# Source copy + sink group join + sink flush on a loaded machine.
COPY_TIMEOUT_S = 120.0
_CURL = re.compile(
    r"^curl -s(?: -X (?P<method>\w+))?(?: -H 'Content-Type: application/json')?\s*(?:\\\n\s*)?"
    r"'?(?P<url>http://127\.0\.0\.1:8083[^\s']*)'?(?: -d '(?P<body>.*?)')?(?=\s*(?:#[^\n]*)?$)",
    re.M | re.S,
)


def _examples() -> list[tuple[str, str, str | None]]:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Kafka Connect") :]
    block = section[
        section.index("```bash") + 7 : section.index("```", section.index("```bash") + 7)
    ]
    return [(m["method"] or "GET", m["url"], m["body"]) for m in _CURL.finditer(block)]


def test_readme_curl_examples_work(
    embedded_stack: Settings, worker: WorkerProcess, tmp_path: Path
) -> None:
    examples = _examples()
    assert len(examples) == 8, examples  # the README's examples are all found
    uid = uuid.uuid4().hex[:6]
    database = f"game_{uid}"

    def adapt(text: str) -> str:
        text = text.replace("http://127.0.0.1:8083", worker.url)
        text = text.replace("127.0.0.1:27017", f"127.0.0.1:{embedded_stack.mongo_port}")
        text = text.replace('"game"', f'"{database}"').replace("mongo.game.", f"mongo.{database}.")
        return re.sub(
            r"(mongo-telemetry-source|events-copy-sink|events_copy_dlq)", rf"\1-{uid}", text
        )

    mongo = pymongo.MongoClient(embedded_stack.mongo_uri.reveal())
    try:
        mongo[database].telemetry_events.insert_many(
            [{"player_id": f"p{i}", "kills": i} for i in range(25)]
        )
        answers = []
        for method, url, body in examples:
            response = httpx.request(method, adapt(url), content=adapt(body).encode() if body else None,
                                     headers={"content-type": "application/json"}, timeout=60)  # fmt: skip
            answers.append(response.status_code)
            if len(answers) == 2:  # both connectors exist: let them copy before pause/delete
                client = ConnectClient(worker.url)
                client.wait_until_running(f"mongo-telemetry-source-{uid}")
                client.wait_until_running(f"events-copy-sink-{uid}")
                wait_for(lambda: mongo[database].telemetry_events_copy.count_documents({}) == 25,
                         timeout=COPY_TIMEOUT_S, what="the copy in MongoDB")  # fmt: skip
        assert answers == [201, 201, 200, 200, 202, 202, 200, 204]
        copied = {d["player_id"]: d["kills"] for d in mongo[database].telemetry_events_copy.find()}
        assert copied == {f"p{i}": i for i in range(25)}
    finally:
        mongo.close()
        ConnectClient(worker.url).delete(f"mongo-telemetry-source-{uid}", missing_ok=True)
        ConnectClient(worker.url).delete(f"events-copy-sink-{uid}", missing_ok=True)
