"""The notebooks are committed without outputs and run top to bottom at the small size, so they cannot rot.

Each notebook reads ``NOTEBOOK_SIZE``: ``small`` here (seconds per notebook), unset
or ``full`` for a researcher (the real presets and sweeps); ``notebooks/README.md``.
Figures are rendered by the Jupyter inline backend, as in a browser, so an error
while drawing fails the test too.
"""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

FOLDER = Path(__file__).resolve().parent.parent / "notebooks"
EXPECTED = ("01_train_and_export.ipynb", "02_energy_report.ipynb", "03_rtl_generation_and_verification.ipynb")
NOTEBOOKS = sorted(FOLDER.glob("*.ipynb"))
#: Seconds one cell may take: a guard against a hung kernel, not a speed bound (a loaded machine may take minutes).
CELL_TIMEOUT = 3600


def test_expected_notebooks_exist():
    missing = [name for name in EXPECTED if not (FOLDER / name).is_file()]
    assert not missing, f"missing notebooks in {FOLDER}: {', '.join(missing)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    dirty = [index for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"
             and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, f"{path.name}: code cells {dirty} hold outputs or execution counts; clear them before committing"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes(path, monkeypatch, tmp_path):
    monkeypatch.setenv("NOTEBOOK_SIZE", "small")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
              if out.get("output_type") == "error"]
    assert not errors
