"""Chart export: offline HTML, PNG and SVG files of plotly figures.

Owns :func:`export` (one figure to ``<folder>/<name>.<format>`` per format), :func:`to_image`
(PNG/SVG bytes), the export server's lifecycle (:func:`start_export_server`,
:func:`stop_export_server`, :func:`export_server_running`), :func:`find_browser` and
:class:`ChartExportError`.

* HTML: ``fig.write_html(include_plotlyjs=True)`` — plotly.js (~4.5 MB) embedded, so the file
  opens without a network; the figure's data is in the file.
* PNG/SVG: kaleido 1.x drives a headless Chromium. No browser is downloaded: it is Debian's
  ``chromium`` package (``make install`` installs it), found through ``BROWSER_PATH`` or the
  usual paths (:data:`BROWSER_CANDIDATES`). MathJax is off (it would load from a CDN) and
  plotly.js comes from the installed plotly package, so rendering needs no network either.

The export server: one kaleido browser per process, started by the first PNG/SVG (measured
here: about 2 s for the first image, 0.15-0.3 s for each image after it) and stopped by
:func:`stop_export_server` or at interpreter exit. It lives on its own thread with its own
event loop (so it also works inside Jupyter's running loop); every call waits with a timeout
and failures surface as :class:`ChartExportError` instead of a hang — the reason this module
runs ``kaleido.Kaleido`` itself rather than ``kaleido.start_sync_server``, whose calls block
forever when the browser failed to start.

Lifecycle: STOPPED --start--> RUNNING --stop--> STOPPED (start when RUNNING does nothing;
a failed start leaves STOPPED). A render that finds the browser dead (killed, crashed) drops it
and is retried once with a new browser (:data:`RENDER_RETRIES`); a render that times out drops
the browser and fails (the next call starts a new one).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import os
import shutil
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from telemetry_lib.errors import TelemetryError

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = [
    "BROWSER_CANDIDATES",
    "ChartExportError",
    "ExportFormat",
    "export",
    "export_browser_pid",
    "export_server_running",
    "find_browser",
    "start_export_server",
    "stop_export_server",
    "to_image",
]

logger = logging.getLogger(__name__)

ExportFormat = Literal["html", "png", "svg"]
FORMATS: tuple[ExportFormat, ...] = ("html", "png", "svg")
#: Where a Chromium is looked for after ``BROWSER_PATH``: Debian's package first.
BROWSER_CANDIDATES = (
    "/usr/bin/chromium",
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
)
#: Starting Chromium takes 1-3 s on a loaded 2-core machine; 60 s means it is not coming.
START_TIMEOUT_S = 60.0
#: One image renders in well under a second; a figure with ~1M points may take tens of
#: seconds. Past this the browser is presumed stuck.
RENDER_TIMEOUT_S = 120.0
#: A render that fails because the browser died is retried once with a new browser.
RENDER_RETRIES = 1
#: Closing the browser takes well under a second; do not hold interpreter exit longer.
STOP_TIMEOUT_S = 15.0
_INSTALL_HINT = (
    "run `make install` (installs Debian's chromium), or `apt-get install -y chromium`, "
    "or set BROWSER_PATH to a Chrome/Chromium executable"
)


class ChartExportError(TelemetryError):
    """A chart could not be exported (missing browser or kaleido, browser failure, bad args)."""

    origin = "external"


def find_browser() -> Path:
    """The Chromium to render with: ``BROWSER_PATH`` if set, else the first of
    :data:`BROWSER_CANDIDATES` found; raises :class:`ChartExportError` naming what it tried."""
    configured = os.environ.get("BROWSER_PATH")
    if configured:
        path = Path(configured)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise ChartExportError(
            f"BROWSER_PATH={configured!r} is not an executable file",
            hint="point BROWSER_PATH at chromium (Debian: /usr/bin/chromium) or unset it",
        )
    for candidate in BROWSER_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return Path(found)
    raise ChartExportError(
        "no Chromium found for PNG/SVG export (BROWSER_PATH is unset; looked for "
        + ", ".join(BROWSER_CANDIDATES)
        + ")",
        hint=_INSTALL_HINT,
    )


class _Renderer:
    """A kaleido browser on a private thread and event loop."""

    def __init__(self, browser: Path) -> None:
        self.browser = browser
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="chart-export", daemon=True
        )
        self._kaleido: Any = None

    def open(self) -> None:
        try:
            import kaleido
        except ImportError as exc:
            raise ChartExportError(
                f"kaleido is not installed ({exc})",
                hint="pip install kaleido==1.5.0 (pinned in pyproject.toml; `make install`)",
            ) from exc
        self._thread.start()

        async def _open() -> Any:
            k = kaleido.Kaleido(
                n=1, timeout=RENDER_TIMEOUT_S, mathjax=False, path=str(self.browser)
            )
            await k.open()
            return k

        try:
            self._kaleido = self._run(_open(), START_TIMEOUT_S)
        except BaseException:
            self._stop_loop()
            raise

    def render(self, fig: Any, opts: dict[str, Any]) -> bytes:
        data = self._run(self._kaleido.calc_fig(fig, opts=opts), RENDER_TIMEOUT_S + 5.0)
        return bytes(data)

    def close(self) -> None:
        try:
            if self._kaleido is not None:
                self._run(self._kaleido.close(), STOP_TIMEOUT_S)
        finally:
            self._kaleido = None
            self._stop_loop()

    def _run(self, coroutine: Any, timeout: float) -> Any:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout)

    def _stop_loop(self) -> None:
        if self._thread.is_alive():
            try:  # a failed start leaves choreographer's watchdog task pending: end it first
                self._run(_cancel_pending(), STOP_TIMEOUT_S)
            except Exception as exc:
                logger.debug("cancelling the export loop's tasks failed: %s", exc)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(STOP_TIMEOUT_S)
        if not self._thread.is_alive():
            self._loop.close()


async def _cancel_pending() -> None:
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


_lock = threading.Lock()
_renderer: _Renderer | None = None
_atexit_registered = False


def start_export_server(*, browser: str | Path | None = None) -> None:
    """Start the process's export browser (no-op when running); ``browser`` overrides
    :func:`find_browser`. Raises :class:`ChartExportError` if it cannot start."""
    global _renderer, _atexit_registered
    with _lock:
        if _renderer is not None:
            return
        path = Path(browser) if browser is not None else find_browser()
        renderer = _Renderer(path)
        began = time.perf_counter()
        try:
            renderer.open()
        except ChartExportError:
            raise
        except Exception as exc:
            raise ChartExportError(
                f"the export browser {path} did not start: {type(exc).__name__}: {exc}",
                hint=_INSTALL_HINT,
            ) from exc
        logger.info("chart export browser %s started in %.2f s", path, time.perf_counter() - began)
        _renderer = renderer
        if not _atexit_registered:
            atexit.register(stop_export_server)
            _atexit_registered = True


def stop_export_server() -> None:
    """Close the export browser and its thread (no-op when not running)."""
    global _renderer
    with _lock:
        renderer, _renderer = _renderer, None
    if renderer is not None:
        try:
            renderer.close()
        except Exception as exc:  # shutting down: report, never raise from atexit
            logger.warning("closing the chart export browser failed: %s", exc)


def export_server_running() -> bool:
    """Whether the export browser is running."""
    return _renderer is not None


def export_browser_pid() -> int | None:
    """The process id of the running export browser (None when stopped) — for diagnostics."""
    renderer = _renderer
    process = getattr(renderer._kaleido, "subprocess", None) if renderer is not None else None
    return int(process.pid) if process is not None else None


def to_image(
    fig: go.Figure,
    fmt: Literal["png", "svg"],
    *,
    width: int | None = None,
    height: int | None = None,
    scale: float = 1.0,
) -> bytes:
    """``fig`` rendered as PNG or SVG bytes (starts the export server if needed).

    ``width``/``height`` default to the figure's layout size (else plotly's 700 x 500); a PNG
    has ``width * scale`` x ``height * scale`` pixels."""
    if fmt not in ("png", "svg"):
        raise ChartExportError(f"unknown image format {fmt!r}", hint="use 'png' or 'svg'")
    opts: dict[str, Any] = {"format": fmt, "scale": scale}
    layout = fig.layout
    w = width if width is not None else layout.width
    h = height if height is not None else layout.height
    if w is not None:
        opts["width"] = int(w)
    if h is not None:
        opts["height"] = int(h)
    for attempt in range(1 + RENDER_RETRIES):
        start_export_server()
        renderer = _renderer
        if renderer is None:  # stopped by another thread in between
            raise ChartExportError("the export browser was stopped while exporting")
        try:
            return renderer.render(fig, opts)
        except TimeoutError as exc:
            _discard(renderer)
            raise ChartExportError(
                f"rendering a {fmt} took longer than {RENDER_TIMEOUT_S} s",
                hint="make the figure smaller (fewer points); the browser was restarted",
            ) from exc
        except Exception as exc:
            if not _browser_broken(exc, renderer):
                raise ChartExportError(
                    f"rendering a {fmt} failed: {type(exc).__name__}: {exc}"
                ) from exc
            # the browser died: drop it; the next attempt (or call) starts a new one
            _discard(renderer)
            if attempt == RENDER_RETRIES:
                raise ChartExportError(
                    f"rendering a {fmt} failed: {type(exc).__name__}: {exc}"
                ) from exc
            logger.warning("chart export failed (%s); restarting the browser", exc)
    raise AssertionError("unreachable")


def _browser_broken(exc: BaseException, renderer: _Renderer) -> bool:
    """Whether ``exc`` says the browser or its pipe is gone: choreographer's errors, a closed
    pipe, or the render cancelled while ``renderer`` is still the export browser — when the
    browser process dies, choreographer's watchdog may close it and cancel the pending render
    before the closed pipe is noticed (seen in CI: ``CancelledError`` after a SIGKILL).
    Cancelled by :func:`stop_export_server` (another thread) is not a broken browser."""
    if isinstance(exc, concurrent.futures.CancelledError):
        return _renderer is renderer
    return type(exc).__module__.startswith("choreographer") or isinstance(
        exc, BrokenPipeError | ConnectionError | EOFError
    )


def _discard(renderer: _Renderer) -> None:
    """Stop ``renderer`` if it is still the process's export browser."""
    global _renderer
    with _lock:
        if _renderer is not renderer:
            return
        _renderer = None
    try:
        renderer.close()
    except Exception as exc:
        logger.debug("closing a failed export browser: %s", exc)


def export(
    fig: go.Figure,
    folder: str | Path,
    name: str,
    formats: Sequence[ExportFormat] = FORMATS,
    *,
    width: int | None = None,
    height: int | None = None,
    scale: float = 1.0,
) -> dict[ExportFormat, Path]:
    """Write ``fig`` as ``<folder>/<name>.<format>`` for each format; returns the paths.

    ``folder`` is created if missing. HTML embeds plotly.js (offline); PNG/SVG go through the
    export server (:func:`to_image`, same size arguments). ``name`` must be a plain file stem.
    """
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ChartExportError(f"unknown export format(s) {unknown}", hint=f"use {FORMATS}")
    if not name or Path(name).name != name or name.startswith("."):
        raise ChartExportError(f"chart name {name!r} is not a plain file name")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[ExportFormat, Path] = {}
    for fmt in formats:
        path = out / f"{name}.{fmt}"
        if fmt == "html":
            fig.write_html(path, include_plotlyjs=True, full_html=True)
        else:
            path.write_bytes(to_image(fig, fmt, width=width, height=height, scale=scale))
        written[fmt] = path
    return written
