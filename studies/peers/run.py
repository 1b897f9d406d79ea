r"""Stronger peers at equal training time: the library's best from-scratch model against
matgl's M3GNet, MEGNet and TensorNet, and CHGNet's pretrained representation (frozen under
the library's head, fine-tuned, or read out by ridge / kernel ridge).

Protocol (that of the learning curves, :mod:`studies.curves`): every model is
trained by the library's engine for the same budget of training seconds (learning rate on
the clock, validation at ``eval_points`` moments, the best moment kept), one torch thread,
``seeds`` seeds, batch 64, AdamW lr 1e-3, weight decay 1e-4, 5 % warm-up.  One difference:
the clock is the process's **CPU time** (:func:`time.process_time`), not the wall clock, so
that runs sharing a loaded machine still get the same computation each.

Targets: Carbon-24 energy per atom (AIRSS carbon at 10 GPa, not Materials Project data: a
clean test for CHGNet), MP-20 formation energy and band gap (Materials Project entries:
CHGNet was pretrained on MPtrj, the Materials Project's relaxation trajectories, and has
very likely seen the test crystals; those rows are marked ``saw_test``).

Read-outs without training by the engine (``kind: 'readout'``): CHGNet's 64 crystal
features with ridge regression and with RBF kernel ridge (hyper-parameters chosen on the
validation crystals), and, for energies, CHGNet's own energy per atom with a per-element
linear correction (least squares on the training crystals).

Usage::

    python studies/peers/run.py --quick              # seconds: the suite runs this
    python studies/peers/run.py --shard 0/2 &        # the full study, two processes
    python studies/peers/run.py --shard 1/2 &
    python studies/peers/run.py --summarize          # JSON + markdown from the runs
    python studies/peers/run.py --preset long        # MP-20 at 120 CPU-s (--summarize too)
    python studies/peers/run.py --preset small       # 500 MP-20 training crystals, 30 CPU-s

Runs are appended as they finish to ``results/runs_<preset>.jsonl`` (one file per shard)
and skipped when present, so a stopped study resumes.  ``--summarize`` writes
``results/peers_<preset>.json`` and ``results/peers_<preset>.md`` (tables, the targets of
issue 37, the "which model" table).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

BEST_FROM_SCRATCH = "cft-no-encoding"
"""The library's best from-scratch model at equal training time (the trunk without the
encoding; catalog entry of :mod:`studies.kit.catalog`)."""


@dataclass(frozen=True)
class Peer:
    """One compared model: the registry name it builds, its constructor arguments, its label,
    whether it is pretrained on Materials Project data, and the package it comes from."""

    name: str
    model: str
    kwargs: dict[str, Any]
    label: str
    pretrained_on_mp: bool = False
    source: str = "cft-pyg"
    batch_size: int | None = None


def peers(quick: bool) -> dict[str, Peer]:
    """The compared models (smaller matgl models in the quick preset)."""
    from studies.kit.catalog import model_entry

    best = model_entry(BEST_FROM_SCRATCH)
    tiny = quick
    out = [
        Peer(BEST_FROM_SCRATCH, best.model,
             {"channels": 16, "num_blocks": 1, "heads": 2, "local_channels": 8,
              "encoding": "none"} if tiny else best.model_kwargs(),
             f"{best.label} (library, from scratch)"),
        Peer("m3gnet", "m3gnet", {"nblocks": 1, "units": 16} if tiny else {},
             "M3GNet (matgl, from scratch)", source="matgl"),
        Peer("megnet", "megnet", {"nblocks": 1} if tiny else {},
             "MEGNet (matgl, from scratch)", source="matgl"),
        Peer("tensornet", "tensornet", {"nblocks": 1, "units": 16} if tiny else {},
             "TensorNet (matgl, from scratch)", source="matgl"),
        Peer("chgnet-frozen", "chgnet-frozen", {"head_hidden": [64]},
             "CHGNet frozen + library head", pretrained_on_mp=True, source="chgnet"),
        # batch 16: at 64, fine-tuning on dense carbon (about 150 neighbours per atom within
        # CHGNet's 6 Å) held 10 GB and was killed for memory
        Peer("chgnet", "chgnet", {"head_hidden": [64]}, "CHGNet fine-tuned + library head",
             pretrained_on_mp=True, source="chgnet", batch_size=16),
    ]
    return {p.name: p for p in out}


READOUTS = {"chgnet-ridge": "CHGNet features + ridge",
            "chgnet-krr": "CHGNet features + kernel ridge (RBF)",
            "chgnet-energy-linear": "CHGNet energy + per-element linear correction"}

TARGETS = ("carbon24/energy_per_atom", "mp20/formation_energy_per_atom", "mp20/band_gap")
ROOTS = {"carbon24": "/work/shared/data/carbon_24", "mp20": "/work/shared/data/mp_20"}


@dataclass
class Settings:
    """One preset of the study."""

    label: str
    budget_seconds: float
    seeds: tuple[int, ...]
    eval_points: int
    n_train: dict[str, int | None]
    n_val: int
    n_test: dict[str, int | None]
    n_readout_train: int
    targets: tuple[str, ...] = TARGETS
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_fraction: float = 0.05
    models: tuple[str, ...] = field(default=())


PRESETS = {
    "full": Settings("full", 30.0, (0, 1, 2), 3,
                     {"carbon24": None, "mp20": None}, 100,
                     {"carbon24": None, "mp20": 500}, 1000),
    # MP-20 at four times the budget: at 30 CPU-s the matgl models and the frozen CHGNet
    # head stay at the training-mean error on MP-20 (less than one pass over 27k crystals)
    "long": Settings("long", 120.0, (0, 1, 2), 3, {"carbon24": None, "mp20": None}, 100,
                     {"carbon24": None, "mp20": 500}, 1000, targets=TARGETS[1:]),
    # small data: 500 MP-20 training crystals (the first 500 of the project split's training
    # part, itself a fixed permutation, numpy default_rng(0): a fixed random subset, the same
    # for every model and for the read-outs), validation 100, the 500 test crystals of `long`;
    # n_train chosen before any run.  Carbon-24 left out: CHGNet on dense carbon costs 100+
    # CPU-s per run beyond the budget (prediction), the read-out's features 250 CPU-s.
    "small": Settings("small", 30.0, (0, 1, 2), 3, {"carbon24": 500, "mp20": 500}, 100,
                      {"carbon24": None, "mp20": 500}, 500, targets=TARGETS[1:],
                      models=(BEST_FROM_SCRATCH, "megnet", "chgnet-frozen", "chgnet")),
    "quick": Settings("quick", 2.0, (0,), 2, {"carbon24": 24, "mp20": 24}, 8,
                      {"carbon24": 8, "mp20": 8}, 24, targets=("carbon24/energy_per_atom",)),
}


# ------------------------------------------------------------------------------ data
def load(target: str, s: Settings) -> tuple[Any, Any, Any, Any]:
    """``(train, val, test, target entry)`` of the project split."""
    from studies.kit.catalog import target_entry
    from studies.kit.data import load_parts

    entry = target_entry(target)
    root = os.environ.get(f"CFT_PYG_{entry.dataset.upper()}", ROOTS[entry.dataset])
    train, val, test = load_parts(entry.dataset, root, s.n_train[entry.dataset], s.n_val,
                                  s.n_test[entry.dataset])
    return train, val, test, entry


def _clear_caches(module: Any) -> None:
    """Forget the per-crystal caches of the external adapters (graphs, frozen features)."""
    from cft_pyg.nn.structures import CrystalCache

    for m in module.modules():
        for value in list(vars(m).values()):
            if isinstance(value, CrystalCache):
                value.clear()
        if hasattr(m, "_features"):
            m._features.clear()


def inference_ms(module: Any, crystals: Any, n: int = 64) -> float:
    """CPU milliseconds per crystal of a prediction from scratch (graphs built, batch 64)."""
    import torch
    from torch_geometric.loader import DataLoader

    _clear_caches(module)
    items = [crystals[i] for i in range(min(n, len(crystals)))]
    module.eval()
    start = time.process_time()
    with torch.no_grad():
        for batch in DataLoader(items, batch_size=64):
            module(batch)
    return 1000.0 * (time.process_time() - start) / len(items)


# ------------------------------------------------------------------------------ runs
def train_run(peer: Peer, target: str, seed: int, s: Settings) -> dict[str, Any]:
    """One equal-time training of ``peer`` on ``target`` (CPU-time budget, one thread)."""
    import torch

    from cft_pyg.training import TimeBudget, TrainConfig, fit

    torch.set_num_threads(1)
    train, val, test, entry = load(target, s)
    with tempfile.TemporaryDirectory(prefix="peers-") as work:
        config = TrainConfig(
            model=peer.model, model_kwargs=dict(peer.kwargs), target=entry.column,
            target_index=entry.index, epochs=1, batch_size=peer.batch_size or s.batch_size,
            lr=s.lr,
            weight_decay=s.weight_decay, warmup_epochs=0.0, patience=None, seed=seed,
            accelerator="cpu", devices=1, output_dir=str(Path(work) / "run"),
            progress_bar=False)
        budget = TimeBudget(s.budget_seconds, eval_points=s.eval_points,
                            warmup_fraction=s.warmup_fraction, clock=time.process_time)
        start, cpu = time.perf_counter(), time.process_time()
        result = fit(config, train, val, test, overwrite=True, budget=budget)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        model = result.module.model
        ms = inference_ms(result.module, test)
    last = budget.curve[-1] if budget.curve else {}
    return {
        "kind": "train", "target": target, "model": peer.name, "label": peer.label,
        "registry_model": peer.model, "model_kwargs": peer.kwargs, "seed": seed,
        "batch_size": peer.batch_size or s.batch_size,
        "source": peer.source,
        "saw_test": bool(peer.pretrained_on_mp and entry.dataset == "mp20"),
        "pretrained_on_mp": peer.pretrained_on_mp,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "trainable_parameters": int(sum(p.numel() for p in model.parameters()
                                        if p.requires_grad)),
        "n_train": len(train), "n_val": len(val), "n_test": len(test),
        "budget_cpu_seconds": s.budget_seconds, "clock": "process_time",
        "train_seconds": last.get("train_seconds"), "steps": last.get("steps"),
        "epochs": last.get("epochs"),
        "crystals_per_cpu_second": (None if not last.get("train_seconds") else
                                    len(train) * last["epochs"] / last["train_seconds"]),
        "curve": budget.curve, "best_val_mae": budget.best_val_mae,
        "test_mae": result.test_report.overall["mae"],
        "inference_cpu_ms_per_crystal": ms, "wall_seconds": wall, "cpu_seconds": cpu,
    }


def _features(backbone: Any, crystals: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CHGNet features, energies per atom and targets of ``crystals`` (batches of 32)."""
    import torch
    from torch_geometric.loader import DataLoader

    feats, energies, ys = [], [], []
    with torch.no_grad():
        for batch in DataLoader(list(crystals), batch_size=32):
            graphs = backbone._graphs(batch)
            out = backbone.model(graphs, task="e", return_crystal_feas=True)
            feats.append(out["crystal_fea"].reshape(batch.num_graphs, -1).numpy())
            energies.append(out["e"].reshape(-1).numpy())
            ys.append(batch.y.reshape(batch.num_graphs, -1).numpy())
    return np.concatenate(feats), np.concatenate(energies), np.concatenate(ys)


