"""Documentation tables generated from the results JSON: the numbers a reader sees are the
measured ones.

``python -m studies.kit.report --write README.md studies/NOTEBOOK.md`` replaces, in each
file, the blocks between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->`` that it contains
(:func:`generate_blocks`: ``summary``, ``pretrained`` (the shipped model cards), ``ablation``,
``published`` (the paper's claims, with the shipped encoders' cards), ``curves``,
``transfer``, ``compare``, ``encoding``, ``robustness``) with the tables generated from
``studies/results/*.json`` and ``benchmarks/results/*.json``; without ``--write`` the blocks are
printed.
Tests check that the committed documents equal the blocks generated from the committed JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .catalog import MODELS, label_of
from .catalog import target_label as _target_label
from .statistics import format_mean_std as _fmt

__all__ = ["ablation_markdown", "claim_line", "compare_markdown", "curves_markdown",
           "encoding_markdown", "generate_blocks", "markers", "pretrained_markdown",

           "replace_block", "robustness_markdown", "summary_markdown", "transfer_markdown",
           "main"]


def markers(name: str) -> tuple[str, str]:
    """The begin and end markers of README block ``name``."""
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def _description(name: str) -> str:
    entry = MODELS.get(name)
    return (entry.description or entry.label) if entry is not None else name


def claim_line(key: str, c: dict[str, Any], labels: dict[str, str] | None = None) -> str:
    """One sentence of a judged claim (:func:`studies.kit.claims.judge`); ``labels``
    names the models that are not catalog entries (e.g. ``<model>+descent``)."""
    claim = c["claim"]
    labels = labels or {}
    a, b = (labels.get(n) or label_of(n) for n in (claim["better"], claim["worse"]))
    if claim["criterion"] == "reach":
        when = ("never within its budget" if c["better_seconds"] is None else
                f"after {c['better_seconds']:.0f} s ({c['ratio']:.2f} of {b}'s time)")
        return (f"{a} reaches {b}'s best validation MAE {c['level']:.4f} (after "
                f"{c['worse_seconds']:.0f} s of {b}'s run) {when}: "
                f"**{'met' if c['met'] else 'not met'}** (claim: at most "
                f"{claim['fraction']:g} of the time).")
    budget = f" at {claim['budget']:g} s" if claim.get("budget") else ""
    text = (f"{a} vs {b}{budget}: {b} minus {a} {_fmt(c['difference'])} over seeds "
            f"({c['wins']}/{len(c['seeds'])} seeds {a} better")
    if c.get("margin_in_std") is not None:
        text += f", {c['margin_in_std']:.1f} std"
    text += ")"
    boot = c.get("bootstrap")
    if boot is not None:
        text += (f"; bootstrap over {boot['over']} {boot['mean']:.4f} (95% CI "
                 f"{boot['ci95'][0]:.4f} to {boot['ci95'][1]:.4f})")
    rule = {"bootstrap": "interval above 0", "two_std": "by more than 2 std",
            "mean": "lower mean"}[claim["criterion"]]
    return text + f": **{'met' if c['met'] else 'not met'}** ({rule})."


def ablation_markdown(payload: dict[str, Any]) -> str:
    """Markdown tables of an ``ablation.json`` payload (one table per target)."""
    settings = payload["settings"]
    lines = []
    for target, block in payload["summary"].items():
        epochs = settings["epochs"][target]
        rows = block["variants"]
        n_train = next(r["n_train"] for r in payload["runs"]
                       if r.get("kind") == "training" and r["target"] == target)
        lines += [f"**{_target_label(target)}**: {n_train:,} training crystals, "
                  f"{epochs} epochs, test MAE at the best validation epoch, mean ± std over "
                  "seeds", "",
                  "| variant | seeds | parameters | test MAE | best epoch | train s | "
                  "crystals/s |", "|---|---|---|---|---|---|---|"]
        for variant, r in rows.items():
            lines.append(
                f"| {_description(variant)} | {r['test_mae']['n_seeds']} | "
                f"{r['parameters']:,} | {_fmt(r['test_mae'])} | "
                f"{', '.join(str(e) for e in r['best_epoch'])} | "
                f"{r['train_seconds']['mean']:.0f} | {r['crystals_per_second']['mean']:.0f} |")
        floor = block.get("composition_floor")
        if floor is not None:
            lines.append(f"| composition only (kernel ridge, no structure) | – | – | "
                         f"{floor['test_mae']:.4f} | – | {floor['seconds']:.0f} | – |")
        lines.append("")
        lines += [f"- {claim_line(k, c)}" for k, c in block["claims"].items() if c]
        if "cft_below_composition_floor" in block:
            lines.append("- CFT below the composition-only floor: **"
                         + ("met" if block["cft_below_composition_floor"] else "not met")
                         + "**.")
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
                     "finish inside the session and are not in these tables: "
                     f"{', '.join('/'.join(map(str, m)) for m in payload['missing'])}.")
        lines.append("")
    machine = payload["machine"]
    lines.append(
        f"Total {payload['total_seconds'] / 60:.0f} min wall, {machine['jobs']} single-thread "
        f"jobs side by side on {machine['cpu_count']} cores (load average at the end "
        f"{machine['loadavg_end'][0]:.1f}).")
    return "\n".join(lines).rstrip() + "\n"


def pretrained_markdown(cards: list[dict[str, Any]],
                        encoders: list[dict[str, Any]] | None = None) -> str:
    """Table of the shipped pretrained models from their model cards, then the shipped
    pretrained encoders from theirs."""
    lines = ["| name | property | test MAE (95% CI) | predicting the training mean | "
             "parameters | epochs | training |", "|---|---|---|---|---|---|---|"]
    for c in cards:
        t, tr = c["test"], c["training"]
        lines.append(
            f"| `{c['name']}` | {c['description']} | **{t['mae']:.4f}** "
            f"({t['mae_95ci'][0]:.4f}-{t['mae_95ci'][1]:.4f}), n = {t['n']:,} | "
            f"{t['mae_predict_train_mean']:.3f} | {c['parameters']:,} | {tr['epochs_run']} "
            f"(best {tr['best_epoch'] + 1}) | {tr['train_seconds'] / 60:.0f} min, "
            f"{tr['threads']} thread, {c['data']['n_train']:,} crystals |")
    measured = [c for c in cards if c.get("validity")]
    if measured:
        lines += ["", "Where they hold and where they fail, measured "
                  "(`python -m cft_pyg.pretrained.validity`; `card['validity']`):", ""]
        for c in measured:
            v = c["validity"]
            lines.append(f"- `{c['name']}`: valid for {v['domain']}.")
            screen = c["test"].get("screen")
            if screen:
                ci = screen["relative_mae_95ci"]
                floor = screen["one_value_per_composition"]
                lines.append(
                    f"  - on its {screen['n_compositions']} test compositions never seen in "
                    f"training ({screen['n_candidates']} candidates): energy above the "
                    f"composition's ground state **{screen['relative_mae']:.4f}** "
                    f"({ci[0]:.4f}-{ci[1]:.4f}) {c['unit']}, Spearman within a composition "
                    f"{screen['spearman']:.3f}, ground-state hits {screen['hit_rate']:.2f} "
                    f"(one value per composition: {floor['relative_mae']:.4f}, hits "
                    f"{floor['hit_rate']:.2f})")
            lines += [f"  - {case}" for case in v["failure_cases"]]
    for e in encoders or []:
        h, p = e["heldout"], e["pretraining"]
        systems = ", ".join(f"{k} {v:.3f}" for k, v in h["by_system"].items())
        lines += ["", f"Pretrained encoder `{e['name']}`: the positional module of "
                  f"`{e['model']}` ({e['parameters']:,} parameters, stored in half precision), "
                  f"pretrained label-free on orbit distances of all {e['groups']} groups, "
                  f"{e['pairs_seen_per_group']:,} fresh pairs per group in {p['epochs']} "
                  f"epochs ({e['train_seconds'] / 60:.0f} min on {e['threads']} thread): "
                  f"held-out orbit-distance MAE **{h['mae']:.4f} Å** on {h['pairs']:,} new "
                  f"pairs (the published encoder: {e['published_mae']} Å after 125k pairs per "
                  f"group and 200 epochs; **{'met' if e['target_met'] else 'not met'}**); per "
                  f"crystal system {systems} Å. Use it with `--pretrained-encoding {e['name']}` "
                  f"and `--model {e['model']}`."]
    return "\n".join(lines) + "\n"


def curves_markdown(payload: dict[str, Any]) -> str:
    """Tables of a ``curves.json`` payload: per target, models at equal training time, the
    composition floor, and the judged claims."""
    s = payload["settings"]
    lines = [f"Every model: **{s['budget_seconds']:.0f} training seconds** per run on one "
             f"thread ({payload['machine']['jobs']} runs side by side on "
             f"{payload['machine']['cpu_count']} cores), seeds {list(s['seeds'])}, the learning "
             "rate following the clock (warm-up, cosine to zero at the budget), validation MAE "
             f"on {s['n_val_curve']} project-val crystals at {s['eval_points']} moments, test MAE "
             "of the best moment on the whole project-test split; mean ± std over seeds.", ""]
    extended = s.get("extended_budgets") or {}
    if extended:
        names = ", ".join(f"{label_of(m)} {b:g} s" for m, b in extended.items())
        targets = ", ".join(_target_label(t).split(" (")[0]
                            for t in s.get("extended_targets", ()))
        lines += [f"Extended budgets, in addition to the common one: {names} on {targets} "
                  "(rows marked with their budget).", ""]
    for target, block in payload["summary"].items():
        n_train = next(r["n_train"] for r in payload["runs"] if r["target"] == target)
        n_test = next(r["n_test"] for r in payload["runs"] if r["target"] == target)
        lines += [f"**{_target_label(target)}**: {n_train:,} training crystals, "
                  f"{n_test:,} test crystals", "",
                  "| model | seeds | parameters | test MAE | epochs in the budget | "
                  "crystals/s |", "|---|---|---|---|---|---|"]
        for row in block["models"].values():
            lines.append(f"| {row['label']} | {len(row['seeds'])} | {row['parameters']:,} | "
                         f"{_fmt(row['test_mae'])} | {_fmt(row['epochs'], 2)} | "
                         f"{row['crystals_per_second']['mean']:.0f} |")
        floor = payload.get("composition_floors", {}).get(target)
        if floor is not None:
            lines.append(f"| composition only (kernel ridge, no structure) | – | – | "
                         f"{floor['test_mae']:.4f} | – | – |")
        lines.append("")
        lines += [f"- {claim_line(k, c)}" for k, c in block["claims"].items()]
        lines.append("")
    if not payload.get("complete", True):
        lines.append(f"**Incomplete**: {len(payload['missing'])} planned runs are missing: "
                     + ", ".join(" ".join(map(str, m)) for m in payload["missing"]) + ".")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def transfer_markdown(payload: dict[str, Any]) -> str:
    """Tables of a ``transfer.json`` payload (the size-matched zero-shot study)."""
    s, sizes = payload["settings"], payload["split_sizes"]
    models = payload["summary"]["models"]
    lines = [f"Pool: all MP-20 crystals; held-out test set {sizes['test']:,} crystals of the "
             f"groups with inversion; zero-shot and all-groups models both train on "
             f"{sizes['zero_shot_train']:,} crystals (validation {sizes['zero_shot_val']:,}) "
             f"for the same epochs and batch size, hence the same optimizer steps; "
             f"{s['target']}; mean ± std over seeds.", "",
             "| model | parameters | seeds | epochs | held-out MAE, all-groups | held-out MAE, "
             "zero-shot | GB-Gap (published, all groups) | GB-Gap (groups with >= "
             f"{s['min_group_count']} test crystals) | count-weighted | relative "
             "degradation |", "|---|---|---|---|---|---|---|---|---|---|"]
    for m, e in models.items():
        mae = e["held_test_mae"]
        lines.append(
            f"| {e.get('label') or label_of(m)} | {e['parameters']:,} | "
            f"{len(e['per_seed'])} | {e['epochs']} | "
            f"{_fmt(mae.get('all-groups', {}))} | "
            f"{_fmt(mae.get('zero-shot', {}))} | {_fmt(e['gb_gap_published'])} | "
            f"{_fmt(e['gb_gap'])} ({e['groups_counted']} groups) | "
            f"{_fmt(e['gb_gap_weighted'])} | {_fmt(e['relative_degradation'], 3)} |")
    lines.append("")
    few = {m: e["held_test_mae"] for m, e in models.items()
           if any(v.startswith("k") for v in e["held_test_mae"])}
    if few:
        ks = sorted({int(v[1:]) for e in few.values() for v in e if v.startswith("k")})
        lines += ["Few-shot: held-out test MAE with k training crystals of every held-out "
                  "group added to the zero-shot training set (k = 0: zero-shot).", "",
                  "| model | k = 0 | " + " | ".join(f"k = {k}" for k in ks)
                  + " | all-groups |", "|---|---|" + "---|" * len(ks) + "---|"]
        for m, e in few.items():
            lines.append(f"| {label_of(m)} | {_fmt(e.get('zero-shot', {}))} | "
                         + " | ".join(_fmt(e.get(f"k{k}", {})) for k in ks)
                         + f" | {_fmt(e.get('all-groups', {}))} |")
        lines.append("")
    labels = {m: e.get("label") or label_of(m) for m, e in models.items()}
    lines += [f"- GB-Gap: {claim_line(k, c, labels)}"
              for k, c in payload["summary"]["claims"].items()]
    if payload["summary"]["claims"]:
        lines.append("")
    full = payload.get("full_study")
    if full and full["missing"]:
        names = sorted({m[0] for m in full["missing"]})
        lines.append(f"**Part of the study**: {full['done']} of the {full['runs']} runs of the "
                     f"full preset are done; missing runs of {', '.join(names)} (seeds, "
                     "few-shot variants) are added with `--resume`.")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


_ENCODING_CASES = {
    "64_crystals_640_atoms_fwd": "64 crystals (640 atoms), forward",
    "64_crystals_640_atoms_fwd_bwd": "64 crystals, forward + backward",
    "large_23000_atoms_all_groups_fwd": "23,000 atoms over all 230 groups, forward",
    "large_23000_atoms_all_groups_fwd_bwd": "23,000 atoms, forward + backward",
}


def encoding_markdown(payload: dict[str, Any]) -> str:
    """Table of ``benchmarks/results/encoding_targets.json`` (the encoding speed targets):
    time of each routing relative to the plain Fourier features, per case and thread count."""
    load = payload.get("load_avg_at_start"), payload.get("load_avg_at_end")
    lines = [f"torch {payload['torch']}, {payload['cpu_count']} cores; load average "
             f"{load[0][0]:.1f} at the start, {load[1][0]:.1f} at the end; time relative to "
             "the plain Fourier features on the same atoms (methods interleaved repeat by "
             "repeat, medians).", "",
             "| case | threads | gathered (loop-free) | grouped (per group) | auto | target | |",
             "|---|---|---|---|---|---|---|"]
    cases = payload["cases"]
    for threads in (1, 2):
        for key, label in _ENCODING_CASES.items():
            c = cases.get(f"{key}_{threads}thread")
            if c is None:
                continue
            r = c["over_plain"]
            lines.append(f"| {label} | {threads} | {r['gathered']:.2f}x | {r['grouped']:.1f}x | "
                         f"{r['auto']:.2f}x | {c['target'].replace(' x plain', 'x')} | "
                         f"{'met' if c['met'] else '**missed**'} |")
    shares = [cases.get(f"cft_step_share_{t}thread") for t in (1, 2)]
    shares = [c for c in shares if c is not None]
    if shares:
        c0 = shares[0]
        lines.append(
            f"| encoding in one training step of the default CFT ({c0['crystals']} synthetic "
            f"crystals, {c0['atoms']:,} atoms) | "
            + " / ".join(str(t) for t, c in zip((1, 2), shares, strict=False)) + " | "
            + " / ".join(f"{1e3 * c['encoding_s']:.1f} ms of {1e3 * c['step_s']:.0f} ms"
                         for c in shares) + " | | "
            + " / ".join(f"{100 * c['share']:.1f}%" for c in shares) + " | < 10% | "
            + ("met" if all(c["met"] for c in shares) else "**missed**") + " |")
    return "\n".join(lines) + "\n"


_ROBUSTNESS_COLUMNS = ("symprec=0.001", "symprec=0.01", "displace=0.003", "displace=0.01",
                       "displace=0.03", "supercell 2x1x1")
_MIRRORS = ("mirror (x -> -x)", "mirror (frame z -> -z)")


_LEARNED = 0.9
"""A model whose test MAE exceeds this fraction of the mean predictor's has not learned."""


