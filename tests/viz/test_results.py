"""Result figures (parity, MAE tables, few-shot) and the comparison runner's aggregation."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from cft_pyg.experiments.compare import (
    CompareSettings,
    deviations,
    gb_gap,
    summarize_benchmark,
    summarize_zero_shot,
    write_figures,
)
from cft_pyg.viz import (
    plot_few_shot,
    plot_mae_by_crystal_system,
    plot_mae_by_space_group,
    plot_parity,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_parity_one_panel_per_model_with_mae_in_title():
    df = pd.DataFrame({"y_true": [0.0, 1.0, 2.0], "y_pred": [0.5, 1.0, 1.0]})
    fig = plot_parity({"a": df, "b": df.assign(y_pred=df.y_true)})
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["a: MAE 0.500", "b: MAE 0.000"]
    pts = [c for ax in fig.axes for c in ax.collections if c.get_gid() == "parity_a"]
    assert len(pts[0].get_offsets()) == 3


def test_crystal_system_bars_per_model():
    table = pd.DataFrame({"model": ["m1", "m1", "m2"], "crystal_system": ["cubic", "triclinic",
                                                                          "cubic"],
                          "mae": [0.1, 0.2, 0.3], "mae_std": [0.01, 0.02, None]})
    fig = plot_mae_by_crystal_system(table)
    ax = fig.axes[0]
    m1 = [p for p in ax.patches if p.get_gid() == "mae_m1"]
    m2 = [p for p in ax.patches if p.get_gid() == "mae_m2"]
    assert [round(p.get_height(), 6) for p in m1] == [0.2, 0.1]  # ITA order: triclinic first
    assert len(m2) == 2 and math.isnan(m2[0].get_height())


def test_space_group_plot_keeps_the_most_common_groups():
    table = pd.DataFrame({"model": ["m"] * 4, "space_group": [1, 2, 3, 4], "n": [5, 50, 7, 40],
                          "mae": [0.1, 0.2, 0.3, 0.4]})
    fig = plot_mae_by_space_group(table, top=2)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == ["2\n(n=50)", "4\n(n=40)"]


def test_few_shot_curve_and_reference_line():
    table = pd.DataFrame({"model": ["m"] * 3, "k": [5, 0, 1], "mae": [0.1, 0.3, 0.2]})
    fig = plot_few_shot(table, reference={"m": 0.05})
    line = next(ln for ln in fig.axes[0].lines if ln.get_gid() == "fewshot_m")
    np.testing.assert_array_equal(np.asarray(line.get_xdata(), float), [0, 1, 5])
    np.testing.assert_allclose(np.asarray(line.get_ydata(), float), [0.3, 0.2, 0.1])
    assert any(np.allclose(np.asarray(ln.get_ydata(), float), 0.05) for ln in fig.axes[0].lines)


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
    full, quick = CompareSettings.full(), CompareSettings.quick()
    assert full.label == "full" and quick.label == "quick"
    assert quick.n_train < full.n_train and quick.epochs < full.epochs
    assert full.seeds_of("cft") == (0, 1, 2) and full.seeds_of("alignn") == (0, 1)
    assert any("alignn" in d for d in deviations(full))
    assert full.seeds_of("cft", zero_shot=True) == (0, 1, 2)
    assert full.seeds_of("alignn", zero_shot=True) == (0,)
    assert deviations(CompareSettings(model_seeds={}, zs_model_ks={}, zs_model_seeds={})) == []