def _fractions(crystals: Any) -> np.ndarray:
    """``(n, 119)`` element fractions of each crystal."""
    out = np.zeros((len(crystals), 119))
    for i in range(len(crystals)):
        z = crystals[i].z.numpy()
        np.add.at(out[i], z, 1.0 / len(z))
    return out


def readout_run(target: str, s: Settings) -> list[dict[str, Any]]:
    """CHGNet features (frozen) with ridge / kernel ridge, and CHGNet's energy with a
    per-element linear correction (energies), selected on the validation crystals."""
    import torch
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.linear_model import Ridge
    from sklearn.preprocessing import StandardScaler

    from cft_pyg.nn.chgnet import CHGNetBackbone

    torch.set_num_threads(1)
    train, val, test, entry = load(target, s)
    train = [train[i] for i in range(min(len(train), s.n_readout_train))]
    backbone = CHGNetBackbone(cache_size=0).eval()
    start = time.process_time()
    (ftr, etr, ytr), (fva, eva, yva), (fte, ete, yte) = (
        _features(backbone, part) for part in (train, val, test))
    feature_seconds = time.process_time() - start
    ytr, yva, yte = (y[:, entry.index] for y in (ytr, yva, yte))
    scaler = StandardScaler().fit(ftr)
    xtr, xva, xte = (scaler.transform(f) for f in (ftr, fva, fte))
    base = {"kind": "readout", "target": target, "seed": None, "source": "chgnet",
            "saw_test": entry.dataset == "mp20", "pretrained_on_mp": True,
            "n_train": len(train), "n_val": len(val), "n_test": len(test),
            "feature_cpu_seconds": feature_seconds}
    rows = []

    def pick(make: Any, grid: list[dict[str, float]], xs: tuple) -> dict[str, Any]:
        best = None
        for params in grid:
            fitted = make(**params).fit(xs[0], ytr)
            val_mae = float(np.abs(fitted.predict(xs[1]) - yva).mean())
            if best is None or val_mae < best[0]:
                best = (val_mae, params, fitted)
        val_mae, params, fitted = best
        pred = fitted.predict(xs[2])
        if entry.column == "band_gap":
            pred = np.maximum(pred, 0.0)
        return {"best_val_mae": val_mae, "params": params,
                "test_mae": float(np.abs(pred - yte).mean())}

    rows.append({**base, "model": "chgnet-ridge", "label": READOUTS["chgnet-ridge"],
                 **pick(Ridge, [{"alpha": a} for a in np.logspace(-3, 3, 13)],
                        (xtr, xva, xte))})
    rows.append({**base, "model": "chgnet-krr", "label": READOUTS["chgnet-krr"],
                 **pick(KernelRidge, [{"kernel": "rbf", "alpha": a, "gamma": g}
                                      for a in (1e-3, 1e-2, 1e-1, 1.0)
                                      for g in (1e-3, 3e-3, 1e-2, 3e-2)], (xtr, xva, xte))})
    if entry.column in ("energy_per_atom", "formation_energy_per_atom"):
        ctr, cva, cte = (np.column_stack([e, _fractions(p)])
                         for e, p in ((etr, train), (eva, val), (ete, test)))
        rows.append({**base, "model": "chgnet-energy-linear",
                     "label": READOUTS["chgnet-energy-linear"],
                     **pick(Ridge, [{"alpha": a} for a in (1e-6, 1e-4, 1e-2)],
                            (ctr, cva, cte))})
    return rows


