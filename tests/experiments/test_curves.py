"""Wall-clock learning curves: the clock-driven schedule, the statistics, and a quick run of
the runner on real data (every job gets its budget, curves and JSON are written)."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from cft_pyg.experiments.curves import (
    CurveSettings,
    bootstrap_difference,
    lr_factor,
    run_curves,
    time_to_reach,
)


def test_lr_follows_the_clock_to_zero() -> None:
    assert lr_factor(0.05, 0.05) == pytest.approx(1.0)
    assert lr_factor(1.0, 0.05) == pytest.approx(0.0, abs=1e-12)
    assert lr_factor(2.0, 0.05) == pytest.approx(0.0, abs=1e-12)
    assert lr_factor(0.025, 0.05) == pytest.approx(0.5)
    values = [lr_factor(f, 0.05) for f in np.linspace(0.05, 1.0, 50)]
    assert all(a >= b for a, b in itertools.pairwise(values))


def test_time_to_reach_and_bootstrap() -> None:
    assert time_to_reach([1, 2, 4], [0.5, 0.3, 0.2], 0.3) == 2.0
    assert time_to_reach([1, 2], [0.5, 0.4], 0.1) is None
    rng = np.random.default_rng(0)
    a = rng.random(500)
    b = a + 0.1 + 0.01 * rng.standard_normal(500)
    out = bootstrap_difference(a, b)
    assert out["mean"] == pytest.approx(0.1, abs=0.01)
    assert out["ci95"][0] < out["mean"] < out["ci95"][1] and out["ci95"][0] > 0


def test_quick_run_gives_every_model_its_budget(shared_data_dir, tmp_path) -> None:
    settings = CurveSettings.from_preset(
        "quick", mp20_root=str(shared_data_dir / "mp_20"),
        carbon_root=str(shared_data_dir / "carbon_24"), output_dir=str(tmp_path),
        targets=("carbon24/energy_per_atom",), models=("cft", "cgcnn"), budget_seconds=1.5)
    payload = run_curves(settings, echo=lambda _: None)
    assert payload["complete"] and len(payload["runs"]) == 2
    for run in payload["runs"]:
        assert run["train_seconds"] >= settings.budget_seconds
        assert len(run["curve"]) == settings.eval_points
        times = [p["train_seconds"] for p in run["curve"]]
        assert times == sorted(times)
        assert run["n_test"] == settings.n_test and math.isfinite(run["test_mae"])
        assert run["best_val_mae"] == min(p["val_mae"] for p in run["curve"])
    block = payload["summary"]["carbon24/energy_per_atom"]
    assert set(block["models"]) == {"cft", "cgcnn"}
    assert "cft_beats_cgcnn_at_equal_time" in block["claims"]
    on_disk = json.loads((tmp_path / "curves.json").read_text())
    assert on_disk["summary"] == json.loads(json.dumps(payload["summary"]))
    assert (tmp_path / "curves.png").is_file()
    assert len((tmp_path / "curves_runs.jsonl").read_text().splitlines()) == 2
    # --resume keeps finished runs and trains nothing more
    again = run_curves(settings, resume=True, echo=lambda _: None)
    assert len(again["runs"]) == 2
