r"""CFT vs CGCNN vs ALIGNN on MP-20, and zero-shot / few-shot on the centrosymmetric groups.

Everything runs through the project's training engine (:func:`cft_pyg.training.fit` /
:func:`cft_pyg.training.evaluate`), on the project's fixed MP-20 split
(:class:`cft_pyg.data.MP20`, ``project-train/val/test``; the first ``n_*`` rows of each part,
which are a random subset because the split is a seeded permutation).

**Benchmark** (``results/benchmark_mp20.json``): for every target (formation energy, band gap)
and model, one training per seed with the same data, epoch budget, batch size, optimizer and
schedule; test MAE overall, per crystal system and per space group, parameter count and
training time.  Early stopping is off: every model gets exactly ``epochs`` epochs and is
evaluated at its best validation epoch.

**Zero-shot / few-shot** (``results/zeroshot_mp20.json``): the MP-20 crystals above are pooled
and split at random (``zs_fractions``).  The *held-out test set* is the test crystals whose group
contains inversion (:func:`cft_pyg.data.centrosymmetric_groups`).  Per model and seed:

* ``all``: trained on the whole training part (all groups);
* ``k = 0`` (zero-shot): trained on the training crystals of the non-centrosymmetric groups
  only (validation likewise), so no held-out group is ever seen;
* ``k = 1, 5, 20``: as ``k = 0`` plus ``k`` training crystals of each held-out group
  (:func:`cft_pyg.data.few_shot_split`; a group with ``n`` training crystals gives
  ``min(k, n - 1)``).

All variants are evaluated on the same held-out test crystals (paired).  The published
GB-Gap metric is ``mean over held-out groups g of |MAE_zero-shot(g) - MAE_all(g)|``.

This is a small-budget CPU comparison (few thousand crystals, a few epochs), not the published
full training; the JSON files record every setting, seed and the spread over seeds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "CompareSettings",
    "MODEL_LABELS",
    "TARGET_UNITS",
    "gb_gap",
    "main",
    "run_benchmark",
    "run_notebooks",
    "run_zero_shot",
    "summarize_benchmark",
    "summarize_zero_shot",
    "write_figures",
]

REPO_ROOT = Path(__file__).resolve().parents[2]

TARGET_UNITS = {"formation_energy_per_atom": "eV/atom", "band_gap": "eV",
                "e_above_hull": "eV/atom"}
"""Units of the MP-20 targets."""

MODEL_LABELS = {"cft": "CFT (hybrid)", "cft-transformer": "CFT (Transformer)",
                "cgcnn": "CGCNN", "alignn": "ALIGNN"}
"""Display names of the compared models."""

# sizes for a CPU budget (all models far below their published sizes; counts are recorded)
DEFAULT_MODEL_KWARGS: dict[str, dict[str, Any]] = {
    "cft": {"channels": 64, "num_blocks": 2, "heads": 4, "local_channels": 32},
    "cft-transformer": {"channels": 64, "num_blocks": 2, "heads": 4},
    "cgcnn": {"atom_fea_len": 64, "n_conv": 3, "h_fea_len": 128},
    "alignn": {"alignn_layers": 2, "gcn_layers": 2, "hidden_features": 64,
               "embedding_features": 32},
}


def _default_data_root() -> str:
    return os.environ.get("CFT_PYG_MP20", str((REPO_ROOT / ".." / "shared" / "data" / "mp_20")
                                               .resolve()))


@dataclass
class CompareSettings:
    """All settings of a comparison (``full()`` and ``quick()`` give the two presets).

    Attributes:
        data_root: folder with MP-20's ``val.csv.gz``/``test.csv.gz`` (default
            ``$CFT_PYG_MP20`` or ``../shared/data/mp_20`` next to the repository).
        n_train, n_val, n_test: first rows of ``project-train/val/test`` used.
        targets: MP-20 targets of the benchmark.
        models: registered model names (:func:`cft_pyg.training.available_models`).
        model_kwargs: constructor arguments per model (the same for every target and seed).
        seeds: seeds of every model; ``model_seeds`` overrides them per model (ALIGNN is slow).
        epochs, batch_size, lr, weight_decay, warmup_epochs: the shared training budget.
        zs_target: target of the zero-shot / few-shot study.
        zs_models, zs_seeds, zs_model_seeds: models and seeds of that study.
        few_shot_ks: the ``k`` values (``0`` = zero-shot).
        zs_model_ks: fewer ``k`` for some models (ALIGNN: only ``k = 0``, for the GB-Gap).
        zs_fractions: train/val/test fractions of the pooled crystals.
        jobs: trainings run in parallel (one torch thread each).
        output_dir: where JSON and PNG go.
        work_dir: run folders (checkpoints, logs); a temporary folder when ``None``.
        label: ``'full'``, ``'quick'`` or ``'custom'`` (recorded in the JSON).
    """

    data_root: str = field(default_factory=_default_data_root)
    n_train: int = 2000
    n_val: int = 400
    n_test: int = 600
    targets: tuple[str, ...] = ("formation_energy_per_atom", "band_gap")
    models: tuple[str, ...] = ("cft", "cft-transformer", "cgcnn", "alignn")
    model_kwargs: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_MODEL_KWARGS.items()})
    seeds: tuple[int, ...] = (0, 1, 2)
    model_seeds: dict[str, tuple[int, ...]] = field(default_factory=lambda: {"alignn": (0, 1)})
    epochs: int = 8
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    zs_target: str = "formation_energy_per_atom"
    zs_models: tuple[str, ...] = ("cft", "cft-transformer", "cgcnn", "alignn")
    zs_seeds: tuple[int, ...] = (0, 1, 2)
    zs_model_seeds: dict[str, tuple[int, ...]] = field(default_factory=lambda: {"alignn": (0,)})
    few_shot_ks: tuple[int, ...] = (0, 1, 5, 20)
    zs_model_ks: dict[str, tuple[int, ...]] = field(default_factory=lambda: {"alignn": (0,)})
    zs_fractions: tuple[float, float, float] = (0.7, 0.1, 0.2)
    jobs: int = 2
    output_dir: str = "results"
    work_dir: str | None = None
    label: str = "custom"

    @classmethod
    def full(cls, **changes: Any) -> CompareSettings:
        """The settings whose results the README quotes.

        Measured on the 2-core machine: benchmark 1243 s, zero-shot study 489 s (~29 min in
        all, ALIGNN most of it); several times longer on a heavily loaded machine.
        """
        return dataclasses.replace(cls(label="full"), **changes)

    @classmethod
    def quick(cls, **changes: Any) -> CompareSettings:
        """A few minutes on 2 cores: tiny data, 2 epochs, 2 seeds (1 for ALIGNN)."""
        base = cls(n_train=200, n_val=60, n_test=100, epochs=2, seeds=(0, 1),
                   model_seeds={"alignn": (0,)}, zs_seeds=(0,), zs_model_seeds={},
                   few_shot_ks=(0, 1, 5),
                   zs_model_ks={"alignn": (0,)},
                   output_dir=str(REPO_ROOT / "runs" / "compare-quick"), label="quick")
        return dataclasses.replace(base, **changes)

    def seeds_of(self, model: str, zero_shot: bool = False) -> tuple[int, ...]:
        """The seeds a model is trained with (benchmark or zero-shot study)."""
        if zero_shot:
            return tuple(self.zs_model_seeds.get(model, self.zs_seeds))
        return tuple(self.model_seeds.get(model, self.seeds))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable settings."""
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------- data
_DATA_CACHE: dict[tuple[Any, ...], Any] = {}