def mean_baselines(s: Settings, targets: list[str]) -> list[dict[str, Any]]:
    """The test MAE of predicting the training mean (what a model that learned nothing
    scores), per target (``kind: 'reference'``)."""
    rows = []
    for target in targets:
        train, _, test, entry = load(target, s)
        ytr = np.array([float(train[i].y.reshape(-1)[entry.index]) for i in range(len(train))])
        yte = np.array([float(test[i].y.reshape(-1)[entry.index]) for i in range(len(test))])
        rows.append({"kind": "reference", "target": target, "model": "training-mean",
                     "label": "training mean (no model)", "seed": None, "source": "-",
                     "saw_test": False, "n_train": len(train), "n_test": len(test),
                     "test_mae": float(np.abs(yte - ytr.mean()).mean())})
    return rows


# ------------------------------------------------------------------------------ jobs
def jobs(s: Settings) -> list[tuple[str, str, int | None]]:
    """``(target, model or 'readout', seed)`` in order: per target its read-outs, then each
    seed of every model (so that a study stopped early has whole seeds)."""
    names = s.models or tuple(peers(s.label == "quick"))
    out: list[tuple[str, str, int | None]] = []
    for target in s.targets:
        out.append((target, "readout", None))
        out += [(target, name, seed) for seed in s.seeds for name in names]
    return out


