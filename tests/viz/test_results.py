"""Result figures: parity, MAE tables, few-shot and learning curves."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from cft_pyg.viz import (
    plot_few_shot,
    plot_learning_curves,
    plot_mae_by_crystal_system,
    plot_mae_by_space_group,
    plot_parity,
    save_figure,
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


def test_learning_curves_and_save_figure(tmp_path):
    curves = {"a": pd.DataFrame({"epoch": [0, 1, 2], "val_mae": [0.5, np.nan, 0.3]}),
              "b": pd.DataFrame({"epoch": [0, 1], "train_loss": [1.0, 0.5]})}
    fig = plot_learning_curves(curves, unit="eV")
    lines = [ln for ln in fig.axes[0].lines if ln.get_gid() == "curve_a"]
    assert len(lines) == 1 and list(lines[0].get_xdata()) == [1, 3]
    assert not [ln for ln in fig.axes[0].lines if ln.get_gid() == "curve_b"]
    path = save_figure(fig, tmp_path / "sub" / "curves.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plt.fignum_exists(fig.number)