def load_parts(settings: CompareSettings) -> tuple[Any, Any, Any]:
    """``(train, val, test)`` MP-20 datasets with both targets in ``y`` (cached per process).

    ``y[:, j]`` is ``settings.targets``-independent: the columns are
    ``formation_energy_per_atom, band_gap, e_above_hull`` in this order.
    """
    from ..data import MP20

    key = (settings.data_root, settings.n_train, settings.n_val, settings.n_test)
    if key not in _DATA_CACHE:
        parts = []
        for split, n in (("project-train", settings.n_train), ("project-val", settings.n_val),
                         ("project-test", settings.n_test)):
            parts.append(MP20(settings.data_root, split=split, target=list(_ALL_TARGETS),
                              max_rows=n, log=False))
        _DATA_CACHE[key] = tuple(parts)
    return _DATA_CACHE[key]


_ALL_TARGETS = ("formation_energy_per_atom", "band_gap")


def target_index(target: str) -> int:
    """Column of ``target`` in ``data.y`` of :func:`load_parts`."""
    if target not in _ALL_TARGETS:
        raise ValueError(f"target must be one of {_ALL_TARGETS}, got {target!r}")
    return _ALL_TARGETS.index(target)


def zero_shot_split(settings: CompareSettings, seed: int = 0) -> dict[str, list[int]]:
    """Index lists into the pooled crystals for every variant of the zero-shot study.

    Returns:
        ``{'all_train', 'all_val', 'seen_val', 'held_test', 'k<k>_train' for every k}``:
        indices into ``pool = train + val + test`` of :func:`load_parts`.  The split of the
        pool is fixed (seed 0); ``seed`` chooses the few-shot crystals.
    """
    from ..data import centrosymmetric_groups, few_shot_split, random_split, space_groups_of

    pool_groups = torch_cat([space_groups_of(p) for p in load_parts(settings)])
    tr, va, te = random_split(len(pool_groups), settings.zs_fractions, seed=0)
    held = np.isin(pool_groups.numpy(), centrosymmetric_groups())
    out = {
        "all_train": tr.tolist(),
        "all_val": va.tolist(),
        "seen_val": [i for i in va.tolist() if not held[i]],
        "held_test": [i for i in te.tolist() if held[i]],
    }
    tr_groups = pool_groups[tr]
    for k in settings.few_shot_ks:
        part = few_shot_split(tr_groups, centrosymmetric_groups(), k, val_fraction=0.0,
                              seed=seed)
        out[f"k{k}_train"] = tr[part.train].tolist()
    return out


