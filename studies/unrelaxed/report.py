"""Summary, markdown block and figure of the unrelaxed-inputs study, generated from its JSON.

Reads ``results/runs/*.json`` (:mod:`run`) and ``results/anchor.json`` (:mod:`anchor`, if
present); writes ``results/summary.json``, the block between ``<!-- unrelaxed:begin -->``
and ``<!-- unrelaxed:end -->`` of ``README.md`` in this folder, and
``results/ranking.png`` (per-composition ranking quality of every model, side by side).

Statistics: mean and standard deviation (``ddof=1``) over seeds.  "Beats by more than 2
std" compares the difference of the means with twice the standard deviation of a one-seed
difference, :math:`\\sqrt{s_a^2 + s_b^2}`.

Usage::

    python studies/unrelaxed/report.py [--results DIR] [--readme FILE] [--figure FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
METRICS = ("mae", "relative_mae", "spearman", "hit_rate")
BEGIN, END = "<!-- unrelaxed:begin -->", "<!-- unrelaxed:end -->"
_ORDER = ("cft", "cft-no-encoding", "published", "cgcnn", "alignn", "wrenformer", "wyckoff",
          "composition", "megnet", "chgnet-frozen", "chgnet")
WYCKOFF_BASELINE = "wrenformer"
"""Issue 34's coordinate-free Wyckoff baseline: aviary's Wrenformer (a maintained package);
the library's own ``wyckoff`` model is a second, earlier row."""
_INPUT_ORDER = ("unrelaxed", "rescaled", "relaxed")


def load_runs(results: Path) -> list[dict[str, Any]]:
    """Every finished run record of ``results/runs``."""
    return [json.loads(p.read_text()) for p in sorted((results / "runs").glob("*.json"))]


def _std(values: list[float]) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean/std over seeds per (input, model), and the targets of the issue."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r["input"], r["model"]), []).append(r)
    rows = []
    for (inp, model), rs in groups.items():
        row: dict[str, Any] = {"input": inp, "model": model, "label": rs[0]["label"],
                               "seeds": sorted(r["seed"] for r in rs)}
        for m in METRICS:
            values = [r["metrics"][m] for r in rs]
            row[m] = float(np.mean(values))
            row[f"{m}_std"] = _std(values)
            row[f"{m}_runs"] = values
        row["epochs"] = float(np.mean([r["epochs"] or 0 for r in rs]))
        row["fit_wall_seconds"] = float(np.mean([r["fit_wall_seconds"] for r in rs]))
        row["budget_cpu_seconds"] = rs[0]["budget_cpu_seconds"]
        row["parameters"] = rs[0]["parameters"]
        row["trainable_parameters"] = rs[0].get("trainable_parameters", rs[0]["parameters"])
        row["pretrained_on_mp"] = bool(rs[0].get("pretrained_on_mp", False))
        row["batch_size"] = rs[0].get("batch_size", 64)
        row["load"] = float(np.mean([r["load_start"] for r in rs]))
        row["n_test"] = rs[0]["n_test"]
        row["n_compositions"] = rs[0]["metrics"]["n_compositions"]
        rows.append(row)
    rows.sort(key=lambda r: (_INPUT_ORDER.index(r["input"]) if r["input"] in _INPUT_ORDER
                             else 9, _ORDER.index(r["model"]) if r["model"] in _ORDER else 9))
    table = {(r["input"], r["model"]): r for r in rows}
    return {"rows": rows, "targets": _targets(table)}


def _versus(a: dict[str, Any], b: dict[str, Any], metric: str, lower_better: bool
            ) -> dict[str, Any]:
    diff = (b[metric] - a[metric]) if lower_better else (a[metric] - b[metric])
    noise = math.sqrt(a[f"{metric}_std"] ** 2 + b[f"{metric}_std"] ** 2)
    return {"metric": metric, "a": a[metric], "b": b[metric], "advantage_of_a": diff,
            "two_std": 2 * noise, "met": bool(diff > 2 * noise) if noise == noise else None}


