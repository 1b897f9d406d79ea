"""CI: execute every notebook of ``notebooks/`` with small settings (papermill).

Each notebook has a papermill ``parameters`` cell; here it is overridden with small values
so that all four run in a few minutes together.  The notebooks assert their own results
(absences agree with gemmi, the PyG model passes the invariance check, ...), so an
executed notebook is a passed check.  The executed copies go to a temporary folder; set
``CFT_PYG_NOTEBOOK_OUT`` to keep them.

The MP-20 notebooks (02, 03) run their tiny in-notebook training (``use_saved_results``
off, so the code path is exercised even when ``studies/results/*.json`` exist) and need the MP-20
files (``../shared/data/mp_20`` or ``$CFT_PYG_MP20``): without them they are skipped with
that reason.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from .conftest import REPO_ROOT, shared_data_root

NOTEBOOKS = REPO_ROOT / "notebooks"

SMALL: dict[str, dict[str, object]] = {
    "01_constraint_graphs.ipynb": {"cutoff_3d": 2.0, "cutoff_slice": 4.0, "cutoff_nx": 1.5,
                                   "absence_cutoff": 4.0, "num_pairs": 100},
    "02_benchmark_mp20.ipynb": {"use_saved_results": False, "tiny_n_train": 80,
                                "tiny_n_val": 40, "tiny_n_test": 80, "tiny_epochs": 1,
                                "tiny_seeds": [0, 1]},
    "03_zero_shot.ipynb": {"use_saved_results": False, "tiny_max_pool": 200, "tiny_epochs": 1,
                           "tiny_ks": [1]},
    "04_pyg_pipeline.ipynb": {"variants_per_prototype": 4, "epochs": 8},
}
NEEDS_MP20 = {"02_benchmark_mp20.ipynb", "03_zero_shot.ipynb"}


def _mp20_root() -> Path | None:
    env = os.environ.get("CFT_PYG_MP20")
    if env:
        return Path(env) if Path(env).is_dir() else None
    shared = shared_data_root()
    root = shared / "mp_20" if shared is not None else None
    return root if root is not None and (root / "val.csv.gz").is_file() else None


def test_every_notebook_has_small_settings():
    found = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert found == sorted(SMALL), f"notebooks without CI settings: {set(found) ^ set(SMALL)}"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SMALL))
def test_notebook_runs_with_small_settings(name, tmp_path):
    papermill = pytest.importorskip("papermill", reason="papermill (dev extra) runs the notebooks")
    params = dict(SMALL[name])
    if name in NEEDS_MP20:
        root = _mp20_root()
        if root is None:
            pytest.skip("MP-20 files not found (../shared/data/mp_20 or $CFT_PYG_MP20)")
        # a temporary folder of links: processed data go there, never into ../shared
        local = tmp_path / "mp_20"
        local.mkdir()
        for f in ("val.csv.gz", "test.csv.gz"):
            (local / f).symlink_to(root / f)
        params["data_root"] = str(local)
    out_dir = Path(os.environ.get("CFT_PYG_NOTEBOOK_OUT", tmp_path))
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    papermill.execute_notebook(str(NOTEBOOKS / name), str(out_dir / name), parameters=params,
                               cwd=str(NOTEBOOKS), kernel_name="python3", progress_bar=False)
    print(f"{name}: {time.perf_counter() - start:.1f} s")
