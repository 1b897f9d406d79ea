r"""Accuracy against training seconds: wall-clock learning curves on the full project splits.

Every (target, model, seed) job trains for the **same budget of training seconds** (one
torch thread; two jobs side by side on a 2-core machine), with a learning rate that follows
the clock: linear warm-up over the first ``warmup_fraction`` of the budget, then cosine
decay to zero exactly when the budget is spent, so every model ends its schedule whatever its
speed. The validation MAE on a fixed random subset of project-val (``n_val_curve``
crystals) is measured at ``eval_points`` equally spaced moments of training time (the clock
stops while validating); the weights of the best point are evaluated on the **whole**
project-test split. Training seconds include data loading and the optimizer, not
validation.

Models: the CFT (hybrid: attention + local messages, and pure Transformer), the plain-PE
Transformer, CGCNN and ALIGNN (its small configuration: on 2 CPU cores the published size
trains at about 0.6 crystals/s, which no budget that fits a session could use). Targets:
MP-20 formation energy and band gap (all 14,475 project-train crystals), Carbon-24 energy
(its 3,250 project-train crystals). MP-20 tables add the composition-only floor
(:mod:`cft_pyg.experiments.composition`, its grid chosen on the same validation subset).

**Extended budgets.** At the common budget ALIGNN does not pass one MP-20 epoch, so its
"best MAE" would be far from what it can reach. ``extended_budgets`` gives chosen models a
longer budget on ``extended_targets`` (by default ALIGNN and the hybrid CFT, 1,200 s: five
times the common budget, about four ALIGNN epochs on MP-20). These runs are extra: the
common-budget runs of the same models stay. "CFT vs CGCNN at equal time" uses the common
budget; each extended budget the CFT shares with another model gives one more equal-time
comparison (``cft_beats_<model>_at_<budget>s``). The claim "the CFT reaches ALIGNN's best MAE
in at most one fifth of ALIGNN's time" uses ALIGNN's longest run and the CFT's common-budget
run.

The summary holds, per target: mean ± std over seeds of the test MAE, the mean curve, and the
issue's claims as measured: CFT vs CGCNN at equal time (paired over seeds, and a bootstrap
interval over test crystals of the seed-averaged error difference), and the time the CFT
needs to reach ALIGNN's best validation MAE relative to ALIGNN's own time.

``python -m cft_pyg.experiments.curves --preset full --mp20-root DIR --carbon-root DIR``
appends each finished run to ``<output>/curves_runs.jsonl`` (``--resume`` keeps them) and
writes ``<output>/curves.json`` and ``<output>/curves.png``.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import os
import platform
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..training.presets import Presets
from .ablation import TARGETS
from .jobs import read_runs, recorded_seconds, run_logged
from .statistics import mean_std

__all__ = ["CURVE_MODELS", "CurveSettings", "bootstrap_difference", "entry_name", "lr_factor",
           "run_curves", "summarize", "time_to_reach", "write_results", "main"]

CURVE_MODELS: dict[str, dict[str, Any]] = {
    "cft": {"channels": 64, "num_blocks": 2, "heads": 4, "local_channels": 32},
    "cft-transformer": {"channels": 64, "num_blocks": 2, "heads": 4},
    "transformer-plain": {"channels": 64, "num_blocks": 2, "heads": 4},
    "cgcnn": {},
    "alignn": {"alignn_layers": 2, "gcn_layers": 2, "hidden_features": 64,
               "embedding_features": 32},
}
"""Model name -> arguments (the CFT sizes of the ablation; CGCNN at its published size;
ALIGNN's small configuration)."""

LABELS = {"cft": "CFT (hybrid)", "cft-transformer": "CFT (Transformer)",
          "transformer-plain": "plain-PE Transformer", "cgcnn": "CGCNN",
          "alignn": "ALIGNN (small)"}


@dataclass
class CurveSettings(Presets):
    """Settings of the wall-clock learning curves (presets ``'full'`` and ``'quick'``)."""

    mp20_root: str
    carbon_root: str
    output_dir: str = "results"
    targets: tuple[str, ...] = tuple(TARGETS)
    models: tuple[str, ...] = tuple(CURVE_MODELS)
    model_kwargs: dict[str, dict[str, Any]] = field(
        default_factory=lambda: copy.deepcopy(CURVE_MODELS))
    seeds: tuple[int, ...] = (0, 1)
    budget_seconds: float = 240.0
    extended_budgets: dict[str, float] = field(
        default_factory=lambda: {"alignn": 1200.0, "cft": 1200.0})
    extended_targets: tuple[str, ...] = ("mp20/formation_energy_per_atom", "mp20/band_gap")
    eval_points: int = 8
    n_train: int | None = None
    n_val_curve: int = 400
    n_test: int | None = None
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_fraction: float = 0.05
    grad_clip: float = 1.0
    jobs: int = 2
    label: str = "custom"

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "full": {},
        "quick": {"seeds": (0,), "budget_seconds": 2.0, "eval_points": 2, "n_train": 48,
                  "n_val_curve": 16, "n_test": 16, "batch_size": 16, "jobs": 1,
                  "extended_budgets": {}},
    }

    def budgets_of(self, target: str, model: str) -> list[float]:
        """The budgets ``model`` trains for on ``target``: the common one, and its extended
        one where it has one on that target."""
        out = [float(self.budget_seconds)]
        if target in self.extended_targets and model in self.extended_budgets:
            longer = float(self.extended_budgets[model])
            if longer <= out[0]:
                raise ValueError(f"the extended budget of {model} ({longer:g} s) must be "
                                 f"longer than the common budget ({out[0]:g} s)")
            out.append(longer)
        return out

    def runs(self) -> list[tuple[str, str, int, float]]:
        """Every ``(target, model, seed, budget)`` job, the longest and ALIGNN first (their
        evaluations are slowest)."""
        order = sorted(self.models, key=lambda m: m != "alignn")
        jobs = [(t, m, s, b) for t in self.targets for m in order
                for b in self.budgets_of(t, m) for s in self.seeds]
        return sorted(jobs, key=lambda j: -j[3])


