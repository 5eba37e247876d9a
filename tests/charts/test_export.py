"""Chart export for real: kaleido + Debian's chromium (one browser per session), files checked.

PNG: signature, chunk CRCs, size from IHDR, the decompressed data length, and (at a small size,
decoded by tests/charts/png.py) non-blank pixels. SVG: parses as XML with the expected size.
HTML: plotly.js embedded (no external script) and the figure's data in the page.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import signal
import struct
import time
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import polars as pl
import pytest

from telemetry_lib import analytics, charts
from telemetry_lib.charts import exporter as export_module
from telemetry_lib.generator import GeneratorConfig, TelemetryGenerator
from tests.charts.png import SIGNATURE, read_png

WIDTH, HEIGHT = 1000, 560  # charts.theme DEFAULT_WIDTH / DEFAULT_HEIGHT


@pytest.fixture(scope="session")
def export_server() -> Iterator[dict[str, float]]:
    """The process's export browser, started once (or reused) and stopped at the end."""
    began = time.perf_counter()
    charts.start_export_server()
    charts.to_image(go.Figure(go.Bar(y=[1, 2, 3])), "png", width=200, height=100)
    yield {"first_image_s": time.perf_counter() - began}
    charts.stop_export_server()
    assert not charts.export_server_running()


@pytest.fixture(scope="module")
def figures() -> dict[str, go.Figure]:
    gen = TelemetryGenerator(GeneratorConfig(seed=3, players=30, events=6_000))
    events, players = gen.events(), gen.players()
    table = analytics.kd_truth(events)
    return {
        "kd_trend": charts.kd_trend_figure(analytics.kd_trends(table), max_players=5),
        "leaderboard": charts.leaderboard_figure(analytics.leaderboard(table, top=5)),
        "kd_histogram": charts.kd_histogram_figure(table),
        "streaks": charts.streaks_figure(analytics.streak_summary(events)),
        "anomalies": charts.anomaly_figure(analytics.anomaly_flags(table)),
        "death_heatmap": charts.death_heatmap_figure(analytics.death_heatmap(events)),
        "team_kd": charts.team_kd_figure(analytics.team_kd(table, players)),
    }


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG after checking its chunks, CRCs and decompressed length."""
    assert data.startswith(SIGNATURE)
    pos, idat, header = len(SIGNATURE), bytearray(), b""
    kinds = []
    while pos < len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        assert zlib.crc32(kind + body) == struct.unpack_from(">I", data, pos + 8 + length)[0]
        kinds.append(kind)
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    width, height, depth, ctype = struct.unpack_from(">IIBB", header)
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
    assert depth == 8
    assert len(zlib.decompress(bytes(idat))) == height * (width * channels + 1)
    return width, height


def svg_size(path: Path) -> tuple[float, float]:
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    return float(root.get("width", "0")), float(root.get("height", "0"))


def test_a_browser_that_cannot_start_fails_fast_and_export_recovers() -> None:
    # First in the file, so in a serial run no real browser is running yet (no restart cost).
    charts.stop_export_server()
    with pytest.raises(charts.ChartExportError, match="did not start"):
        charts.start_export_server(browser="/bin/false")
    assert not charts.export_server_running()
    # the next image starts the real browser (lazily); the session fixture reuses it
    png = charts.to_image(go.Figure(go.Bar(y=[2, 1])), "png", width=120, height=80)
    assert png_size(png) == (120, 80)
    assert charts.export_server_running()


def test_every_chart_exports_html_png_svg(
    export_server: dict[str, float], figures: dict[str, go.Figure], tmp_path: Path
) -> None:
    per_image = []
    for name, fig in figures.items():
        began = time.perf_counter()
        written = charts.export(fig, tmp_path / "charts", name, formats=("png", "svg"))
        per_image.append((time.perf_counter() - began) / 2)
        written |= charts.export(fig, tmp_path / "charts", name, formats=("html",))
        assert set(written) == {"html", "png", "svg"}
        assert written["png"] == tmp_path / "charts" / f"{name}.png"
        assert png_size(written["png"].read_bytes()) == (WIDTH, HEIGHT), name
        assert svg_size(written["svg"]) == (WIDTH, HEIGHT), name
        html = written["html"].read_text()
        assert "plotly.js v" in html and "Plotly.newPlot" in html, name
        assert not re.search(r"<script[^>]+src=", html), f"{name}: external script in HTML"
        first_trace = fig.data[0]
        label = first_trace.name or ""
        assert json.dumps(label) in html or label == "", name
    print(f"\nchart export: {np.median(per_image):.3f} s per PNG/SVG image (median)")


def test_exported_data_is_in_the_html(export_server: dict[str, float], tmp_path: Path) -> None:
    fig = charts.team_kd_figure(
        pl.DataFrame(
            {
                "team": ["Quartz Owls"],
                "region": ["EU"],
                "kill_count": [7],
                "death_count": [2],
                "kd": [3.5],
            }
        )
    )
    html = charts.export(fig, tmp_path, "one", formats=("html",))["html"].read_text()
    assert "Quartz Owls" in html and "3.5" in html


def test_png_pixels_are_drawn_at_the_requested_size(
    export_server: dict[str, float], figures: dict[str, go.Figure]
) -> None:
    for name in ("leaderboard", "death_heatmap"):
        png = charts.to_image(figures[name], "png", width=320, height=200)
        pixels = read_png(png)
        assert pixels.shape[:2] == (200, 320), name
        rgb = pixels[:, :, :3].reshape(-1, 3)
        assert len(np.unique(rgb, axis=0)) > 20, f"{name}: too few colours, blank image?"
        drawn = (rgb < 230).any(axis=1).mean()
        assert 0.02 < drawn < 0.98, f"{name}: {drawn:.1%} of pixels drawn"
    heat = read_png(charts.to_image(figures["death_heatmap"], "png", width=320, height=200))
    # Viridis spans dark purple to yellow: the heatmap has strongly blue-ish and yellow-ish pixels
    rgb = heat[:, :, :3].astype(int).reshape(-1, 3)
    assert ((rgb[:, 2] > 100) & (rgb[:, 0] < 80)).any()
    assert ((rgb[:, 0] > 150) & (rgb[:, 1] > 150) & (rgb[:, 2] < 100)).any()


def test_scale_multiplies_png_pixels(export_server: dict[str, float]) -> None:
    fig = charts.apply_theme(go.Figure(go.Scatter(y=[1, 3, 2])))
    assert png_size(charts.to_image(fig, "png", width=300, height=200, scale=2)) == (600, 400)
    svg = charts.to_image(fig, "svg", width=300, height=200)
    assert ET.fromstring(svg).get("width") == "300"


def test_export_rejects_bad_arguments(tmp_path: Path) -> None:
    fig = go.Figure()
    with pytest.raises(charts.ChartExportError, match="format"):
        charts.export(fig, tmp_path, "x", formats=("jpg",))  # type: ignore[arg-type]
    for bad in ("", "../x", "a/b", ".hidden"):
        with pytest.raises(charts.ChartExportError, match="file name"):
            charts.export(fig, tmp_path, bad, formats=("html",))
    with pytest.raises(charts.ChartExportError, match="format"):
        charts.to_image(fig, "gif")  # type: ignore[arg-type]


def test_missing_browser_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROWSER_PATH", "/nonexistent/chromium")
    with pytest.raises(charts.ChartExportError, match="BROWSER_PATH"):
        charts.find_browser()
    monkeypatch.delenv("BROWSER_PATH")
    monkeypatch.setattr(export_module, "BROWSER_CANDIDATES", ("/nonexistent/chromium",))
    with pytest.raises(charts.ChartExportError) as info:
        charts.find_browser()
    assert "no Chromium found" in str(info.value) and "make install" in str(info.value)


def test_a_cancelled_render_counts_as_a_dead_browser_only_while_that_browser_is_current(
    export_server: dict[str, float],
) -> None:
    # choreographer's watchdog closes a browser whose process died and cancels the pending
    # render: that is a broken browser (retry with a new one); a render cancelled because the
    # export server was stopped (or already replaced) is not.
    charts.to_image(go.Figure(go.Bar(y=[1])), "svg", width=50, height=40)
    current = export_module._renderer
    assert current is not None
    cancelled = concurrent.futures.CancelledError()
    assert export_module._browser_broken(cancelled, current)
    other = export_module._Renderer(Path("/nonexistent/browser"))  # never opened
    assert not export_module._browser_broken(cancelled, other)
    assert not export_module._browser_broken(ValueError("bad figure"), current)
    assert export_module._browser_broken(BrokenPipeError(), other)
    other._loop.close()


def test_a_dead_browser_is_replaced_on_the_next_image(export_server: dict[str, float]) -> None:
    fig = go.Figure(go.Bar(y=[1, 2]))
    charts.to_image(fig, "png", width=100, height=80)
    pid = charts.export_browser_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # the browser this test process started
    # the render finds the pipe closed, starts a new browser and retries once
    assert png_size(charts.to_image(fig, "png", width=100, height=80)) == (100, 80)
    assert charts.export_browser_pid() not in (None, pid)
