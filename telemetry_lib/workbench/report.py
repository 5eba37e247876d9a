"""The notebook suite runner and report builder (``make run``, ``telemetry report``).

:func:`run_report` runs the workbench notebooks in order with papermill into a fresh
``reports/<UTC timestamp>/`` folder:

1. every notebook gets the caller's parameters that it declares in its ``parameters`` cell,
   plus ``output_dir`` = the folder (each notebook writes its JSON summary and charts there);
2. the kernels inherit the profile's non-secret settings as ``TELEMETRY_*`` environment
   variables (:func:`kernel_environment`), so a notebook's ``load_settings()`` reaches the same
   services as the caller, and no setting, secret or not, is written into a notebook; secrets
   stay wherever the caller's settings found them (environment or ``workbench.toml``);
3. figures are rendered with plotly's ``plotly_mimetype+notebook`` renderer, which embeds
   plotly.js in the output (so nbconvert keeps the figures and the HTML opens offline) and
   still renders in JupyterLab;
4. each notebook has a tqdm progress bar (cells done); an executed notebook is saved even when
   a cell fails, then :class:`NotebookFailed` names the notebook, the cell and the error;
5. the executed notebooks are concatenated into one ``report.html`` (nbconvert, lab template;
   plotly.js kept once, not once per notebook), and ``summary.json`` gathers every notebook's
   summary and timing.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from telemetry_lib.config import Settings, env_var
from telemetry_lib.errors import TelemetryError

__all__ = [
    "NOTEBOOKS",
    "NotebookFailed",
    "NotebookRun",
    "ReportResult",
    "build_html_report",
    "kernel_environment",
    "notebook_parameters",
    "run_report",
]

logger = logging.getLogger(__name__)

#: The suite, in run order (``live_dashboard`` is for JupyterLab and is not part of a report).
NOTEBOOKS: tuple[str, ...] = (
    "01_seed_mongo",
    "02_source_connector",
    "03_ksql_pipeline",
    "04_ratio_to_polars",
    "05_player_trends",
    "06_sink_and_teardown",
)
#: Where the notebooks live, relative to the repository root (the package's parent).
NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
#: Reports go under ``reports/`` of the working directory (git-ignored).
DEFAULT_REPORTS_DIR = Path("reports")
#: The renderer that makes figures survive nbconvert and still render in JupyterLab.
PLOTLY_RENDERER = "plotly_mimetype+notebook"
#: A kernel starts in 1-3 s here; 60 s tolerates a machine busy with the stack's processes.
KERNEL_START_TIMEOUT_S = 60
#: One cell may wait for a ksqlDB table to catch up (bounded at 180 s in the library); a cell
#: running longer than this is stuck.
CELL_TIMEOUT_S = 600
#: How the plotly.js library announces itself, and the size below which an output cannot be it.
_LIBRARY_MARK = "plotly.js v"
_LIBRARY_MIN_CHARS = 1_000_000
#: Non-secret settings handed to the kernels (secrets are never copied anywhere).
_KERNEL_SETTINGS = ("profile", "workdir", "kafka_port", "mongo_port", "ksqldb_port", "connect_port")
_REMOTE_ENDPOINTS = ("bootstrap_servers", "ksqldb_url", "connect_url")


class NotebookFailed(TelemetryError):
    """A notebook of the suite raised; its executed copy (with the traceback) is kept."""

    origin = "external"


@dataclass(frozen=True)
class NotebookRun:
    """One executed notebook: where it is, how long it took, what it summarised."""

    name: str
    path: Path
    seconds: float
    summary: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "notebook": self.name,
            "path": str(self.path),
            "seconds": round(self.seconds, 2),
            "summary": self.summary,
        }


@dataclass(frozen=True)
class ReportResult:
    """The report folder and what is in it."""

    folder: Path
    runs: tuple[NotebookRun, ...]
    html: Path | None
    seconds: float
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def charts(self) -> list[Path]:
        return sorted((self.folder / "charts").glob("*")) if (self.folder / "charts").is_dir() else []

    def as_dict(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "seconds": round(self.seconds, 2),
            "parameters": self.parameters,
            "html": str(self.html) if self.html else None,
            "charts": [str(p) for p in self.charts],
            "notebooks": [r.as_dict() for r in self.runs],
        }


def run_report(
    settings: Settings,
    *,
    parameters: Mapping[str, Any] | None = None,
    notebooks: Sequence[str] = NOTEBOOKS,
    notebooks_dir: Path = NOTEBOOKS_DIR,
    reports_dir: Path = DEFAULT_REPORTS_DIR,
    progress: bool = True,
    kernel_name: str = "python3",
    html: bool = True,
    folder: Path | None = None,
) -> ReportResult:
    """Run ``notebooks`` in order into a new report folder (module docstring); returns it.

    ``folder``: write into this existing folder instead of a new ``reports_dir/<timestamp>``.
    """
    import papermill  # noqa: PLC0415 - heavy; only the report command needs it

    began = time.perf_counter()
    if folder is None:
        folder = _new_folder(reports_dir)
    else:
        folder.mkdir(parents=True, exist_ok=True)
        folder = folder.resolve()
    params = dict(parameters or {})
    runs: list[NotebookRun] = []
    with _environment(kernel_environment(settings)):
        for name in notebooks:
            source = notebooks_dir / f"{name}.ipynb"
            if not source.is_file():
                raise TelemetryError(
                    f"notebook {source} not found",
                    hint=f"the suite is {', '.join(NOTEBOOKS)}; run from the repository root",
                )
            target = folder / f"{name}.ipynb"
            declared = notebook_parameters(source)
            given = {k: v for k, v in params.items() if k in declared}
            given["output_dir"] = str(folder)
            started = time.perf_counter()
            try:
                papermill.execute_notebook(
                    str(source),
                    str(target),
                    parameters=given,
                    kernel_name=kernel_name,
                    progress_bar={"desc": name, "leave": True} if progress else False,
                    start_timeout=KERNEL_START_TIMEOUT_S,
                    execution_timeout=CELL_TIMEOUT_S,
                    cwd=str(Path.cwd()),
                )
            except papermill.PapermillExecutionError as exc:
                if html:
                    build_html_report([*[r.path for r in runs], target], folder / "report.html")
                raise NotebookFailed(
                    f"notebook {name} failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue}",
                    hint=f"open the executed notebook {target} to see the traceback",
                ) from None
            runs.append(
                NotebookRun(name, target, time.perf_counter() - started, _summary(folder, name))
            )
    page = build_html_report([r.path for r in runs], folder / "report.html") if html else None
    result = ReportResult(
        folder=folder,
        runs=tuple(runs),
        html=page,
        seconds=time.perf_counter() - began,
        parameters=params,
    )
    (folder / "summary.json").write_text(json.dumps(result.as_dict(), indent=2, default=str))
    return result


def kernel_environment(settings: Settings) -> dict[str, str]:
    """``TELEMETRY_*`` variables that make a kernel's ``load_settings()`` reach the same
    services as ``settings`` (non-secret fields only), and the report's plotly renderer."""
    env = {env_var(name): str(getattr(settings, name)) for name in _KERNEL_SETTINGS}
    if not settings.is_embedded:
        env.update({env_var(name): str(getattr(settings, name)) for name in _REMOTE_ENDPOINTS})
    env["PLOTLY_RENDERER"] = PLOTLY_RENDERER
    return env