def _targets(table: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    a, b = table.get(("unrelaxed", "cft")), table.get(("unrelaxed", "cft-no-encoding"))
    if a and b:
        out["encoding_vs_none"] = [_versus(a, b, "relative_mae", True),
                                   _versus(a, b, "spearman", False)]
    library = [table[("unrelaxed", m)] for m in ("cft", "cft-no-encoding", "published")
               if ("unrelaxed", m) in table]
    if library:
        best = min(library, key=lambda r: r["relative_mae"])
        out["best_library"] = {"model": best["model"], "relative_mae": best["relative_mae"]}
        out["best_vs_baselines"] = {m: _versus(best, table[("unrelaxed", m)], "relative_mae",
                                               True)
                                    for m in ("cgcnn", "alignn", "wyckoff", "megnet",
                                              "chgnet-frozen", "chgnet")
                                    if ("unrelaxed", m) in table}
        wren = table.get(("unrelaxed", WYCKOFF_BASELINE))
        if wren:
            out["best_vs_wyckoff_baseline"] = [_versus(best, wren, "relative_mae", True),
                                               _versus(best, wren, "spearman", False)]
        upper = table.get(("relaxed", best["model"]))
        if upper:
            out["gap_to_relaxed"] = {m: best[m] - upper[m] for m in METRICS}
    return out


def _fmt(row: dict[str, Any], metric: str, digits: int) -> str:
    mean, std = row[metric], row[f"{metric}_std"]
    if std != std:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def markdown(summary: dict[str, Any], anchor: dict[str, Any] | None) -> str:
    """The generated block (without the markers)."""
    lines = ["| input | model | plain MAE (eV/atom) | relative-energy MAE (eV/atom) | "
             "Spearman within composition | ground-state hits | seeds | epochs | "
             "parameters |", "|---|---|---|---|---|---|---|---|---|"]
    for r in summary["rows"]:
        lines.append(f"| {r['input']} | {r['label']} | {_fmt(r, 'mae', 4)} | "
                     f"{_fmt(r, 'relative_mae', 4)} | {_fmt(r, 'spearman', 3)} | "
                     f"{_fmt(r, 'hit_rate', 2)} | {len(r['seeds'])} | {r['epochs']:.1f} | "
                     f"{r['parameters']:,} |")
    if summary["rows"]:
        r0 = summary["rows"][0]
        loads = [r["load"] for r in summary["rows"]]
        lines += ["", f"Each run: {r0['budget_cpu_seconds']:.0f} CPU seconds of training "
                  f"(one thread, `time.process_time`), the best of the validation moments; "
                  f"test: {r0['n_test']} candidates of {r0['n_compositions']} compositions "
                  f"never seen in training (composition split, seed 0). Load average at the "
                  f"start of the runs: {min(loads):.1f} to {max(loads):.1f} on 2 cores "
                  f"(shared machine; the CPU budget does not depend on it)."]
        mp = [r["label"] for r in summary["rows"] if r["pretrained_on_mp"]]
        if mp:
            lines.append("")
            lines.append("Pretrained on Materials Project data (CHGNet 0.3.0: MPtrj): "
                         + "; ".join(sorted(set(mp))) + ". The NREL pnictides are not "
                         "Materials Project data, but MP holds many crystals of the same "
                         "chemistry (alkali, alkaline-earth and post-transition-metal "
                         "pnictides), which CHGNet saw in pretraining. Parameters: all of "
                         "the model; the trainable ones of the frozen CHGNet are " + ", ".join(
                             f"{r['trainable_parameters']:,} ({r['input']})"
                             for r in summary["rows"] if r["model"] == "chgnet-frozen")
                         + ". Batch 64, CHGNet fine-tuned 16.")
        few = [r for r in summary["rows"] if len(r["seeds"]) < 3]
        for r in few:
            lines.append("")
            lines.append(f"{r['label']} ({r['input']}): {len(r['seeds'])} seed only: it "
                         f"reached {r['epochs']:.2f} epochs in the budget, a measurement of "
                         "its speed, not of its accuracy; not run further.")
    t = summary["targets"]
    if "encoding_vs_none" in t:
        lines.append("")
        for v in t["encoding_vs_none"]:
            verdict = {True: "**met**", False: "**missed**", None: "undecided"}[v["met"]]
            lines.append(f"- Encoding vs none, {v['metric']}: {v['a']:.4f} vs {v['b']:.4f}, "
                         f"advantage {v['advantage_of_a']:+.4f}, 2 std {v['two_std']:.4f}: "
                         f"{verdict}.")
    if "best_vs_baselines" in t:
        best = t["best_library"]["model"]
        for m, v in t["best_vs_baselines"].items():
            noise = (f"2 std {v['two_std']:.4f}" if v["two_std"] == v["two_std"]
                     else "one seed: no std")
            lines.append(f"- Best library model ({best}) vs {m}, relative MAE: "
                         f"{v['a']:.4f} vs {v['b']:.4f} (advantage {v['advantage_of_a']:+.4f}, "
                         f"{noise}).")
    if "best_vs_wyckoff_baseline" in t:
        best = t["best_library"]["model"]
        for v in t["best_vs_wyckoff_baseline"]:
            verdict = {True: "**beats it**", False: "does not beat it by more than 2 std",
                       None: "undecided"}[v["met"]]
            lines.append(f"- Best library model ({best}) vs the Wyckoff baseline "
                         f"({WYCKOFF_BASELINE}), {v['metric']}: {v['a']:.4f} vs {v['b']:.4f} "
                         f"(advantage {v['advantage_of_a']:+.4f}, 2 std {v['two_std']:.4f}): "
                         f"{verdict}.")
    if "gap_to_relaxed" in t:
        g = t["gap_to_relaxed"]
        lines.append(f"- Gap of {t['best_library']['model']} to its relaxed-input upper bound: "
                     f"MAE {g['mae']:+.4f}, relative MAE {g['relative_mae']:+.4f}, "
                     f"Spearman {g['spearman']:+.3f}, hits {g['hit_rate']:+.2f}.")
    if anchor:
        lines += ["", "| CHGNet anchor | plain MAE | relative-energy MAE | Spearman | hits | "
                  "compositions | CPU s per structure |", "|---|---|---|---|---|---|---|"]
        for key in ("chgnet-static", "chgnet-relaxed"):
            if key in anchor:
                m = anchor[key]["metrics"]
                lines.append(f"| {key} | {m['mae']:.4f} | {m['relative_mae']:.4f} | "
                             f"{m['spearman']:.3f} | {m['hit_rate']:.2f} | "
                             f"{m['n_compositions']} | "
                             f"{anchor[key]['cpu_seconds_per_structure']:.2f} |")
        if "chgnet-relaxed" in anchor:
            rel = anchor["chgnet-relaxed"]
            lines.append("")
            lines.append(f"CHGNet relaxation: compositions {', '.join(rel['compositions'])} "
                         f"(FIRE, at most {rel['steps_max']} steps, mean "
                         f"{rel['steps_mean']:.0f}, {rel['reached_max_steps']} at the cap). "
                         "The trained models on the same compositions (unrelaxed inputs, mean "
                         "over seeds; relative MAE / Spearman / hits): " + "; ".join(
                             f"{r['model']} {r['relative_mae']:.4f} / {r['spearman']:.3f} / "
                             f"{r['hit']:.2f}" for r in summary.get("on_anchor_subset", [])
                             if r["input"] == "unrelaxed") + ".")
    return "\n".join(lines)


def on_subset(runs: list[dict[str, Any]], compositions: list[str]) -> list[dict[str, Any]]:
    """The per-composition metrics of every (input, model) restricted to ``compositions``."""
    out = []
    groups: dict[tuple[str, str], list[pd.DataFrame]] = {}
    for r in runs:
        per = pd.DataFrame(r["per_composition"])
        groups.setdefault((r["input"], r["model"]), []).append(
            per[per["composition"].isin(compositions)])
    for (inp, model), frames in groups.items():
        means = [f[["relative_mae", "spearman", "hit", "mae"]].mean() for f in frames]
        out.append({"input": inp, "model": model,
                    **{k: float(np.mean([m[k] for m in means])) for k in
                       ("relative_mae", "spearman", "hit", "mae")}})
    return out


def figure(runs: list[dict[str, Any]], path: Path, anchor: dict[str, Any] | None) -> None:
    """Per-composition Spearman and relative-energy MAE of every model on unrelaxed inputs
    (mean over seeds per composition), one box per model, the relaxed-input upper bound
    beside each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per: dict[tuple[str, str], pd.DataFrame] = {}
    for r in runs:
        frame = pd.DataFrame(r["per_composition"])
        key = (r["input"], r["model"])
        per[key] = pd.concat([per.get(key, pd.DataFrame()), frame])
    models = [m for m in _ORDER if ("unrelaxed", m) in per]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, metric, title in ((axes[0], "spearman", "Spearman within composition (higher is "
                               "better)"),
                              (axes[1], "relative_mae", "relative-energy MAE, eV/atom (lower "
                               "is better)")):
        for k, m in enumerate(models):
            for shift, inp, color in ((-0.18, "unrelaxed", "C0"), (0.18, "relaxed", "C2")):
                if (inp, m) not in per:
                    continue
                values = per[(inp, m)].groupby("composition")[metric].mean().dropna()
                ax.boxplot(values, positions=[k + shift], widths=0.3, patch_artist=True,
                           boxprops={"facecolor": color, "alpha": 0.5}, showfliers=False)
                ax.scatter(np.full(len(values), k + shift), values, s=6, color=color)
        if anchor and "chgnet-static" in anchor:
            values = pd.DataFrame(anchor["chgnet-static"]["per_composition"])[metric]
            ax.boxplot(values.dropna(), positions=[len(models)], widths=0.3, showfliers=False)
            ax.scatter(np.full(len(values), len(models)), values, s=6, color="C3")
        labels = [*models, *(["CHGNet\nstatic"] if anchor else [])]
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
        ax.set_title(title, fontsize=10)
        if metric == "relative_mae":
            ax.set_yscale("log")  # CHGNet on unrelaxed cells is an order of magnitude off
    axes[0].plot([], [], color="C0", label="unrelaxed input")
    axes[0].plot([], [], color="C2", label="relaxed input (upper bound)")
    axes[0].legend(fontsize=8)
    fig.suptitle("NREL hypothetical pnictides, test compositions: per-composition ranking")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_block(readme: Path, block: str) -> None:
    """Replace the generated block of ``readme`` (which must hold both markers)."""
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        raise ValueError(f"{readme} has no {BEGIN} ... {END} block")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{BEGIN}\n{block}\n{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=HERE / "results")
    parser.add_argument("--readme", type=Path, default=HERE / "README.md")
    parser.add_argument("--figure", type=Path, default=None)
    args = parser.parse_args(argv)
    runs = load_runs(args.results)
    if not runs:
        print(f"no runs in {args.results / 'runs'}", file=sys.stderr)
        return 2
    anchor_path = args.results / "anchor.json"
    anchor = json.loads(anchor_path.read_text()) if anchor_path.exists() else None
    summary = summarize(runs)
    if anchor and "chgnet-relaxed" in anchor:
        summary["on_anchor_subset"] = on_subset(runs, anchor["chgnet-relaxed"]["compositions"])
    if anchor:
        summary["anchor"] = {k: v["metrics"] for k, v in anchor.items()
                             if isinstance(v, dict) and "metrics" in v}
    (args.results / "summary.json").write_text(json.dumps(summary, indent=1))
    write_block(args.readme, markdown(summary, anchor))
    figure(runs, args.figure or args.results / "ranking.png", anchor)
    print(markdown(summary, anchor))
    return 0


if __name__ == "__main__":
    sys.exit(main())