def robustness_markdown(payload: dict[str, Any]) -> str:
    """Tables of ``benchmarks/results/robustness.json``: per dataset and model, the mean
    change of prediction under each variant (and as a fraction of the model's test MAE),
    the crystals whose prediction changes under the mirror image, and the share of crystals
    whose detected group changes."""
    t = payload["training"]
    runs = t.get("runs", [])
    job_minutes = sum(r["wall_seconds"] for r in runs) / 60
    loads = [x for r in runs for x in (r["load_start"][0], r["load_end"][0])]
    lines = [f"{t['train_crystals']:,} training crystals, {t['epochs']['default']} epochs "
             f"({t['epochs']['alignn']} for ALIGNN), one training seed per model (the "
             "changes are over test crystals, not seeds), "
             f"{t['workers']} single-thread jobs side "
             f"by side ({len(runs)} trainings, {job_minutes:.0f} job-minutes in all; load "
             f"average {min(loads, default=0):.1f}-{max(loads, default=0):.1f} while they "
             "ran). Mean |change of prediction| against the crystal as featurized for "
             "training (symprec 0.1), in the target's unit, and in parentheses as a "
             "fraction of the model's test MAE; *mirror*: crystals whose prediction changes "
             "(of both mirror constructions). A model marked *did not learn* is within "
             f"{100 * (1 - _LEARNED):.0f}% of predicting the training mean: its changes say "
             "nothing about robustness.", ""]
    for dataset, res in payload["results"].items():
        n = res["crystals"]
        probe = next((r["distance_probe"] for r in res["models"].values()
                      if "distance_probe" in r), None)
        extra = ([f"edges +{probe['shift']:g} Å (share of spread)"] if probe else [])
        lines += [f"**{dataset}** ({n} project-test crystals, {res['target']}, {res['unit']})",
                  "", "| model | test MAE | mirror | "
                  + " | ".join([*_ROBUSTNESS_COLUMNS, *extra]) + " |",
                  "|---|---|---|" + "---|" * (len(_ROBUSTNESS_COLUMNS) + len(extra))]
        for row in res["models"].values():
            ch = row["changes"]
            mirror = sum(ch[k].get("changed", 0) for k in _MIRRORS)
            cells = [f"{ch[k]['mean']:.4f} ({ch[k]['mean_over_test_mae']:.2f})"
                     if ch[k].get("n") else "–" for k in _ROBUSTNESS_COLUMNS]
            if probe:
                d = row.get("distance_probe")
                cells.append(f"{d['mean']:.4f} ({100 * d['over_prediction_std']:.0f}%)"
                             if d else "–")
            base = row.get("mae_predict_mean")
            label = row["label"] + (" (*did not learn*: mean predictor "
                                    f"{base:.4f})" if base and row["test_mae"]
                                    > _LEARNED * base else "")
            lines.append(f"| {label} | {row['test_mae']:.4f} | "
                         f"{mirror} of {2 * n} | " + " | ".join(cells) + " |")
        g = res["group_changed"]
        lines.append("| *detected group changes* | | "
                     + f"{max(100 * g[k]['fraction'] for k in _MIRRORS):.0f}% | "
                     + " | ".join([f"{100 * g[k]['fraction']:.0f}%" for k in _ROBUSTNESS_COLUMNS]
                                  + ["" for _ in extra])
                     + " |")
        lines.append("")
    return "\n".join(lines)