def notebook_parameters(path: Path) -> dict[str, Any]:
    """The names and default values in ``path``'s ``parameters`` cell."""
    import papermill  # noqa: PLC0415

    found = papermill.inspect_notebook(str(path))
    return {name: spec.get("default") for name, spec in found.items()}


def build_html_report(executed: Sequence[Path], target: Path) -> Path:
    """Concatenate ``executed`` notebooks (a heading per notebook) into one HTML page."""
    import nbformat  # noqa: PLC0415
    from nbconvert import HTMLExporter  # noqa: PLC0415

    combined = nbformat.v4.new_notebook()
    library_seen = False
    for path in executed:
        if not path.is_file():
            continue
        notebook = nbformat.read(str(path), as_version=4)
        combined.cells.append(nbformat.v4.new_markdown_cell(
            f'<a id="nb-{path.stem}"></a>\n\n# Notebook `{path.stem}`'
        ))
        for cell in notebook.cells:
            cell["id"] = f"{path.stem[:20]}-{cell.get('id', len(combined.cells))}"[:64]
            if cell.cell_type == "code":
                library_seen = _drop_repeated_library(cell, library_seen)
            combined.cells.append(cell)
        if not combined.metadata:
            combined.metadata = notebook.metadata
    exporter = HTMLExporter(template_name="lab")
    body, _ = exporter.from_notebook_node(combined)
    target.write_text(body, encoding="utf-8")
    return target


# --- helpers ---------------------------------------------------------------------------------


def _drop_repeated_library(cell: Any, seen: bool) -> bool:
    """Keep only the first copy of plotly.js: each kernel's first figure embeds the whole
    library (~4.8 MB) in an HTML output; one copy serves every figure of the page."""
    kept = []
    for output in cell.get("outputs", []):
        html = output.get("data", {}).get("text/html", "")
        text = "".join(html) if isinstance(html, list) else str(html)
        if len(text) > _LIBRARY_MIN_CHARS and _LIBRARY_MARK in text:
            if seen:
                continue
            seen = True
        kept.append(output)
    cell["outputs"] = kept
    return seen


def _new_folder(reports_dir: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = reports_dir / stamp
    suffix = 1
    while folder.exists():
        suffix += 1
        folder = reports_dir / f"{stamp}-{suffix}"
    folder.mkdir(parents=True)
    return folder.resolve()


def _summary(folder: Path, name: str) -> dict[str, Any] | None:
    path = folder / f"{name}.json"
    if not path.is_file():
        return None
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set ``values`` in ``os.environ`` (the kernels inherit it) and restore it afterwards."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
