"""Robustness benchmark: how much a prediction moves when the same crystal is described or
perturbed differently.

For trained models (the hybrid CFT with the symmetry-adapted encoding, the same trunk
without an encoding, the PE-only Transformer, CGCNN and ALIGNN (small)) and for the shipped
pretrained models, on test crystals of Carbon-24 and MP-20 that no model trained on, the
change of prediction against the crystal as featurized for training (the model's own
:class:`~cft_pyg.data.Featurization`) under

* another symmetry tolerance (``symprec`` 0.001 / 0.01 / 0.1 Å; the training featurization
  uses 0.1, so that row is the reference itself and must be 0),
* random atomic displacements of 0.003 / 0.01 / 0.03 Å (each atom moved by that distance in
  a random direction; symmetry re-detected),
* the mirror image (fractional coordinates negated; the Cartesian frame reflected by
  ``diag(1, 1, -1)``),
* a 2x1x1 supercell,

as mean, 95th percentile and max of ``|change|`` and as a fraction of the model's test MAE,
together with the fraction of crystals whose detected space group changes.

Run (resumable: finished trainings are kept in ``--work``; about 30 min on 2 cores)::

    python benchmarks/bench_robustness.py --data-root ../shared/data

``--quick`` is a smoke run of a minute.  Results: ``benchmarks/results/robustness.json``;
the tables in studies/NOTEBOOK.md: ``python -m studies.kit.report --write
README.md studies/NOTEBOOK.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "robustness.json"

MODELS: dict[str, tuple[str, dict[str, Any], str]] = {
    "cft": ("cft", {"channels": 64, "num_blocks": 2, "heads": 4, "local_channels": 32},
            "CFT (hybrid, symmetry-adapted PE)"),
    "cft-no-pe": ("cft", {"channels": 64, "num_blocks": 2, "heads": 4, "local_channels": 32,
                          "encoding": "none"}, "CFT trunk, no encoding"),
    "cft-pe-only": ("cft", {"channels": 64, "num_blocks": 2, "heads": 4, "local": False,
                            "pair_bias": False}, "PE-only Transformer (symmetry-adapted PE)"),
    "cft-subgroup-aug": ("cft", {"channels": 64, "num_blocks": 2, "heads": 4,
                                 "local_channels": 32},
                         "CFT (hybrid), subgroup augmentation 0.5"),
    "cft-minima": ("cft", {"channels": 64, "num_blocks": 2, "heads": 4, "local_channels": 32,
                           "lattice": "minima"},
                   "CFT (hybrid), lattice minima"),
    "cft-no-pe-minima": ("cft", {"channels": 64, "num_blocks": 2, "heads": 4,
                                 "local_channels": 32, "encoding": "none",
                                 "lattice": "minima"},
                         "CFT trunk, no encoding, lattice minima"),
    "cft-subgroup-aug-minima": ("cft", {"channels": 64, "num_blocks": 2, "heads": 4,
                                        "local_channels": 32, "lattice": "minima"},
                                "CFT (hybrid), subgroup augmentation 0.5, lattice minima"),
    "cft-measured": ("cft", {"channels": 64, "num_blocks": 2, "heads": 4,
                             "local_channels": 32, "lattice": "minima"},
                     "CFT (hybrid), lattice minima, measured geometry"),
    "cft-no-pe-measured": ("cft", {"channels": 64, "num_blocks": 2, "heads": 4,
                                   "local_channels": 32, "encoding": "none",
                                   "lattice": "minima"},
                           "CFT trunk, no encoding, lattice minima, measured geometry"),
    "cgcnn-measured": ("cgcnn", {}, "CGCNN, measured geometry"),
    "cgcnn": ("cgcnn", {}, "CGCNN"),
    "alignn": ("alignn", {"alignn_layers": 2, "gcn_layers": 2, "hidden_features": 64,
                          "embedding_features": 32}, "ALIGNN (small)"),
}
"""Benchmark name -> (registered model, constructor arguments, label); the CFT sizes of the
learning curves (``studies.curves``)."""

TRAINING_CHANGES: dict[str, dict[str, Any]] = {
    "cft-subgroup-aug": {"subgroup_augmentation": 0.5},
    "cft-subgroup-aug-minima": {"subgroup_augmentation": 0.5},
    "cft-measured": {"featurization": {"geometry": "measured"}},
    "cft-no-pe-measured": {"featurization": {"geometry": "measured"}},
    "cgcnn-measured": {"featurization": {"geometry": "measured"}},
}
"""Benchmark name -> changes to the training configuration (``TrainConfig`` fields)."""

DEFAULT_MODELS: tuple[str, ...] = ("cft", "cft-no-pe", "cft-pe-only", "cgcnn", "alignn")
"""The models of a run without ``--models``; the subgroup and lattice variants (issue of
symmetry breaking) are run by naming them, see studies/README.md."""

DATASETS: dict[str, tuple[str, str, str, str]] = {
    "carbon24": ("carbon24", "carbon_24", "energy_per_atom", "eV/atom"),
    "mp20": ("mp20", "mp_20", "formation_energy_per_atom", "eV/atom"),
}
"""Benchmark name -> (registered dataset, folder under --data-root, target, unit)."""

PRETRAINED: dict[str, str] = {"mp20-formation-energy": "mp20", "mp20-band-gap": "mp20"}
"""Shipped models evaluated, and on which dataset's test crystals."""

