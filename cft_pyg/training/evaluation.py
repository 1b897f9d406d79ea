"""Evaluation tables: metrics overall, per space group and per crystal system.

Everything here works on a :class:`pandas.DataFrame` of per-crystal predictions with columns
``space_group``, ``y_true``, ``y_pred`` (and optionally ``material_id``, ``natoms``; a
classifier adds ``prob_<c>`` per class), so the tables can be checked by hand and produced
for any model. :func:`evaluation_report` gives MAE/RMSE/R² of a regression,
:func:`classification_report` accuracy, ROC-AUC and cross-entropy of a classification.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..symmetry.space_group import CRYSTAL_SYSTEMS, SpaceGroup, crystal_system

__all__ = ["CRYSTAL_SYSTEMS", "EvaluationReport", "classification_report", "evaluation_report",
           "format_table", "GB_GAP_DEFINITION", "gb_gap"]



@dataclass
class EvaluationReport:
    """Per-crystal predictions and their summary tables.

    Attributes:
        predictions: one row per crystal (``material_id``, ``space_group``, ``crystal_system``,
            ``y_true``, ``y_pred``, ``abs_error`` or ``correct``, ...).
        overall: regression: ``n``, ``mae``, ``rmse``, ``r2`` and, when a reference value was
            given, ``mae_predict_mean`` (the MAE of predicting that constant);
            classification: ``n``, ``accuracy``, ``roc_auc``, ``cross_entropy`` and
            ``accuracy_majority``.
        per_space_group: ``space_group``, ``symbol``, ``crystal_system``, ``n`` and ``mae``,
            ``rmse`` (regression) or ``accuracy`` (classification), sorted by group number.
        per_crystal_system: ``crystal_system``, ``n``, ``n_groups`` and the same metrics
            (ITA order).
    """

    predictions: pd.DataFrame
    overall: dict[str, float]
    per_space_group: pd.DataFrame
    per_crystal_system: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable summary (without the per-crystal rows)."""
        return {
            "overall": self.overall,
            "per_space_group": self.per_space_group.to_dict(orient="records"),
            "per_crystal_system": self.per_crystal_system.to_dict(orient="records"),
        }

    def write(self, out_dir: str | Path, prefix: str = "", overwrite: bool = False
              ) -> list[Path]:
        """Write ``{prefix}predictions.csv``, ``{prefix}per_space_group.csv``,
        ``{prefix}per_crystal_system.csv`` and ``{prefix}metrics.json``.

        Raises:
            FileExistsError: one of them exists and ``overwrite`` is false (nothing written).
        """
        out = Path(out_dir)
        paths = [out / f"{prefix}{name}" for name in
                 ("predictions.csv", "per_space_group.csv", "per_crystal_system.csv",
                  "metrics.json")]
        existing = [p for p in paths if p.exists()]
        if existing and not overwrite:
            raise FileExistsError(f"{existing[0]} exists (use --overwrite to replace it)")
        out.mkdir(parents=True, exist_ok=True)
        self.predictions.to_csv(paths[0], index=False)
        self.per_space_group.to_csv(paths[1], index=False)
        self.per_crystal_system.to_csv(paths[2], index=False)
        paths[3].write_text(json.dumps(self.to_dict(), indent=2, default=_json_default) + "\n")
        return paths


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def _metrics(err: np.ndarray, y: np.ndarray) -> dict[str, float]:
    n = len(err)
    mae = float(np.abs(err).mean()) if n else math.nan
    rmse = float(np.sqrt((err**2).mean())) if n else math.nan
    var = float(((y - y.mean()) ** 2).sum()) if n else 0.0
    r2 = 1.0 - float((err**2).sum()) / var if var > 0 else math.nan
    return {"n": n, "mae": mae, "rmse": rmse, "r2": r2}


def evaluation_report(predictions: pd.DataFrame, reference_value: float | None = None
                      ) -> EvaluationReport:
    """Build the tables from per-crystal predictions.

    Args:
        predictions: needs columns ``space_group`` (1-230), ``y_true``, ``y_pred``.
        reference_value: a constant predictor to compare with (typically the training mean);
            adds ``mae_predict_mean`` to ``overall``.
    """
    missing = {"space_group", "y_true", "y_pred"} - set(predictions.columns)
    if missing:
        raise ValueError(f"predictions lack column(s) {sorted(missing)}")
    df = predictions.copy()
    df["space_group"] = df["space_group"].astype(int)
    df["crystal_system"] = [crystal_system(int(g)) for g in df["space_group"]]
    df["abs_error"] = (df["y_pred"] - df["y_true"]).abs()
    y = df["y_true"].to_numpy(dtype=np.float64)
    err = df["y_pred"].to_numpy(dtype=np.float64) - y

    overall: dict[str, float] = _metrics(err, y)
    overall["n_space_groups"] = int(df["space_group"].nunique())
    if reference_value is not None:
        overall["mae_predict_mean"] = float(np.abs(y - reference_value).mean()) if len(y) \
            else math.nan

    def metrics(part: pd.DataFrame) -> dict[str, float]:
        m = _metrics((part["y_pred"] - part["y_true"]).to_numpy(dtype=np.float64),
                     part["y_true"].to_numpy(dtype=np.float64))
        return {"mae": m["mae"], "rmse": m["rmse"]}

    per_sg, per_cs = _grouped(df, metrics, ["mae", "rmse"])
    return EvaluationReport(df, overall, per_sg, per_cs)


