r"""What each part of the CFT is worth: the ablation of issue "make the encoding earn its place".

One command runs every (target, variant, seed) training through the Lightning engine, two
single-thread jobs side by side, appends each finished run to ``<output>/ablation_runs.jsonl``
(so a partial run keeps what finished) and writes ``<output>/ablation.json`` with the
settings, every run (validation curve per epoch with cumulative training seconds, best
epoch, test MAE, parameters, crystals/s) and the summary (mean ± std over seeds, paired
differences over seeds, and the issue's targets evaluated as measured).

Variants (CFT hybrid trunk, width 64, 2 blocks, 4 heads, messages of width 32, physical
element features everywhere):

==================  =====================================================================
``none``            no positional encoding (pair geometry on)
``plain``           plain Fourier features (not invariant), normalized tokens, pair geometry
``symmetry-raw``    symmetry-adapted encoding, raw tokens, no pair geometry (the landed CFT
                    + element features + the exact neighbour graph)
``symmetry-tokens`` + RMS-normalized encoding, first layer per family, balanced tokens
``symmetry``        + pair geometry (attention distance bias, gated messages): the default
``symmetry-pre``    + orbit-distance pretraining of the encoding (label-free, 230 groups)
``cgcnn``           CGCNN with the published sizes and the same element features
==================  =====================================================================

Targets: Carbon-24 ``energy_per_atom`` (all of its val + test, project split), MP-20
formation energy and band gap (``n_train`` crystals of the project-train split, full
project-val/test).  Every model trains for a fixed number of epochs (cosine schedule to
zero, so the validation MAE plateaus at the end; the curve is recorded) and is evaluated
on the test split at its best validation epoch.  MP-20 tables add the composition-only
floor of :mod:`cft_pyg.experiments.composition`.

Run ``python -m cft_pyg.experiments.ablation --help``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..training.presets import Presets
from .jobs import read_runs, run_logged

__all__ = ["AblationSettings", "VARIANTS", "read_runs", "run_ablation", "summarize",
           "write_results", "main"]

BASE_CFT = {"channels": 64, "num_blocks": 2, "heads": 4, "local_channels": 32}
RAW_TOKENS = {"normalize_encoding": False, "family_inputs": False, "balance_tokens": False}
NO_PAIRS = {"pair_bias": False, "gated_messages": False}

VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "none": ("cft", {**BASE_CFT, "encoding": "none"}),
    "plain": ("cft", {**BASE_CFT, "encoding": "plain"}),
    "symmetry-raw": ("cft", {**BASE_CFT, **RAW_TOKENS, **NO_PAIRS}),
    "symmetry-tokens": ("cft", {**BASE_CFT, **NO_PAIRS}),
    "symmetry": ("cft", dict(BASE_CFT)),
    "symmetry-pre": ("cft", dict(BASE_CFT)),
    "cgcnn": ("cgcnn", {}),
}
"""Variant name -> (registered model name, model arguments)."""

PRETRAINED = {"symmetry-pre"}
TARGETS = {
    "carbon24/energy_per_atom": ("carbon24", "energy_per_atom", 0),
    "mp20/formation_energy_per_atom": ("mp20", "formation_energy_per_atom", 0),
    "mp20/band_gap": ("mp20", "band_gap", 1),
}
"""Target key -> (dataset, property, column of ``data.y``)."""
MP20_TARGETS = ("formation_energy_per_atom", "band_gap")


@dataclass
class AblationSettings(Presets):
    """Settings of the ablation (presets ``'full'``: the numbers the README quotes, and
    ``'quick'``: seconds per run for tests and CI; ``from_preset(name, carbon_root=...,
    mp20_root=...)``)."""

    carbon_root: str
    mp20_root: str
    output_dir: str = "results"
    work_dir: str | None = None
    variants: dict[str, tuple[str, ...]] = field(default_factory=lambda: {
        "carbon24/energy_per_atom": tuple(VARIANTS),
        "mp20/formation_energy_per_atom": ("none", "plain", "symmetry", "cgcnn"),
        "mp20/band_gap": ("none", "plain", "symmetry", "cgcnn"),
    })
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: dict[str, int] = field(default_factory=lambda: {
        "carbon24/energy_per_atom": 25, "mp20/formation_energy_per_atom": 15,
        "mp20/band_gap": 15})
    n_train_mp20: int | None = 5000
    n_train_carbon: int | None = None
    n_eval: int | None = None
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 2.0
    pretrain_pairs_per_group: int = 256
    pretrain_epochs: int = 20
    jobs: int = 2
    label: str = "custom"

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "full": {},
        "quick": {"seeds": (0,), "n_train_mp20": 48, "n_train_carbon": 48, "n_eval": 24,
                  "epochs": dict.fromkeys(TARGETS, 2), "batch_size": 16,
                  "pretrain_pairs_per_group": 4, "pretrain_epochs": 1, "warmup_epochs": 0.0},
    }

    def runs(self) -> list[tuple[str, str, int]]:
        """All ``(target, variant, seed)`` jobs, pretrained variants last."""
        jobs = [(t, v, s) for t, vs in self.variants.items() for v in vs for s in self.seeds]
        return sorted(jobs, key=lambda j: j[1] in PRETRAINED)


# ------------------------------------------------------------------------------- data
_DATA: dict[tuple[str, str], tuple[Any, Any, Any]] = {}


def load_splits(settings: AblationSettings, dataset: str) -> tuple[Any, Any, Any]:
    """``(train, val, test)`` of a dataset (processed once per process, cached)."""
    from ..data import MP20, Carbon24

    key = (dataset, json.dumps(dataclasses.asdict(settings), sort_keys=True, default=str))
    if key not in _DATA:
        cls, root, target = ((MP20, settings.mp20_root, list(MP20_TARGETS))
                             if dataset == "mp20" else
                             (Carbon24, settings.carbon_root, "energy_per_atom"))
        n_train = settings.n_train_mp20 if dataset == "mp20" else settings.n_train_carbon
        limits = {"train": n_train, "val": settings.n_eval, "test": settings.n_eval}
        # the project split is a fixed random permutation: its first rows are a random subset
        _DATA[key] = tuple(cls(root, split=f"project-{s}", target=target, max_rows=n, log=False)
                           for s, n in limits.items())
    return _DATA[key]


# ------------------------------------------------------------------------------- runs
def _pretrained_path(settings: AblationSettings, work: Path) -> Path:
    return work / "pretrained_encoding.pt"


def _pretrain(settings: AblationSettings, work: Path) -> dict[str, Any]:
    import torch

    from ..training.pretraining import run_pretraining

    torch.set_num_threads(1)
    result = run_pretraining(
        _pretrained_path(settings, work).with_suffix(".tmp"), VARIANTS["symmetry-pre"][1],
        pairs_per_group=settings.pretrain_pairs_per_group, epochs=settings.pretrain_epochs,
        seed=0, overwrite=True,
    )
    os.replace(_pretrained_path(settings, work).with_suffix(".tmp"),
               _pretrained_path(settings, work))
    return {"kind": "pretraining", **result.to_dict()}


def _train_one(settings: AblationSettings, work: Path, target: str, variant: str,
               seed: int) -> dict[str, Any]:
    import torch

    from ..training import TrainConfig, fit
    from ..training.engine import epoch_metrics

    torch.set_num_threads(1)
    dataset, prop, column = TARGETS[target]
    train, val, test = load_splits(settings, dataset)
    model, kwargs = VARIANTS[variant]
    pretrained = None
    if variant in PRETRAINED:
        pretrained = _pretrained_path(settings, work)
        deadline = time.monotonic() + 3600
        while not pretrained.exists():  # the pretraining job runs first, in another worker
            if time.monotonic() > deadline:
                raise TimeoutError(f"{pretrained} did not appear")
            time.sleep(5)
    run_dir = work / target.replace("/", "_") / f"{variant}_seed{seed}"
    config = TrainConfig(
        model=model, model_kwargs=dict(kwargs), pretrained_encoding=
        None if pretrained is None else str(pretrained), target_index=column,
        epochs=settings.epochs[target], batch_size=settings.batch_size, lr=settings.lr,
        weight_decay=settings.weight_decay, warmup_epochs=settings.warmup_epochs,
        patience=None, seed=seed, accelerator="cpu", devices=1, output_dir=str(run_dir),
        progress_bar=False,
    )
    start = time.perf_counter()
    result = fit(config, train, val, test, overwrite=True)
    wall = time.perf_counter() - start
    curve = epoch_metrics(run_dir / "logs")
    cols = [c for c in ("epoch", "val_mae", "train_seconds", "train_loss_epoch", "train_loss")
            if c in curve.columns]
    curve = curve[cols].dropna(subset=["val_mae"])
    train_seconds = float(curve["train_seconds"].max()) if "train_seconds" in curve else math.nan
    epochs_done = int(curve["epoch"].max()) + 1 if len(curve) else 0
    return {
        "kind": "training", "target": target, "property": prop, "variant": variant,
        "model": model, "model_kwargs": kwargs, "seed": seed,
        "parameters": int(sum(p.numel() for p in result.module.model.parameters())),
        "n_train": len(train), "n_val": len(val), "n_test": len(test),
        "best_val_mae": result.best_val_mae,
        "best_epoch": int(curve.loc[curve["val_mae"].idxmin(), "epoch"]) if len(curve) else None,
        "test_mae": result.test_report.overall["mae"] if result.test_report is not None else None,
        "train_seconds": train_seconds, "wall_seconds": wall,
        "train_crystals_per_second": len(train) * epochs_done / train_seconds
        if train_seconds and train_seconds > 0 else None,
        "curve": {c: [None if (isinstance(v, float) and math.isnan(v)) else v
                      for v in curve[c].tolist()] for c in curve.columns},
        "loadavg": os.getloadavg(),
    }


def _job(args: tuple[Any, ...]) -> dict[str, Any]:
    settings, work, job = args
    if job == "pretrain":
        return _pretrain(settings, work)
    return _train_one(settings, work, *job)


# ---------------------------------------------------------------------------- summary
def _mean_std(values: list[float]) -> dict[str, Any]:
    n = len(values)
    if n == 0:
        return {"mean": None, "std": None, "n": 0}
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else None
    return {"mean": mean, "std": std, "n": n, "values": values}


def _paired(runs: list[dict[str, Any]], target: str, a: str, b: str) -> dict[str, Any] | None:
    """``b - a`` test-MAE difference per seed (positive: ``a`` is better)."""
    by = {(r["variant"], r["seed"]): r["test_mae"] for r in runs if r["target"] == target}
    seeds = sorted({s for v, s in by if v == a} & {s for v, s in by if v == b})
    if not seeds:
        return None
    diffs = [by[(b, s)] - by[(a, s)] for s in seeds]
    stats = _mean_std(diffs)
    ma = _mean_std([by[(a, s)] for s in seeds])
    mb = _mean_std([by[(b, s)] for s in seeds])
    spread = math.sqrt((ma["std"] or 0.0) ** 2 + (mb["std"] or 0.0) ** 2)
    return {
        "better": a, "worse": b, "seeds": seeds, "difference": stats,
        "wins": sum(d > 0 for d in diffs),
        "margin_in_std": (mb["mean"] - ma["mean"]) / spread if spread > 0 else None,
        "beats_by_two_std": bool(spread > 0 and mb["mean"] - ma["mean"] > 2 * spread),
    }


def summarize(runs: list[dict[str, Any]], floors: dict[str, Any] | None = None
              ) -> dict[str, Any]:
    """Mean ± std per (target, variant), paired comparisons and the issue's targets."""
    training = [r for r in runs if r.get("kind") == "training"]
    table: dict[str, dict[str, Any]] = {}
    for r in training:
        table.setdefault(r["target"], {}).setdefault(r["variant"], []).append(r)
    summary: dict[str, Any] = {}
    for target, variants in table.items():
        rows = {}
        for variant, rs in variants.items():
            rows[variant] = {
                "test_mae": _mean_std([r["test_mae"] for r in rs]),
                "best_val_mae": _mean_std([r["best_val_mae"] for r in rs]),
                "train_seconds": _mean_std([r["train_seconds"] for r in rs]),
                "crystals_per_second": _mean_std([r["train_crystals_per_second"] for r in rs]),
                "parameters": rs[0]["parameters"], "best_epoch": [r["best_epoch"] for r in rs],
                "epochs": len(rs[0]["curve"].get("epoch", [])),
            }
        comparisons = {f"symmetry<{o}": _paired(training, target, "symmetry", o)
                       for o in ("none", "plain", "cgcnn", "symmetry-raw", "symmetry-tokens")
                       if o in variants and "symmetry" in variants}
        if "symmetry-pre" in variants and "symmetry" in variants:
            comparisons["symmetry-pre<symmetry"] = _paired(training, target, "symmetry-pre",
                                                           "symmetry")
        summary[target] = {"variants": rows, "comparisons": comparisons}
        if floors and target in floors:
            summary[target]["composition_floor"] = floors[target]
    return summary


