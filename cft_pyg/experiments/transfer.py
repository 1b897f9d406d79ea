r"""Zero-shot transfer measured at equal data: the size- and step-matched protocol.

The published zero-shot protocol holds out every space group with inversion. On MP-20 those
groups hold about 76% of the crystals, so a zero-shot model trains on far fewer crystals than
an all-groups model and the GB-Gap mostly measures the lost data. Here
(:func:`cft_pyg.experiments.zero_shot.matched_split` on the whole pool of 18,093 MP-20
crystals):

* the **test set** is ``test_fraction`` of the held-out-group crystals (thousands of
  crystals, so most held-out groups have enough test crystals to be counted);
* the **zero-shot** model trains on the seen-group crystals;
* the **all-groups** model trains on a random subset, of the **same size**, of every crystal
  outside the test set, for the **same number of epochs and batch size** (hence optimizer
  steps), so the two differ only in which groups they saw;
* **few-shot** models add ``k`` crystals of every held-out group to the zero-shot training
  set (``few_shot_models`` only, for time);
* ``cft-pretrained`` is the CFT whose positional encoding was first pretrained label-free on
  orbit distances of all 230 groups (:func:`cft_pyg.training.pretraining.run_pretraining`).

Per model and seed: the held-out test MAE of each variant, the published GB-Gap (all
held-out groups), the GB-Gap over groups with at least ``min_group_count`` test crystals,
plain and count-weighted, and the relative degradation; over seeds, mean ± std; and for the
claim "the CFT's GB-Gap is below every baseline's", the paired per-seed differences and a
bootstrap interval over held-out groups of the difference of seed-averaged gaps.

``python -m cft_pyg.experiments.transfer --preset full --mp20-root DIR [--models ...]
[--resume]`` appends each run to ``<output>/transfer_runs.jsonl`` (so the study can be split
into parts that each fit a session) and writes ``<output>/transfer.json`` and the few-shot
figure ``<output>/transfer_fewshot.png``.
"""

from __future__ import annotations

import argparse
import copy
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

import numpy as np
import pandas as pd

from ..training.presets import Presets
from .ablation import MP20_TARGETS
from .curves import CURVE_MODELS, bootstrap_difference
from .curves import LABELS as CURVE_LABELS
from .jobs import read_runs, recorded_seconds, run_logged
from .statistics import json_records, mean_std
from .zero_shot import gb_gap, gb_gap_table, matched_split

__all__ = ["LABELS", "TransferSettings", "few_shot_table", "run_transfer", "summarize",
           "write_results", "main"]

PRETRAINED_VARIANT = "cft-pretrained"
LABELS = {**CURVE_LABELS, PRETRAINED_VARIANT: "CFT (hybrid), pretrained encoding"}
"""Model name -> label in tables and figures."""


@dataclass
class TransferSettings(Presets):
    """Settings of the size-matched zero-shot study (presets ``'full'`` and ``'quick'``)."""

    mp20_root: str
    output_dir: str = "results"
    work_dir: str | None = None
    target: str = "formation_energy_per_atom"
    models: tuple[str, ...] = ("cft", "cgcnn", "transformer-plain", "alignn",
                               PRETRAINED_VARIANT)
    model_kwargs: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {**copy.deepcopy(CURVE_MODELS),
                                 PRETRAINED_VARIANT: dict(CURVE_MODELS["cft"])})
    seeds: tuple[int, ...] = (0, 1, 2)
    few_shot_ks: tuple[int, ...] = (1, 5, 20)
    few_shot_models: tuple[str, ...] = ("cft", "cgcnn")
    epochs: int = 15
    model_epochs: dict[str, int] = field(default_factory=lambda: {"alignn": 3})
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    test_fraction: float = 0.4
    val_fraction: float = 0.15
    min_group_count: int = 5
    max_pool: int | None = None
    pretrain_pairs_per_group: int = 256
    pretrain_epochs: int = 20
    jobs: int = 2
    label: str = "custom"

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "full": {},
        "quick": {"seeds": (0,), "few_shot_ks": (1,), "epochs": 1, "model_epochs": {},
                  "batch_size": 16, "warmup_epochs": 0.0, "max_pool": 200,
                  "pretrain_pairs_per_group": 2, "pretrain_epochs": 1, "jobs": 1,
                  "models": ("cft", "cgcnn", PRETRAINED_VARIANT), "few_shot_models": ("cft",)},
    }

    def epochs_of(self, model: str) -> int:
        """Epochs of ``model`` (the same for all its variants, so steps match)."""
        return int(self.model_epochs.get(model, self.epochs))

    def runs(self) -> list[tuple[str, int, str]]:
        """Every ``(model, seed, variant)`` job."""
        out = []
        for m in self.models:
            variants = ["zero-shot", "all-groups"]
            if m in self.few_shot_models:
                variants += [f"k{k}" for k in self.few_shot_ks]
            out += [(m, s, v) for s in self.seeds for v in variants]
        return out