def compare_markdown(benchmark: dict[str, Any], zero_shot: dict[str, Any]) -> str:
    """Tables of ``benchmark_mp20.json`` and ``zeroshot_mp20.json`` (the comparison)."""
    bench, zs = benchmark["results"], zero_shot["results"]
    st = benchmark["settings"]
    targets = [t for t in ("formation_energy_per_atom", "band_gap") if t in bench]
    models = list(dict.fromkeys(m for t in targets for m in bench[t]))
    lines = [f"{st['n_train']:,} / {st['n_val']:,} / {st['n_test']:,} crystals of the project "
             f"split, {st['epochs']} epochs, batch {st['batch_size']}; mean ± std over seeds.",
             "", "| model | seeds | parameters | "
             + " | ".join(f"{_target_label('mp20/' + t)} test MAE" for t in targets)
             + " | train s |", "|---|---|---|" + "---|" * len(targets) + "---|"]
    for m in models:
        rows = [bench[t].get(m) for t in targets]
        first = next(r for r in rows if r)
        lines.append(f"| {label_of(m)} | {len(first['seeds'])} | {first['params']:,} | "
                     + " | ".join(_fmt(r["test_mae"], 3) if r else "–" for r in rows)
                     + " | " + " / ".join(f"{r['train_time_s']['mean']:.0f}" for r in rows if r)
                     + " |")
    lines.append("| predicting the training mean | | | " + " | ".join(
        f"{bench[t][models[0]]['mae_predict_mean']:.3f}" for t in targets) + " | |")
    ks = sorted({int(v[1:]) for e in zs.values() for v in e["held_test_mae"] if v != "all"})
    lines += ["", "Zero-shot (every group with inversion held out, "
              f"{zero_shot['settings']['zs_target']}) and few-shot (k crystals per held-out "
              "group added); GB-Gap as published:", "",
              "| model | seeds | all data | " + " | ".join(
                  "k = 0 (zero-shot)" if k == 0 else f"k = {k}" for k in ks) + " | GB-Gap |",
              "|---|---|---|" + "---|" * len(ks) + "---|"]
    for m, e in zs.items():
        v = e["held_test_mae"]
        lines.append(f"| {label_of(m)} | {len(e['seeds'])} | {_fmt(v['all'], 3)} | "
                     + " | ".join(_fmt(v[f"k{k}"], 3) if f"k{k}" in v else "–" for k in ks)
                     + f" | {_fmt(e['gb_gap'], 3)} |")
    if benchmark.get("deviations"):
        lines += ["", "Deviations: " + "; ".join(benchmark["deviations"]) + "."]
    return "\n".join(lines) + "\n"


