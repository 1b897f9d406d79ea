r"""Claims as data: "model A is better than model B on target T at budget b", declared by a
study and judged here from its runs, the same way in every study.

A :class:`Claim` is judged by :func:`judge` from per-seed figures (lower is better: a test
MAE, a GB-Gap) and, where a study has them, per-item figures (the absolute error of every
test crystal, the gap of every held-out group) for a bootstrap interval. Criteria:

* ``'bootstrap'``: the 95% percentile-bootstrap interval of ``B - A`` over the items
  (seed-averaged) lies above zero;
* ``'two_std'``: the mean of ``B`` exceeds the mean of ``A`` by more than twice their
  combined spread over seeds;
* ``'mean'``: ``A``'s mean over seeds is lower.

:func:`judge_reach` judges "A reaches B's best validation MAE in at most ``fraction`` of B's
training time" from two learning curves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from .statistics import bootstrap_difference, paired, time_to_reach

__all__ = ["CRITERIA", "Claim", "judge", "judge_reach"]

CRITERIA = ("bootstrap", "two_std", "mean", "reach")


@dataclass(frozen=True)
class Claim:
    """``better`` beats ``worse`` (catalog names) on ``target`` at ``budget``.

    Attributes:
        better, worse: the two models.
        target: target key (``None``: the study's only target).
        budget: training seconds (``None``: the study's common budget or epochs).
        criterion: one of :data:`CRITERIA`.
        fraction: for ``'reach'``: the share of ``worse``'s time allowed to ``better``.
    """

    better: str
    worse: str
    target: str | None = None
    budget: float | None = None
    criterion: str = "bootstrap"
    fraction: float = 0.2

    def __post_init__(self) -> None:
        if self.criterion not in CRITERIA:
            raise ValueError(f"unknown criterion {self.criterion!r}; known: {CRITERIA}")

    @property
    def key(self) -> str:
        """A readable, unique name (the key in the results JSON)."""
        rel = ("reaches the best of" if self.criterion == "reach" else "beats")
        where = f" on {self.target}" if self.target else ""
        when = f" at {self.budget:g} s" if self.budget is not None else ""
        how = {"two_std": " by > 2 std", "reach": f" in {self.fraction:g} of its time"}.get(
            self.criterion, "")
        return f"{self.better} {rel} {self.worse}{where}{when}{how}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _seed_mean(items: Mapping[int, Any], seeds: list[int]) -> pd.Series:
    frames = [pd.Series(np.asarray(items[s], dtype=float)) if not isinstance(items[s], pd.Series)
              else items[s] for s in seeds]
    return pd.concat(frames, axis=1).mean(axis=1)


def judge(claim: Claim, better: Mapping[int, float], worse: Mapping[int, float],
          better_items: Mapping[int, Any] | None = None,
          worse_items: Mapping[int, Any] | None = None,
          over: str = "test crystals") -> dict[str, Any] | None:
    """Judge ``claim`` from per-seed figures (``{seed: value}``, lower is better) and, for
    the bootstrap, per-item figures (``{seed: array or Series}``; Series are aligned on
    their index); ``None`` when no seed is common.

    Returns:
        ``{'claim', 'seeds', 'difference' (worse - better over seeds), 'wins',
        'margin_in_std', 'beats_by_two_std', 'bootstrap' ({'over', 'mean', 'ci95'} or
        absent), 'met'}``.
    """
    stats = paired(better, worse)
    if stats is None:
        return None
    out: dict[str, Any] = {"claim": claim.to_dict(), **stats}
    if better_items is not None and worse_items is not None:
        seeds = [s for s in stats["seeds"] if s in better_items and s in worse_items]
        if seeds:
            a, b = _seed_mean(better_items, seeds), _seed_mean(worse_items, seeds)
            common = a.index.intersection(b.index)
            out["bootstrap"] = {"over": over, **bootstrap_difference(
                a[common].to_numpy(), b[common].to_numpy())}
    if claim.criterion == "bootstrap":
        met = "bootstrap" in out and out["bootstrap"]["ci95"][0] > 0
    elif claim.criterion == "two_std":
        met = stats["beats_by_two_std"]
    else:
        met = stats["difference"]["mean"] > 0
    out["met"] = bool(met)
    return out


def judge_reach(claim: Claim, better_curve: Mapping[str, list[float]],
                worse_curve: Mapping[str, list[float]]) -> dict[str, Any]:
    """"``better`` reaches ``worse``'s best validation MAE within ``claim.fraction`` of the
    time ``worse`` needed", from mean curves (``{'train_seconds': [...], 'val_mae': [...]}``).
    """
    i = int(np.argmin(worse_curve["val_mae"]))
    level = float(worse_curve["val_mae"][i])
    t_worse = float(worse_curve["train_seconds"][i])
    t_better = time_to_reach(better_curve["train_seconds"], better_curve["val_mae"], level)
    return {"claim": claim.to_dict(), "level": level, "worse_seconds": t_worse,
            "better_seconds": t_better,
            "ratio": None if t_better is None else t_better / t_worse,
            "met": bool(t_better is not None and t_better <= claim.fraction * t_worse)}