def torch_cat(tensors: Sequence[Any]) -> Any:
    """``torch.cat`` (imported lazily, so the module imports without torch threads)."""
    import torch

    return torch.cat(list(tensors))


class _Pool:
    """Indexable concatenation of the three parts (crystal ``Data`` by pooled index)."""

    def __init__(self, parts: Sequence[Any]) -> None:
        self.parts = list(parts)
        self.offsets = np.cumsum([0] + [len(p) for p in self.parts])

    def select(self, indices: Sequence[int]) -> list[Any]:
        out = []
        for i in indices:
            j = int(np.searchsorted(self.offsets, i, side="right") - 1)
            out.append(self.parts[j][int(i - self.offsets[j])])
        return out


# ----------------------------------------------------------------------------- one job
def _config(settings: CompareSettings, model: str, target: str, seed: int, out: Path) -> Any:
    from ..training import TrainConfig

    return TrainConfig(
        model=model, model_kwargs=dict(settings.model_kwargs.get(model, {})), dataset="mp20",
        data_root=settings.data_root, target=target, target_index=target_index(target),
        epochs=settings.epochs, batch_size=settings.batch_size, lr=settings.lr,
        weight_decay=settings.weight_decay, warmup_epochs=settings.warmup_epochs, patience=None,
        seed=seed, accelerator="cpu", devices=1, output_dir=str(out), progress_bar=False)


def _fit(settings: CompareSettings, model: str, target: str, seed: int, name: str,
         train: Sequence[Any], val: Sequence[Any], test: Sequence[Any] | None) -> dict[str, Any]:
    from ..training import fit

    work = Path(settings.work_dir or tempfile.gettempdir()) / name
    config = _config(settings, model, target, seed, work)
    start = time.perf_counter()
    cpu0 = time.process_time()
    result = fit(config, train, val, test, overwrite=True)
    wall = time.perf_counter() - start
    return {
        "result": result,
        "train_time_s": wall,
        "cpu_time_s": time.process_time() - cpu0,
        "params": int(sum(p.numel() for p in result.module.model.parameters())),
        "epochs_run": int(result.epochs_run),
        "best_val_mae": float(result.best_val_mae),
    }


def _records(df: pd.DataFrame, cols: Sequence[str]) -> list[dict[str, Any]]:
    return json.loads(df[list(cols)].to_json(orient="records", double_precision=6))


