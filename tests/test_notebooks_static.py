"""Committed notebooks are stripped, use the python3 kernel and have one `parameters` cell."""

from __future__ import annotations

import re

import nbformat
import pytest

from idsd.paths import NOTEBOOKS

NOTEBOOK_FILES = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def test_numbering_is_unique():
    numbers = [p.name[:2] for p in NOTEBOOK_FILES]
    assert len(numbers) == len(set(numbers))


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.name)
def test_notebook_is_clean(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    for cell in code:
        assert not cell.get("outputs"), f"{path.name}: committed with outputs"
        assert cell.get("execution_count") is None, f"{path.name}: committed with execution counts"
    params = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"
    src = params[0].source
    assert not re.search(r"^quick\s*[:=]", src, flags=re.M), "quick mode is configs/quick.yaml, not a parameter"
    assert re.search(r"^outputs_dir\s*(:\s*str)?\s*=", src, flags=re.M), "parameters must define outputs_dir"
    assert nb.cells[0].cell_type == "markdown", f"{path.name}: starts with a markdown purpose cell"