def summary_markdown(curves: dict[str, Any], transfer: dict[str, Any]) -> str:
    """The README's one table: test MAE of every model at the common training-time budget
    (``curves.json``) and its zero-shot degradation at equal data (``transfer.json``)."""
    targets = list(curves["summary"])
    names = list(dict.fromkeys(n for t in targets for n, r in curves["summary"][t]["models"].items()
                               if r["budget_seconds"] == curves["settings"]["budget_seconds"]))
    zs = transfer["summary"]["models"]
    lines = [f"Test MAE after **{curves['settings']['budget_seconds']:.0f} training seconds** "
             "on one CPU thread (full project splits, mean over seeds), and the relative "
             "degradation of the held-out MAE when the groups with inversion are never seen "
             "(size-matched zero-shot study):", "",
             "| model | parameters | " + " | ".join(_target_label(t) for t in targets)
             + " | zero-shot degradation |", "|---|---|" + "---|" * len(targets) + "---|"]
    for n in names:
        rows = [curves["summary"][t]["models"].get(n) for t in targets]
        first = next(r for r in rows if r)
        deg = zs.get(n, {}).get("relative_degradation")
        lines.append(f"| {label_of(n)} | {first['parameters']:,} | "
                     + " | ".join(_fmt(r["test_mae"]) if r else "–" for r in rows)
                     + f" | {'+' if deg and deg['mean'] > 0 else ''}"
                     + (f"{100 * deg['mean']:.0f}%" if deg and deg["mean"] is not None
                        else "–") + " |")
    return "\n".join(lines) + "\n"