def _run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Train one model (in a worker process, one torch thread)."""
    import logging
    import warnings

    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    settings = CompareSettings(**job["settings"])
    model, seed = job["model"], job["seed"]
    if job["kind"] == "benchmark":
        target = job["target"]
        train, val, test = load_parts(settings)
        info = _fit(settings, model, target, seed, f"bench-{target}-{model}-s{seed}",
                    train, val, test)
        rep = info.pop("result").test_report
        return {**job, **info, "test": {
            "overall": rep.overall,
            "per_crystal_system": _records(rep.per_crystal_system,
                                           ["crystal_system", "n", "mae"]),
            "per_space_group": _records(rep.per_space_group, ["space_group", "n", "mae"]),
            "predictions": _records(rep.predictions, ["space_group", "y_true", "y_pred"]),
        }}
    # zero-shot / few-shot variant
    from ..training import evaluate

    target = settings.zs_target
    pool = _Pool(load_parts(settings))
    idx = zero_shot_split(settings, seed)
    variant = job["variant"]
    train = pool.select(idx["all_train"] if variant == "all" else idx[f"{variant}_train"])
    val = pool.select(idx["all_val"] if variant == "all" else idx["seen_val"])
    held = pool.select(idx["held_test"])
    info = _fit(settings, model, target, seed, f"zs-{model}-{variant}-s{seed}", train, val,
                None)
    module = info.pop("result").module
    rep = evaluate(module, held, config=_config(settings, model, target, seed,
                                                Path(tempfile.gettempdir())))
    return {**job, **info, "n_train": len(train), "held_test": {
        "overall": rep.overall,
        "per_space_group": _records(rep.per_space_group, ["space_group", "n", "mae"]),
    }}


def _run_jobs(jobs: list[dict[str, Any]], n_workers: int,
              log: Callable[[str], None]) -> list[dict[str, Any]]:
    import multiprocessing as mp

    results: list[dict[str, Any]] = []
    if n_workers <= 1:
        for j in jobs:
            results.append(_run_job(j))
            log(_describe(results[-1]))
        return results
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx) as ex:
        futures = [ex.submit(_run_job, j) for j in jobs]
        for f in as_completed(futures):
            results.append(f.result())
            log(_describe(results[-1]))
    return results


def _describe(r: dict[str, Any]) -> str:
    what = r.get("target") or r.get("variant")
    mae = (r.get("test") or r.get("held_test"))["overall"]["mae"]
    return (f"{r['kind']:9s} {what:26s} {r['model']:16s} seed {r['seed']}: MAE {mae:.4f}, "
            f"{r['train_time_s']:.0f} s")


def _cost(model: str) -> float:
    return {"alignn": 4.0, "cft": 2.0, "cft-transformer": 1.5}.get(model, 1.0)


# ----------------------------------------------------------------------------- runners
def run_benchmark(settings: CompareSettings, log: Callable[[str], None] = print
                  ) -> list[dict[str, Any]]:
    """Train every (target, model, seed) of the benchmark; one record per training."""
    jobs = [{"kind": "benchmark", "target": t, "model": m, "seed": s,
             "settings": settings.to_dict()}
            for t in settings.targets for m in settings.models for s in settings.seeds_of(m)]
    jobs.sort(key=lambda j: -_cost(j["model"]))
    return _run_jobs(jobs, settings.jobs, log)


def run_zero_shot(settings: CompareSettings, log: Callable[[str], None] = print
                  ) -> list[dict[str, Any]]:
    """Train every (model, seed, variant) of the zero-shot / few-shot study."""
    jobs = [{"kind": "zeroshot", "variant": v, "model": m, "seed": s,
             "settings": settings.to_dict()}
            for m in settings.zs_models for s in settings.seeds_of(m, True)
            for v in ["all", *[f"k{k}" for k in settings.zs_model_ks.get(m, settings.few_shot_ks)]]]
    jobs.sort(key=lambda j: -_cost(j["model"]))
    return _run_jobs(jobs, settings.jobs, log)


def _mean_std(values: Sequence[float]) -> dict[str, Any]:
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()) if v.size else math.nan,
            "std": float(v.std(ddof=1)) if v.size > 1 else None,
            "values": [float(x) for x in v], "n_seeds": int(v.size)}


def summarize_benchmark(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Aggregate benchmark records over seeds (mean, sample std, per-seed values).

    Returns:
        ``{target: {model: {'seeds', 'test_mae', 'train_time_s', 'params', 'epochs',
        'per_crystal_system', 'per_space_group', 'predictions_seed<s>'}}}``; the MAE entries
        hold ``mean``, ``std`` (over seeds, ``ddof=1``; ``None`` for one seed) and ``values``.
    """
    out: dict[str, Any] = {}
    for r in sorted(records, key=lambda r: (r["target"], r["model"], r["seed"])):
        t = out.setdefault(r["target"], {})
        m = t.setdefault(r["model"], {"seeds": [], "_mae": [], "_time": [], "_cs": [],
                                      "_sg": [], "params": r["params"]})
        m["seeds"].append(r["seed"])
        m["_mae"].append(r["test"]["overall"]["mae"])
        m["_time"].append(r["train_time_s"])
        m["_cs"].append(pd.DataFrame(r["test"]["per_crystal_system"]))
        m["_sg"].append(pd.DataFrame(r["test"]["per_space_group"]))
        m["epochs"] = r["epochs_run"]
        m.setdefault("mae_predict_mean", r["test"]["overall"].get("mae_predict_mean"))
        m.setdefault("n_test", r["test"]["overall"]["n"])
        m.setdefault(f"predictions_seed{r['seed']}", r["test"]["predictions"])
    for t in out.values():
        for m in t.values():
            m["test_mae"] = _mean_std(m.pop("_mae"))
            m["train_time_s"] = _mean_std(m.pop("_time"))
            for key, col in (("_cs", "crystal_system"), ("_sg", "space_group")):
                df = pd.concat(m.pop(key), ignore_index=True)
                agg = df.groupby(col, sort=False).agg(n=("n", "first"), mae=("mae", "mean"),
                                                      mae_std=("mae", "std")).reset_index()
                name = "per_crystal_system" if key == "_cs" else "per_space_group"
                m[name] = _records(agg, [col, "n", "mae", "mae_std"])
    return out


