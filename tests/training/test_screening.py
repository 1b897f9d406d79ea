"""The screen metrics (:mod:`cft_pyg.training.screening`) against a hand-made table whose
values are worked out by hand in the comments: ties in predictions and in DFT energies,
constant predictions and a single-candidate composition."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from cft_pyg.training.screening import composition_metrics, screen_report, spearman

# composition, DFT energy, prediction
_ROWS = [
    # A: ground state idx 0; rel_true [0, .10, .05], rel_pred [0, .05, .20]
    #    -> relative MAE (0 + .05 + .15) / 3; ranks true [1,3,2], pred [1,2,3] -> rho 0.5;
    #    predicted lowest is the DFT lowest -> hit 1
    ("A", -1.00, -0.50), ("A", -0.90, -0.45), ("A", -0.95, -0.30),
    # B: three predictions tied at the minimum: DFT above ground [0, .01, .5] -> 2 of 3
    #    within 0.02 -> hit 2/3; relative MAE (0 + .01 + .5 + 0) / 4;
    #    rho = 3 / sqrt(15) (average ranks [2,2,2,4] against [1,2,3,4])
    ("B", -2.00, -3.00), ("B", -1.99, -3.00), ("B", -1.50, -3.00), ("B", -1.00, -2.00),
    # C: two DFT ground states: references are their means (E -1.0, P -1.0);
    #    rel_true [0,0,.2], rel_pred [-.1,.1,.4] -> relative MAE .4/3; rho 1.5/sqrt(3); hit 1
    ("C", -1.00, -1.10), ("C", -1.00, -0.90), ("C", -0.80, -0.60),
    # D: a single candidate: left out of the per-composition averages
    ("D", -3.00, -1.00),
    # E: constant prediction: rho 0, relative MAE .5/2, hit 1/2 (random tie-break)
    ("E", -1.00, 0.00), ("E", -0.50, 0.00),
]
_EXPECTED = {
    "A": (0.2 / 3, 0.5, 1.0),
    "B": (0.51 / 4, 3 / math.sqrt(15), 2 / 3),
    "C": (0.4 / 3, 1.5 / math.sqrt(3), 1.0),
    "E": (0.25, 0.0, 0.5),
}


def _frame() -> pd.DataFrame:
    return pd.DataFrame(_ROWS, columns=["composition", "y_true", "y_pred"])


def test_hand_made_table() -> None:
    frame = _frame()
    report = screen_report(frame)
    per = report.per_composition.set_index("composition")
    assert sorted(per.index) == sorted(_EXPECTED)
    for name, (rel, rho, hit) in _EXPECTED.items():
        assert per.loc[name, "relative_mae"] == pytest.approx(rel, abs=1e-12)
        assert per.loc[name, "spearman"] == pytest.approx(rho, abs=1e-12)
        assert per.loc[name, "hit"] == pytest.approx(hit, abs=1e-12)
    values = np.array(list(_EXPECTED.values()))
    assert report.relative_mae == pytest.approx(values[:, 0].mean(), abs=1e-12)
    assert report.spearman == pytest.approx(values[:, 1].mean(), abs=1e-12)
    assert report.hit_rate == pytest.approx(values[:, 2].mean(), abs=1e-12)
    assert report.mae == pytest.approx(np.mean(np.abs(frame.y_pred - frame.y_true)), abs=1e-12)
    assert (report.n_candidates, report.n_compositions, report.n_single) == (13, 4, 1)
    assert report.to_dict()["n_single"] == 1
    assert len(report.to_dict(per_composition=True)["per_composition"]) == 4


def test_row_order_and_offsets_do_not_matter() -> None:
    frame = _frame()
    shuffled = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    a, b = screen_report(frame), screen_report(shuffled)
    assert (a.relative_mae, a.spearman, a.hit_rate) == pytest.approx(
        (b.relative_mae, b.spearman, b.hit_rate), abs=1e-12)
    # a constant offset per composition changes the plain MAE only
    shifted = frame.assign(y_pred=frame.y_pred + frame.composition.map(
        {"A": 1.0, "B": -2.0, "C": 0.5, "D": 3.0, "E": 7.0}))
    c = screen_report(shifted)
    assert (c.relative_mae, c.spearman, c.hit_rate) == pytest.approx(
        (a.relative_mae, a.spearman, a.hit_rate), abs=1e-9)
    assert c.mae != pytest.approx(a.mae)


def test_perfect_predictions() -> None:
    frame = _frame().assign(y_pred=lambda f: f.y_true)
    report = screen_report(frame)
    assert report.relative_mae == 0.0 and report.mae == 0.0
    assert report.spearman == pytest.approx(1.0) and report.hit_rate == 1.0


def test_spearman_matches_scipy() -> None:
    stats = pytest.importorskip("scipy.stats", reason="scipy gives the reference")
    rng = np.random.default_rng(0)
    for _ in range(20):
        x = rng.integers(0, 5, size=9).astype(float)  # ties on purpose
        y = rng.normal(size=9)
        assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    assert spearman([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]) == 0.0
    assert math.isnan(spearman([1.0, 2.0], [5.0, 5.0]))


def test_tolerance_and_bad_input() -> None:
    m = composition_metrics(np.array([0.0, 1.0]), np.array([-0.97, -1.0]), tolerance=0.02)
    assert m["hit"] == 0.0  # predicted lowest is 0.03 above the DFT lowest
    assert composition_metrics(np.array([0.0, 1.0]), np.array([-0.97, -1.0]),
                               tolerance=0.05)["hit"] == 1.0
    with pytest.raises(ValueError, match="missing column"):
        screen_report(_frame().drop(columns="y_pred"))
    with pytest.raises(ValueError, match="finite"):
        screen_report(_frame().assign(y_pred=np.nan))