def replace_block(text: str, block: str, name: str = "ablation") -> str:
    """``text`` with the part between the markers of block ``name`` replaced by ``block``."""
    begin, end = markers(name)
    if begin not in text or end not in text:
        raise ValueError(f"the README has no {begin} ... {end} block")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{block}{end}{tail}"


def _shipped_cards() -> list[dict[str, Any]]:
    from cft_pyg import pretrained

    return [pretrained.model_card(n) for n in pretrained.available()]


def _shipped_encoders() -> list[dict[str, Any]]:
    from cft_pyg import pretrained

    return [pretrained.encoding_card(n) for n in pretrained.available_encodings()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studies.kit.report",
                                     description="Documentation tables from results JSON.")
    parser.add_argument("--results", type=Path, default=Path("studies") / "results",
                        help="folder of the studies' JSON (ablation, curves, transfer, "
                             "benchmark_mp20, zeroshot_mp20)")
    parser.add_argument("--benchmarks", type=Path, default=Path("benchmarks") / "results",
                        help="folder of the benchmarks' JSON (encoding_targets, robustness, "
                             "robustness_subgroups)")
    parser.add_argument("--write", type=Path, nargs="*", default=None, metavar="FILE",
                        help="rewrite the blocks these files contain (default: print all)")
    args = parser.parse_args(argv)
    blocks = generate_blocks(args.results, args.benchmarks)
    if args.write is None:
        for name, block in blocks.items():
            print(f"{markers(name)[0]}\n{block}")
        return 0
    for path in args.write:
        text = path.read_text()
        for name, block in blocks.items():
            if markers(name)[0] in text:
                text = replace_block(text, block, name)
        path.write_text(text)
    return 0


