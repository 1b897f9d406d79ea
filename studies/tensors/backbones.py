"""The tensor study with other backbones under the same tensor head: CHGNet's pretrained
representation (frozen and fine-tuned) and matgl's MEGNet, against the library's row (CGCNN).

Issue 37 (stronger peers and a pretrained backbone) asks the tensor study for the CHGNet
backbone and the best matgl model at equal time (MEGNet).  Every model here is a backbone of
:class:`~cft_pyg.nn.Backbone` under the library's symmetric tensor head
(:class:`~cft_pyg.nn.TensorModel`: standardized frame, exact projection, rotation to the input
frame), on the splits and seeds of ``run.py``, with the same number of training seconds:

* ``symmetric``: CGCNN (the library's row of ``run.py``, **re-run here** so that every ratio
  comes from one run under one rule);
* ``chgnet-frozen``: CHGNet 0.3.0 (pretrained on MPtrj, Materials Project relaxations: it has
  very likely seen these crystals) frozen, its features cached, the head trained alone;
* ``chgnet``: the same CHGNet fine-tuned with the head (batch 16, as in the peers study);
* ``megnet``: matgl's MEGNet from scratch;
* ``mean``: the training mean tensor, projected per group (no training).

The budget is **CPU seconds of one torch thread** (:func:`time.process_time`, training and
validation, checked after every batch; ``run.py``'s main table used the wall clock), so that
runs sharing a loaded machine get the same computation; the load average is recorded at the
start and end of every row.

Usage::

    python studies/tensors/backbones.py --shard 0/3 &    # the full run, three processes
    python studies/tensors/backbones.py --shard 1/3 &
    python studies/tensors/backbones.py --shard 2/3 &
    python studies/tensors/backbones.py --summarize      # JSON + the README block
    python studies/tensors/backbones.py --quick          # seconds, for the suite

Rows are appended as they finish to ``results/backbones_runs[_quick]_<shard>.jsonl`` and
skipped when present, so a stopped run resumes.  ``--summarize`` writes
``results/backbones.json`` and the ``backbones`` block of ``README.md``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from cft_pyg.data.tensors import MPTensors, read_tensor_records  # noqa: E402
from cft_pyg.symmetry.tensors import rotate_tensor  # noqa: E402
from cft_pyg.training.tensors import (  # noqa: E402
    equivariance_errors,
    fit_tensor_model,
    predict_tensors,
    rotated_inputs,
    tensor_metrics,
    tensor_split,
)


def _study() -> Any:
    """``run.py`` of this folder (its evaluation and aggregation), loaded by path."""
    spec = importlib.util.spec_from_file_location("tensor_study", HERE / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


study = _study()
RESULTS = HERE / "results"
"""Folder of the rows and the JSON (``--results`` changes it)."""

BACKBONES: dict[str, dict[str, Any]] = {
    "symmetric": {"model": "cgcnn", "batch_size": 32, "label": "CGCNN (library row)"},
    "chgnet-frozen": {"model": "chgnet-frozen", "batch_size": 32,
                      "label": "CHGNet 0.3.0 frozen (pretrained on MPtrj)"},
    "chgnet": {"model": "chgnet", "batch_size": 16,
               "label": "CHGNet 0.3.0 fine-tuned (pretrained on MPtrj)"},
    "megnet": {"model": "megnet", "batch_size": 32, "label": "MEGNet (matgl, from scratch)"},
}
"""Row name -> registry model (its backbone goes under the tensor head), batch size, label."""

PRESETS: dict[str, dict[str, Any]] = {
    "quick": {"max_rows": 32, "seeds": [0], "budget_s": 3.0, "epochs": 2,
              "equivariance_max": 4, "model_kwargs": {"symmetric": {"atom_fea_len": 16,
                                                                    "n_conv": 1,
                                                                    "h_fea_len": 32},
                                                      "megnet": {"nblocks": 1}}},
    "full": {"max_rows": None, "seeds": [0, 1, 2], "budget_s": 60.0, "epochs": 60,
             "equivariance_max": None, "model_kwargs": {}},
}
MODELS = ("mean", *BACKBONES)


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def jobs(preset: dict[str, Any], targets: list[str]) -> list[tuple[str, int]]:
    """``(target, seed)`` in seed-major order (a stopped run has whole seeds)."""
    return [(t, s) for s in preset["seeds"] for t in targets]


def _rows_path(quick: bool, shard: str, seeds: list[int]) -> Path:
    tag = "_quick" if quick else ""
    part = "" if seeds == PRESETS["quick" if quick else "full"]["seeds"] else \
        "_seed" + "-".join(map(str, seeds))
    return RESULTS / f"backbones_runs{tag}{part}_{shard.replace('/', 'of')}.jsonl"


def read_rows(quick: bool) -> list[dict[str, Any]]:
    """Every row of every shard's JSONL file (the first of a ``(target, seed, model)``
    written twice by overlapping processes)."""
    tag = "_quick" if quick else ""
    rows: dict[tuple[str, int, str], dict[str, Any]] = {}
    for path in sorted(RESULTS.glob(f"backbones_runs{tag}_*.jsonl")):
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                rows.setdefault((row["target"], row["seed"], row["model"]), row)
    return list(rows.values())


def _train_row(name: str, target: str, seed: int, train: list, val: list, test: list,
               target_t: np.ndarray, kind: str, poscars: list[str],
               preset: dict[str, Any]) -> dict[str, Any]:
    spec = BACKBONES[name]
    load = os.getloadavg()[0]
    module, info = fit_tensor_model(
        target, train, val, model=spec["model"],
        model_kwargs=preset["model_kwargs"].get(name, {}), mode="symmetric",
        epochs=preset["epochs"], time_budget_s=preset["budget_s"], clock="cpu",
        batch_size=spec["batch_size"], seed=seed)
    pred = predict_tensors(module, test)
    row = study._evaluate(name, pred, target_t, kind, test, poscars)
    eq_test = test[: preset["equivariance_max"]] if preset["equivariance_max"] else test
    row["equivariance"] = study._summary(equivariance_errors(module, eq_test, seed=seed))
    turned, maps = rotated_inputs(module, eq_test, seed=seed + 1000)
    turned_target = np.stack([rotate_tensor(t, q) for t, q in zip(target_t, maps)])
    row["turned_inputs"] = tensor_metrics(turned, turned_target, kind)
    row.update({"label": spec["label"], "epochs": info["epochs"],
                "epochs_seen": info["epochs_seen"], "train_seconds": info["cpu_seconds"],
                "wall_seconds": info["train_seconds"], "clock": "process_time",
                "load_at_start": load, "load_at_end": os.getloadavg()[0],
                "best_val_loss": info["best_val_loss"],
                "trainable_parameters": sum(p.numel() for p in module.parameters()
                                            if p.requires_grad),
                "frozen_backbone": bool(module.model.freeze_backbone)})
    return row


def run_shard(preset: dict[str, Any], targets: list[str], models: list[str], shard: str,
              quick: bool) -> int:
    """Train and evaluate this shard's jobs, appending each row as it finishes."""
    torch.set_num_threads(1)
    index, count = (int(v) for v in shard.split("/"))
    path = _rows_path(quick, shard, list(preset["seeds"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    done = {(r["target"], r["seed"], r["model"]) for r in read_rows(quick)}
    loaded: dict[str, tuple[list, dict[str, str], str, int]] = {}
    for k, (target, seed) in enumerate(jobs(preset, targets)):
        todo = [m for m in models if (target, seed, m) not in done]
        if k % count != index or not todo:
            continue
        if target not in loaded:
            dataset = MPTensors(None, target, max_rows=preset["max_rows"], log=False)
            poscar_of = {r["material_id"]: r["poscar"] for r in read_tensor_records(None, target)}
            loaded[target] = (list(dataset), poscar_of, dataset.kind, dataset.rank)
        crystals, poscar_of, kind, rank = loaded[target]
        split = tensor_split(crystals, seed)
        train, val, test = ([crystals[i] for i in split[p]] for p in ("train", "val", "test"))
        poscars = [poscar_of[str(d.material_id)] for d in test]
        target_t = np.stack([d.y.reshape((3,) * rank).double().numpy() for d in test])
        for name in todo:
            start = time.perf_counter()
            if name == "mean":
                mean = study._mean_model(target, train,
                                         preset["model_kwargs"].get("symmetric", {}))
                row = study._evaluate("mean", predict_tensors(mean, test), target_t, kind,
                                      test, poscars)
            else:
                row = _train_row(name, target, seed, train, val, test, target_t, kind,
                                 poscars, preset)
            row.update({"target": target, "seed": seed, "crystals": len(crystals),
                        "split": {p: len(v) for p, v in split.items()},
                        "row_wall_seconds": time.perf_counter() - start})
            with path.open("a") as f:
                f.write(json.dumps(row) + "\n")
            _log(f"{target} seed {seed} {name}: pooled rel. Frobenius "
                 f"{row['frobenius_rel_pooled']:.3f}, neumann max {row['neumann']['max']:.1e}"
                 + (f", epochs {row['epochs_seen']:.2f}, cpu {row['train_seconds']:.0f} s, "
                    f"load {row['load_at_start']:.1f}-{row['load_at_end']:.1f}"
                    if "epochs_seen" in row else ""))
    return 0


def summarize(quick: bool, preset: dict[str, Any]) -> dict[str, Any]:
    """The rows gathered per target and seed, aggregated (``run.aggregate``), with the ratio
    of each model's pooled error to the library row's on the same seed."""
    rows = read_rows(quick)
    result: dict[str, Any] = {"preset": "quick" if quick else "full", "settings": preset,
                              "clock": "process_time", "targets": {}}
    for target in study.TARGETS:
        mine = [r for r in rows if r["target"] == target]
        if not mine:
            continue
        runs = []
        for seed in sorted({r["seed"] for r in mine}):
            seeded = [r for r in mine if r["seed"] == seed]
            order = {m: i for i, m in enumerate(MODELS)}
            runs.append({"seed": seed, "split": seeded[0]["split"],
                         "models": sorted(seeded, key=lambda r: order[r["model"]])})
        result["targets"][target] = {"crystals": mine[0]["crystals"], "runs": runs}
    result["summary"] = study.aggregate(result)
    for target, res in result["targets"].items():
        ratios: dict[str, list[float]] = {}
        loads: dict[str, list[float]] = {}
        for run in res["runs"]:
            base = {r["model"]: r for r in run["models"]}.get("symmetric")
            for r in run["models"]:
                if "load_at_start" in r:
                    loads.setdefault(r["model"], []).extend([r["load_at_start"],
                                                             r["load_at_end"]])
                if base is not None:
                    ratios.setdefault(r["model"], []).append(
                        r["frobenius_rel_pooled"] / base["frobenius_rel_pooled"])
        for name, entry in result["summary"][target].items():
            values = np.array(ratios.get(name, []))
            if values.size:
                entry["ratio_to_library"] = float(values.mean())
                entry["ratio_to_library_std"] = float(values.std(ddof=1)) \
                    if values.size > 1 else 0.0
            if name in loads:
                entry["load_min"], entry["load_max"] = min(loads[name]), max(loads[name])
            seen = [r["epochs_seen"] for run in res["runs"] for r in run["models"]
                    if r["model"] == name and "epochs_seen" in r]
            if seen:
                entry["epochs_seen"] = float(np.mean(seen))
                entry["epochs_seen_min"] = float(min(seen))
            entry["seeds"] = sum(1 for run in res["runs"] for r in run["models"]
                                 if r["model"] == name)
    return result


def markdown(result: dict[str, Any]) -> str:
    """The ``backbones`` block of the README."""
    lines = ["| target | model | seeds | rel. Frobenius error (pooled) | ratio to the library "
             "row (same seed) | same, inputs in random frames | Neumann max | equivariance "
             "max | epochs in the budget (min) | load (1 min) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for target, models in result["summary"].items():
        for name, e in models.items():
            label = name if name in ("mean", "symmetric") else f"`{name}`"
            if name == "symmetric":
                label = "symmetric (CGCNN)"
            ratio = (f"{e['ratio_to_library']:.3f} ± {e['ratio_to_library_std']:.3f}"
                     if "ratio_to_library" in e else "-")
            turned = (f"{e['turned_frobenius_rel']:.3f} ± {e['turned_frobenius_rel_std']:.3f}"
                      if "turned_frobenius_rel" in e else "-")
            eq = f"{e['equivariance_max']:.1e}" if "equivariance_max" in e else "-"
            epochs = (f"{e['epochs_seen']:.1f} ({e['epochs_seen_min']:.1f})"
                      if "epochs_seen" in e else "-")
            load = f"{e['load_min']:.1f}-{e['load_max']:.1f}" if "load_min" in e else "-"
            lines.append(f"| {target} | {label} | {e['seeds']} | "
                         f"{e['frobenius_rel_pooled']:.3f} ± {e['frobenius_rel_pooled_std']:.3f}"
                         f" | {ratio} | {turned} | {e['neumann_max']:.1e} | {eq} | {epochs} | "
                         f"{load} |")
    return "\n".join(lines)


def write_readme_block(text: str) -> None:
    """Replace the ``backbones`` block of the README."""
    path = HERE / "README.md"
    start, end = "<!-- backbones:start -->", "<!-- backbones:end -->"
    head, rest = path.read_text().split(start, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{start}\n{text}\n{end}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the seconds-long preset")
    parser.add_argument("--targets", nargs="+", default=list(study.TARGETS),
                        choices=study.TARGETS)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--shard", default="0/1", help="i/n: this process's share of the jobs")
    parser.add_argument("--seeds", nargs="+", type=int, default=None,
                        help="only these of the preset's seeds (e.g. more processes per seed)")
    parser.add_argument("--summarize", action="store_true",
                        help="only gather the rows into results/backbones[_quick].json and "
                             "(full preset) the README block")
    parser.add_argument("--results", default=None,
                        help="folder of the rows and the JSON (default results/)")
    args = parser.parse_args(argv)
    global RESULTS
    if args.results:
        RESULTS = Path(args.results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    preset = dict(PRESETS["quick" if args.quick else "full"])
    if args.seeds is not None:
        preset["seeds"] = [s for s in preset["seeds"] if s in args.seeds]
    if not args.summarize:
        run_shard(preset, args.targets, args.models, args.shard, args.quick)
    result = summarize(args.quick, PRESETS["quick" if args.quick else "full"])
    out = RESULTS / ("backbones_quick.json" if args.quick else "backbones.json")
    out.write_text(json.dumps(result, indent=1))
    table = markdown(result)
    print(table)
    if args.summarize and not args.quick and not args.results:
        write_readme_block(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
