"""A minimal Chrome DevTools Protocol driver for the JupyterLab smoke test: headless Debian
``chromium`` on a free port, one page, ``evaluate`` and ``screenshot`` (no browser download,
no playwright)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import websocket

from telemetry_lib.services import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: Chromium answers /json within a second or two here; 30 s tolerates a loaded machine.
START_TIMEOUT_S = 30.0
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1400,1000",
)  # fmt: skip


class Browser:
    """Headless chromium with one page driven over CDP; stop() ends exactly this process."""

    def __init__(self, profile_dir: Path) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile_dir}",
             f"--remote-debugging-port={self.port}", "--remote-debugging-address=127.0.0.1",
             "about:blank"],  # fmt: skip
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._id = 0
        self.ws = websocket.create_connection(self._page_socket(), timeout=60)

    def _page_socket(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                pages = httpx.get(f"http://127.0.0.1:{self.port}/json/list", timeout=2).json()
                for page in pages:
                    if page.get("type") == "page":
                        return str(page["webSocketDebuggerUrl"])
            except (httpx.HTTPError, ValueError):
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"chromium did not open its DevTools port {self.port}")
            time.sleep(0.2)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (promises awaited)."""
        result = self.call(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"JS error: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float, poll: float = 0.5) -> Any:
        """Poll ``expression`` until it is truthy; its value (raise on timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout:g} s for: {expression}")
            time.sleep(poll)

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data["data"]))
        return path

    def stop(self) -> None:
        try:
            self.ws.close()
        finally:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