def generate_blocks(results: Path, benchmarks: Path) -> dict[str, str]:
    """Every generated block from the JSON files that exist (and the shipped model cards)."""
    def load(path: Path) -> dict[str, Any] | None:
        return json.loads(path.read_text()) if path.is_file() else None

    r = {n: load(results / f"{n}.json") for n in ("ablation", "curves", "transfer",
                                                  "benchmark_mp20", "zeroshot_mp20",
                                                  "published")}
    b = {n: load(benchmarks / f"{n}.json")
         for n in ("encoding_targets", "robustness", "robustness_subgroups",
                   "published_speed", "fourier_modes")}
    blocks = {"pretrained": pretrained_markdown(_shipped_cards(), _shipped_encoders())}
    if r["ablation"]:
        blocks["ablation"] = ablation_markdown(r["ablation"])
    from .report_published import published_markdown, zero_shot_row

    blocks["published"] = published_markdown(
        r["published"], _shipped_encoders(), b["published_speed"], b["fourier_modes"],
        ablation_markdown(r["published"]) if r["published"] else "",
        zero_shot_row(load(results / "published_protocol" / "zeroshot_mp20.json"),
                      r["zeroshot_mp20"], r["transfer"]),
        load(results / "published_time" / "curves.json"))
    if r["curves"]:
        blocks["curves"] = curves_markdown(r["curves"])
    for folder, block in (("symmetry_breaking", "symmetry_breaking_curves"),
                          ("symmetry_breaking_mp20", "symmetry_breaking_mp20_curves")):
        breaking = load(results / folder / "curves.json")
        if breaking:
            blocks[block] = curves_markdown(breaking)
    if r["transfer"]:
        blocks["transfer"] = transfer_markdown(r["transfer"])
    if r["curves"] and r["transfer"]:
        blocks["summary"] = summary_markdown(r["curves"], r["transfer"])
    if r["benchmark_mp20"] and r["zeroshot_mp20"]:
        blocks["compare"] = compare_markdown(r["benchmark_mp20"], r["zeroshot_mp20"])
    if b["encoding_targets"]:
        blocks["encoding"] = encoding_markdown(b["encoding_targets"])
    if b["robustness"]:
        blocks["robustness"] = robustness_markdown(b["robustness"])
    if b["robustness_subgroups"]:
        blocks["robustness_subgroups"] = robustness_markdown(b["robustness_subgroups"])
    return blocks


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