# ------------------------------------------------------------------------------- data
_DATA: dict[str, tuple[Any, Any, Any]] = {}


def load_splits(settings: CurveSettings, dataset: str) -> tuple[Any, Any, Any]:
    """``(train, val_curve, test)`` of ``dataset`` (processed once per process)."""
    from ..data import MP20, Carbon24
    from .ablation import MP20_TARGETS

    key = f"{dataset}|{settings.n_train}|{settings.n_val_curve}|{settings.n_test}"
    if key not in _DATA:
        cls, root, target = ((MP20, settings.mp20_root, list(MP20_TARGETS))
                             if dataset == "mp20" else
                             (Carbon24, settings.carbon_root, "energy_per_atom"))
        # the project split is a fixed random permutation: its first rows are a random subset
        limits = {"train": settings.n_train, "val": settings.n_val_curve,
                  "test": settings.n_test}
        _DATA[key] = tuple(cls(root, split=f"project-{s}", target=target, max_rows=n,
                               log=False) for s, n in limits.items())
    return _DATA[key]


# ------------------------------------------------------------------------------- training
def lr_factor(fraction: float, warmup_fraction: float) -> float:
    """Learning-rate multiplier at ``fraction`` of the time budget: linear warm-up, then
    cosine decay that reaches zero at the end of the budget."""
    fraction = min(max(fraction, 0.0), 1.0)
    if warmup_fraction > 0 and fraction < warmup_fraction:
        return max(fraction / warmup_fraction, 1e-3)
    progress = (fraction - warmup_fraction) / max(1e-12, 1.0 - warmup_fraction)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def _mae(module: Any, dataset: Any, batch_size: int = 128) -> tuple[float, np.ndarray]:
    import torch
    from torch_geometric.loader import DataLoader

    module.eval()
    errors = []
    with torch.no_grad():
        for batch in DataLoader(dataset, batch_size=batch_size):
            errors.append((module(batch) - module.target(batch)).abs().double().numpy())
    module.train()
    err = np.concatenate(errors) if errors else np.zeros(0)
    return float(err.mean()), err