PERTURBATIONS: tuple[str, ...] = (
    "symprec=0.001", "symprec=0.01", "symprec=0.1",
    "displace=0.003", "displace=0.01", "displace=0.03",
    "mirror (x -> -x)", "mirror (frame z -> -z)", "supercell 2x1x1",
)
"""The variants of every test crystal."""


# ---------------------------------------------------------------------------- helpers
def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def variant(structure: Any, kind: str, rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
    """``(structure, featurization changes)`` of variant ``kind`` of a pymatgen structure."""
    from pymatgen.core import Lattice, Structure

    if kind.startswith("symprec="):
        return structure, {"symprec": float(kind.split("=")[1])}
    if kind.startswith("displace="):
        step = float(kind.split("=")[1])
        direction = rng.normal(size=(len(structure), 3))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        cart = structure.cart_coords + step * direction
        return Structure(structure.lattice, structure.species, cart,
                         coords_are_cartesian=True), {}
    if kind == "mirror (x -> -x)":
        return Structure(structure.lattice, structure.species, -structure.frac_coords), {}
    if kind == "mirror (frame z -> -z)":
        reflected = Lattice(structure.lattice.matrix @ np.diag([1.0, 1.0, -1.0]))
        return Structure(reflected, structure.species, structure.frac_coords), {}
    if kind == "supercell 2x1x1":
        return structure.make_supercell([2, 1, 1], in_place=False), {}
    raise ValueError(f"unknown variant {kind!r}")


def test_structures(dataset: str, data_root: Path, n: int) -> list[tuple[str, Any, float]]:
    """The first ``n`` crystals of the project-test split: ``(id, pymatgen structure, y)``."""
    from cft_pyg.data import parse_cif
    from cft_pyg.training.registry import build_dataset

    name, folder, target, _ = DATASETS[dataset]
    ds = build_dataset(name, str(data_root / folder), split="project-test", target=target,
                       log=False)
    out = []
    for entry in ds._entries():  # the raw rows, in the order of the processed split
        if len(out) == n:
            break
        try:
            out.append((entry.entry_id, parse_cif(entry.cif), float(entry.targets[0])))
        except ValueError:
            continue
    return out


def featurize_variants(crystals: list[tuple[str, Any, float]], featurization: Any,
                       seed: int) -> dict[str, list[Any]]:
    """``{variant: [Data or None]}`` (``None``: the variant could not be featurized) and
    ``'reference'``: every crystal under ``featurization`` itself."""
    from cft_pyg.data import from_structure

    rng = np.random.default_rng(seed)
    out: dict[str, list[Any]] = {"reference": [], **{k: [] for k in PERTURBATIONS}}
    for _, structure, _y in crystals:
        out["reference"].append(from_structure(structure, featurization))
        for kind in PERTURBATIONS:
            s, changes = variant(structure, kind, rng)
            try:
                out[kind].append(from_structure(s, featurization.replace(**changes)))
            except ValueError:
                out[kind].append(None)
    return out


# ---------------------------------------------------------------------------- training
def train_job(args: tuple[str, str, dict[str, Any]]) -> dict[str, Any]:
    """Train one benchmark model on one dataset (one thread); its record."""
    import torch

    from cft_pyg.training import TrainConfig, fit
    from cft_pyg.training.data import build_splits

    model_name, dataset, opts = args
    torch.set_num_threads(1)
    model, kwargs, _ = MODELS[model_name]
    name, folder, target, _ = DATASETS[dataset]
    out = Path(opts["work"]) / dataset / model_name
    epochs = opts["epochs"].get(model_name, opts["epochs"]["default"])
    cfg = TrainConfig(model=model, model_kwargs=kwargs, dataset=name,
                      data_root=str(Path(opts["data_root"]) / folder), target=target,
                      max_crystals=opts["train_crystals"], epochs=epochs, batch_size=64,
                      lr=1e-3, warmup_epochs=1.0, patience=None, seed=opts["seed"],
                      accelerator="cpu", devices=1, progress_bar=False, output_dir=str(out),
                      **TRAINING_CHANGES.get(model_name, {}))
    start = time.perf_counter()
    load_start = _load()
    splits = build_splits(cfg)
    result = fit(cfg, splits.train, splits.val, splits.test, overwrite=True)
    seconds = time.perf_counter() - start
    return {"model": model_name, "dataset": dataset, "epochs": epochs,
            "train_crystals": len(splits.train), "test_crystals": len(splits.test),
            "test_mae": float(result.test_report.overall["mae"]),
            "mae_predict_mean": float(result.test_report.overall["mae_predict_mean"]),
            "parameters": int(sum(p.numel() for p in result.module.model.parameters())),
            "wall_seconds": round(seconds, 1), "load_start": load_start, "load_end": _load(),
            "checkpoint": str(result.best_checkpoint)}


# ---------------------------------------------------------------------------- evaluation
def change_stats(ref: np.ndarray, other: np.ndarray, mae: float) -> dict[str, Any]:
    """Mean, 95th percentile and max of ``|other - ref|`` over the featurized crystals."""
    ok = np.isfinite(other)
    d = np.abs(other[ok] - ref[ok])
    if d.size == 0:
        return {"n": 0}
    return {"n": int(d.size), "mean": float(d.mean()), "p95": float(np.percentile(d, 95)),
            "max": float(d.max()), "mean_over_test_mae": float(d.mean() / mae),
            "changed": int((d > 1e-5 * max(1.0, float(np.abs(ref).max()))).sum())}


def predictions(module: Any, data: list[Any]) -> np.ndarray:
    """Predictions for ``data`` (``NaN`` where a variant could not be featurized)."""
    from cft_pyg.training import predict

    out = np.full(len(data), np.nan)
    keep = [i for i, d in enumerate(data) if d is not None]
    if keep:
        df = predict(module, [data[i] for i in keep], batch_size=32)
        out[keep] = df["y_pred"].to_numpy()
    return out


DISTANCE_SHIFT = 0.05
"""Å added to every neighbour distance by :func:`distance_probe`."""


def distance_probe(module: Any, data: list[Any], ref: np.ndarray) -> dict[str, float]:
    """How much a model reads the neighbour distances: the mean ``|change|`` of its
    prediction when every edge of every crystal is lengthened by :data:`DISTANCE_SHIFT` Å
    (not a description of the crystal: a probe of the trained model), also as a share of the
    spread (std) of its predictions."""
    shifted = []
    for d in data:
        d = d.clone()
        d.edge_dist = d.edge_dist + DISTANCE_SHIFT
        shifted.append(d)
    change = np.abs(predictions(module, shifted) - ref)
    return {"shift": DISTANCE_SHIFT, "mean": float(np.nanmean(change)),
            "over_prediction_std": float(np.nanmean(change) / np.nanstd(ref))}


def _mae_predict_mean(run: dict[str, Any]) -> float | None:
    """Test MAE of predicting the training mean for a run (recorded, or read back from the
    run's ``test_metrics.json`` for runs recorded before the field existed)."""
    if "mae_predict_mean" in run:
        return float(run["mae_predict_mean"])
    metrics = Path(run["checkpoint"]).parents[1] / "test_metrics.json"
    if not metrics.is_file():
        return None
    return float(json.loads(metrics.read_text())["overall"]["mae_predict_mean"])


def evaluate_dataset(dataset: str, runs: list[dict[str, Any]], opts: dict[str, Any],
                     echo: Any = print) -> dict[str, Any]:
    """Every model trained on ``dataset`` (and the shipped ones for it) on the variants."""
    import torch

    from cft_pyg import pretrained
    from cft_pyg.data import DEFAULT_FEATURIZATION
    from cft_pyg.training import load_model

    torch.set_num_threads(opts["threads"])
    crystals = test_structures(dataset, Path(opts["data_root"]), opts["crystals"])
    modules: dict[str, tuple[Any, float, str]] = {}
    baselines: dict[str, float | None] = {}
    for run in runs:
        if run["dataset"] == dataset:
            modules[run["model"]] = (load_model(run["checkpoint"]), run["test_mae"],
                                     MODELS[run["model"]][2])
            baselines[run["model"]] = _mae_predict_mean(run)
    for name, ds in PRETRAINED.items():
        if ds == dataset and name in pretrained.available():
            card = pretrained.model_card(name)
            modules[name] = (pretrained.load(name), float(card["test"]["mae"]),
                             f"shipped `{name}` ({card['unit']})")
            baselines[name] = card["test"].get("mae_predict_train_mean")
    featurizations = {m.featurization for m, _, _ in modules.values()}
    unexpected = {f for f in featurizations
                  if f.replace(geometry=DEFAULT_FEATURIZATION.geometry) != DEFAULT_FEATURIZATION}
    if unexpected:
        raise SystemExit(f"the models of {dataset} were featurized in other ways than the "
                         f"default (or its measured geometry): {unexpected}")
    by_featurization = {}
    for f in sorted(featurizations, key=lambda f: f.geometry != DEFAULT_FEATURIZATION.geometry):
        start = time.perf_counter()
        by_featurization[f] = featurize_variants(crystals, f, opts["seed"])  # same variants
        echo(f"{dataset}: featurized {len(crystals)} crystals x {len(PERTURBATIONS) + 1} "
             f"variants ({f.geometry} geometry) in {time.perf_counter() - start:.0f} s")
    variants = next(iter(by_featurization.values()))
    ref_groups = np.array([int(d.space_group) for d in variants["reference"]])
    group_changed = {}
    for kind in PERTURBATIONS:
        ok = [(i, d) for i, d in enumerate(variants[kind]) if d is not None]
        group_changed[kind] = {
            "fraction": float(np.mean([int(d.space_group) != ref_groups[i] for i, d in ok])),
            "featurized": len(ok)}
    table: dict[str, Any] = {}
    for name, (module, mae, label) in modules.items():
        start = time.perf_counter()
        variants = by_featurization[module.featurization]
        ref = predictions(module, variants["reference"])
        table[name] = {"label": label, "test_mae": mae,
                       "mae_predict_mean": baselines.get(name),
                       "prediction_std": float(np.nanstd(ref)), "changes": {
            kind: change_stats(ref, predictions(module, variants[kind]), mae)
            for kind in PERTURBATIONS}}
        table[name]["distance_probe"] = distance_probe(module, variants["reference"], ref)
        echo(f"{dataset}: {name} evaluated in {time.perf_counter() - start:.0f} s; mirror "
             f"changes {table[name]['changes']['mirror (x -> -x)'].get('changed')}, "
             f"symprec=0.01 mean {table[name]['changes']['symprec=0.01'].get('mean', 0):.4f}")
    return {"crystals": len(crystals), "target": DATASETS[dataset][2],
            "unit": DATASETS[dataset][3], "group_changed": group_changed, "models": table}


# ---------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    from studies.kit.jobs import read_runs, run_logged

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, required=True,
                        help="folder holding carbon_24/ and mp_20/")
    parser.add_argument("--work", type=Path, default=Path("robustness-work"),
                        help="checkpoints and the training log (kept for --resume)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--crystals", type=int, default=250, help="test crystals per dataset")
    parser.add_argument("--train-crystals", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=15, help="epochs of every model but ALIGNN")
    parser.add_argument("--alignn-epochs", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="trainings side by side")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS),
                        choices=list(MODELS))
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--resume", action="store_true", help="train only what is missing")
    parser.add_argument("--quick", action="store_true", help="smoke run (tiny, a minute)")
    args = parser.parse_args(argv)
    if args.quick:
        args.crystals, args.train_crystals, args.epochs, args.alignn_epochs = 8, 64, 1, 1
    opts = {"work": str(args.work.resolve()), "data_root": str(args.data_root.resolve()),
            "train_crystals": args.train_crystals, "seed": args.seed, "threads": 1,
            "epochs": {"default": args.epochs, "alignn": args.alignn_epochs},
            "crystals": args.crystals}
    args.work.mkdir(parents=True, exist_ok=True)
    log = args.work / "train_runs.jsonl"
    done = read_runs(log) if args.resume and log.is_file() else []
    have = {(r["model"], r["dataset"]) for r in done if Path(r["checkpoint"]).is_file()}
    todo = [(m, d, opts) for d in args.datasets for m in args.models if (m, d) not in have]
    start = time.perf_counter()
    load_start = _load()
    if todo:
        # process the datasets once per featurization, before the workers fork
        from cft_pyg.training import TrainConfig
        from cft_pyg.training.data import build_splits

        for d, featurization in {(d, json.dumps(TRAINING_CHANGES.get(m, {}).get(
                "featurization", {}), sort_keys=True)) for m, d, _ in todo}:
            name, folder, target, _ = DATASETS[d]
            build_splits(TrainConfig(dataset=name, data_root=str(args.data_root / folder),
                                     target=target, max_crystals=args.train_crystals,
                                     seed=args.seed, progress_bar=False,
                                     featurization=json.loads(featurization)))
        run_logged(train_job, todo, args.workers, log, append=bool(done),
                   describe=lambda r: f"{r['dataset']} {r['model']}: test MAE "
                                      f"{r['test_mae']:.4f} in {r['wall_seconds']:.0f} s")
    runs = {(r["model"], r["dataset"]): r for r in read_runs(log)}
    train_seconds = time.perf_counter() - start
    results = {d: evaluate_dataset(d, [r for r in runs.values() if r["dataset"] == d], opts)
               for d in args.datasets}
    import torch

    import cft_pyg

    payload = {
        "command": "python benchmarks/bench_robustness.py " + " ".join(sys.argv[1:] if argv is None
                                                                        else argv),
        "version": cft_pyg.__version__, "torch": torch.__version__,
        "machine": platform.machine(), "cpu_count": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"), "load_avg_at_start": load_start,
        "load_avg_at_end": _load(), "quick": args.quick,
        "training": {"train_crystals": args.train_crystals, "epochs": opts["epochs"],
                     "workers": args.workers, "threads_per_job": 1,
                     "wall_seconds_this_part": round(train_seconds, 1),
                     "runs": sorted(runs.values(), key=lambda r: (r["dataset"], r["model"]))},
        "perturbations": list(PERTURBATIONS),
        "results": results,
        "total_seconds": round(time.perf_counter() - start, 1),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(payload, indent=2) + "\n")
    from studies.kit.report import robustness_markdown

    print(robustness_markdown(payload))
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
