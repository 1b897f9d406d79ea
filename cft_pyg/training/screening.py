r"""The metrics of a screen: how well predicted energies rank the candidate structures of
each composition.

A screen predicts the energy of many candidate structures (polymorphs) of each composition
and keeps the lowest.  What decides stability between polymorphs is the energy **relative**
to the composition's ground state, not the absolute energy, so the metrics are computed per
composition :math:`c` with candidates :math:`i \in c`, DFT energies :math:`E_i` and
predictions :math:`P_i`, then averaged over compositions (each composition counts once):

* **relative-energy MAE**: with :math:`G_c = \{i : E_i = \min_{j \in c} E_j\}` the DFT
  ground state(s) and reference values :math:`\bar E_c, \bar P_c` the means of :math:`E`
  and :math:`P` over :math:`G_c`,
  :math:`\frac{1}{|c|}\sum_{i \in c} |(P_i - \bar P_c) - (E_i - \bar E_c)|`: the error of
  the predicted energy above the ground state.  A constant offset per composition costs
  nothing; a model that predicts the same value for every candidate scores the mean DFT
  energy above the ground state.
* **Spearman** rank correlation of :math:`P` against :math:`E` within the composition
  (average ranks for ties).  A composition whose predictions are all equal scores 0 (no
  ranking information); one whose DFT energies are all equal is left out (nothing to rank).
* **ground-state hit**: the candidate predicted lowest has a DFT energy within ``tolerance``
  (default 0.02 eV/atom) of the DFT lowest.  Ties in the predicted minimum are counted as a
  uniformly random choice among the tied candidates: the hit is the fraction of them that
  qualify (the expected hit rate of breaking the tie at random).

Compositions with a single candidate are left out of every per-composition metric (their
relative energy and hit are trivially exact); their number is reported.  The plain MAE
over all candidates is reported alongside.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["GROUND_STATE_TOLERANCE", "ScreenReport", "composition_metrics", "screen_report",
           "spearman"]

GROUND_STATE_TOLERANCE = 0.02
"""eV/atom: a predicted ground state within this of the DFT one counts as a hit."""


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``x`` with ties given their average rank."""
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x), dtype=np.float64)
    sorted_x = x[order]
    start = 0
    for end in range(1, len(x) + 1):
        if end == len(x) or sorted_x[end] != sorted_x[start]:
            ranks[order[start:end]] = 0.5 * (start + end - 1) + 1.0
            start = end
    return ranks


def spearman(pred: Sequence[float] | np.ndarray, true: Sequence[float] | np.ndarray) -> float:
    """Spearman rank correlation (Pearson correlation of average ranks).

    Args:
        pred, true: ``(n,)`` values, ``n >= 2``.

    Returns:
        The correlation in ``[-1, 1]``; 0 when ``pred`` is constant, ``nan`` when ``true``
        is constant (nothing to rank).
    """
    p = _average_ranks(np.asarray(pred, dtype=np.float64))
    t = _average_ranks(np.asarray(true, dtype=np.float64))
    if len(p) < 2:
        raise ValueError("spearman needs at least two values")
    p, t = p - p.mean(), t - t.mean()
    if not np.any(t):
        return float("nan")
    if not np.any(p):
        return 0.0
    return float(np.dot(p, t) / np.sqrt(np.dot(p, p) * np.dot(t, t)))


def composition_metrics(pred: np.ndarray, true: np.ndarray,
                        tolerance: float = GROUND_STATE_TOLERANCE) -> dict[str, float]:
    """The per-composition metrics of one composition's candidates (see module docs).

    Args:
        pred: ``(n,)`` predicted energies (eV/atom), ``n >= 2``.
        true: ``(n,)`` DFT energies (eV/atom).
        tolerance: eV/atom of a ground-state hit.

    Returns:
        ``relative_mae``, ``spearman`` (``nan`` if ``true`` is constant), ``hit``
        (in ``[0, 1]``; fractional for tied predicted minima), ``mae``, ``n``.
    """
    pred = np.asarray(pred, dtype=np.float64)
    true = np.asarray(true, dtype=np.float64)
    ground = true == true.min()
    rel_true = true - true[ground].mean()
    rel_pred = pred - pred[ground].mean()
    lowest = pred == pred.min()
    hit = float(np.mean(true[lowest] - true.min() <= tolerance))
    return {"relative_mae": float(np.mean(np.abs(rel_pred - rel_true))),
            "spearman": spearman(pred, true), "hit": hit,
            "mae": float(np.mean(np.abs(pred - true))), "n": len(pred)}


@dataclass
class ScreenReport:
    """The screen metrics of one set of predictions.

    Attributes:
        mae: plain MAE over every candidate (eV/atom).
        relative_mae: mean over compositions of the relative-energy MAE (eV/atom).
        spearman: mean over compositions of the within-composition Spearman correlation.
        hit_rate: mean over compositions of the ground-state hit.
        tolerance: eV/atom of a hit.
        n_candidates: candidates in the set.
        n_compositions: compositions with at least two candidates (the averages' support).
        n_single: compositions with one candidate (left out of the averages).
        per_composition: one row per composition (``composition``, the metrics).
    """

    mae: float
    relative_mae: float
    spearman: float
    hit_rate: float
    tolerance: float
    n_candidates: int
    n_compositions: int
    n_single: int
    per_composition: pd.DataFrame = field(repr=False)

    def to_dict(self, per_composition: bool = False) -> dict[str, Any]:
        """The numbers as a JSON-ready dict (the per-composition rows on request)."""
        out = {k: v for k, v in asdict(self).items() if k != "per_composition"}
        if per_composition:
            out["per_composition"] = self.per_composition.to_dict("records")
        return out


def screen_report(frame: pd.DataFrame, *, composition: str = "composition",
                  pred: str = "y_pred", true: str = "y_true",
                  tolerance: float = GROUND_STATE_TOLERANCE) -> ScreenReport:
    """The screen metrics of a table of predictions.

    Args:
        frame: one row per candidate with the columns named below.
        composition, pred, true: column names of the composition, the predicted and the
            DFT energies (eV/atom).
        tolerance: eV/atom of a ground-state hit.

    Returns:
        :class:`ScreenReport`.
    """
    missing = [c for c in (composition, pred, true) if c not in frame.columns]
    if missing:
        raise ValueError(f"screen_report: missing column(s) {missing}; columns are "
                         f"{list(frame.columns)}")
    if len(frame) == 0:
        raise ValueError("screen_report: no predictions")
    p = frame[pred].to_numpy(dtype=np.float64)
    t = frame[true].to_numpy(dtype=np.float64)
    if not (np.isfinite(p).all() and np.isfinite(t).all()):
        raise ValueError("screen_report: predictions and targets must be finite")
    rows = []
    single = 0
    for name, idx in frame.groupby(composition, sort=True).indices.items():
        if len(idx) < 2:
            single += 1
            continue
        rows.append({"composition": name, **composition_metrics(p[idx], t[idx], tolerance)})
    per = pd.DataFrame(rows, columns=["composition", "relative_mae", "spearman", "hit", "mae",
                                      "n"])
    nan = float("nan")
    return ScreenReport(
        mae=float(np.mean(np.abs(p - t))),
        relative_mae=float(per["relative_mae"].mean()) if len(per) else nan,
        spearman=float(per["spearman"].dropna().mean()) if per["spearman"].notna().any()
        else nan,
        hit_rate=float(per["hit"].mean()) if len(per) else nan,
        tolerance=float(tolerance), n_candidates=len(frame),
        n_compositions=len(per), n_single=single, per_composition=per)