# ------------------------------------------------------------------------------- data
_POOL: dict[str, Any] = {}


def load_pool(settings: TransferSettings) -> tuple[Any, np.ndarray]:
    """All MP-20 crystals (project train + val + test, both targets in ``y``) and their
    space groups (the first ``max_pool`` rows of each part when set)."""
    import torch
    from torch.utils.data import ConcatDataset

    from ..data import MP20, space_groups_of

    key = f"{settings.mp20_root}|{settings.max_pool}"
    if key not in _POOL:
        parts = [MP20(settings.mp20_root, split=f"project-{s}", target=list(MP20_TARGETS),
                      max_rows=settings.max_pool, log=False) for s in ("train", "val", "test")]
        groups = torch.cat([space_groups_of(p) for p in parts]).numpy()
        _POOL[key] = (ConcatDataset(parts), groups)
    return _POOL[key]


def split_of(settings: TransferSettings) -> Any:
    """The matched split of the pool (fixed: seed 0, whatever the training seed)."""
    _, groups = load_pool(settings)
    return matched_split(groups, test_fraction=settings.test_fraction,
                         val_fraction=settings.val_fraction,
                         few_shot_ks=settings.few_shot_ks, seed=0)


def _indices(split: Any, variant: str) -> tuple[list[int], list[int]]:
    if variant == "zero-shot":
        return split.zero_shot_train, split.zero_shot_val
    if variant == "all-groups":
        return split.all_train, split.all_val
    return split.few_shot_train[int(variant[1:])], split.zero_shot_val


# ------------------------------------------------------------------------------- jobs
def _pretrained_path(settings: TransferSettings) -> Path:
    return Path(settings.work_dir or tempfile.gettempdir()) / "transfer_pretrained_encoding.pt"


def _pretrain(settings: TransferSettings) -> dict[str, Any]:
    import torch

    from ..training.pretraining import run_pretraining

    torch.set_num_threads(1)
    path = _pretrained_path(settings)
    result = run_pretraining(path.with_suffix(".tmp"),
                             settings.model_kwargs[PRETRAINED_VARIANT],
                             pairs_per_group=settings.pretrain_pairs_per_group,
                             epochs=settings.pretrain_epochs, seed=0, overwrite=True)
    os.replace(result.path, path)
    return {"kind": "pretraining", "heldout_mae": result.heldout_mae,
            "seconds": result.seconds, "pairs_per_group": settings.pretrain_pairs_per_group,
            "epochs": settings.pretrain_epochs}


