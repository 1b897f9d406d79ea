"""The comparison's statistics (aggregation over seeds, GB-Gap), figures, settings and its
generated command line."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
import pytest

from studies.compare import CompareSettings, summarize_benchmark, summarize_zero_shot
from studies.kit.figures import write_compare_figures as write_figures
from studies.kit.zero_shot import gb_gap

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_gb_gap_is_mean_absolute_difference_over_common_groups():
    zs = pd.DataFrame({"space_group": [2, 12, 225], "mae": [0.3, 0.5, 0.1]})
    al = pd.DataFrame({"space_group": [2, 12, 139], "mae": [0.1, 0.6, 0.2]})
    gap, n = gb_gap(zs, al)
    assert n == 2 and gap == pytest.approx((0.2 + 0.1) / 2)
    assert math.isnan(gb_gap(zs.iloc[:0], al)[0])


def _bench_record(model, seed, mae):
    return {"kind": "benchmark", "target": "band_gap", "model": model, "seed": seed,
            "params": 10, "train_time_s": 1.0 + seed, "epochs_run": 3,
            "test": {"overall": {"mae": mae, "n": 2, "mae_predict_mean": 1.0},
                     "per_crystal_system": [{"crystal_system": "cubic", "n": 2, "mae": mae}],
                     "per_space_group": [{"space_group": 225, "n": 2, "mae": mae}],
                     "predictions": [{"space_group": 225, "y_true": 1.0, "y_pred": 1.0 + mae},
                                     {"space_group": 225, "y_true": 2.0, "y_pred": 2.0 - mae}]}}


def test_summarize_benchmark_reports_mean_and_spread_over_seeds(tmp_path):
    recs = [_bench_record("cgcnn", s, m) for s, m in ((0, 0.2), (1, 0.4), (2, 0.3))]
    out = summarize_benchmark(recs)["band_gap"]["cgcnn"]
    assert out["seeds"] == [0, 1, 2]
    assert out["test_mae"]["mean"] == pytest.approx(0.3)
    assert out["test_mae"]["std"] == pytest.approx(0.1)
    assert out["per_space_group"][0]["mae_std"] == pytest.approx(0.1)
    assert out["train_time_s"]["values"] == [1.0, 2.0, 3.0]
    paths = write_figures({"band_gap": {"cgcnn": out}}, None, tmp_path)
    assert {p.name for p in paths} == {"parity_band_gap.png", "mae_crystal_system_band_gap.png",
                                       "mae_space_group_band_gap.png"}
    assert all(p.stat().st_size > 1000 for p in paths)


def test_summarize_zero_shot_gap_and_few_shot_curve():
    def rec(variant, per_group):
        return {"kind": "zeroshot", "model": "cft", "seed": 0, "variant": variant,
                "params": 5, "n_train": 10,
                "held_test": {"overall": {"mae": float(np.mean([m for _, m in per_group]))},
                              "per_space_group": [{"space_group": g, "n": 3, "mae": m}
                                                  for g, m in per_group]}}

    recs = [rec("all", [(2, 0.1), (12, 0.2)]), rec("k0", [(2, 0.4), (12, 0.2)]),
            rec("k5", [(2, 0.2), (12, 0.2)])]
    out = summarize_zero_shot(recs)["cft"]
    assert list(out["held_test_mae"]) == ["all", "k0", "k5"]
    assert out["gb_gap"]["mean"] == pytest.approx(0.15) and out["gb_gap_groups"] == 2
    assert out["per_space_group_seed0"][0] == {"space_group": 2, "n": 3, "mae_zero_shot": 0.4,
                                               "mae_all": 0.1}


def test_settings_presets_and_deviations():
    full, quick = CompareSettings.from_preset("full"), CompareSettings.from_preset("quick")
    assert full.label == "full" and quick.label == "quick"
    assert quick.n_train < full.n_train and quick.epochs < full.epochs
    assert full.seeds_of("cft") == (0, 1, 2) and full.seeds_of("alignn") == (0, 1)
    assert any("alignn" in d for d in full.deviations())
    assert full.seeds_of("cft", zero_shot=True) == (0, 1, 2)
    assert full.seeds_of("alignn", zero_shot=True) == (0,)
    assert CompareSettings(model_seeds={}, zs_model_ks={}, zs_model_seeds={}).deviations() == []
    assert quick.output_dir == os.path.join("runs", "compare-quick")


def test_paths_come_from_arguments_and_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    monkeypatch.delenv("CFT_PYG_MP20", raising=False)
    monkeypatch.setenv("CFT_PYG_HOME", str(tmp_path / "home"))
    assert CompareSettings().data_root == str(tmp_path / "home" / "mp_20")
    monkeypatch.setenv("CFT_PYG_MP20", str(tmp_path / "mp"))
    assert CompareSettings().data_root == str(tmp_path / "mp")
    assert CompareSettings.from_preset("full").output_dir == "studies/results"


def test_help_works_outside_the_source_tree(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run([sys.executable, "-m", "studies.compare", "--help"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "--data-root" in out.stdout and "--notebooks" in out.stdout


def test_notebooks_folder_is_an_argument(tmp_path: Path) -> None:
    pytest.importorskip("papermill")
    from studies.kit.notebooks import run_notebooks

    with pytest.raises(FileNotFoundError, match="--notebooks"):
        run_notebooks(tmp_path / "missing", tmp_path / "out")


def test_study_command_lines_are_generated_from_the_settings(tmp_path: Path) -> None:
    """Every settings field is a flag of every study (with its help and checked type)."""
    import dataclasses

    from studies import ablation, curves, transfer

    for module, cls in ((ablation, ablation.AblationSettings), (curves, curves.CurveSettings),
                        (transfer, transfer.TransferSettings)):
        out = subprocess.run([sys.executable, "-m", module.__name__, "--help"], cwd=tmp_path,
                             env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        flags = {"--" + f.name.replace("_", "-") for f in dataclasses.fields(cls)
                 if f.name not in ("label", "quick")}
        assert all(f in out.stdout for f in flags), flags - set(out.stdout.split())
        assert "--resume" in out.stdout and "--summarize-only" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "studies.curves", "--seeds", "x"],
                         cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--seeds" in bad.stderr
