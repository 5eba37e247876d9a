"""Committed notebooks are clean: no outputs, one ``parameters`` cell, thin code, explained."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from telemetry_lib.workbench import NOTEBOOKS

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
ALL = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
#: A notebook cell is a call or two into telemetry_lib, not an implementation.
MAX_CODE_LINES = 25


def test_every_suite_notebook_is_committed() -> None:
    names = {p.stem for p in ALL}
    assert set(NOTEBOOKS) <= names, sorted(set(NOTEBOOKS) - names)


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_notebook_has_no_outputs(path: Path) -> None:
    notebook = nbformat.read(str(path), as_version=4)
    nbformat.validate(notebook)
    dirty = [
        i
        for i, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, f"{path.name}: cells {dirty} have outputs (clear them before committing)"


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_notebook_is_parameterised_and_thin(path: Path) -> None:
    notebook = nbformat.read(str(path), as_version=4)
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0].cell_type == "code", path.name
    assert "output_dir" in tagged[0].source and "profile" in tagged[0].source
    assert notebook.cells[0].cell_type == "markdown"
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert len(cell.source.splitlines()) <= MAX_CODE_LINES, cell.source[:80]
            assert "def " not in cell.source and "class " not in cell.source, cell.source[:80]
    assert sum(c.cell_type == "markdown" for c in notebook.cells) >= 3, path.name