def train_variant(settings: TransferSettings, model: str, seed: int, variant: str
                  ) -> dict[str, Any]:
    """One job: train ``model`` on the ``variant`` training set and evaluate it on the
    held-out test crystals."""
    import torch

    from ..training import TrainConfig, evaluate, fit

    torch.set_num_threads(1)
    pool, _ = load_pool(settings)
    split = split_of(settings)
    tr, va = _indices(split, variant)
    train, val = [pool[i] for i in tr], [pool[i] for i in va]
    test = [pool[i] for i in split.test]
    registered = "cft" if model == PRETRAINED_VARIANT else model
    pretrained = None
    if model == PRETRAINED_VARIANT:
        pretrained = _pretrained_path(settings)
        deadline = time.monotonic() + 3600
        while not pretrained.exists():  # the pretraining job runs first, in another worker
            if time.monotonic() > deadline:
                raise TimeoutError(f"{pretrained} did not appear")
            time.sleep(5)
    work = Path(settings.work_dir or tempfile.mkdtemp(prefix="cft-transfer-"))
    epochs = settings.epochs_of(model)
    config = TrainConfig(
        model=registered, model_kwargs=dict(settings.model_kwargs[model]),
        pretrained_encoding=None if pretrained is None else str(pretrained),
        target_index=MP20_TARGETS.index(settings.target), epochs=epochs,
        batch_size=settings.batch_size, lr=settings.lr, weight_decay=settings.weight_decay,
        warmup_epochs=min(settings.warmup_epochs, epochs - 1) if epochs > 1 else 0.0,
        patience=None, seed=seed, accelerator="cpu", devices=1, progress_bar=False,
        output_dir=str(work / f"{model}_{variant}_seed{seed}"))
    start = time.perf_counter()
    result = fit(config, train, val, None, overwrite=True)
    wall = time.perf_counter() - start
    report = evaluate(result.module, test, config=config.replace(progress_bar=False))
    return {
        "kind": "transfer", "model": model, "seed": seed, "variant": variant,
        "n_train": len(train), "n_val": len(val), "n_test": len(test), "epochs": epochs,
        "optimizer_steps": epochs * math.ceil(len(train) / settings.batch_size),
        "parameters": int(sum(p.numel() for p in result.module.model.parameters())),
        "best_val_mae": result.best_val_mae, "wall_seconds": wall,
        "held_test": {"overall": report.overall,
                      "per_space_group": json_records(report.per_space_group,
                                                      ["space_group", "n", "mae"])},
        "loadavg": list(os.getloadavg()),
    }


def _job(args: tuple[TransferSettings, Any]) -> dict[str, Any]:
    settings, job = args
    if job == "pretrain":
        return _pretrain(settings)
    return train_variant(settings, *job)


def _key(r: dict[str, Any]) -> Any:
    return "pretrain" if r["kind"] == "pretraining" else (r["model"], r["seed"], r["variant"])


def _describe(res: dict[str, Any]) -> str:
    if res["kind"] == "pretraining":
        return f"pretraining: held-out orbit-distance MAE {res['heldout_mae']:.3f} Å"
    return (f"{res['model']} {res['variant']} seed {res['seed']}: held-out test MAE "
            f"{res['held_test']['overall']['mae']:.4f}")


