"""JupyterLab smoke test: ``jupyter lab`` on 127.0.0.1 (free port, token), notebook 04 opened
in headless Debian chromium over the DevTools protocol, all cells run, the rendered output
checked, and a screenshot kept under ``reports/artifacts/`` (git-ignored; path printed)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx
import nbformat
import papermill
import pytest

from telemetry_lib.config import Settings
from telemetry_lib.services import free_port
from telemetry_lib.workbench import ReportResult
from telemetry_lib.workbench.report import NOTEBOOKS_DIR, kernel_environment
from tests.notebooks.cdp import CHROMIUM, Browser
from tests.notebooks.conftest import PARAMS
from tests.notebooks.png import png_info

# The session's notebook suite (set up by the first test needing it) takes 1-3 minutes on a
# busy 2-core machine: more than the default per-test timeout leaves room for.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "reports" / "artifacts"
#: JupyterLab answers /api/status within ~5 s here; 60 s tolerates a loaded machine.
LAB_START_TIMEOUT_S = 60.0
#: Opening the notebook, starting its kernel and running 04's cells (a few seconds each).
RUN_TIMEOUT_S = 180.0

#: The notebook panel (headless windows have no focus, so shell.currentWidget stays null).
PANEL = """(window.jupyterapp ? Array.from(window.jupyterapp.shell.widgets('main'))
  .find(w => w.content && w.sessionContext) : undefined)"""
KERNEL_READY = """(() => {
  const p = """ + PANEL + """;
  return !!(p && p.sessionContext.session && p.sessionContext.session.kernel);
})()"""
ALL_CELLS_DONE = """(() => {
  const nb = """ + PANEL + """;
  if (!nb || !nb.content || !nb.sessionContext) return 0;
  const kernel = nb.sessionContext.session && nb.sessionContext.session.kernel;
  const cells = nb.content.widgets.filter(c => c.model.type === 'code');
  const failed = cells.some(c => c.model.outputs.toJSON().some(o => o.output_type === 'error'));
  if (failed) return -1;
  const done = cells.length > 0 && cells.every(c => c.model.executionCount);
  return done && kernel && kernel.status === 'idle' ? cells.length : 0;
})()"""
OUTPUT_TEXT = """(() => {
  const cells = (""" + PANEL + """).content.widgets;
  return cells.filter(c => c.model.type === 'code')
    .flatMap(c => c.model.outputs.toJSON())
    .map(o => [].concat(o.text || (o.data && o.data['text/plain']) || []).join(''))
    .join('\\n');
})()"""
ERRORS = """(() => {
  const cells = (""" + PANEL + """).content.widgets;
  return cells.filter(c => c.model.type === 'code')
    .flatMap(c => c.model.outputs.toJSON())
    .filter(o => o.output_type === 'error')
    .map(o => o.ename + ': ' + o.evalue);
})()"""


def _start_lab(root: Path, settings: Settings, token: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {**os.environ, **kernel_environment(settings), "JUPYTER_RUNTIME_DIR": str(root / ".rt")}
    env.pop("PLOTLY_RENDERER", None)  # JupyterLab's own default renderer (mimetype)
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--ip", "127.0.0.1", "--port", str(port),
         "--no-browser", "--allow-root", f"--ServerApp.token={token}",
         f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
         f"--LabApp.workspaces_dir={root / '.ws'}"],  # fmt: skip
        stdout=subprocess.DEVNULL,
        stderr=open(root / "lab.log", "wb"),  # noqa: SIM115 - closed with the process
        env=env,
    )
    deadline = time.monotonic() + LAB_START_TIMEOUT_S
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2).is_success:
                return process, port
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"jupyter lab did not start: {(root / 'lab.log').read_text()[-2000:]}")
        time.sleep(0.3)


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (make install)")
def test_notebook_04_runs_in_jupyterlab(
    suite: ReportResult, notebook_stack: Settings, tmp_path: Path
) -> None:
    # Notebook 04 reads the table notebook 03 of the suite created; its parameters point at
    # the suite's database and a scratch output folder (the copy is what JupyterLab opens).
    root = tmp_path / "lab"
    root.mkdir()
    papermill.execute_notebook(
        str(NOTEBOOKS_DIR / "04_ratio_to_polars.ipynb"),
        str(root / "04_ratio_to_polars.ipynb"),
        parameters={"database": PARAMS["database"], "output_dir": str(tmp_path / "out"),
                    "window_minutes": PARAMS["window_minutes"]},  # fmt: skip
        prepare_only=True,
        progress_bar=False,
    )
    token = secrets.token_hex(16)
    lab, port = _start_lab(root, notebook_stack, token)
    browser = Browser(tmp_path / "chromium-profile")
    try:
        browser.call("Page.enable")
        browser.call("Emulation.setDeviceMetricsOverride", width=1400, height=1000,
                     deviceScaleFactor=1, mobile=False)  # fmt: skip
        browser.call(
            "Page.navigate",
            url=f"http://127.0.0.1:{port}/lab/tree/04_ratio_to_polars.ipynb?token={token}",
        )
        browser.wait_for(KERNEL_READY, RUN_TIMEOUT_S)
        browser.evaluate(f"window.jupyterapp.shell.activateById(({PANEL}).id)")
        browser.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        cells = browser.wait_for(ALL_CELLS_DONE, RUN_TIMEOUT_S)
        assert browser.evaluate(ERRORS) == []
        assert cells >= 8
        text = browser.evaluate(OUTPUT_TEXT)
        assert "records in PLAYER_KILL_RATIO" in text
        assert "'ok': True" in text  # the comparison with the truth, as rendered
        tables = browser.evaluate(
            "document.querySelectorAll('.jp-OutputArea-output table').length"
        )
        assert tables >= 3  # the changelog, the K/D table and a pull query, as HTML tables
        browser.evaluate(
            "[...document.querySelectorAll('.jp-OutputArea-output table')][1]"
            ".scrollIntoView({block: 'center'})"
        )
        time.sleep(0.5)
        shot = browser.screenshot(ARTIFACTS / "jupyterlab_04_ratio_to_polars.png")
        width, height, distinct = png_info(shot)
        assert (width, height) == (1400, 1000) and distinct > 50
        print(f"JupyterLab screenshot: {shot}")
    finally:
        browser.stop()
        lab.terminate()
        try:
            lab.wait(timeout=20)
        except subprocess.TimeoutExpired:
            lab.kill()
            lab.wait(timeout=10)


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (make install)")
def test_html_report_renders_every_figure_offline(suite: ReportResult, tmp_path: Path) -> None:
    """The report opened from disk (no server; the sandbox has no network) draws each plotly
    figure: plotly.js is embedded, so every figure gets its SVG layers."""
    assert suite.html is not None
    browser = Browser(tmp_path / "chromium-profile")
    try:
        browser.call("Page.enable")
        browser.call("Page.navigate", url=suite.html.resolve().as_uri())
        expected = sum(
            "application/vnd.plotly.v1+json" in output.get("data", {})
            for run in suite.runs
            for cell in nbformat.read(str(run.path), as_version=4).cells
            for output in cell.get("outputs", [])
        )
        assert expected >= 8  # the lineage (03) and the seven charts of 05
        figures = browser.wait_for(
            "(() => { const f = [...document.querySelectorAll('.js-plotly-plot')];"
            f" return f.length >= {expected} && f.every(p => p.querySelector('.main-svg'))"
            " ? f.length : 0; })()",
            RUN_TIMEOUT_S,
        )
        assert figures == expected
        assert browser.evaluate("typeof window.Plotly") == "object"
    finally:
        browser.stop()
