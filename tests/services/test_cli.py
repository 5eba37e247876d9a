"""The ``telemetry`` command as a user runs it (a subprocess), against the real embedded stack:
output, exit status, and one clear error line (no traceback) for each kind of bad input."""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from telemetry_lib.services import free_port

# How long to wait for the follower's next line: generous for a loaded 2-core machine, but
# bounded so a broken follower fails the test instead of hanging the suite.
_FOLLOW_WAIT_S = 30

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SECRETS = ("kafka-secret-value-123", "ksql-secret-value-456", "mongo-pass-789")


def _env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TELEMETRY_")}
    # Run this checkout's package even when it is not pip-installed (cwd is a temp dir).
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def _telemetry(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "telemetry_lib.cli", *args],
        cwd=cwd,
        env=env if env is not None else _env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _assert_clean_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_up_status_up_again_logs_down(tmp_path: Path) -> None:
    kafka, mongo, ksqldb, connect = free_port(), free_port(), free_port(), free_port()
    ports = ["--kafka-port", str(kafka), "--mongo-port", str(mongo), "--ksqldb-port", str(ksqldb),
             "--connect-port", str(connect)]  # fmt: skip
    env = _env(TELEMETRY_WORKDIR=str(tmp_path / "wb"))
    try:
        up = _telemetry(tmp_path, "up", *ports, env=env)
        assert up.returncode == 0, up.stderr
        kafka_line = next(line for line in up.stdout.splitlines() if line.startswith("kafka "))
        assert kafka_line.split()[1] == "started" and f"127.0.0.1:{kafka}" in up.stdout
        assert f"127.0.0.1:{mongo}" in up.stdout and "stack ready in" in up.stdout

        status = _telemetry(tmp_path, *ports, "status", env=env)
        assert status.returncode == 0, status.stderr
        lines = status.stdout.splitlines()
        assert lines[1].split() == ["SERVICE", "ADDRESS", "PID", "UPTIME", "HEALTH", "NOTE"]
        kafka_row = next(line for line in lines if line.startswith("kafka"))
        assert "healthy" in kafka_row and "memory only" in kafka_row

        again = _telemetry(tmp_path, "up", *ports, env=env)
        assert again.returncode == 0 and again.stdout.count("already running") == 4

        logs = _telemetry(tmp_path, "logs", "kafka", "-n", "50", env=env)
        assert logs.returncode == 0 and "telemetry starts kafka" in logs.stdout
        assert f"--listener-url tcp://127.0.0.1:{kafka}" in logs.stdout
    finally:
        down = _telemetry(tmp_path, "down", env=env)
    assert down.returncode == 0
    assert "stopped kafka" in down.stdout and "stopped mongo" in down.stdout
    stopped = _telemetry(tmp_path, *ports, "status", env=env)
    assert stopped.returncode == 1 and stopped.stdout.count("stopped") == 4


def test_port_in_use_is_one_clear_error(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        env = _env(TELEMETRY_WORKDIR=str(tmp_path / "wb"), TELEMETRY_MONGO_PORT=str(free_port()))
        result = _telemetry(tmp_path, "up", "--kafka-port", str(port), env=env)
    _assert_clean_error(result, f"port {port} for kafka is already in use", "--kafka-port N")


def test_malformed_workbench_toml_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "workbench.toml").write_text('profile = "embedded"\nkafka_port = "9092\n')
    result = _telemetry(tmp_path, "status")
    _assert_clean_error(result, "workbench.toml, line 2", "malformed TOML")


def test_invalid_setting_is_one_clear_error(tmp_path: Path) -> None:
    result = _telemetry(tmp_path, "status", env=_env(TELEMETRY_PROFILE="prod"))
    _assert_clean_error(result, "TELEMETRY_PROFILE", "embedded | self-managed | confluent-cloud")


def test_remote_profile_up_starts_nothing_and_reports_unreachable(tmp_path: Path) -> None:
    env = _env(
        TELEMETRY_PROFILE="self-managed",
        TELEMETRY_WORKDIR=str(tmp_path / "wb"),
        TELEMETRY_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}",
        TELEMETRY_MONGO_URI=f"mongodb://127.0.0.1:{free_port()}/?directConnection=true",
        TELEMETRY_KSQLDB_URL=f"http://127.0.0.1:{free_port()}",
        TELEMETRY_CONNECT_URL=f"http://127.0.0.1:{free_port()}",
        TELEMETRY_REMOTE_TIMEOUT_S="1",
    )
    result = _telemetry(tmp_path, "up", env=env)
    assert "nothing to start locally" in result.stdout
    _assert_clean_error(result, "nothing is started locally", "unreachable")
    for service in ("kafka", "mongo", "ksqldb", "connect"):
        assert f"  {service} at " in result.stderr
    assert not (tmp_path / "wb" / "run").exists()  # nothing was started


def test_cloud_status_masks_secrets_and_reports_unreachable(tmp_path: Path) -> None:
    env = _env(
        TELEMETRY_PROFILE="confluent-cloud",
        TELEMETRY_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}",
        TELEMETRY_KAFKA_API_KEY="KEYKEYKEY",
        TELEMETRY_KAFKA_API_SECRET=SECRETS[0],
        TELEMETRY_KSQLDB_URL=f"https://127.0.0.1:{free_port()}",
        TELEMETRY_KSQLDB_API_KEY="KSQLKEY",
        TELEMETRY_KSQLDB_API_SECRET=SECRETS[1],
        TELEMETRY_MONGO_URI=f"mongodb+srv://analyst:{SECRETS[2]}@cluster0.example.invalid/",
        TELEMETRY_REMOTE_TIMEOUT_S="1",
    )
    result = _telemetry(tmp_path, "status", "-v", env=env)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    for secret in SECRETS:
        assert secret not in output
    assert "mongodb+srv://analyst:****@cluster0.example.invalid/" in result.stdout
    assert "unreachable under profile confluent-cloud: kafka, mongo, ksqldb" in result.stderr


def test_logs_follow_prints_appended_lines_with_the_service_name(tmp_path: Path) -> None:
    logs = tmp_path / "wb" / "logs"
    logs.mkdir(parents=True)
    (logs / "kafka.log").write_text("old kafka line\n")
    (logs / "mongo.log").write_text("old mongo line\n")
    env = _env(TELEMETRY_WORKDIR=str(tmp_path / "wb"))
    env.pop("PYTHONUNBUFFERED", None)  # stdout is a pipe: block-buffered unless flushed
    follower = subprocess.Popen(
        [sys.executable, "-m", "telemetry_lib.cli", "logs", "-f", "-n", "1"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert follower.stdout is not None
        lines: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(
            target=lambda: [lines.put(line) for line in follower.stdout], daemon=True
        )
        reader.start()
        # four headers (kafka, mongo, ksqldb, connect: no lines yet), two last lines; a bounded wait so
        # a broken follower fails, never hangs
        seen = [lines.get(timeout=_FOLLOW_WAIT_S) for _ in range(6)]
        assert "old kafka line\n" in seen and "old mongo line\n" in seen
        with (logs / "mongo.log").open("a") as log:
            log.write("fresh mongo line\n")
        assert lines.get(timeout=_FOLLOW_WAIT_S) == "[mongo] fresh mongo line\n"
    finally:
        follower.terminate()
        follower.wait(timeout=10)
