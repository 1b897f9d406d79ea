"""The tensor study's quick preset runs and meets the exactness targets on every test crystal:
Neumann violation <= 1e-6 and equivariance error <= 1e-5 (relative, float32 models) for the
library's model, zero-shot family included; the raw baseline fails both (the check can fail).

Run: ``python -m pytest -q studies/tensors/test_tensors_study.py`` (needs
``../shared/data/tensors``)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _study():
    spec = importlib.util.spec_from_file_location("tensor_study", HERE / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_quick_preset(tmp_path) -> None:
    from cft_pyg.data.tensors import default_tensor_root

    if not (default_tensor_root() / "elastic.json.gz").exists():
        pytest.skip("shared/data/tensors not found (README section 8 of the data)")
    out = tmp_path / "quick.json"
    assert _study().main(["--quick", "--output", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["summary"]) == {"dielectric", "piezoelectric", "elastic"}
    for target, models in result["summary"].items():
        assert set(models) == {"mean", "raw", "raw+fit", "symmetric"}
        assert models["symmetric"]["neumann_max"] <= 1e-6, target
        assert models["symmetric"]["equivariance_max"] <= 1e-5, target
        assert models["mean"]["neumann_max"] <= 1e-6, target
        assert models["raw"]["neumann_max"] > 1e-3, target
        assert models["raw"]["equivariance_max"] > 1e-3, target
    for res in result["targets"].values():
        z = res.get("zero_shot")
        if z is None:
            assert "zero_shot_skipped" in res
            continue
        for part in ("in_distribution", "held_out"):
            assert z[part]["neumann"]["max"] <= 1e-6 and z[part]["form_exact"] <= 1e-6
            assert z[part]["equivariance"]["max"] <= 1e-5
