"""The teaching notebooks: well-formed, stripped, free of library code, and they run.

Each notebook in ``notebooks/`` is executed top to bottom with nbclient on the ``python3``
kernel, in a fresh temporary working directory, with ``CLVLAB_NOTEBOOK_OUT`` pointing at a
temporary folder (the only place the notebooks may write). A failing cell fails the test
with the notebook name, the cell number, its source and the error. The static checks are
fast; the executions are marked ``slow`` (about a minute and a half for all four).
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
from nbclient.exceptions import CellExecutionError  # noqa: E402

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
EXPECTED = (
    "01-quickstart.ipynb",
    "02-holdout-validation.ipynb",
    "03-report-and-export.ipynb",
    "04-model-comparison.ipynb",
    "05-spark.ipynb",
)
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
OUT_ENV = "CLVLAB_NOTEBOOK_OUT"
KERNEL = "python3"
CELL_TIMEOUT = 300  # seconds per cell; the slowest cell takes a few seconds

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def _read(path: Path):
    return nbformat.read(str(path), as_version=4)


def _code_cells(nb) -> list[tuple[int, str]]:
    """(1-based cell number, source) of every code cell."""
    return [(i, c.source) for i, c in enumerate(nb.cells, start=1) if c.cell_type == "code"]


def _python_source(source: str) -> str:
    """Source with IPython magics and shell escapes blanked, so ``ast`` can parse it."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())


def run_notebook(nb, workdir: Path, name: str) -> None:
    """Execute ``nb`` in ``workdir``; on error, fail with the cell's number, source and error."""
    client = nbclient.NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name=KERNEL,
        resources={"metadata": {"path": str(workdir)}},
    )
    try:
        client.execute()
    except CellExecutionError as exc:
        number, source = "?", "(unknown cell)"
        for i, cell in enumerate(nb.cells, start=1):
            if cell.cell_type == "code" and any(
                o.get("output_type") == "error" for o in cell.get("outputs", [])
            ):
                number, source = str(i), cell.source
                break
        traceback = _ANSI.sub("", exc.traceback or "")
        pytest.fail(
            f"{name}: cell {number} raised {exc.ename}: {exc.evalue}\n"
            f"--- cell source ---\n{source}\n--- traceback ---\n{traceback}",
            pytrace=False,
        )


# --------------------------------------------------------------------------------------
# static checks (fast)
# --------------------------------------------------------------------------------------
def test_expected_notebooks_exist():
    """notebooks/ holds exactly the five teaching notebooks the docs describe."""
    assert [p.name for p in NOTEBOOKS] == list(EXPECTED)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_valid_and_stripped(path):
    """Valid nbformat 4, python3 kernel, and no committed outputs or execution counts."""
    nb = _read(path)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == KERNEL
    for number, cell in enumerate(nb.cells, start=1):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: cell {number} has committed outputs"
            assert cell.execution_count is None, f"{path.name}: cell {number} has a count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_defines_no_library_code(path):
    """Code cells parse, import clvlab, and define no functions, lambdas or classes."""
    nb = _read(path)
    cells = _code_cells(nb)
    imports_clvlab = False
    for number, source in cells:
        tree = ast.parse(_python_source(source), filename=f"{path.name} cell {number}")
        for node in ast.walk(tree):
            assert not isinstance(
                node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
            ), f"{path.name}: cell {number} defines {type(node).__name__} (move it to src/clvlab)"
            if isinstance(node, ast.Import):
                imports_clvlab |= any(a.name.split(".")[0] == "clvlab" for a in node.names)
            if isinstance(node, ast.ImportFrom):
                imports_clvlab |= (node.module or "").split(".")[0] == "clvlab"
    assert imports_clvlab, f"{path.name} never imports clvlab"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_writes_only_to_the_output_folder(path):
    """Any notebook that writes files takes its folder from CLVLAB_NOTEBOOK_OUT or tempfile."""
    nb = _read(path)
    code = "\n".join(source for _, source in _code_cells(nb))
    if "out_dir" in code:
        assert OUT_ENV in code and "tempfile.mkdtemp" in code, (
            f"{path.name} uses out_dir but does not take it from ${OUT_ENV} or tempfile"
        )


def test_failing_cell_is_reported_with_its_source(tmp_path):
    """The runner names the notebook, the failing cell, its source and the error."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_markdown_cell("text"),
        nbformat.v4.new_code_cell("y = x + 1\nraise ValueError('broken on purpose')"),
        nbformat.v4.new_code_cell("z = 3"),
    ]
    with pytest.raises(pytest.fail.Exception) as info:
        run_notebook(nb, tmp_path, "synthetic.ipynb")
    message = str(info.value)
    assert "synthetic.ipynb: cell 3 raised ValueError: broken on purpose" in message
    assert "raise ValueError('broken on purpose')" in message
    assert "\x1b[" not in message


# --------------------------------------------------------------------------------------
# execution (slow)
# --------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs_top_to_bottom(path, tmp_path, monkeypatch):
    """The notebook executes without error and writes nothing outside its output folder."""
    if "spark" in path.stem:
        from clvlab.spark._session import MIN_JAVA, SPARK_INSTALL_HINT, java_version

        java = java_version()
        if java is None or java < MIN_JAVA:
            pytest.skip(f"the Spark notebook needs Java {MIN_JAVA}+. {SPARK_INSTALL_HINT}")
    workdir = tmp_path / "cwd"
    out = tmp_path / "out"
    workdir.mkdir()
    monkeypatch.setenv(OUT_ENV, str(out))  # inherited by the kernel process
    monkeypatch.delenv("MPLBACKEND", raising=False)  # let the kernel use its inline backend
    before = sorted(p.name for p in NOTEBOOK_DIR.iterdir())
    nb = _read(path)
    run_notebook(nb, workdir, path.name)
    errors = [
        (i, o.get("ename"))
        for i, c in enumerate(nb.cells, start=1)
        if c.cell_type == "code"
        for o in c.outputs
        if o.get("output_type") == "error"
    ]
    assert errors == []
    assert os.listdir(workdir) == [], f"{path.name} wrote into its working directory"
    assert sorted(p.name for p in NOTEBOOK_DIR.iterdir()) == before
