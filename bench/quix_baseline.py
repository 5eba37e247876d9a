"""The Quix Streams baseline of ``e2e_vs_quix``: the demo's windowed sums in Quix Streams.

Quix Streams 3.28.1 pins ``confluent-kafka<2.13`` while the workbench pins 2.16.1, so it cannot
share the project's environment: it is a **bench-only dependency** installed (once, with pip)
into its own virtualenv under ``~/.cache/telemetry-workbench/quix-3.28.1`` and run there as a
subprocess with the standalone script below (it imports only quixstreams).

The app does what the CTAS does: JSON events keyed by player id, event time from the
``timestamp`` field, a 5-minute tumbling window per player summing kills and deaths, every
update to an output topic. It stops when it has seen ``total`` input records and prints the
seconds from start to then.

Processing guarantee: the CTAS it is compared with runs exactly-once (ksqlDB's
``processing.guarantee=exactly_once_v2``, our default), so the baseline runs Quix Streams with
``processing_guarantee="exactly-once"`` too — the same guarantee, Quix's own defaults otherwise
(commit interval 5 s). :func:`run_quix` can run the at-least-once default for comparison.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

__all__ = ["QUIX_VERSION", "quix_python", "run_quix"]

logger = logging.getLogger(__name__)

#: The pinned bench-only version.
QUIX_VERSION = "3.28.1"
#: Where its virtualenv lives (outside the repository; reused across runs).
QUIX_ENV = Path.home() / ".cache" / "telemetry-workbench" / f"quix-{QUIX_VERSION}"
#: Installing takes a minute or two; a run of 1M events at ~7k/s about 2.5 minutes.
INSTALL_TIMEOUT_S = 900
RUN_TIMEOUT_S = 1800

_APP = r"""
import json, sys, time
from quixstreams import Application

bootstrap, topic, total, group, out, state, guarantee = sys.argv[1:8]
total = int(total)
app = Application(
    broker_address=bootstrap,
    consumer_group=group,
    auto_offset_reset="earliest",
    # Tansu joins a group after ~half the session timeout: 6 s keeps the join at ~3 s.
    consumer_extra_config={"session.timeout.ms": 6000, "heartbeat.interval.ms": 1500},
    state_dir=state,
    processing_guarantee=guarantee,
)
source = app.topic(topic, value_deserializer="json",
                   timestamp_extractor=lambda value, headers, ts, ttype: int(value["timestamp"]))
sink = app.topic(out, value_serializer="json")
seen = {"n": 0, "start": None}

def count(value):
    if seen["start"] is None:
        seen["start"] = time.perf_counter()
    seen["n"] += 1
    if seen["n"] >= total:
        app.stop()
    return value

sdf = app.dataframe(source)
sdf = sdf.update(count)
sdf = sdf.apply(lambda v: {"kill": 1 if v["event_type"] == "kill" else 0,
                           "death": 1 if v["event_type"] == "death" else 0})
sdf = sdf.tumbling_window(duration_ms=300_000).reduce(
    reducer=lambda agg, v: {"kill": agg["kill"] + v["kill"], "death": agg["death"] + v["death"]},
    initializer=lambda v: v,
).current()
sdf = sdf.to_topic(sink)
began = time.perf_counter()
app.run()
print(json.dumps({"seconds": time.perf_counter() - began, "seen": seen["n"]}))
"""


def quix_python() -> Path:
    """The bench-only virtualenv's python, created and filled on first use."""
    python = QUIX_ENV / "bin" / "python"
    if not (QUIX_ENV / ".installed").exists():
        logger.info("installing quixstreams==%s into %s", QUIX_VERSION, QUIX_ENV)
        subprocess.run([sys.executable, "-m", "venv", str(QUIX_ENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", f"quixstreams=={QUIX_VERSION}"],
            check=True,
            timeout=INSTALL_TIMEOUT_S,
        )
        (QUIX_ENV / ".installed").write_text(QUIX_VERSION)
    return python


def run_quix(bootstrap: str, topic: str, total: int, *, guarantee: str = "exactly-once") -> float:
    """Seconds Quix Streams takes (from app start) to process ``total`` records of ``topic``.

    ``guarantee`` is Quix Streams' ``processing_guarantee``: ``exactly-once`` (default, as the
    CTAS it is compared with) or ``at-least-once`` (Quix's own default).
    """
    if guarantee not in ("exactly-once", "at-least-once"):
        raise ValueError(f"guarantee must be 'exactly-once' or 'at-least-once', not {guarantee!r}")
    import json

    python = quix_python()
    tag = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="bench-quix-") as tmp:
        script = Path(tmp) / "quix_app.py"
        script.write_text(_APP)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        done = subprocess.run(
            [
                str(python),
                str(script),
                bootstrap,
                topic,
                str(total),
                f"bench-quix-{tag}",
                f"quix_out_{tag}",
                str(Path(tmp) / "state"),
                guarantee,
            ],  # fmt: skip
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            env=env,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"the Quix Streams run failed: {done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["seen"] < total:
        raise RuntimeError(f"Quix Streams saw {result['seen']} of {total} records")
    return float(result["seconds"])