def gb_gap(zero_shot: pd.DataFrame, all_data: pd.DataFrame) -> tuple[float, int]:
    """GB-Gap: mean over held-out groups of ``|MAE_zero-shot(g) - MAE_all(g)|``.

    Args:
        zero_shot, all_data: per-space-group tables (``space_group``, ``mae``) of the two
            models on the same held-out test crystals.

    Returns:
        ``(gap, number of groups)``; groups missing from either table are left out.
    """
    a = zero_shot.set_index("space_group")["mae"]
    b = all_data.set_index("space_group")["mae"]
    common = a.index.intersection(b.index)
    if len(common) == 0:
        return math.nan, 0
    return float((a[common] - b[common]).abs().mean()), len(common)


def summarize_zero_shot(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Aggregate the zero-shot study per model: MAE on the held-out test crystals per ``k``
    and for the all-data model, GB-Gap per seed and over seeds, per-group tables."""
    out: dict[str, Any] = {}
    by = {(r["model"], r["seed"], r["variant"]): r for r in records}
    for model in dict.fromkeys(r["model"] for r in records):
        seeds = sorted({r["seed"] for r in records if r["model"] == model})
        variants = sorted({r["variant"] for r in records if r["model"] == model},
                          key=lambda v: -1 if v == "all" else int(v[1:]))
        entry: dict[str, Any] = {"seeds": seeds, "held_test_mae": {}, "train_size": {},
                                 "params": None}
        for v in variants:
            rs = [by[(model, s, v)] for s in seeds if (model, s, v) in by]
            entry["held_test_mae"][v] = _mean_std([r["held_test"]["overall"]["mae"] for r in rs])
            entry["train_size"][v] = rs[0]["n_train"] if rs else None
            entry["params"] = rs[0]["params"] if rs else entry["params"]
        gaps, groups = [], []
        for s in seeds:
            if (model, s, "k0") in by and (model, s, "all") in by:
                zs = pd.DataFrame(by[(model, s, "k0")]["held_test"]["per_space_group"])
                al = pd.DataFrame(by[(model, s, "all")]["held_test"]["per_space_group"])
                g, n = gb_gap(zs, al)
                gaps.append(g)
                groups.append(n)
                if s == seeds[0]:
                    both = zs.merge(al, on=["space_group", "n"], suffixes=("_zero_shot", "_all"))
                    entry["per_space_group_seed0"] = _records(
                        both, ["space_group", "n", "mae_zero_shot", "mae_all"])
        entry["gb_gap"] = _mean_std(gaps)
        entry["gb_gap_groups"] = groups[0] if groups else 0
        out[model] = entry
    return out


# ----------------------------------------------------------------------------- figures
def write_figures(benchmark: dict[str, Any] | None, zero_shot: dict[str, Any] | None,
                  out_dir: str | Path) -> list[Path]:
    """Parity, per-crystal-system, per-space-group and few-shot figures as PNG files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..viz import (
        plot_few_shot,
        plot_mae_by_crystal_system,
        plot_mae_by_space_group,
        plot_parity,
    )

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []

    def save(fig: Any, name: str) -> None:
        fig.savefig(out / name, dpi=110, bbox_inches="tight")
        plt.close(fig)
        paths.append(out / name)

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


# ----------------------------------------------------------------------------- CLI
def _environment() -> dict[str, Any]:
    import torch

    return {"python": platform.python_version(), "torch": torch.__version__,
            "platform": platform.platform(), "cpu_count": os.cpu_count(),
            "load_average_at_start": list(os.getloadavg()),
            "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    # compact: the per-seed predictions make an indented file exceed 1 MB
    tmp.write_text(json.dumps(payload, separators=(",", ":"), allow_nan=True) + "\n")
    tmp.replace(path)


NOTE = ("Small-budget CPU comparison on a subset of the project's fixed MP-20 split (the "
        "official MP-20 train file is not available here): every model gets the same "
        "crystals, epochs, batch size, optimizer and schedule; reduced model sizes; not the "
        "published full training. Training times are wall-clock seconds on a shared 2-core "
        "machine with `jobs` trainings in parallel and vary with its load.")


def deviations(settings: CompareSettings) -> list[str]:
    """Where a model got less than the others (fewer seeds or variants), in words."""
    out = []
    for m, seeds in settings.model_seeds.items():
        if m in settings.models and tuple(seeds) != tuple(settings.seeds):
            out.append(f"{m}: benchmark seeds {list(seeds)} instead of {list(settings.seeds)} "
                       "(training time); same epochs and data as the others")
    for m, seeds in settings.zs_model_seeds.items():
        if m in settings.zs_models and tuple(seeds) != tuple(settings.zs_seeds):
            out.append(f"{m}: zero-shot seeds {list(seeds)} instead of {list(settings.zs_seeds)} "
                       "(training time)")
    for m, ks in settings.zs_model_ks.items():
        if m in settings.zs_models and tuple(ks) != tuple(settings.few_shot_ks):
            out.append(f"{m}: zero-shot study with k in {list(ks)} only (plus all-data), not "
                       f"{list(settings.few_shot_ks)} (training time)")
    return out


def run(settings: CompareSettings, parts: Sequence[str] = ("benchmark", "zeroshot"),
        log: Callable[[str], None] = print) -> dict[str, Path]:
    """Run the chosen parts and write ``benchmark_mp20.json``, ``zeroshot_mp20.json`` and
    the figures into ``settings.output_dir``; returns the written JSON paths."""
    out = Path(settings.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    own_work = settings.work_dir is None
    if own_work:
        settings = dataclasses.replace(settings,
                                       work_dir=tempfile.mkdtemp(prefix="cft-compare-"))
    load_parts(settings)  # process the data once, before the workers start
    env = _environment()
    written: dict[str, Path] = {}
    bench = zs = None
    if "benchmark" in parts:
        t0 = time.perf_counter()
        recs = run_benchmark(settings, log)
        bench = summarize_benchmark(recs)
        written["benchmark"] = out / "benchmark_mp20.json"
        _write_json(written["benchmark"], {
            "experiment": "benchmark_mp20", "note": NOTE, "deviations": deviations(settings),
            "settings": settings.to_dict(),
            "environment": env, "wall_time_s": time.perf_counter() - t0, "results": bench})
    if "zeroshot" in parts:
        t0 = time.perf_counter()
        recs = run_zero_shot(settings, log)
        zs = summarize_zero_shot(recs)
        written["zeroshot"] = out / "zeroshot_mp20.json"
        _write_json(written["zeroshot"], {
            "experiment": "zeroshot_mp20", "note": NOTE, "deviations": deviations(settings),
            "settings": settings.to_dict(),
            "environment": env, "wall_time_s": time.perf_counter() - t0,
            "held_out_groups": "every space group containing inversion (92 groups)",
            "metric": "GB-Gap = mean over held-out groups g of |MAE_zero-shot(g) - MAE_all(g)|"
                      " on the same held-out test crystals", "results": zs})
    write_figures(bench, zs, out)
    return written


def run_notebooks(out_dir: str | Path, names: Sequence[str] | None = None,
                  parameters: dict[str, dict[str, Any]] | None = None,
                  log: Callable[[str], None] = print) -> list[Path]:
    """Execute the notebooks of ``notebooks/`` with their default (full) parameters.

    Notebooks 02 and 03 then read ``results/benchmark_mp20.json`` / ``zeroshot_mp20.json``.
    The executed copies (with outputs) are written to ``out_dir``.

    Args:
        out_dir: folder of the executed notebooks.
        names: notebook file names (default: all ``notebooks/*.ipynb``).
        parameters: extra papermill parameters per notebook name.
        log: progress messages.

    Returns:
        Paths of the executed notebooks.
    """
    import papermill

    src = REPO_ROOT / "notebooks"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    done = []
    for nb in sorted(names or [p.name for p in src.glob("*.ipynb")]):
        start = time.perf_counter()
        papermill.execute_notebook(str(src / nb), str(out / nb),
                                   parameters=(parameters or {}).get(nb, {}), cwd=str(src),
                                   kernel_name="python3", progress_bar=False)
        log(f"notebook {nb}: {time.perf_counter() - start:.0f} s")
        done.append(out / nb)
    return done


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m cft_pyg.experiments.compare --full|--quick [options]``."""
    p = argparse.ArgumentParser(prog="python -m cft_pyg.experiments.compare",
                                description=__doc__.split("\n\n")[0])
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--full", action="store_true", help="the README's settings (~30 min)")
    mode.add_argument("--quick", action="store_true", help="tiny settings (minutes)")
    p.add_argument("--parts", default="benchmark,zeroshot,notebooks",
                   help="comma-separated: benchmark, zeroshot, notebooks (execute notebooks/ "
                        "with full settings into <out>/notebooks; with --full only)")
    p.add_argument("--out", default=None, help="output folder (default: results/ for --full)")
    p.add_argument("--data-root", default=None, help="MP-20 folder (val/test.csv.gz)")
    p.add_argument("--jobs", type=int, default=None, help="trainings in parallel")
    p.add_argument("--models", default=None, help="comma-separated model names")
    p.add_argument("--work-dir", default=None, help="keep the run folders here")
    a = p.parse_args(argv)
    changes: dict[str, Any] = {}
    if a.out:
        changes["output_dir"] = a.out
    elif a.full:
        changes["output_dir"] = str(REPO_ROOT / "results")
    if a.data_root:
        changes["data_root"] = a.data_root
    if a.jobs:
        changes["jobs"] = a.jobs
    if a.models:
        models = tuple(m.strip() for m in a.models.split(",") if m.strip())
        changes["models"] = models
        changes["zs_models"] = models
    if a.work_dir:
        changes["work_dir"] = a.work_dir
    settings = CompareSettings.full(**changes) if a.full else CompareSettings.quick(**changes)
    parts = tuple(x.strip() for x in a.parts.split(",") if x.strip())
    bad = set(parts) - {"benchmark", "zeroshot", "notebooks"}
    if bad:
        p.error(f"unknown part(s): {', '.join(sorted(bad))}")
    start = time.perf_counter()
    written: dict[str, Path] = {}
    runs = tuple(x for x in parts if x != "notebooks")
    if runs:
        written = run(settings, runs, log=lambda s: print(s, flush=True))
    if "notebooks" in parts and a.full:
        figures = {"01_constraint_graphs.ipynb": {"save_dir": str(Path(settings.output_dir))}}
        for path in run_notebooks(Path(settings.output_dir) / "notebooks", parameters=figures,
                                  log=lambda s: print(s, flush=True)):
            written[path.stem] = path
    print(f"done in {time.perf_counter() - start:.0f} s: "
          + ", ".join(str(v) for v in written.values()), flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