def job_key(target: str, model: str, seed: int | None) -> str:
    return f"{target}|{model}|{seed}"


def run_key(run: dict[str, Any]) -> str:
    model = "readout" if run["kind"] == "readout" else run["model"]
    if run["kind"] == "reference":
        model = "reference"
    return job_key(run["target"], model, run["seed"])


def read_runs(s: Settings, results: Path = RESULTS) -> list[dict[str, Any]]:
    """Every recorded run of the preset (all shards; a job recorded twice, by two processes
    that both ran it, counts once: the first record)."""
    runs, seen = [], set()
    for path in sorted(results.glob(f"runs_{s.label}*.jsonl")):
        for line in path.read_text().splitlines():
            if line.strip():
                run = json.loads(line)
                key = (run_key(run), run["model"])
                if key not in seen:
                    seen.add(key)
                    runs.append(run)
    return runs


def environment() -> dict[str, Any]:
    import platform

    import torch

    load1 = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"platform": platform.platform(), "cpu_count": os.cpu_count(),
            "torch": torch.__version__, "threads": 1, "load_average_1min": load1}


def run_jobs(s: Settings, shard: tuple[int, int], results: Path = RESULTS) -> None:
    """Run this shard's pending jobs, appending each finished run to ``results``."""
    results.mkdir(parents=True, exist_ok=True)
    done = {run_key(r) for r in read_runs(s, results)}
    mine = jobs(s)[shard[0]::shard[1]]
    out = results / f"runs_{s.label}{'' if shard == (0, 1) else f'_{shard[0]}'}.jsonl"
    all_peers = peers(s.label == "quick")
    for target, model, seed in mine:
        key = job_key(target, model, seed)
        if key in done:
            continue
        start = time.perf_counter()
        env = environment()
        rows = (readout_run(target, s) if model == "readout"
                else [train_run(all_peers[model], target, seed, s)])
        with open(out, "a") as f:
            for row in rows:
                row.update({"preset": s.label, "machine": env})
                f.write(json.dumps(row) + "\n")
        print(f"{key}: " + ", ".join(f"{r['model']} test MAE {r['test_mae']:.4f}"
                                    for r in rows)
              + f" ({time.perf_counter() - start:.0f} s, load {env['load_average_1min']:.1f})",
              flush=True)