def _targets_met(summary: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for target in ("carbon24/energy_per_atom", "mp20/band_gap"):
        comps = summary.get(target, {}).get("comparisons", {})
        for other in ("none", "plain"):
            c = comps.get(f"symmetry<{other}")
            if c is not None:
                out[f"{target}: symmetry beats {other} by > 2 std"] = c["beats_by_two_std"]
    for target, block in summary.items():
        c = block["comparisons"].get("symmetry<cgcnn")
        if c is not None:
            out[f"{target}: CFT beats CGCNN at equal epochs"] = c["difference"]["mean"] > 0
        floor = block.get("composition_floor")
        if floor is not None and target.endswith("formation_energy_per_atom"):
            cft = block["variants"].get("symmetry", {}).get("test_mae", {}).get("mean")
            if cft is not None:
                out[f"{target}: CFT beats the composition-only floor"] = cft < floor["test_mae"]
    return out


# --------------------------------------------------------------------------------- run
def _job_key(job: Any) -> str:
    return "pretrain" if job == "pretrain" else "/".join(map(str, job))


def _run_key(run: dict[str, Any]) -> str:
    if run.get("kind") == "pretraining":
        return "pretrain"
    return f"{run['target']}/{run['variant']}/{run['seed']}"


def run_ablation(settings: AblationSettings, *, resume: bool = False, echo=print
                 ) -> dict[str, Any]:
    """Run every job of ``settings`` and write ``ablation.json`` (see the module docstring).

    With ``resume=True`` the runs already in ``<output>/ablation_runs.jsonl`` are kept and
    only the missing jobs run (the pretrained encoding is recomputed if its file is gone).
    """
    out = Path(settings.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(settings.work_dir or tempfile.mkdtemp(prefix="cft-ablation-"))
    work.mkdir(parents=True, exist_ok=True)
    log = out / "ablation_runs.jsonl"
    done = read_runs(log) if resume and log.is_file() else []
    finished = {_run_key(r) for r in done}
    if "pretrain" in finished and not _pretrained_path(settings, work).exists():
        finished.discard("pretrain")
        done = [r for r in done if r.get("kind") != "pretraining"]
    jobs: list[Any] = []
    if any(v in PRETRAINED for vs in settings.variants.values() for v in vs):
        jobs.append("pretrain")
    jobs += settings.runs()
    jobs = [j for j in jobs if _job_key(j) not in finished]
    for dataset in {TARGETS[t][0] for t in settings.variants}:
        load_splits(settings, dataset)  # process once before the workers start (fork shares)
    start = time.perf_counter()
    echo(f"{len(jobs)} jobs on {settings.jobs} worker(s) ({len(done)} already done); runs "
         f"appended to {log}")
    runs = list(done) + run_logged(
        _job, [(settings, work, j) for j in jobs], settings.jobs, log, append=bool(done),
        describe=lambda r: (f"{r['target']} {r['variant']} seed {r['seed']}: test MAE "
                            f"{r['test_mae']:.4f}, {r['train_seconds']:.0f} s"
                            if r["kind"] == "training" else
                            "pretraining: held-out orbit-distance MAE "
                            f"{r['heldout_mae']:.3f} Å"), echo=echo)
    return write_results(settings, runs, time.perf_counter() - start)


def write_results(settings: AblationSettings, runs: list[dict[str, Any]],
                  seconds: float | None = None) -> dict[str, Any]:
    """Summaries, the composition floors and ``ablation.json`` from a list of runs.

    Also for a partial list: the jobs of ``settings`` without a run are listed under
    ``missing`` and the payload says ``complete: false``.
    """
    from .composition import composition_floor

    floors = {}
    for target, (dataset, _, column) in TARGETS.items():
        if dataset == "mp20" and target in settings.variants:
            train, val, test = load_splits(settings, "mp20")
            floors[target] = composition_floor(train, val, test, column)
    summary = summarize(runs, floors)
    have = {_run_key(r) for r in runs}
    expected = [_job_key(j) for j in settings.runs()]
    missing = [k for k in expected if k not in have]
    if seconds is None:  # rebuilt from a runs file: the runs' own wall time
        seconds = sum(r.get("wall_seconds", r.get("seconds", 0.0)) for r in runs) / settings.jobs
    payload = {
        "settings": dataclasses.asdict(settings), "command": _command(settings),
        "total_seconds": seconds, "complete": not missing, "missing": missing,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "threads_per_job": 1, "jobs": settings.jobs,
                    "loadavg_end": os.getloadavg()},
        "runs": runs, "summary": summary, "targets_met": _targets_met(summary),
        "composition_floors": floors,
    }
    out = Path(settings.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ablation.json").write_text(json.dumps(payload, indent=1))
    return payload


def _command(settings: AblationSettings) -> str:
    return f"python -m cft_pyg.experiments.ablation --{settings.label} ..."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cft_pyg.experiments.ablation",
        description="Ablation of the CFT (encoding, tokens, pair geometry, pretraining) on "
                    "Carbon-24 and MP-20; writes ablation.json.")
    parser.add_argument("--carbon-root", required=True, metavar="DIR",
                        help="folder with Carbon-24's val.csv.gz/test.csv.gz")
    parser.add_argument("--mp20-root", required=True, metavar="DIR",
                        help="folder with MP-20's val.csv.gz/test.csv.gz")
    parser.add_argument("--output-dir", default="results", metavar="DIR")
    parser.add_argument("--work-dir", default=None, metavar="DIR",
                        help="run folders (default: a temporary folder)")
    preset = parser.add_mutually_exclusive_group()
    preset.add_argument("--full", action="store_true", help="the README's settings")
    preset.add_argument("--quick", action="store_true", help="seconds per run (tests)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None)
    parser.add_argument("--jobs", type=int, default=None, help="parallel single-thread jobs")
    parser.add_argument("--targets", nargs="+", choices=list(TARGETS), default=None)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=None,
                        help="run only these variants (MP-20 floors are still computed)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the runs of <output-dir>/ablation_runs.jsonl, run the rest")
    parser.add_argument("--summarize-only", action="store_true",
                        help="write ablation.json from <output-dir>/ablation_runs.jsonl as it "
                             "is (missing jobs listed) without training")
    args = parser.parse_args(argv)
    changes: dict[str, Any] = {"carbon_root": args.carbon_root, "mp20_root": args.mp20_root,
                               "output_dir": args.output_dir, "work_dir": args.work_dir}
    if args.seeds:
        changes["seeds"] = tuple(args.seeds)
    if args.jobs:
        changes["jobs"] = args.jobs
    settings = AblationSettings.from_preset("quick" if args.quick else "full", **changes)
    if args.targets:
        settings.variants = {t: v for t, v in settings.variants.items() if t in args.targets}
    if args.variants:
        settings.variants = {t: tuple(x for x in v if x in args.variants)
                             for t, v in settings.variants.items()}
    if args.summarize_only:
        payload = write_results(settings, read_runs(Path(args.output_dir) /
                                                    "ablation_runs.jsonl"))
    else:
        payload = run_ablation(settings, resume=args.resume)
    if payload["missing"]:
        print(f"incomplete: {len(payload['missing'])} jobs missing: {payload['missing']}")
    for target, block in payload["summary"].items():
        print(f"\n{target}")
        for variant, row in block["variants"].items():
            mae = row["test_mae"]
            std = f" ± {mae['std']:.4f}" if mae["std"] is not None else ""
            print(f"  {variant:16s} test MAE {mae['mean']:.4f}{std}  ({mae['n']} seeds, "
                  f"{row['parameters']} params, {row['train_seconds']['mean']:.0f} s)")
        if "composition_floor" in block:
            print(f"  composition-only floor: {block['composition_floor']['test_mae']:.4f}")
    print("\ntargets:", json.dumps(payload["targets_met"], indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
