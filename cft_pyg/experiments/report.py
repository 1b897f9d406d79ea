"""README tables generated from the results JSON: the numbers a reader sees are the measured ones.

``python -m cft_pyg.experiments.report --readme README.md --ablation results/ablation.json
--curves results/curves.json --transfer results/transfer.json --encoding
benchmarks/results/encoding_targets.json --robustness benchmarks/results/robustness.json
--pretrained`` replaces the blocks between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->``
(``NAME``: ``ablation``, ``curves``, ``transfer``, ``encoding``, ``robustness``,
``pretrained``) in the README with :func:`ablation_markdown`, :func:`curves_markdown`,
:func:`transfer_markdown`, :func:`encoding_markdown`, :func:`robustness_markdown` and
:func:`pretrained_markdown` (the model cards shipped in the package); without ``--readme``
the blocks are printed. Tests check that the README's blocks equal the ones generated from the
committed JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = ["ablation_markdown", "curves_markdown", "encoding_markdown", "markers",
           "pretrained_markdown", "replace_block", "robustness_markdown", "transfer_markdown",
           "main"]


def markers(name: str) -> tuple[str, str]:
    """The begin and end markers of README block ``name``."""
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


BEGIN, END = markers("ablation")
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


def pretrained_markdown(cards: list[dict[str, Any]]) -> str:
    """Table of the shipped pretrained models from their model cards."""
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
            lines += [f"  - {case}" for case in v["failure_cases"]]
    return "\n".join(lines) + "\n"


def curves_markdown(payload: dict[str, Any]) -> str:
    """Tables of a ``curves.json`` payload: per target, models at equal training time, the
    composition floor, and the claims as measured."""
    s = payload["settings"]
    lines = [f"Every model: **{s['budget_seconds']:.0f} training seconds** per run on one "
             f"thread ({payload['machine']['jobs']} runs side by side on "
             f"{payload['machine']['cpu_count']} cores), seeds {list(s['seeds'])}, the learning "
             "rate following the clock (warm-up, cosine to zero at the budget), validation MAE "
             f"on {s['n_val_curve']} project-val crystals at {s['eval_points']} moments, test MAE "
             "of the best moment on the whole project-test split; mean ± std over seeds.", ""]
    from .curves import LABELS as CURVE_LABELS

    extended = s.get("extended_budgets") or {}
    if extended:
        names = ", ".join(f"{CURVE_LABELS.get(m, m)} {b:g} s" for m, b in extended.items())
        targets = ", ".join(TARGET_LABELS.get(t, t).split(" (")[0]
                            for t in s.get("extended_targets", ()))
        lines += [f"Extended budgets, in addition to the common one: {names} on {targets} "
                  "(rows marked with their budget; equal-time comparisons use only the common "
                  "budget; the one-fifth claim uses ALIGNN's longest run).", ""]
    for target, block in payload["summary"].items():
        models = block["models"]
        n_train = next(r["n_train"] for r in payload["runs"] if r["target"] == target)
        n_test = next(r["n_test"] for r in payload["runs"] if r["target"] == target)
        lines += [f"**{TARGET_LABELS.get(target, target)}**: {n_train:,} training crystals, "
                  f"{n_test:,} test crystals", "",
                  "| model | seeds | parameters | test MAE | epochs in the budget | "
                  "crystals/s |", "|---|---|---|---|---|---|"]
        for row in models.values():
            lines.append(f"| {row['label']} | {len(row['seeds'])} | {row['parameters']:,} | "
                         f"{_fmt(row['test_mae'])} | {_fmt(row['epochs'], 2)} | "
                         f"{row['crystals_per_second']['mean']:.0f} |")
        floor = payload.get("composition_floors", {}).get(target)
        if floor is not None:
            lines.append(f"| composition only (kernel ridge, no structure) | – | – | "
                         f"{floor['test_mae']:.4f} | – | – |")
        lines.append("")
        claims = block["claims"]
        c = claims.get("cft_beats_cgcnn_at_equal_time")
        if c is not None:
            b = c["bootstrap_seed_mean_errors"]
            lines.append(
                f"CFT vs CGCNN at equal time: CGCNN minus CFT test MAE {_fmt(c['difference'])} "
                f"over seeds ({c['seeds_cft_better']}/{len(c['paired_seeds'])} seeds CFT "
                f"better); bootstrap over test crystals of the seed-averaged errors "
                f"{b['mean']:.4f} (95% CI {b['ci95'][0]:.4f} to {b['ci95'][1]:.4f}): "
                f"**{'met' if c['met'] else 'not met'}**.")
        for key, c in claims.items():
            if not (key.startswith("cft_beats_") and "budget_seconds" in c):
                continue
            other = key[len("cft_beats_"):].rsplit("_at_", 1)[0]
            name = CURVE_LABELS.get(other, other)
            b = c["bootstrap_seed_mean_errors"]
            lines.append(
                f"CFT vs {name} at equal time ({c['budget_seconds']:g} s): {name} minus CFT "
                f"test MAE {_fmt(c['difference'])} over seeds ({c['seeds_cft_better']}/"
                f"{len(c['paired_seeds'])} seeds CFT better); bootstrap over test crystals "
                f"{b['mean']:.4f} (95% CI {b['ci95'][0]:.4f} to {b['ci95'][1]:.4f}): "
                f"**{'CFT better' if c['met'] else 'CFT not better'}**.")
        a = claims.get("cft_reaches_alignn_best_in_one_fifth")
        if a is not None:
            when = ("never within the budget" if a["cft_seconds"] is None else
                    f"after {a['cft_seconds']:.0f} s ({a['ratio']:.2f} of ALIGNN's time)")
            budget = a.get("alignn_budget_seconds")
            run = "" if budget is None else f" (run of {budget:g} s)"
            lines.append(
                f"ALIGNN's best validation MAE {a['alignn_best_val_mae']:.4f} came after "
                f"{a['alignn_seconds']:.0f} s{run}; the CFT reached it {when}: "
                f"**{'met' if a['met'] else 'not met'}** (target: at most one fifth).")
            if "ratio_same_budget" in a:
                t2 = a["cft_seconds_same_budget"]
                lines.append(
                    "The CFT's own run with ALIGNN's budget reached it "
                    + ("never" if t2 is None else
                       f"after {t2:.0f} s ({a['ratio_same_budget']:.2f} of ALIGNN's time)")
                    + ".")
        lines.append("")
    if not payload.get("complete", True):
        lines.append(f"**Incomplete**: {len(payload['missing'])} planned runs are missing: "
                     + ", ".join(" ".join(map(str, m)) for m in payload["missing"]) + ".")
        lines.append("")
    if payload.get("total_seconds"):
        lines.append(f"Wall time of the last part run: {payload['total_seconds'] / 60:.0f} min "
                     "(earlier parts: see the text below).")
    return "\n".join(lines).rstrip() + "\n"


def transfer_markdown(payload: dict[str, Any]) -> str:
    """Tables of a ``transfer.json`` payload (the size-matched zero-shot study)."""
    from .transfer import LABELS as TRANSFER_LABELS

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
        seeds = len(e["per_seed"])
        epochs = s["model_epochs"].get(m.replace("cft-pretrained", "cft"), s["epochs"])
        lines.append(
            f"| {TRANSFER_LABELS.get(m, m)} | {e['parameters']:,} | {seeds} | {epochs} | "
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
            lines.append(f"| {TRANSFER_LABELS.get(m, m)} | {_fmt(e.get('zero-shot', {}))} | "
                         + " | ".join(_fmt(e.get(f"k{k}", {})) for k in ks)
                         + f" | {_fmt(e.get('all-groups', {}))} |")
        lines.append("")
    for name, c in payload["summary"]["claims"].items():
        b = c["bootstrap_over_groups"]
        lines.append(f"{name}: {_fmt(c['difference'])} over seeds ({c['seeds_better']}/"
                     f"{len(c['seeds'])} seeds); bootstrap over held-out groups {b['mean']:.4f} "
                     f"(95% CI {b['ci95'][0]:.4f} to {b['ci95'][1]:.4f}): "
                     f"**{'met' if c['met'] else 'not met'}**.")
    if payload["summary"]["claims"]:
        lines.append("")
    full = payload.get("full_study")
    if full and full["missing"]:
        models = sorted({m[0] for m in full["missing"]})
        lines.append(f"**Part of the study**: {full['done']} of the {full['runs']} runs of the "
                     f"full preset are done; missing runs of {', '.join(models)} (seeds, "
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
        lines += [f"**{dataset}** ({n} project-test crystals, {res['target']}, {res['unit']})",
                  "", "| model | test MAE | mirror | "
                  + " | ".join(_ROBUSTNESS_COLUMNS) + " |",
                  "|---|---|---|" + "---|" * len(_ROBUSTNESS_COLUMNS)]
        for row in res["models"].values():
            ch = row["changes"]
            mirror = sum(ch[k].get("changed", 0) for k in _MIRRORS)
            cells = [f"{ch[k]['mean']:.4f} ({ch[k]['mean_over_test_mae']:.2f})"
                     if ch[k].get("n") else "–" for k in _ROBUSTNESS_COLUMNS]
            base = row.get("mae_predict_mean")
            label = row["label"] + (" (*did not learn*: mean predictor "
                                    f"{base:.4f})" if base and row["test_mae"]
                                    > _LEARNED * base else "")
            lines.append(f"| {label} | {row['test_mae']:.4f} | "
                         f"{mirror} of {2 * n} | " + " | ".join(cells) + " |")
        g = res["group_changed"]
        lines.append("| *detected group changes* | | "
                     + f"{max(100 * g[k]['fraction'] for k in _MIRRORS):.0f}% | "
                     + " | ".join(f"{100 * g[k]['fraction']:.0f}%" for k in _ROBUSTNESS_COLUMNS)
                     + " |")
        lines.append("")
    return "\n".join(lines)


def replace_block(text: str, block: str, name: str = "ablation") -> str:
    """``text`` with the part between the markers of block ``name`` replaced by ``block``."""
    begin, end = markers(name)
    if begin not in text or end not in text:
        raise ValueError(f"the README has no {begin} ... {end} block")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{block}{end}{tail}"


def _shipped_cards() -> list[dict[str, Any]]:
    from .. import pretrained

    return [pretrained.model_card(n) for n in pretrained.available()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cft_pyg.experiments.report",
                                     description="README tables from results JSON.")
    parser.add_argument("--ablation", type=Path, default=None, help="ablation.json")
    parser.add_argument("--curves", type=Path, default=None, help="curves.json")
    parser.add_argument("--transfer", type=Path, default=None, help="transfer.json")
    parser.add_argument("--encoding", type=Path, default=None,
                        help="benchmarks/results/encoding_targets.json")
    parser.add_argument("--robustness", type=Path, default=None,
                        help="benchmarks/results/robustness.json")
    parser.add_argument("--pretrained", action="store_true",
                        help="the table of the shipped pretrained models")
    parser.add_argument("--readme", type=Path, default=None,
                        help="rewrite this README's blocks in place")
    args = parser.parse_args(argv)
    blocks = {}
    if args.ablation is not None:
        blocks["ablation"] = ablation_markdown(json.loads(args.ablation.read_text()))
    if args.curves is not None:
        blocks["curves"] = curves_markdown(json.loads(args.curves.read_text()))
    if args.transfer is not None:
        blocks["transfer"] = transfer_markdown(json.loads(args.transfer.read_text()))
    if args.encoding is not None:
        blocks["encoding"] = encoding_markdown(json.loads(args.encoding.read_text()))
    if args.robustness is not None:
        blocks["robustness"] = robustness_markdown(json.loads(args.robustness.read_text()))
    if args.pretrained:
        blocks["pretrained"] = pretrained_markdown(_shipped_cards())
    if not blocks:
        parser.error("nothing to do: give --ablation, --curves, --transfer, --encoding, "
                     "--robustness and/or --pretrained")
    if args.readme is None:
        for block in blocks.values():
            print(block)
        return 0
    text = args.readme.read_text()
    for name, block in blocks.items():
        text = replace_block(text, block, name)
    args.readme.write_text(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
