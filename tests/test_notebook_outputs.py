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



def test_shipped_figures_keep_the_orbit_colours() -> None:
    """``tools/run_notebooks.py`` shrinks figures to a palette that keeps the colours of small
    markers: the 8 orbit colours of the 3D constraint-graph view stay within 20 levels (of
    255) of tab10 (a 128-colour median cut moved them by 29-82), and grey pixels stay grey
    (a plain maximum-coverage palette tinted them by up to 19 levels)."""
    import base64
    import importlib.util
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from PIL import Image

    from cft_pyg.viz import plot_constraint_graph_3d
    from cft_pyg.viz.graphs import TAB10_ORDER

    spec = importlib.util.spec_from_file_location("run_notebooks",
                                                  REPO_ROOT / "tools" / "run_notebooks.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    fig = plot_constraint_graph_3d(14, 2.5)  # 20 orbits: 8 in colour
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    small = tool.shrink_png(base64.b64encode(buf.getvalue()).decode())
    pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(small))).convert("RGB"))
    pixels = pixels.reshape(-1, 3).astype(int)
    original = np.asarray(Image.open(buf).convert("RGB")).reshape(-1, 3).astype(int)
    assert pixels.shape == original.shape
    grey = original.max(axis=1) == original.min(axis=1)
    assert (pixels.max(axis=1) - pixels.min(axis=1))[grey].max() <= 4
    tab10 = np.asarray(plt.get_cmap("tab10").colors)[list(TAB10_ORDER[:8])]
    for color in (tab10 * 255).round().astype(int):
        assert np.abs(pixels - color).max(axis=1).min() <= 20, color