def _grouped(df: pd.DataFrame, metrics: Any, names: list[str]
             ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-space-group and per-crystal-system tables of ``metrics(part) -> dict``."""
    rows = []
    for g, part in df.groupby("space_group", sort=True):
        rows.append({"space_group": int(g), "symbol": SpaceGroup(int(g)).hermann_mauguin,
                     "crystal_system": crystal_system(int(g)), "n": len(part),
                     **metrics(part)})
    per_sg = pd.DataFrame(rows, columns=["space_group", "symbol", "crystal_system", "n", *names])
    rows = []
    for cs in CRYSTAL_SYSTEMS:
        part = df[df["crystal_system"] == cs]
        if len(part):
            rows.append({"crystal_system": cs, "n": len(part),
                         "n_groups": int(part["space_group"].nunique()), **metrics(part)})
    per_cs = pd.DataFrame(rows, columns=["crystal_system", "n", "n_groups", *names])
    return per_sg, per_cs


def classification_report(predictions: pd.DataFrame, class_counts: list[int] | None = None
                          ) -> EvaluationReport:
    """Tables of a classifier: accuracy, ROC-AUC and cross-entropy.

    Args:
        predictions: needs ``space_group``, ``y_true`` (integer labels), ``y_pred`` (predicted
            class) and ``prob_0 .. prob_<C-1>`` (class probabilities).
        class_counts: training crystals per class; ``overall['accuracy_majority']`` is then
            the accuracy of always predicting the most frequent training class.

    ``roc_auc`` is the binary ROC-AUC of ``prob_1``, or the one-vs-rest macro average over
    classes for more than two classes (scikit-learn); it is NaN when the set holds a single
    class.
    """
    from sklearn.metrics import roc_auc_score

    prob_cols = sorted((c for c in predictions.columns if c.startswith("prob_")),
                       key=lambda c: int(c.split("_")[1]))
    missing = {"space_group", "y_true", "y_pred"} - set(predictions.columns)
    if missing or len(prob_cols) < 2:
        raise ValueError(f"predictions lack column(s) {sorted(missing) or 'prob_<class>'}")
    df = predictions.copy()
    df["space_group"] = df["space_group"].astype(int)
    df["crystal_system"] = [crystal_system(int(g)) for g in df["space_group"]]
    df["correct"] = (df["y_pred"] == df["y_true"]).astype(int)
    y = df["y_true"].to_numpy(dtype=np.int64)
    prob = df[prob_cols].to_numpy(dtype=np.float64)
    n = len(df)
    overall: dict[str, float] = {"n": n, "accuracy": float(df["correct"].mean()) if n else
                                 math.nan}
    if n and len(np.unique(y)) > 1:
        overall["roc_auc"] = float(roc_auc_score(y, prob[:, 1]) if len(prob_cols) == 2 else
                                   roc_auc_score(y, prob, multi_class="ovr",
                                                 labels=list(range(len(prob_cols)))))
    else:
        overall["roc_auc"] = math.nan
    picked = prob[np.arange(n), y] if n else np.zeros(0)
    overall["cross_entropy"] = float(-np.log(np.clip(picked, 1e-12, 1.0)).mean()) if n \
        else math.nan
    overall["n_space_groups"] = int(df["space_group"].nunique())
    if class_counts:
        overall["accuracy_majority"] = float((y == int(np.argmax(class_counts))).mean()) \
            if n else math.nan
    per_sg, per_cs = _grouped(df, lambda part: {"accuracy": float(part["correct"].mean())},
                              ["accuracy"])
    return EvaluationReport(df, overall, per_sg, per_cs)


def format_table(df: pd.DataFrame, floatfmt: str = "{:.4f}", max_rows: int | None = None
                 ) -> str:
    """Plain-text table (fixed-width columns) for the terminal."""
    if max_rows is not None and len(df) > max_rows:
        df = df.head(max_rows)
    cols = list(df.columns)
    cells = [[str(c) for c in cols]]
    for _, row in df.iterrows():
        cells.append([floatfmt.format(v) if isinstance(v, float | np.floating) else str(v)
                      for v in row.tolist()])
    widths = [max(len(r[i]) for r in cells) for i in range(len(cols))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


GB_GAP_DEFINITION = ("GB-Gap = mean over held-out groups g of |MAE_zero-shot(g) - MAE_all(g)| "
                     "on the same held-out test crystals")


def gb_gap(zero_shot: pd.DataFrame, all_data: pd.DataFrame) -> tuple[float, int]:
    """GB-Gap: mean over held-out groups of ``|MAE_zero-shot(g) - MAE_all(g)|``.

    Args:
        zero_shot, all_data: per-space-group tables (``space_group``, ``mae``) of the two
            models on the same held-out test crystals.

    Returns:
        ``(gap, number of groups)``; groups missing from either table are left out (``nan``
        and 0 when none is common).
    """
    a = zero_shot.set_index("space_group")["mae"]
    b = all_data.set_index("space_group")["mae"]
    common = a.index.intersection(b.index)
    if len(common) == 0:
        return math.nan, 0
    return float((a[common] - b[common]).abs().mean()), len(common)
