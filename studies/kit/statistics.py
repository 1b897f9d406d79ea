"""The statistics of every study: mean ± std over seeds, paired differences, bootstrap
intervals, learning-curve helpers and JSON-ready tables."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["bootstrap_difference", "format_mean_std", "json_records", "mean_curve", "mean_std",
           "paired", "time_to_reach"]


def json_records(df: pd.DataFrame, cols: Sequence[str]) -> list[dict[str, Any]]:
    """Rows of ``df[cols]`` as JSON-ready dicts (6 significant digits)."""
    return json.loads(df[list(cols)].to_json(orient="records", double_precision=6))


def mean_std(values: Sequence[float | None]) -> dict[str, Any]:
    """Mean, sample standard deviation (``ddof=1``; ``None`` for one value), the values and
    their count (``None`` values are left out; the mean of none is ``None``)."""
    v = np.asarray([x for x in values if x is not None], dtype=float)
    return {"mean": float(v.mean()) if v.size else None,
            "std": float(v.std(ddof=1)) if v.size > 1 else None,
            "values": [float(x) for x in v], "n_seeds": int(v.size)}


def bootstrap_difference(errors_a: np.ndarray, errors_b: np.ndarray, n_resamples: int = 2000,
                         seed: int = 0) -> dict[str, Any]:
    """Mean of ``errors_b - errors_a`` (positive: ``a`` is better) with its 95%
    percentile-bootstrap interval (items resampled, pairs kept)."""
    diff = np.asarray(errors_b, dtype=np.float64) - np.asarray(errors_a, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, diff.size, size=(n_resamples, diff.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {"mean": float(diff.mean()), "ci95": [float(low), float(high)]}


def paired(better: Mapping[int, float], worse: Mapping[int, float]) -> dict[str, Any] | None:
    """``worse - better`` per common seed (positive: ``better`` is better), its mean ± std,
    the seeds it wins, and the margin of the means in units of their combined spread
    (``sqrt(std_a^2 + std_b^2)``); ``None`` without a common seed."""
    seeds = sorted(set(better) & set(worse))
    if not seeds:
        return None
    diffs = [worse[s] - better[s] for s in seeds]
    a = mean_std([better[s] for s in seeds])
    b = mean_std([worse[s] for s in seeds])
    spread = math.sqrt((a["std"] or 0.0) ** 2 + (b["std"] or 0.0) ** 2)
    gap = b["mean"] - a["mean"]
    return {"seeds": seeds, "difference": mean_std(diffs), "wins": sum(d > 0 for d in diffs),
            "margin_in_std": gap / spread if spread > 0 else None,
            "beats_by_two_std": bool(spread > 0 and gap > 2 * spread)}


def time_to_reach(curve_seconds: Sequence[float], curve_mae: Sequence[float], level: float
                  ) -> float | None:
    """First training time at which a curve is at or below ``level`` (``None``: never)."""
    for t, m in zip(curve_seconds, curve_mae, strict=True):
        if m <= level:
            return float(t)
    return None


def mean_curve(runs: Sequence[dict[str, Any]],
               keys: Sequence[str] = ("train_seconds", "epochs", "val_mae")
               ) -> dict[str, list[float]]:
    """Point-by-point mean of the runs' ``curve`` lists (as long as the shortest)."""
    n = min(len(r["curve"]) for r in runs)
    return {key: [float(np.mean([r["curve"][i][key] for r in runs])) for i in range(n)]
            for key in keys}


def format_mean_std(stats: dict[str, Any], digits: int = 4) -> str:
    """``'mean ± std'`` of a :func:`mean_std` record (``'–'`` without a mean)."""
    if stats.get("mean") is None:
        return "–"
    std = stats.get("std")
    return f"{stats['mean']:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "")

