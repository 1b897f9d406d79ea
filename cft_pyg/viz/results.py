"""Figures of experiment results: parity plots, MAE per group / crystal system, few-shot curves.

The inputs are plain :mod:`pandas` tables (as written by :mod:`studies.compare`
into ``results/*.json`` or produced by :func:`cft_pyg.training.evaluate`), so the same
functions draw a notebook's tiny run and the full run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..symmetry.space_group import CRYSTAL_SYSTEMS

__all__ = ["plot_few_shot", "plot_learning_curves", "plot_mae_by_crystal_system",
           "plot_mae_by_space_group", "plot_parity", "save_figure"]

def _numeric(table: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    """A copy with ``cols`` as floats (``None``, e.g. from JSON ``null``, becomes NaN)."""
    table = table.copy()
    for c in cols:
        if c in table.columns:
            table[c] = pd.to_numeric(table[c], errors="coerce").astype(float)
    return table




def plot_parity(predictions: Mapping[str, pd.DataFrame], *, quantity: str = "target",
                unit: str = "", ncols: int = 4) -> Figure:
    """Predicted against true value, one panel per model.

    Args:
        predictions: model name -> table with ``y_true`` and ``y_pred``.
        quantity, unit: axis labels.
        ncols: panels per row.

    Returns:
        The figure; model ``m``'s points have gid ``'parity_<m>'``; titles give the MAE.
    """
    names = list(predictions)
    if not names:
        raise ValueError("no predictions to plot")
    ncols = max(1, min(ncols, len(names)))
    nrows = -(-len(names) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 3.5 * nrows), squeeze=False)
    u = f" ({unit})" if unit else ""
    for ax, name in zip(axes.flat, names, strict=False):
        df = predictions[name]
        yt, yp = df["y_true"].to_numpy(float), df["y_pred"].to_numpy(float)
        lo = float(min(yt.min(), yp.min()))
        hi = float(max(yt.max(), yp.max()))
        sc = ax.scatter(yt, yp, s=5, alpha=0.5)
        sc.set_gid(f"parity_{name}")
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_title(f"{name}: MAE {np.mean(np.abs(yt - yp)):.3f}", fontsize=9)
        ax.set_xlabel(f"true {quantity}{u}")
        ax.set_ylabel(f"predicted{u}")
    for ax in list(axes.flat)[len(names):]:
        ax.set_axis_off()
    fig.tight_layout()
    return fig


def _mae_and_std(sub: pd.DataFrame, keys: list) -> tuple[list[float], list[float] | None]:
    """``mae`` (and ``mae_std`` when present) of ``sub`` at ``keys``, NaN where missing."""

    def column(name: str) -> list[float]:
        return [float(sub.loc[k, name]) if k in sub.index else np.nan for k in keys]

    return column("mae"), (column("mae_std") if "mae_std" in sub.columns else None)


def _finish_mae_axes(fig: Figure, ax: Any, unit: str, title: str | None) -> Figure:
    """MAE axis label, optional title, legend and layout of the per-group MAE plots."""
    ax.set_ylabel(f"MAE{f' ({unit})' if unit else ''}")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_mae_by_crystal_system(table: pd.DataFrame, *, unit: str = "",
                               title: str | None = None) -> Figure:
    """Grouped bars of MAE per crystal system and model.

    Args:
        table: columns ``model``, ``crystal_system``, ``mae`` and optionally ``mae_std``
            (error bars, e.g. over seeds) and ``n``.
        unit: unit of the MAE.
        title: axes title.

    Returns:
        The figure; model ``m``'s bar patches have gid ``'mae_<m>'``.
    """
    table = _numeric(table, ["mae", "mae_std"])
    models = list(dict.fromkeys(table["model"]))
    systems = [s for s in CRYSTAL_SYSTEMS if s in set(table["crystal_system"])]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(systems) + 2), 4.0))
    width = 0.8 / max(len(models), 1)
    x = np.arange(len(systems))
    for i, m in enumerate(models):
        vals, err = _mae_and_std(table[table["model"] == m].set_index("crystal_system"), systems)
        bars = ax.bar(x + (i - (len(models) - 1) / 2) * width, vals, width, yerr=err,
                      capsize=2, label=m)
        for patch in bars:
            patch.set_gid(f"mae_{m}")
    ax.set_xticks(x, systems, rotation=20)
    return _finish_mae_axes(fig, ax, unit, title)


def plot_mae_by_space_group(table: pd.DataFrame, *, top: int = 25, unit: str = "",
                            title: str | None = None) -> Figure:
    """MAE per space group and model for the ``top`` groups with the most test crystals.

    Args:
        table: columns ``model``, ``space_group``, ``mae`` and ``n`` (test crystals of the
            group), optionally ``mae_std``.
        top: number of groups shown.
        unit: unit of the MAE.
        title: axes title.

    Returns:
        The figure; model ``m``'s markers have gid ``'sg_<m>'``.
    """
    table = _numeric(table, ["mae", "mae_std", "n"])
    counts = table.groupby("space_group")["n"].max().sort_values(ascending=False)
    groups = list(counts.index[:top])
    models = list(dict.fromkeys(table["model"]))
    fig, ax = plt.subplots(figsize=(max(7.0, 0.38 * len(groups) + 2), 4.0))
    x = np.arange(len(groups))
    for i, m in enumerate(models):
        vals, err = _mae_and_std(table[table["model"] == m].set_index("space_group"), groups)
        cont = ax.errorbar(x + (i - (len(models) - 1) / 2) * 0.12, vals, yerr=err, fmt="o",
                           ms=4, capsize=2, label=m)
        cont.lines[0].set_gid(f"sg_{m}")
    ax.set_xticks(x, [f"{g}\n(n={int(counts[g])})" for g in groups], fontsize=6)
    ax.set_xlabel("space group (test crystals)")
    return _finish_mae_axes(fig, ax, unit, title)


def plot_few_shot(table: pd.DataFrame, *, unit: str = "", reference: Mapping[str, float] |
                  None = None, ks: Sequence[int] | None = None) -> Figure:
    """Error on held-out groups against the number ``k`` of their crystals seen in training.

    Args:
        table: columns ``model``, ``k``, ``mae`` and optionally ``mae_std``.
        unit: unit of the MAE.
        reference: model -> MAE of the model trained on all data (dashed lines).
        ks: x ticks (default: the ``k`` in the table).

    Returns:
        The figure; model ``m``'s curve has gid ``'fewshot_<m>'``.
    """
    table = _numeric(table, ["mae", "mae_std"])
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    models = list(dict.fromkeys(table["model"]))
    # k = 0 on a symlog axis
    for m in models:
        sub = table[table["model"] == m].sort_values("k")
        err = sub["mae_std"] if "mae_std" in sub.columns else None
        cont = ax.errorbar(sub["k"], sub["mae"], yerr=err, marker="o", capsize=3, label=m)
        cont.lines[0].set_gid(f"fewshot_{m}")
        if reference and m in reference:
            ax.axhline(reference[m], ls="--", lw=0.8, color=cont.lines[0].get_color())
    ax.set_xscale("symlog", linthresh=1)
    ticks = sorted(set(table["k"])) if ks is None else list(ks)
    ax.set_xticks(ticks, [str(k) for k in ticks])
    ax.set_xlim(-0.2, 1.3 * max(max(ticks), 1))
    ax.set_xlabel("k = training crystals per held-out group")
    ax.set_ylabel(f"MAE on held-out groups{f' ({unit})' if unit else ''}")
    ax.set_title("Few-shot (dashed: trained on all groups)" if reference else "Few-shot")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_learning_curves(curves: Mapping[str, pd.DataFrame], *, metric: str = "val_mae",
                         unit: str = "") -> Figure:
    """A per-epoch metric of several runs (e.g. :func:`cft_pyg.training.epoch_metrics`).

    Args:
        curves: run name -> table with ``epoch`` (0-based) and ``metric``; runs without the
            column are left out.
        metric: the column to plot.
        unit: unit of the metric.

    Returns:
        The figure; run ``r``'s line has gid ``'curve_<r>'``.
    """
    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    for name, df in curves.items():
        if metric in df.columns:
            d = df.dropna(subset=[metric])
            (line,) = ax.plot(d["epoch"] + 1, d[metric], marker="o", label=name)
            line.set_gid(f"curve_{name}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{metric.replace('_', ' ')}{f' ({unit})' if unit else ''}")
    ax.legend(fontsize=8)
    return fig


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 110) -> Path:
    """Save ``fig`` as ``path`` (tight bounding box) and close it.

    Returns:
        The path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path

