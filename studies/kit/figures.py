"""The figures of the studies, drawn by :mod:`cft_pyg.viz` from results payloads: parity,
MAE per crystal system and per space group, few-shot curves, wall-clock learning curves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from .catalog import TARGETS, label_of, target_entry

__all__ = ["plot_curves", "plot_transfer_few_shot", "write_compare_figures"]


def _agg() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_compare_figures(benchmark: dict[str, Any] | None, zero_shot: dict[str, Any] | None,
                          out_dir: str | Path) -> list[Path]:
    """Parity, per-crystal-system, per-space-group and few-shot figures of the comparison."""
    _agg()
    from cft_pyg.viz import (
        plot_few_shot,
        plot_mae_by_crystal_system,
        plot_mae_by_space_group,
        plot_parity,
        save_figure,
    )

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []

    def save(fig: Any, name: str) -> None:
        paths.append(save_figure(fig, out / name, dpi=110))

    for target, models in (benchmark or {}).items():
        unit = target_entry(target).unit
        preds = {}
        cs_rows, sg_rows = [], []
        for m, e in models.items():
            s0 = e["seeds"][0]
            preds[label_of(m)] = pd.DataFrame(e[f"predictions_seed{s0}"])
            cs_rows += [{"model": label_of(m), **r} for r in e["per_crystal_system"]]
            sg_rows += [{"model": label_of(m), **r} for r in e["per_space_group"]]
        save(plot_parity(preds, quantity=target, unit=unit), f"parity_{target}.png")
        save(plot_mae_by_crystal_system(pd.DataFrame(cs_rows), unit=unit,
                                        title=f"MP-20 {target}: test MAE per crystal system "
                                              "(mean over seeds)"),
             f"mae_crystal_system_{target}.png")
        save(plot_mae_by_space_group(pd.DataFrame(sg_rows), unit=unit, top=20,
                                     title=f"MP-20 {target}: test MAE, 20 most common groups"),
             f"mae_space_group_{target}.png")
    if zero_shot:
        rows, ref = [], {}
        for m, e in zero_shot.items():
            for v, stats in e["held_test_mae"].items():
                if v == "all":
                    ref[label_of(m)] = stats["mean"]
                else:
                    rows.append({"model": label_of(m), "k": int(v[1:]), "mae": stats["mean"],
                                 "mae_std": stats["std"]})
        if rows:
            save(plot_few_shot(pd.DataFrame(rows), unit="eV/atom", reference=ref),
                 "fewshot_mp20.png")
    return paths


def plot_curves(payload: dict[str, Any], path: Path) -> None:
    """``curves.png``: validation MAE against training seconds, one panel per target (dashed:
    extended budgets; grey: the composition-only floor)."""
    summary = payload["summary"]
    if not summary:
        return
    plt = _agg()
    fig, axes = plt.subplots(1, len(summary), figsize=(5 * len(summary), 4), squeeze=False)
    common = payload["settings"]["budget_seconds"]
    order = list(dict.fromkeys(row["model"] for b in summary.values()
                               for row in b["models"].values()))
    for ax, (target, block) in zip(axes[0], summary.items(), strict=True):
        for row in block["models"].values():
            c = row["curve"]
            ax.plot(c["train_seconds"], c["val_mae"], marker="o", ms=3, label=row["label"],
                    ls="--" if row["budget_seconds"] != common else "-",
                    color=f"C{order.index(row['model']) % 10}")
        floor = payload["composition_floors"].get(target)
        if floor:
            ax.axhline(floor["val_mae"], color="gray", ls="--", lw=1,
                       label="composition only (val)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("training seconds (1 thread)")
        ax.set_ylabel("validation MAE (log)")
        ax.set_title(TARGETS[target].label if target in TARGETS else target, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_transfer_few_shot(table: pd.DataFrame, summary: dict[str, Any], path: Path) -> None:
    """``transfer_fewshot.png``: held-out MAE against k (dashed: the all-groups models)."""
    if not len(table):
        return
    plt = _agg()
    from cft_pyg.viz import plot_few_shot

    table = table.assign(model=table["model"].map(label_of))
    reference = {label_of(m): e["held_test_mae"]["all-groups"]["mean"]
                 for m, e in summary["models"].items() if "all-groups" in e["held_test_mae"]
                 and any(v.startswith("k") for v in e["held_test_mae"])}
    fig = plot_few_shot(table, unit="eV/atom", reference=reference)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