def _summary_module() -> Any:
    """``summary.py`` beside this file (loaded by path: the studies are not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("peers_summary", HERE / "summary.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("peers_summary", module)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the quick preset (seconds)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default=None,
                        help="full (30 CPU-s, all targets), long (120 CPU-s, MP-20), small "
                        "(500 MP-20 training crystals, 30 CPU-s), quick")
    parser.add_argument("--shard", default="0/1", help="run jobs i::n of the list (i/n)")
    parser.add_argument("--summarize", action="store_true",
                        help="only write the JSON and markdown from the recorded runs")
    parser.add_argument("--targets", nargs="*", default=None, help="a subset of the targets")
    parser.add_argument("--output-dir", type=Path, default=RESULTS,
                        help="where the runs, the JSON and the markdown go")
    args = parser.parse_args(argv)
    s = PRESETS[args.preset or ("quick" if args.quick else "full")]
    if args.targets:
        s = Settings(**{**asdict(s), "targets": tuple(args.targets)})
    if not args.summarize:
        i, n = (int(v) for v in args.shard.split("/"))
        if not 0 <= i < n:
            parser.error(f"--shard must be i/n with 0 <= i < n, got {args.shard}")
        run_jobs(s, (i, n), args.output_dir)
    write_summary = _summary_module().write_summary
    runs = read_runs(s, args.output_dir)
    runs += mean_baselines(s, sorted({r["target"] for r in runs}))
    done = {run_key(r) for r in runs}
    missing = [job_key(*job) for job in jobs(s) if job_key(*job) not in done]
    payload = write_summary(runs, s.label, args.output_dir, missing=missing,
                            settings=asdict(s))
    print(payload["markdown"])
    if args.output_dir == RESULTS:
        write_docs_block(payload["markdown"], s.label)
    return 0


DOCS = HERE.parents[1] / "docs" / "peers.md"


def write_docs_block(markdown: str, label: str, docs: Path = DOCS) -> bool:
    """Put the generated tables of preset ``label`` between ``<!-- peers-<label>:begin -->``
    and ``<!-- peers-<label>:end -->`` of ``docs`` (when both markers are there); whether it
    did."""
    begin, end = f"<!-- peers-{label}:begin -->", f"<!-- peers-{label}:end -->"
    text = docs.read_text() if docs.is_file() else ""
    if text.count(begin) != 1 or text.count(end) != 1:
        return False
    head, rest = text.split(begin)
    docs.write_text(head + begin + "\n" + markdown.strip() + "\n" + end + rest.split(end)[1])
    return True


if __name__ == "__main__":
    raise SystemExit(main())
