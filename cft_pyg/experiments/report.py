"""README tables generated from the results JSON: the numbers a reader sees are the measured ones.

``python -m cft_pyg.experiments.report results/ablation.json --readme README.md`` replaces the
block between ``<!-- ablation:begin -->`` and ``<!-- ablation:end -->`` in the README with
:func:`ablation_markdown`; without ``--readme`` the block is printed.  A test checks that the
README's block equals the one generated from the committed JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = ["ablation_markdown", "replace_block", "main"]

BEGIN, END = "<!-- ablation:begin -->", "<!-- ablation:end -->"
LABELS = {
    "none": "no positional encoding",
    "plain": "plain Fourier features",
    "symmetry-raw": "symmetry-adapted, raw tokens, no pair geometry",
    "symmetry-tokens": "+ normalized family inputs, balanced tokens",
    "symmetry": "symmetry-adapted + normalized tokens + pair geometry (**CFT default**)",
    "symmetry-pre": "+ orbit-distance pretraining",
    "cgcnn": "CGCNN (same element features)",
}
SHORT = {
    "none": "no encoding", "plain": "plain Fourier", "symmetry-raw": "raw tokens",
    "symmetry-tokens": "normalized tokens", "symmetry": "CFT default",
    "symmetry-pre": "pretrained", "cgcnn": "CGCNN",
}
TARGET_LABELS = {
    "carbon24/energy_per_atom": "Carbon-24 energy (eV/atom)",
    "mp20/formation_energy_per_atom": "MP-20 formation energy (eV/atom)",
    "mp20/band_gap": "MP-20 band gap (eV)",
}


def _fmt(stats: dict[str, Any], digits: int = 4) -> str:
    if stats.get("mean") is None:
        return "–"
    std = stats.get("std")
    return f"{stats['mean']:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "")


def ablation_markdown(payload: dict[str, Any]) -> str:
    """Markdown tables of an ``ablation.json`` payload (one table per target)."""
    settings = payload["settings"]
    lines = []
    for target, block in payload["summary"].items():
        epochs = settings["epochs"][target]
        rows = block["variants"]
        n_train = next(r["n_train"] for r in payload["runs"]
                       if r.get("kind") == "training" and r["target"] == target)
        lines += [f"**{TARGET_LABELS.get(target, target)}**: {n_train:,} training crystals, "
                  f"{epochs} epochs, test MAE at the best validation epoch, mean ± std over "
                  "seeds", "",
                  "| variant | seeds | parameters | test MAE | best epoch | train s | "
                  "crystals/s |", "|---|---|---|---|---|---|---|"]
        for variant in LABELS:
            if variant not in rows:
                continue
            r = rows[variant]
            lines.append(
                f"| {LABELS[variant]} | {r['test_mae']['n']} | {r['parameters']:,} | "
                f"{_fmt(r['test_mae'])} | {', '.join(str(e) for e in r['best_epoch'])} | "
                f"{r['train_seconds']['mean']:.0f} | {r['crystals_per_second']['mean']:.0f} |")
        floor = block.get("composition_floor")
        if floor is not None:
            lines.append(f"| composition only (kernel ridge, no structure) | – | – | "
                         f"{floor['test_mae']:.4f} | – | {floor['seconds']:.0f} | – |")
        lines.append("")
        comps = block["comparisons"]
        paired = []
        for c in comps.values():
            if c is None:
                continue
            d = c["difference"]
            paired.append(
                f"{SHORT.get(c['better'], c['better'])} vs "
                f"{SHORT.get(c['worse'], c['worse'])}: "
                f"{_fmt(d)} ({c['wins']}/{len(c['seeds'])} seeds better"
                + (f", {c['margin_in_std']:.1f} std" if c["margin_in_std"] is not None else "")
                + ")")
        if paired:
            lines.append("Paired differences in test MAE (other minus first, positive: the "
                         "first is better): " + "; ".join(paired) + ".")
            lines.append("")
    met = payload.get("targets_met", {})
    if met:
        lines.append("| target of the issue | met |")
        lines.append("|---|---|")
        lines += [f"| {k} | {'yes' if v else '**no**'} |" for k, v in met.items()]
        lines.append("")
    pre = [r for r in payload["runs"] if r.get("kind") == "pretraining"]
    if pre:
        p = pre[0]
        s = p["settings"]
        lines.append(
            f"Orbit-distance pretraining ({s['pairs_per_group']} pairs per group x 230 groups, "
            f"{s['epochs']} epochs, {p['seconds']:.0f} s): held-out orbit-distance MAE "
            f"**{p['heldout_mae']:.3f} Å** on {p['heldout_pairs']:,} new pairs (the published "
            "CFT reports 0.102 Å after 200 epochs on 125k pairs per group).")
        lines.append("")
    if not payload.get("complete", True):
        lines.append(f"**Incomplete run**: {len(payload['missing'])} planned trainings did not "
                     f"finish inside the session and are not in these tables: "
                     f"{', '.join(payload['missing'])}.")
        lines.append("")
    machine = payload["machine"]
    lines.append(
        f"Total {payload['total_seconds'] / 60:.0f} min wall, {machine['jobs']} single-thread "
        f"jobs side by side on {machine['cpus']} cores (load average at the end "
        f"{machine['loadavg_end'][0]:.1f}).")
    return "\n".join(lines).rstrip() + "\n"


def replace_block(text: str, block: str) -> str:
    """``text`` with the part between the ablation markers replaced by ``block``."""
    if BEGIN not in text or END not in text:
        raise ValueError(f"the README has no {BEGIN} ... {END} block")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{block}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cft_pyg.experiments.report",
                                     description="README tables from results JSON.")
    parser.add_argument("ablation", type=Path, help="ablation.json")
    parser.add_argument("--readme", type=Path, default=None,
                        help="rewrite this README's ablation block in place")
    args = parser.parse_args(argv)
    block = ablation_markdown(json.loads(args.ablation.read_text()))
    if args.readme is None:
        print(block)
    else:
        args.readme.write_text(replace_block(args.readme.read_text(), block))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
