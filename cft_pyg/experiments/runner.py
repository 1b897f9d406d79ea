"""The trainings of the MP-20 comparison: data, the zero-shot split, one job, the job pool.

Everything runs through the training engine (:func:`cft_pyg.training.fit` /
:func:`cft_pyg.training.evaluate`) on the project's fixed MP-20 split
(:class:`cft_pyg.data.MP20`, ``project-train/val/test``; the first ``n_*`` rows of each part,
a random subset because the split is a seeded permutation).  Each job trains one model in
a spawned worker process with one torch thread and returns a plain-dict record.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from .settings import CompareSettings
from .statistics import json_records
from .zero_shot import is_held_out

__all__ = ["load_parts", "run_benchmark", "run_zero_shot", "target_index", "zero_shot_split"]

_ALL_TARGETS = ("formation_energy_per_atom", "band_gap")
_DATA_CACHE: dict[tuple[Any, ...], Any] = {}


# ----------------------------------------------------------------------------- data
def load_parts(settings: CompareSettings) -> tuple[Any, Any, Any]:
    """``(train, val, test)`` MP-20 datasets with both targets in ``y`` (cached per process).

    ``y[:, j]`` is ``settings.targets``-independent: the columns are
    ``formation_energy_per_atom, band_gap`` in this order (:func:`target_index`).
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
    import torch

    from ..data import few_shot_split, random_split, space_groups_of
    from .zero_shot import held_out_groups

    pool_groups = torch.cat([space_groups_of(p) for p in load_parts(settings)])
    tr, va, te = random_split(len(pool_groups), settings.zs_fractions, seed=0)
    held = is_held_out(pool_groups.numpy())
    out = {
        "all_train": tr.tolist(),
        "all_val": va.tolist(),
        "seen_val": [i for i in va.tolist() if not held[i]],
        "held_test": [i for i in te.tolist() if held[i]],
    }
    tr_groups = pool_groups[tr]
    for k in settings.few_shot_ks:
        part = few_shot_split(tr_groups, held_out_groups(), k, val_fraction=0.0, seed=seed)
        out[f"k{k}_train"] = tr[part.train].tolist()
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


def _run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Train one model (in a worker process, one torch thread)."""
    import logging
    import warnings

    import torch
    from torch.utils.data import ConcatDataset

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
            "per_crystal_system": json_records(rep.per_crystal_system,
                                               ["crystal_system", "n", "mae"]),
            "per_space_group": json_records(rep.per_space_group, ["space_group", "n", "mae"]),
            "predictions": json_records(rep.predictions, ["space_group", "y_true", "y_pred"]),
        }}
    # zero-shot / few-shot variant
    from ..training import evaluate

    target = settings.zs_target
    pool = ConcatDataset(load_parts(settings))
    idx = zero_shot_split(settings, seed)
    variant = job["variant"]
    train = [pool[i] for i in (idx["all_train"] if variant == "all"
                               else idx[f"{variant}_train"])]
    val = [pool[i] for i in (idx["all_val"] if variant == "all" else idx["seen_val"])]
    held = [pool[i] for i in idx["held_test"]]
    info = _fit(settings, model, target, seed, f"zs-{model}-{variant}-s{seed}", train, val,
                None)
    module = info.pop("result").module
    rep = evaluate(module, held, config=_config(settings, model, target, seed,
                                                Path(tempfile.gettempdir())))
    return {**job, **info, "n_train": len(train), "held_test": {
        "overall": rep.overall,
        "per_space_group": json_records(rep.per_space_group, ["space_group", "n", "mae"]),
    }}


# ----------------------------------------------------------------------------- job pool
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