def run_transfer(settings: TransferSettings, *, resume: bool = False, echo: Any = print
                 ) -> dict[str, Any]:
    """Run every missing job, append each to ``<output>/transfer_runs.jsonl``, write the
    results (``transfer.json``)."""
    out = Path(settings.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if settings.work_dir is None:
        settings = dataclasses.replace(settings,
                                       work_dir=tempfile.mkdtemp(prefix="cft-transfer-"))
    log = out / "transfer_runs.jsonl"
    done = read_runs(log) if resume and log.is_file() else []
    finished = {_key(r) for r in done}
    if "pretrain" in finished and not _pretrained_path(settings).exists():
        finished.discard("pretrain")
        done = [r for r in done if r["kind"] != "pretraining"]
    jobs: list[Any] = []
    if PRETRAINED_VARIANT in settings.models and "pretrain" not in finished:
        jobs.append("pretrain")
    jobs += [j for j in settings.runs() if j not in finished]
    load_pool(settings)  # process once; forked workers share it
    echo(f"{len(jobs)} jobs on {settings.jobs} worker(s) ({len(done)} already done); split "
         f"sizes {split_of(settings).sizes()}")
    start = time.perf_counter()
    runs = list(done) + run_logged(
        _job, [(settings, j) for j in jobs], settings.jobs, log, append=bool(done),
        describe=_describe, echo=echo)
    return write_results(settings, runs, time.perf_counter() - start)


# ------------------------------------------------------------------------------- summary
def _gap_rows(zs: dict[str, Any], al: dict[str, Any], min_count: int) -> dict[str, Any]:
    a = pd.DataFrame(zs["held_test"]["per_space_group"])
    b = pd.DataFrame(al["held_test"]["per_space_group"])
    published, groups = gb_gap(a, b)
    return {"gb_gap_published": published, "groups_published": groups,
            **gb_gap_table(a, b, min_count)}


def _group_gaps(zs: dict[str, Any], al: dict[str, Any], min_count: int) -> pd.Series:
    a = pd.DataFrame(zs["held_test"]["per_space_group"]).set_index("space_group")
    b = pd.DataFrame(al["held_test"]["per_space_group"]).set_index("space_group")
    common = [g for g in a.index.intersection(b.index) if a.loc[g, "n"] >= min_count]
    return (a.loc[common, "mae"] - b.loc[common, "mae"]).abs()


def summarize(settings: TransferSettings, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per model: MAE per variant, GB-Gaps per seed and over seeds, and the claim."""
    by = {_key(r): r for r in runs if r["kind"] == "transfer"}
    out: dict[str, Any] = {"models": {}, "claims": {}}
    gaps_by_model: dict[str, dict[int, pd.Series]] = {}
    for m in settings.models:
        rows = [r for r in by.values() if r["model"] == m]
        if not rows:
            continue
        variants = sorted({r["variant"] for r in rows},
                          key=lambda v: {"all-groups": -2, "zero-shot": -1}.get(v, 0)
                          or int(v[1:]))
        entry: dict[str, Any] = {"held_test_mae": {}, "n_train": {}, "optimizer_steps": {},
                                 "per_seed": {}}
        for v in variants:
            rs = [by[(m, s, v)] for s in settings.seeds if (m, s, v) in by]
            entry["held_test_mae"][v] = mean_std([r["held_test"]["overall"]["mae"]
                                                  for r in rs])
            entry["n_train"][v] = rs[0]["n_train"]
            entry["optimizer_steps"][v] = rs[0]["optimizer_steps"]
        gaps_by_model[m] = {}
        for s in settings.seeds:
            if (m, s, "zero-shot") in by and (m, s, "all-groups") in by:
                zs, al = by[(m, s, "zero-shot")], by[(m, s, "all-groups")]
                entry["per_seed"][s] = _gap_rows(zs, al, settings.min_group_count)
                gaps_by_model[m][s] = _group_gaps(zs, al, settings.min_group_count)
        for key in ("gb_gap_published", "gb_gap", "gb_gap_weighted", "relative_degradation"):
            entry[key] = mean_std([v[key] for v in entry["per_seed"].values()])
        first = next(iter(entry["per_seed"].values()), {})
        entry["groups_counted"] = first.get("groups", 0)
        entry["parameters"] = rows[0]["parameters"]
        out["models"][m] = entry
    for cft in ("cft", PRETRAINED_VARIANT):
        if cft not in gaps_by_model:
            continue
        for other in gaps_by_model:
            if other in ("cft", PRETRAINED_VARIANT):
                continue
            seeds = sorted(set(gaps_by_model[cft]) & set(gaps_by_model[other]))
            if not seeds:
                continue
            diffs = [float(gaps_by_model[other][s].mean() - gaps_by_model[cft][s].mean())
                     for s in seeds]
            mean_cft = pd.concat([gaps_by_model[cft][s] for s in seeds], axis=1).mean(axis=1)
            mean_other = pd.concat([gaps_by_model[other][s] for s in seeds], axis=1).mean(axis=1)
            common = mean_cft.index.intersection(mean_other.index)
            boot = bootstrap_difference(mean_cft[common].to_numpy(),
                                        mean_other[common].to_numpy())
            out["claims"][f"{cft} GB-Gap below {other}"] = {
                "seeds": seeds, "difference": mean_std(diffs),
                "seeds_better": int(sum(d > 0 for d in diffs)),
                "bootstrap_over_groups": boot, "met": bool(boot["ci95"][0] > 0)}
    return out


def few_shot_table(summary: dict[str, Any]) -> pd.DataFrame:
    """Held-out test MAE against ``k`` (``k = 0``: zero-shot) of every model with few-shot
    runs: columns ``model``, ``k``, ``mae``, ``mae_std``, ``n_seeds`` (``summary`` is the
    ``summary`` of a ``transfer.json``)."""
    rows = []
    for m, e in summary["models"].items():
        variants = e["held_test_mae"]
        if not any(v.startswith("k") for v in variants):
            continue
        for v, stats in variants.items():
            if v == "all-groups":
                continue
            k = 0 if v == "zero-shot" else int(v[1:])
            rows.append({"model": m, "k": k, "mae": stats["mean"], "mae_std": stats["std"],
                         "n_seeds": stats["n_seeds"]})
    return pd.DataFrame(rows, columns=["model", "k", "mae", "mae_std", "n_seeds"])


def write_results(settings: TransferSettings, runs: list[dict[str, Any]],
                  seconds: float | None = None) -> dict[str, Any]:
    """``transfer.json``: settings, split sizes, runs, summary; also for a partial run."""
    done = {_key(r) for r in runs}
    missing = [list(j) for j in settings.runs() if j not in done]
    full = TransferSettings.from_preset("full", mp20_root=settings.mp20_root).runs()
    pre = [r for r in runs if r["kind"] == "pretraining"]
    payload = {
        "settings": dataclasses.asdict(settings),
        "command": f"python -m cft_pyg.experiments.transfer --preset {settings.label} "
                   "--mp20-root DIR",
        "split_sizes": split_of(settings).sizes(),
        "total_seconds": seconds, "complete": not missing, "missing": missing,
        "full_study": {"runs": len(full), "done": sum(tuple(j) in done for j in full),
                       "missing": [list(j) for j in full if j not in done]},
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                    "threads_per_job": 1, "jobs": settings.jobs},
        "pretraining": pre[0] if pre else None,
        "summary": summarize(settings, runs),
        "runs": [r for r in runs if r["kind"] == "transfer"],
    }
    out = Path(settings.output_dir)
    (out / "transfer.json").write_text(json.dumps(payload, indent=1) + "\n")
    _figure(payload["summary"], out / "transfer_fewshot.png")
    return payload


def _figure(summary: dict[str, Any], path: Path) -> None:
    """``transfer_fewshot.png``: held-out MAE against k (dashed: the all-groups models)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..viz import plot_few_shot

    table = few_shot_table(summary)
    if not len(table):
        return
    table["model"] = table["model"].map(lambda m: LABELS.get(m, m))
    reference = {LABELS.get(m, m): e["held_test_mae"]["all-groups"]["mean"]
                 for m, e in summary["models"].items() if "all-groups" in e["held_test_mae"]
                 and any(v.startswith("k") for v in e["held_test_mae"])}
    fig = plot_few_shot(table, unit="eV/atom", reference=reference)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cft_pyg.experiments.transfer",
        description="Size- and step-matched zero-shot study on the whole MP-20 pool.")
    parser.add_argument("--preset", choices=TransferSettings.preset_names()[1:], default="full")
    parser.add_argument("--mp20-root", required=True)
    parser.add_argument("--output-dir", default=None)
    parser.add_argument("--work-dir", default=None,
                        help="run folders and the pretrained encoding (kept for --resume)")
    parser.add_argument("--models", nargs="+", default=None)
    parser.add_argument("--seeds", nargs="+", type=int, default=None)
    parser.add_argument("--few-shot-models", nargs="*", default=None,
                        help="models that also run the few-shot variants (none: give the "
                             "flag without names)")
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--summarize-only", action="store_true")
    args = parser.parse_args(argv)
    changes: dict[str, Any] = {"mp20_root": args.mp20_root}
    for name in ("output_dir", "work_dir", "jobs"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    for name in ("models", "seeds", "few_shot_models"):
        if getattr(args, name) is not None:
            changes[name] = tuple(getattr(args, name))
    settings = TransferSettings.from_preset(args.preset, **changes)
    if args.summarize_only:
        out = Path(settings.output_dir)
        write_results(settings, read_runs(out / "transfer_runs.jsonl"),
                      recorded_seconds(out / "transfer.json"))
        return 0
    run_transfer(settings, resume=args.resume)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