def train_for_budget(settings: CurveSettings, target: str, model: str, seed: int,
                     budget_seconds: float | None = None) -> dict[str, Any]:
    """One job: train ``model`` on ``target`` for ``budget_seconds`` (default
    ``settings.budget_seconds``) of training time and return its record (curve, best
    validation point, test MAE and errors)."""
    import torch
    from torch_geometric.loader import DataLoader

    from .. import __version__
    from ..data.featurization import featurization_of
    from ..training import CrystalPropertyModule, target_statistics
    from ..training.module import parameter_groups

    torch.set_num_threads(1)
    dataset, prop, column = TARGETS[target]
    train, val, test = load_splits(settings, dataset)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    mean, std = target_statistics(train, column)
    module = CrystalPropertyModule(
        model=model, model_kwargs=dict(settings.model_kwargs.get(model, {})),
        target_mean=mean, target_std=std, target_index=column, lr=settings.lr,
        weight_decay=settings.weight_decay, loss="mse", seed=seed,
        featurization=featurization_of(train), library_version=__version__)
    optimizer = torch.optim.AdamW(parameter_groups(module.model, settings.weight_decay),
                                  lr=settings.lr)
    loader = DataLoader(train, batch_size=settings.batch_size, shuffle=True, drop_last=False,
                        generator=torch.Generator().manual_seed(seed))
    budget = float(settings.budget_seconds if budget_seconds is None else budget_seconds)
    marks = [budget * (i + 1) / settings.eval_points for i in range(settings.eval_points)]
    clock, steps, seen, evals = 0.0, 0, 0, 0.0
    curve: list[dict[str, float]] = []
    best_mae, best_state = math.inf, None
    load_start = os.getloadavg()
    module.train()
    while clock < budget:
        tick = time.perf_counter()
        for batch in loader:
            factor = lr_factor(clock / budget, settings.warmup_fraction)
            for group in optimizer.param_groups:
                group["lr"] = settings.lr * factor
            loss = module._loss(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.model.parameters(), settings.grad_clip)
            optimizer.step()
            now = time.perf_counter()
            clock += now - tick
            steps += 1
            seen += int(batch.num_graphs)
            if clock >= marks[len(curve)] or clock >= budget:
                start_eval = time.perf_counter()
                mae, _ = _mae(module, val)
                evals += time.perf_counter() - start_eval
                curve.append({"train_seconds": clock, "steps": steps,
                              "epochs": seen / len(train), "val_mae": mae})
                if mae < best_mae:
                    best_mae = mae
                    best_state = copy.deepcopy(module.state_dict())
                if len(curve) >= len(marks) or clock >= budget:
                    break
            tick = time.perf_counter()
        if len(curve) >= len(marks):
            break
    assert best_state is not None
    module.load_state_dict(best_state)
    start_eval = time.perf_counter()
    test_mae, test_err = _mae(module, test)
    test_seconds = time.perf_counter() - start_eval
    best = min(curve, key=lambda p: p["val_mae"])
    return {
        "kind": "curve", "target": target, "property": prop, "model": model, "seed": seed,
        "model_kwargs": settings.model_kwargs.get(model, {}),
        "parameters": int(sum(p.numel() for p in module.model.parameters())),
        "n_train": len(train), "n_val_curve": len(val), "n_test": len(test),
        "budget_seconds": budget, "train_seconds": clock, "steps": steps,
        "epochs": seen / len(train), "crystals_per_second": seen / clock if clock else None,
        "curve": curve, "best": best, "best_val_mae": best_mae, "test_mae": test_mae,
        "test_abs_errors": [round(float(e), 6) for e in test_err],
        "eval_seconds": evals, "test_seconds": test_seconds,
        "loadavg_start": list(load_start), "loadavg_end": list(os.getloadavg()),
    }


def _job(args: tuple[CurveSettings, tuple[str, str, int, float]]) -> dict[str, Any]:
    settings, (target, model, seed, budget) = args
    return train_for_budget(settings, target, model, seed, budget)


def _key(r: dict[str, Any]) -> tuple[str, str, int, float]:
    return (r["target"], r["model"], int(r["seed"]), float(r["budget_seconds"]))


