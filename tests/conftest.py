"""Shared fixtures: the real MNIST root, small templates, an isolated cache."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.setdefault("XFACTOR_OFFLINE", "1")  # tests never download (ImageNet weights fall back to random init)

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    if not (SHARED_DATA / "MNIST" / "raw").is_dir():
        pytest.skip("../shared/data/MNIST is not beside the repository")
    return SHARED_DATA


@pytest.fixture()
def tmp_cache(tmp_path, monkeypatch) -> Path:
    """A private cache folder, and no user data root, for one test."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("XFACTOR_CACHE", str(cache))
    monkeypatch.delenv("XFACTOR_DATA", raising=False)
    return cache


def write_notebook(path: Path, cells: list[tuple[str, str]]) -> Path:
    """Write a notebook from (kind, source) pairs; kind 'parameters' tags a code cell."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for kind, src in cells:
        if kind == "markdown":
            nb.cells.append(nbformat.v4.new_markdown_cell(src))
        else:
            c = nbformat.v4.new_code_cell(src)
            if kind == "parameters":
                c.metadata["tags"] = ["parameters"]
            nb.cells.append(c)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


@pytest.fixture(autouse=True, scope="session")
def _quiet_threads():
    os.environ.setdefault("TQDM_DISABLE", "1")
    yield
