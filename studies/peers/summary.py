"""The peers study's results: per target and model the test MAE over seeds, the targets of
issue 37 (the best from-scratch model against each matgl model by more than 2 std; the
CHGNet backbone under the library's head against ridge / kernel-ridge read-outs), markdown
tables with the rows whose backbone saw the test crystals marked, and the "which model"
rows (those of the README's table, ``studies/which_model.py``).  Pure functions of the
recorded runs (no torch)."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

BEST = "cft-no-encoding"
MATGL = ("m3gnet", "megnet", "tensornet")
SAW = "†"
"""Mark of a row whose backbone was pretrained on data very likely holding the test crystals."""

TARGET_LABELS = {"carbon24/energy_per_atom": "Carbon-24 energy (eV/atom)",
                 "mp20/formation_energy_per_atom": "MP-20 formation energy (eV/atom)",
                 "mp20/band_gap": "MP-20 band gap (eV)"}


def mean_std(values: list[float]) -> dict[str, Any]:
    """Mean, sample std (``ddof=1``; ``None`` for one value), values, count."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    return {"mean": float(v.mean()) if v.size else None,
            "std": float(v.std(ddof=1)) if v.size > 1 else None,
            "values": [float(x) for x in v], "n_seeds": int(v.size)}


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """``{target: {model: row}}`` with the test MAE (mean, std over seeds) and costs."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in runs:
        groups[(r["target"], r["model"])].append(r)
    out: dict[str, dict[str, Any]] = defaultdict(dict)
    for (target, model), rs in groups.items():
        first = rs[0]
        row = {"label": first["label"], "kind": first["kind"], "source": first["source"],
               "saw_test": bool(first["saw_test"]), "n_train": first["n_train"],
               "n_test": first["n_test"], "test_mae": mean_std([r["test_mae"] for r in rs])}
        if first["kind"] == "train":
            row.update({
                "seeds": sorted(r["seed"] for r in rs),
                "parameters": first["parameters"],
                "batch_size": first.get("batch_size", 64),
                "trainable_parameters": first["trainable_parameters"],
                "budget_cpu_seconds": first["budget_cpu_seconds"],
                "epochs": mean_std([r["epochs"] for r in rs]),
                "crystals_per_cpu_second": mean_std([r["crystals_per_cpu_second"]
                                                     for r in rs]),
                "inference_cpu_ms_per_crystal": mean_std([r["inference_cpu_ms_per_crystal"]
                                                          for r in rs]),
                "load_average_1min": mean_std([r["machine"]["load_average_1min"]
                                               for r in rs])})
        else:
            row.update({"params": first.get("params"),
                        "feature_cpu_seconds": first.get("feature_cpu_seconds")})
        out[target][model] = row
    return dict(out)


def margin(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any] | None:
    """``b - a`` of two test-MAE summaries and whether ``a`` wins by more than 2 std (the
    larger of the two seed std's); ``None`` when either is missing."""
    if a["mean"] is None or b["mean"] is None:
        return None
    stds = [x for x in (a["std"], b["std"]) if x is not None]
    std = max(stds) if stds else None
    diff = b["mean"] - a["mean"]
    return {"difference": diff, "relative": diff / b["mean"] if b["mean"] else None,
            "std": std, "wins_by_2_std": None if std is None else bool(diff > 2 * std),
            "loses_by_2_std": None if std is None else bool(-diff > 2 * std)}


def verdict(c: dict[str, Any], ahead: str = "ahead", behind: str = "**behind**") -> str:
    """The words of a :func:`margin`: ``ahead``/``behind`` by more than 2 std, not separated,
    or one seed (no std)."""
    if c["std"] is None:
        return "one seed"
    return (f"{ahead} by more than 2 std" if c["wins_by_2_std"] else
            f"{behind} by more than 2 std" if c["loses_by_2_std"] else
            "not separated by 2 std")


def targets_of_issue(table: dict[str, Any]) -> dict[str, Any]:
    """The two targets of issue 37, per dataset target."""
    out = {}
    for target, rows in table.items():
        entry: dict[str, Any] = {}
        if BEST in rows:
            entry["best_vs_matgl"] = {m: margin(rows[BEST]["test_mae"], rows[m]["test_mae"])
                                      for m in MATGL if m in rows}
        head = [m for m in ("chgnet-frozen", "chgnet") if m in rows]
        reads = [m for m in ("chgnet-ridge", "chgnet-krr") if m in rows]
        if head and reads:
            best_read = min(reads, key=lambda m: rows[m]["test_mae"]["mean"])
            entry["chgnet_head_vs_readout"] = {
                m: {"readout": best_read,
                    "head_mae": rows[m]["test_mae"]["mean"],
                    "readout_mae": rows[best_read]["test_mae"]["mean"],
                    "at_least_as_accurate": rows[m]["test_mae"]["mean"]
                    <= rows[best_read]["test_mae"]["mean"]} for m in head}
        if BEST in rows and head:
            entry["chgnet_vs_from_scratch"] = {
                m: margin(rows[m]["test_mae"], rows[BEST]["test_mae"]) for m in head}
        out[target] = entry
    return out


def _fmt(x: float | None, digits: int = 4) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _mae(s: dict[str, Any]) -> str:
    if s["mean"] is None:
        return "–"
    std = "" if s["std"] is None else f" ± {s['std']:.4f}"
    return f"{s['mean']:.4f}{std}"


def markdown(table: dict[str, Any], issue: dict[str, Any], label: str) -> str:
    """The results tables (one per target) and the targets of issue 37."""
    lines = [f"<!-- generated by studies/peers/run.py --summarize (preset {label}) -->", ""]
    for target, rows in table.items():
        lines += [f"**{TARGET_LABELS.get(target, target)}**", "",
                  "| model | test MAE | seeds | epochs | train crystals/CPU-s "
                  "| predict CPU ms/crystal | trainable params |",
                  "|---|---|---|---|---|---|---|"]
        order = sorted(rows, key=lambda m: (rows[m]["test_mae"]["mean"] is None,
                                            rows[m]["test_mae"]["mean"] or 0.0))
        for m in order:
            r = rows[m]
            mark = f" {SAW}" if r["saw_test"] else ""
            if r["kind"] == "train":
                batch = "" if r.get("batch_size", 64) == 64 else f" (batch {r['batch_size']})"
                lines.append(
                    f"| {r['label']}{batch}{mark} | {_mae(r['test_mae'])} | {len(r['seeds'])} | "
                    f"{_fmt(r['epochs']['mean'], 2)} | "
                    f"{_fmt(r['crystals_per_cpu_second']['mean'], 0)} | "
                    f"{_fmt(r['inference_cpu_ms_per_crystal']['mean'], 1)} | "
                    f"{r['trainable_parameters']:,} |")
            elif r["kind"] == "readout":
                lines.append(f"| {r['label']}{mark} | {_mae(r['test_mae'])} | – | – | – | – "
                             f"| fit on {r['n_train']} crystals; their CHGNet features took "
                             f"{_fmt(r.get('feature_cpu_seconds'), 0)} CPU-s with val and "
                             "test, outside any budget |")
            else:
                lines.append(f"| {r['label']} | {_mae(r['test_mae'])} | – | – | – | – | – |")
        n = next(iter(rows.values()))
        budget = next((r["budget_cpu_seconds"] for r in rows.values() if r["kind"] == "train"),
                      None)
        lines += ["", f"{n['n_test']} test crystals; every trained model had "
                  f"{_fmt(budget, 0)} CPU-seconds of training on one thread."
                  + (f" {SAW} pretrained on MPtrj (Materials Project relaxation trajectories): "
                     "very likely saw these test crystals." if any(
                         r["saw_test"] for r in rows.values()) else ""), ""]
        entry = issue.get(target, {})
        for m, c in entry.get("best_vs_matgl", {}).items():
            if c is None:
                continue
            lines.append(f"- {rows[BEST]['label']} vs {rows[m]['label']}: MAE difference "
                         f"{c['difference']:+.4f} ({verdict(c)}).")
        for m, c in entry.get("chgnet_head_vs_readout", {}).items():
            lines.append(f"- {rows[m]['label']}: {c['head_mae']:.4f} vs "
                         f"{rows[c['readout']]['label']} {c['readout_mae']:.4f} "
                         f"({'at least as accurate' if c['at_least_as_accurate'] else 'worse'}).")
        for m, c in entry.get("chgnet_vs_from_scratch", {}).items():
            if c is None:
                continue
            lines.append(f"- {rows[m]['label']} vs {rows[BEST]['label']}: "
                         f"{rows[m]['test_mae']['mean']:.4f} vs "
                         f"{rows[BEST]['test_mae']['mean']:.4f} "
                         f"({verdict(c, 'CHGNet ahead', 'from-scratch ahead')}).")
        lines.append("")
    return "\n".join(lines)


def which_model(table: dict[str, Any], settings: dict[str, Any] | None = None,
                label: str = "") -> str:
    """The "which model should I use" rows of this study (relaxed crystals, a pretrained
    backbone), as the README's table writes them: one definition,
    :func:`studies.which_model.peers_markdown`."""
    from studies.which_model import peers_markdown

    return peers_markdown({"summary": table, "settings": settings}, f"peers_{label}.json")


def write_summary(runs: list[dict[str, Any]], label: str, results: Path,
                  missing: list[str] | None = None,
                  settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write ``peers_<label>.json`` and ``peers_<label>.md``; return the payload.

    Args:
        runs: the recorded runs.
        label: the preset.
        results: the folder.
        missing: the planned jobs without a run (recorded in the JSON, listed in the
            markdown).
        settings: the preset's settings (recorded).
    """
    table = summarize(runs)
    issue = targets_of_issue(table)
    md = markdown(table, issue, label)
    if missing:
        md += (f"\n**Not run** ({len(missing)} planned jobs, out of time): "
               + ", ".join(f"`{m}`" for m in missing) + "\n")
    md += "\n**Which model should I use**\n\n" + which_model(table, settings, label)
    payload = {"preset": label, "settings": settings, "runs_recorded": len(runs),
               "complete": not missing, "missing": list(missing or []),
               "clock": "process_time (CPU seconds of the training process, one thread)",
               "summary": table, "issue_targets": issue, "markdown": md}
    results.mkdir(parents=True, exist_ok=True)
    (results / f"peers_{label}.json").write_text(json.dumps(payload, indent=1) + "\n")
    (results / f"peers_{label}.md").write_text(md)
    return payload