def entry_name(model: str, budget: float, common: float) -> str:
    """Summary key of ``model``'s runs at ``budget``: the model name at the common budget,
    ``'<model>@<budget>s'`` at an extended one."""
    return model if budget == common else f"{model}@{budget:g}s"


def run_curves(settings: CurveSettings, *, resume: bool = False, echo: Any = print
               ) -> dict[str, Any]:
    """Run every missing job of ``settings`` (``settings.jobs`` processes, one thread each),
    append each run to ``<output>/curves_runs.jsonl`` and write the results."""
    out = Path(settings.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "curves_runs.jsonl"
    done = read_runs(log) if resume and log.is_file() else []
    finished = {_key(r) for r in done}
    jobs = [j for j in settings.runs() if j not in finished]
    for dataset in {TARGETS[t][0] for t in settings.targets}:
        load_splits(settings, dataset)  # process once; forked workers share it
    budgets = sorted({j[3] for j in jobs})
    echo(f"{len(jobs)} jobs of {' / '.join(f'{b:g}' for b in budgets)} training seconds on "
         f"{settings.jobs} worker(s) ({len(done)} already done); runs appended to {log}")
    start = time.perf_counter()
    runs = list(done) + run_logged(
        _job, [(settings, j) for j in jobs], settings.jobs, log, append=bool(done),
        describe=lambda r: (f"{r['target']} {r['model']} seed {r['seed']}: test MAE "
                            f"{r['test_mae']:.4f} after {r['epochs']:.2f} epochs "
                            f"({r['crystals_per_second']:.0f} crystals/s)"), echo=echo)
    return write_results(settings, runs, time.perf_counter() - start)


# ------------------------------------------------------------------------------- statistics
def bootstrap_difference(errors_a: np.ndarray, errors_b: np.ndarray, n_resamples: int = 2000,
                         seed: int = 0) -> dict[str, float]:
    """Mean of ``errors_b - errors_a`` over test crystals (positive: ``a`` is better) with
    its 95% percentile-bootstrap interval (crystals resampled, pairs kept)."""
    diff = np.asarray(errors_b, dtype=np.float64) - np.asarray(errors_a, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, diff.size, size=(n_resamples, diff.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {"mean": float(diff.mean()), "ci95": [float(low), float(high)]}


def time_to_reach(curve_seconds: list[float], curve_mae: list[float], level: float
                  ) -> float | None:
    """First training time at which a curve is at or below ``level`` (``None``: never)."""
    for t, m in zip(curve_seconds, curve_mae, strict=True):
        if m <= level:
            return float(t)
    return None


def _mean_curve(runs: list[dict[str, Any]]) -> dict[str, list[float]]:
    n = min(len(r["curve"]) for r in runs)
    return {key: [float(np.mean([r["curve"][i][key] for r in runs])) for i in range(n)]
            for key in ("train_seconds", "epochs", "val_mae")}


def _paired(runs_cft: list[dict[str, Any]], runs_other: list[dict[str, Any]]
            ) -> dict[str, Any]:
    """The CFT against another model at the same budget: per-seed differences of test MAE
    (other minus CFT) and a bootstrap over test crystals of the seed-averaged errors; met
    when the interval lies above zero."""
    cft = {r["seed"]: r for r in runs_cft}
    other = {r["seed"]: r for r in runs_other}
    seeds = sorted(set(cft) & set(other))
    diffs = [other[s]["test_mae"] - cft[s]["test_mae"] for s in seeds]
    err_cft = np.mean([cft[s]["test_abs_errors"] for s in seeds], axis=0)
    err_other = np.mean([other[s]["test_abs_errors"] for s in seeds], axis=0)
    boot = bootstrap_difference(err_cft, err_other)
    return {"paired_seeds": seeds, "difference": mean_std(diffs),
            "seeds_cft_better": int(sum(d > 0 for d in diffs)),
            "bootstrap_seed_mean_errors": boot, "met": bool(boot["ci95"][0] > 0)}


def summarize(settings: CurveSettings, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per target: per model statistics and mean curves, and the claims as measured."""
    summary: dict[str, Any] = {}
    common = float(settings.budget_seconds)
    for target in settings.targets:
        entries: dict[str, tuple[str, float, list[dict[str, Any]]]] = {}
        for m in settings.models:
            for b in settings.budgets_of(target, m):
                rs = sorted((r for r in runs if r["target"] == target and r["model"] == m
                             and float(r["budget_seconds"]) == b), key=lambda r: r["seed"])
                if rs:
                    entries[entry_name(m, b, common)] = (m, b, rs)
        by_model = {m: rs for m, b, rs in entries.values() if b == common}
        if not entries:
            continue
        models = {}
        for name, (m, b, rs) in entries.items():
            label = LABELS.get(m, m) + ("" if b == common else f", {b:g} s")
            models[name] = {
                "label": label, "model": m, "budget_seconds": b,
                "seeds": [r["seed"] for r in rs],
                "parameters": rs[0]["parameters"],
                "test_mae": mean_std([r["test_mae"] for r in rs]),
                "best_val_mae": mean_std([r["best_val_mae"] for r in rs]),
                "epochs": mean_std([r["epochs"] for r in rs]),
                "crystals_per_second": mean_std([r["crystals_per_second"] for r in rs]),
                "curve": _mean_curve(rs),
            }
        claims: dict[str, Any] = {}
        if "cft" in by_model and "cgcnn" in by_model:
            claims["cft_beats_cgcnn_at_equal_time"] = _paired(by_model["cft"],
                                                              by_model["cgcnn"])
        for m, b, rs in entries.values():
            if m != "cft" or b == common:
                continue
            for m2, b2, rs2 in entries.values():
                if m2 != "cft" and b2 == b:
                    claims[f"cft_beats_{m2}_at_{b:g}s"] = {"budget_seconds": b,
                                                           **_paired(rs, rs2)}
        alignn = [n for n, (m, _, _) in entries.items() if m == "alignn"]
        if "cft" in by_model and alignn:  # the CFT's common-budget curve
            longest = max(alignn, key=lambda n: entries[n][1])
            al = models[longest]
            best_i = int(np.argmin(al["curve"]["val_mae"]))
            level = al["curve"]["val_mae"][best_i]
            t_alignn = al["curve"]["train_seconds"][best_i]
            c = models["cft"]["curve"]
            t_cft = time_to_reach(c["train_seconds"], c["val_mae"], level)
            claims["cft_reaches_alignn_best_in_one_fifth"] = {
                "alignn_budget_seconds": al["budget_seconds"],
                "cft_budget_seconds": common,
                "alignn_best_val_mae": level, "alignn_seconds": t_alignn,
                "cft_seconds": t_cft,
                "ratio": None if t_cft is None else t_cft / t_alignn,
                "met": bool(t_cft is not None and t_cft <= t_alignn / 5)}
            # the same question on the CFT's run with ALIGNN's budget, when there is one
            # (another schedule, but the same budget: typically run in the same session)
            same = entry_name("cft", al["budget_seconds"], common)
            if same != "cft" and same in models:
                c2 = models[same]["curve"]
                t2 = time_to_reach(c2["train_seconds"], c2["val_mae"], level)
                claims["cft_reaches_alignn_best_in_one_fifth"].update({
                    "cft_seconds_same_budget": t2,
                    "ratio_same_budget": None if t2 is None else t2 / t_alignn})
        summary[target] = {"models": models, "claims": claims}
    return summary


def write_results(settings: CurveSettings, runs: list[dict[str, Any]],
                  seconds: float | None = None) -> dict[str, Any]:
    """``curves.json`` (settings, runs without per-crystal errors, summary, composition
    floors, machine) and ``curves.png``; works on a partial list of runs too."""
    from .composition import composition_floor

    out = Path(settings.output_dir)
    floors = {}
    for target in settings.targets:
        dataset, _, column = TARGETS[target]
        if dataset == "mp20":
            train, val, test = load_splits(settings, "mp20")
            floors[target] = composition_floor(train, val, test, column)
    done = {_key(r) for r in runs}
    missing = [list(j) for j in settings.runs() if j not in done]
    payload = {
        "settings": dataclasses.asdict(settings),
        "command": f"python -m cft_pyg.experiments.curves --preset {settings.label} "
                   "--mp20-root DIR --carbon-root DIR",
        "total_seconds": seconds,
        "complete": not missing, "missing": missing,
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                    "threads_per_job": 1, "jobs": settings.jobs},
        "composition_floors": floors,
        "summary": summarize(settings, runs),
        "runs": [{k: v for k, v in r.items() if k != "test_abs_errors"} for r in runs],
    }
    (out / "curves.json").write_text(json.dumps(payload, indent=1) + "\n")
    _figure(payload, out / "curves.png")
    return payload


def _figure(payload: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .report import TARGET_LABELS

    summary = payload["summary"]
    if not summary:
        return
    fig, axes = plt.subplots(1, len(summary), figsize=(5 * len(summary), 4), squeeze=False)
    order = list(payload["settings"]["models"])  # one colour per model, whatever its budget
    for ax, (target, block) in zip(axes[0], summary.items(), strict=True):
        for name, row in block["models"].items():
            c = row["curve"]
            model = row.get("model", name)
            extended = row.get("budget_seconds", payload["settings"]["budget_seconds"]) \
                != payload["settings"]["budget_seconds"]
            color = f"C{order.index(model) % 10}" if model in order else None
            ax.plot(c["train_seconds"], c["val_mae"], marker="o", ms=3, label=row["label"],
                    ls="--" if extended else "-", color=color)
        floor = payload["composition_floors"].get(target)
        if floor:
            ax.axhline(floor["val_mae"], color="gray", ls="--", lw=1,
                       label="composition only (val)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("training seconds (1 thread)")
        ax.set_ylabel("validation MAE (log)")
        ax.set_title(TARGET_LABELS.get(target, target), fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ------------------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cft_pyg.experiments.curves",
        description="Wall-clock learning curves: every model gets the same budget of "
                    "training seconds per target (see the module docstring).")
    parser.add_argument("--preset", choices=CurveSettings.preset_names()[1:], default="full")
    parser.add_argument("--mp20-root", required=True, help="folder of MP-20")
    parser.add_argument("--carbon-root", required=True, help="folder of Carbon-24")
    parser.add_argument("--output-dir", default=None, help="results folder (default results)")
    parser.add_argument("--targets", nargs="+", choices=list(TARGETS), default=None)
    parser.add_argument("--models", nargs="+", choices=list(CURVE_MODELS), default=None)
    parser.add_argument("--seeds", nargs="+", type=int, default=None)
    parser.add_argument("--budget-seconds", type=float, default=None)
    parser.add_argument("--extended-budget", nargs="*", default=None, metavar="MODEL=SECONDS",
                        help="longer budgets of some models on the extended targets (default "
                             "alignn=1200; no values: none)")
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--resume", action="store_true",
                        help="keep the runs already in <output>/curves_runs.jsonl")
    parser.add_argument("--summarize-only", action="store_true",
                        help="rewrite curves.json/png from the runs file; train nothing")
    args = parser.parse_args(argv)
    changes: dict[str, Any] = {"mp20_root": args.mp20_root, "carbon_root": args.carbon_root}
    for name in ("output_dir", "budget_seconds", "jobs"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    for name in ("targets", "models", "seeds"):
        if getattr(args, name) is not None:
            changes[name] = tuple(getattr(args, name))
    if args.extended_budget is not None:
        budgets = {}
        for item in args.extended_budget:
            model, sep, seconds = item.partition("=")
            if not sep or model not in CURVE_MODELS:
                parser.error(f"--extended-budget takes MODEL=SECONDS with a model of "
                             f"{sorted(CURVE_MODELS)}, not {item!r}")
            budgets[model] = float(seconds)
        changes["extended_budgets"] = budgets
    settings = CurveSettings.from_preset(args.preset, **changes)
    if args.summarize_only:
        out = Path(settings.output_dir)
        write_results(settings, read_runs(out / "curves_runs.jsonl"),
                      recorded_seconds(out / "curves.json"))
        return 0
    run_curves(settings, resume=args.resume)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
