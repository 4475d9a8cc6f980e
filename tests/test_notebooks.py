"""Notebooks: every .ipynb is the stripped twin of its jupytext percent source."""

from __future__ import annotations

import ast

import jupytext
import nbformat
import pytest

from conftest import REPO

SOURCES = sorted((REPO / "notebooks").rglob("*.py"))


def test_every_notebook_has_a_source_and_a_twin():
    ipynbs = sorted(p for p in (REPO / "notebooks").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    assert SOURCES, "no notebook sources found"
    assert sorted(p.with_suffix(".ipynb") for p in SOURCES) == ipynbs


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_ipynb_matches_its_source_and_has_no_outputs(src):
    expected = jupytext.read(src)
    nb = nbformat.read(src.with_suffix(".ipynb"), as_version=4)
    assert [(c.cell_type, c.source) for c in nb.cells] == [(c.cell_type, c.source) for c in expected.cells], (
        f"{src.with_suffix('.ipynb').name} is out of date: run `make notebooks`"
    )
    for c in nb.cells:
        if c.cell_type == "code":
            assert c.outputs == [] and c.execution_count is None


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_notebooks_have_a_typed_parameters_cell_and_valid_code(src):
    nb = jupytext.read(src)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged 'parameters'"
    tree = ast.parse(params[0].source)
    assert all(isinstance(node, ast.AnnAssign) for node in tree.body), "parameters are typed: `name: type = value`"
    for c in nb.cells:
        if c.cell_type == "code":
            ast.parse(c.source)


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_papermill_reads_every_parameter(src):
    import papermill

    nb = jupytext.read(src)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    names = [node.target.id for node in ast.parse(cell.source).body]
    found = papermill.inspect_notebook(str(src.with_suffix(".ipynb")))
    assert list(found) == names
    assert all(p["help"] for p in found.values()), "every parameter has a comment saying what it is"
