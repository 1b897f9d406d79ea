"""The shipped notebooks carry their outputs: executed top to bottom with their default
parameters (``python tools/run_notebooks.py``), without errors or machine paths."""

from __future__ import annotations

import json
import re

import pytest

from .conftest import REPO_ROOT

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_shipped_executed(path) -> None:
    notebook = json.loads(path.read_text())
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    counts = [c.get("execution_count") for c in code]
    assert counts == list(range(1, len(code) + 1)), f"{path.name}: not executed in order"
    papermill = notebook["metadata"].get("papermill", {})
    assert papermill.get("parameters") == {}, "executed with other than its default parameters"
    assert not any("injected-parameters" in c.get("metadata", {}).get("tags", []) for c in code)
    outputs = [o for c in code for o in c.get("outputs", [])]
    assert outputs, f"{path.name}: no outputs"
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = json.dumps(outputs)
    assert not re.search(r"/(?:work|root|home|tmp)/", text), "machine paths in the outputs"
    assert path.stat().st_size < 1_500_000
