"""Local TCP ports: is one free, who holds it, is something accepting on it, pick a free one."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from pathlib import Path

__all__ = ["LOOPBACK", "accepting", "free_port", "port_in_use", "port_owner"]

logger = logging.getLogger(__name__)

# Embedded services bind to loopback only: nothing is exposed beyond this machine.
LOOPBACK = "127.0.0.1"
# TCP state code of a listening socket in /proc/net/tcp{,6}.
_TCP_LISTEN = "0A"


def free_port() -> int:
    """A port nothing listens on right now (bind port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def port_in_use(port: int, host: str = LOOPBACK) -> bool:
    """True when binding ``host:port`` fails, i.e. another socket listens there.

    SO_REUSEADDR is set like the servers themselves do, so connections of a server that just
    stopped (TIME_WAIT) don't count as "in use".
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def accepting(port: int, *, timeout_s: float, host: str = LOOPBACK) -> bool:
    """True when a TCP connection to ``host:port`` succeeds within ``timeout_s``."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def port_owner(port: int) -> str | None:
    """``"pid N (command)"`` of the process listening on ``port``, when /proc tells (Linux)."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    proc = Path("/proc")
    for pid_dir in proc.iterdir():
        if not pid_dir.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (pid_dir / "fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:[") and target[8:-1] in inodes:
                        cmd = (pid_dir / "cmdline").read_bytes().replace(b"\0", b" ")
                        return f"pid {pid_dir.name} ({cmd.decode(errors='replace').strip()[:120]})"
    return None


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == _TCP_LISTEN and int(local.rsplit(":", 1)[1], 16) == port:
                    inodes.add(inode)
    return inodes
