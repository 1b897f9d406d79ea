"""Figures of the comparison (drawn by :mod:`cft_pyg.viz`): parity, MAE per crystal system
and per space group, few-shot curves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from .settings import MODEL_LABELS, TARGET_UNITS

__all__ = ["write_figures"]


def write_figures(benchmark: dict[str, Any] | None, zero_shot: dict[str, Any] | None,
                  out_dir: str | Path) -> list[Path]:
    """Parity, per-crystal-system, per-space-group and few-shot figures as PNG files."""
    import matplotlib

    matplotlib.use("Agg")
    from ..viz import (
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
        unit = TARGET_UNITS.get(target, "")
        preds = {}
        cs_rows, sg_rows = [], []
        for m, e in models.items():
            s0 = e["seeds"][0]
            preds[MODEL_LABELS.get(m, m)] = pd.DataFrame(e[f"predictions_seed{s0}"])
            cs_rows += [{"model": MODEL_LABELS.get(m, m), **r} for r in e["per_crystal_system"]]
            sg_rows += [{"model": MODEL_LABELS.get(m, m), **r} for r in e["per_space_group"]]
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
            label = MODEL_LABELS.get(m, m)
            for v, stats in e["held_test_mae"].items():
                if v == "all":
                    ref[label] = stats["mean"]
                else:
                    rows.append({"model": label, "k": int(v[1:]), "mae": stats["mean"],
                                 "mae_std": stats["std"]})
        if rows:
            save(plot_few_shot(pd.DataFrame(rows), unit="eV/atom", reference=ref),
                 "fewshot_mp20.png")
    return paths
