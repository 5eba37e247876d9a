"""Generator throughput into the embedded Kafka broker and MongoDB server, against baselines.

- ``generator_kafka_vs_naive``: generating + writing events with ``TelemetryGenerator.to_kafka``
  vs a naive loop that ``json.dumps`` and ``produce()`` s each (already generated) event.
  Target ratio >= 2 (>= 300k events/s).
- ``generator_mongo_vs_insert_many``: ``TelemetryGenerator.to_mongo`` vs one plain pymongo
  ``insert_many`` of the same (already built) documents. Target ratio >= 0.8.

Each benchmark starts its own services on free ports in a temporary workdir and stops them.
"""

from __future__ import annotations

import json
import logging
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pymongo
from confluent_kafka import Producer

from bench.harness import BenchResult, alternate, cpu_seconds
from telemetry_lib.config import Settings, load_settings
from telemetry_lib.generator import GeneratorConfig, TelemetryGenerator, mongo_documents
from telemetry_lib.kafka import KafkaAdmin, producer_config
from telemetry_lib.services import Stack, free_port

__all__ = ["bench_generator_kafka_vs_naive", "bench_generator_mongo_vs_insert_many"]

logger = logging.getLogger(__name__)

#: Events per Kafka run: ~1-3 s per run at the rates seen here, long enough to dwarf startup.
KAFKA_EVENTS = 400_000
#: Players in the Kafka run: the size the engine benchmarks use (issue 4: 10k players).
KAFKA_PLAYERS = 10_000
#: Partitions of the benchmark topics (the demo's topic has 4).
KAFKA_PARTITIONS = 4
#: Documents per Mongo run: NX-27017 takes ~4-6k docs/s, so ~4 s per run.
MONGO_EVENTS = 20_000
#: Runs per side for Mongo: each is seconds long, three keep the benchmark near half a minute.
MONGO_RUNS = 3
#: Produce() retry pause when librdkafka's queue is full (the naive loop's only concession).
_QUEUE_FULL_POLL_S = 0.05


def bench_generator_kafka_vs_naive() -> BenchResult:
    config = GeneratorConfig(seed=1, players=KAFKA_PLAYERS, events=KAFKA_EVENTS)
    gen = TelemetryGenerator(config)
    docs = gen.events().select(gen.columns).to_dicts()  # the baseline's input, built untimed
    topics = _topic_names("gen")
    with _stack(["kafka"]) as settings:
        admin = KafkaAdmin(settings)
        broker = _service_pids(settings, "kafka")
        cpu: dict[str, list[float]] = {"subject": [], "baseline": []}

        def fresh_topic() -> str:
            name = next(topics)
            admin.create_topic(name, KAFKA_PARTITIONS)
            return name

        def subject() -> float:
            topic = fresh_topic()
            cpu0, began = cpu_seconds(broker), time.perf_counter()
            report = gen.to_kafka(topic, settings=settings, progress=False)
            seconds = time.perf_counter() - began
            cpu["subject"].append((cpu_seconds(broker) - cpu0) / report.events)
            admin.delete_topic(topic)
            return report.events / seconds

        def baseline() -> float:
            topic = fresh_topic()
            cpu0, began = cpu_seconds(broker), time.perf_counter()
            _naive_produce(settings, topic, docs)
            seconds = time.perf_counter() - began
            cpu["baseline"].append((cpu_seconds(broker) - cpu0) / len(docs))
            admin.delete_topic(topic)
            return len(docs) / seconds

        comparison = alternate(subject, baseline)
    return comparison.result(
        "generator_kafka_vs_naive",
        "events/s",
        "naive per-record json.dumps + produce() loop over pre-generated events",
        notes=f"{KAFKA_EVENTS} events, {KAFKA_PLAYERS} players, {KAFKA_PARTITIONS} partitions, "
        "embedded Tansu; subject includes generation; target ratio >= 2 and >= 300k events/s; "
        + _cpu_note(cpu),
    )


def bench_generator_mongo_vs_insert_many() -> BenchResult:
    config = GeneratorConfig(seed=2, players=1_000, events=MONGO_EVENTS)
    gen = TelemetryGenerator(config)
    docs = [d for batch in gen.batches() for d in mongo_documents(batch, gen.columns)]
    with _stack(["mongo"]) as settings:
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
            settings.mongo_uri.reveal()
        )
        db = client["bench"]
        names = _topic_names("events")
        server = _service_pids(settings, "mongo")
        cpu: dict[str, list[float]] = {"subject": [], "baseline": []}
        try:

            def subject() -> float:
                name = next(names)
                cpu0, began = cpu_seconds(server), time.perf_counter()
                report = gen.to_mongo(name, database="bench", settings=settings, progress=False)
                seconds = time.perf_counter() - began
                cpu["subject"].append((cpu_seconds(server) - cpu0) / report.records)
                db.drop_collection(name)
                return report.records / seconds

            def baseline() -> float:
                name = next(names)
                batch = [dict(d) for d in docs]
                cpu0, began = cpu_seconds(server), time.perf_counter()
                db[name].insert_many(batch)
                seconds = time.perf_counter() - began
                cpu["baseline"].append((cpu_seconds(server) - cpu0) / len(batch))
                db.drop_collection(name)
                return len(batch) / seconds

            comparison = alternate(subject, baseline, runs=MONGO_RUNS)
        finally:
            client.close()
    return comparison.result(
        "generator_mongo_vs_insert_many",
        "docs/s",
        "one pymongo insert_many of the same pre-built documents",
        notes=f"{MONGO_EVENTS} documents, embedded NX-27017; subject includes generation; "
        "target ratio >= 0.8; " + _cpu_note(cpu),
    )


def _naive_produce(settings: Settings, topic: str, docs: list[dict[str, Any]]) -> None:
    """The baseline: one json.dumps and one produce() per event, then flush."""
    producer = Producer(producer_config(settings))
    for doc in docs:
        value = json.dumps(doc).encode()
        key = doc["player_id"].encode()
        while True:
            try:
                producer.produce(topic, value, key, timestamp=doc["timestamp"])
                break
            except BufferError:
                producer.poll(_QUEUE_FULL_POLL_S)
    remaining = producer.flush(60)
    if remaining:
        raise RuntimeError(f"{remaining} baseline records were not delivered")


def _service_pids(settings: Settings, service: str) -> list[int]:
    """The pid of an embedded service, to count its CPU time with ours."""
    rows = Stack(settings, services=[service]).status()
    return [row.pid for row in rows if row.service == service and row.pid is not None]


def _cpu_note(cpu: dict[str, list[float]]) -> str:
    """CPU per record of each side (this process + the server), medians: a view of the
    comparison that machine load from other programs does not distort."""
    subject, baseline = statistics.median(cpu["subject"]), statistics.median(cpu["baseline"])
    return (
        f"CPU per record incl. the server, medians: subject {subject * 1e6:.2f} us, "
        f"baseline {baseline * 1e6:.2f} us (CPU ratio {baseline / subject:.2f})"
    )


def _topic_names(prefix: str) -> Iterator[str]:
    n = 0
    while True:
        n += 1
        yield f"bench_{prefix}_{n}"


@contextmanager
def _stack(services: list[str]) -> Iterator[Settings]:
    """A private embedded stack on free ports in a temporary workdir."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        settings = load_settings(
            config_file=False,
            environ={},
            workdir=Path(tmp),
            kafka_port=free_port(),
            mongo_port=free_port(),
        )
        with Stack(settings, services=services):
            yield settings
