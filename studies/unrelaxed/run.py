"""Study: relaxed energies from unrelaxed prototype structures (issue 34).

Candidate structures of the NREL hypothetical pnictides (:class:`cft_pyg.data.NRELHypothetical`)
-> DFT energy per atom after relaxation, on the composition split (every candidate of a
composition in one part), scored per composition with the screen metrics
(:func:`cft_pyg.training.screening.screen_report`: relative-energy MAE, within-composition
Spearman, ground-state hit rate) and the plain MAE.

Every model is trained for the same budget of **CPU seconds of training** (the engine's
:class:`~cft_pyg.training.TimeBudget` on :func:`time.process_time`, one torch thread), so
that the load of other processes on a shared machine does not change what a model gets;
validation at ``eval_points`` moments picks the best weights.  Runs are keyed
``<input>/<model>/seed<k>``; each finished run is one JSON file in ``results/runs/``, and a
rerun skips finished runs (resumable; ``--worker i/n`` runs every n-th job so that two
single-thread jobs run side by side).

Inputs: ``unrelaxed`` (the task), ``rescaled`` (control a: unrelaxed cells scaled to one
volume per atom, the median relaxed volume per atom of the training rows), ``relaxed``
(control b: the upper bound with the relaxed geometry).  The CHGNet anchor is
``anchor.py``; ``report.py`` writes the JSON summary, the markdown block and the figure.

Usage::

    python studies/unrelaxed/run.py --quick            # smoke run (< 1 min)
    python studies/unrelaxed/run.py --worker 0/2 &     # the full run, two jobs
    python studies/unrelaxed/run.py --worker 1/2 &
    python studies/unrelaxed/run.py --models wrenformer megnet --worker 0/2 &   # new rows only
    python studies/unrelaxed/report.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_ROOT = HERE.parents[1] / ".." / "shared" / "data" / "nrel_hypothetical"
INPUTS = ("unrelaxed", "rescaled", "relaxed")


@dataclass(frozen=True)
class StudyModel:
    """A compared model: a registered model name at one size, and its label."""

    name: str
    model: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    wyckoff: bool = False  # its crystals carry Wyckoff letters (AddWyckoff)
    protostructure: bool = False  # its crystals carry aviary's Wyckoff features (Wrenformer)
    batch_size: int = 64
    pretrained_on_mp: bool = False
    """Its backbone was pretrained on Materials Project data (CHGNet: MPtrj).  The NREL
    pnictides are not MP data, but MP holds crystals of overlapping chemistry."""
    composition_only: bool = False
    """Its prediction is a function of the composition: the candidates of a composition get
    the mean of their predictions, which differ only by float rounding (~1e-7 eV/atom; the
    largest spread is recorded), so that rounding noise does not pose as a ranking."""


_CFT = {"channels": 64, "num_blocks": 2, "heads": 4, "local_channels": 32}
MODELS: dict[str, StudyModel] = {m.name: m for m in (
    StudyModel("cft", "cft", _CFT, "CFT, symmetry-adapted encoding"),
    StudyModel("cft-no-encoding", "cft", {**_CFT, "encoding": "none"},
               "same trunk, no encoding"),
    StudyModel("published", "cft-published", {}, "CFT (published, PE only)"),
    StudyModel("cgcnn", "cgcnn", {}, "CGCNN"),
    StudyModel("alignn", "alignn", {"alignn_layers": 2, "gcn_layers": 2,
                                    "hidden_features": 64, "embedding_features": 32},
               "ALIGNN (small)"),
    StudyModel("wyckoff", "wyckoff", {"channels": 64, "num_layers": 2, "heads": 4},
               "Wyckoff (coordinate-free)", wyckoff=True),
    StudyModel("composition", "composition", {"channels": 64, "num_layers": 2, "heads": 4},
               "composition only (floor)", composition_only=True),
    # issue 34's Wyckoff baseline from a maintained package (aviary's Wrenformer), and
    # issue 37's stronger peers: the best matgl model on MP-20 at equal time and CHGNet
    # aviary's defaults (5.2 M parameters, 6 layers of width 128) reach about 0.4 epoch in
    # 30 CPU seconds; at the size of the library's Wyckoff model (0.7 M against 0.5 M
    # parameters) it gets about as many epochs as the other models
    StudyModel("wrenformer", "wrenformer",
               {"d_model": 64, "n_attn_layers": 2, "n_attn_heads": 4,
                "trunk_hidden": [256, 128], "out_hidden": [128, 64]},
               "Wrenformer (aviary, coordinate-free)", protostructure=True),
    StudyModel("megnet", "megnet", {}, "MEGNet (matgl, from scratch)"),
    StudyModel("chgnet-frozen", "chgnet-frozen", {"head_hidden": [64]},
               "CHGNet frozen + library head (pretrained on MP)", pretrained_on_mp=True),
    # batch 16 as in studies/peers (memory of fine-tuning)
    StudyModel("chgnet", "chgnet", {"head_hidden": [64]},
               "CHGNet fine-tuned + library head (pretrained on MP)", batch_size=16,
               pretrained_on_mp=True),
)}
"""The models of the study (the CFT sizes are the study kit's ``cft`` catalog entry)."""

DISTANCE_MODELS = ("cft", "cft-no-encoding", "cgcnn", "alignn", "published")
"""Models whose input changes with the cell size (control a runs them on rescaled cells)."""


@dataclass(frozen=True)
class Preset:
    """Sizes of a run."""

    budget: float  # CPU seconds of training per run
    seeds: tuple[int, ...]
    eval_points: int
    sample: dict[str, int | None]  # crystals per part (None: all)
    jobs: tuple[tuple[str, str], ...]  # (input, model), in priority order


_FULL_JOBS = (
    *[("unrelaxed", m) for m in ("cft", "cft-no-encoding")],
    *[("unrelaxed", m) for m in ("cgcnn", "wyckoff", "composition")],
    ("unrelaxed", "alignn"), ("relaxed", "cft"), ("unrelaxed", "published"),
    # the controls of the key pair first, then of the other models
    ("rescaled", "cft"), ("relaxed", "cft-no-encoding"),
    ("rescaled", "cft-no-encoding"), ("relaxed", "cgcnn"), ("rescaled", "cgcnn"),
    *[("relaxed", m) for m in ("wyckoff", "composition", "published", "alignn")],
    ("rescaled", "published"), ("rescaled", "alignn"),
    # added later (issues 34 and 37): finished runs above are reused
    ("unrelaxed", "wrenformer"), ("relaxed", "wrenformer"),
    ("unrelaxed", "megnet"), ("relaxed", "megnet"),
    ("unrelaxed", "chgnet-frozen"), ("relaxed", "chgnet-frozen"),
    ("unrelaxed", "chgnet"),
)
ONE_SEED = {("unrelaxed", "chgnet")}
"""Jobs run for the first seed only: CHGNet fine-tuned reaches under 0.1 epoch in 30 CPU
seconds (36 steps of 16 crystals), a measurement of its speed, not of its accuracy."""
PRESETS = {
    "full": Preset(budget=30.0, seeds=(0, 1, 2), eval_points=3,
                   sample={"train": None, "val": None, "test": None}, jobs=_FULL_JOBS),
    "quick": Preset(budget=1.0, seeds=(0,), eval_points=2,
                    sample={"train": 32, "val": 8, "test": 24},
                    jobs=(("unrelaxed", "cft"), ("unrelaxed", "wyckoff"),
                          ("unrelaxed", "composition"))),
}


def run_key(inp: str, model: str, seed: int) -> str:
    """``'<input>/<model>/seed<k>'``."""
    return f"{inp}/{model}/seed{seed}"


def _file_of(results: Path, key: str) -> Path:
    return results / "runs" / (key.replace("/", "__") + ".json")


def training_volume_per_atom(root: Path) -> float:
    """The median relaxed volume per atom (Å³) of the clean training rows: the common
    volume of control (a)."""
    import numpy as np

    from cft_pyg.data.nrel import nrel_table

    table = nrel_table(root / "energies.csv.gz", "project-train")
    return float(np.median(table["volume_per_atom_relaxed"]))


def load_part(root: Path, part: str, inp: str, sample: int | None,
              processed_root: str | None) -> tuple[Any, dict[str, str]]:
    """The crystals of one part of the composition split and ``{id: composition}``."""
    from cft_pyg.data import NRELHypothetical

    kwargs: dict[str, Any] = {"split": f"project-{part}", "log": False, "num_workers": 0,
                              "input": "relaxed" if inp == "relaxed" else "unrelaxed"}
    if inp == "rescaled":
        kwargs["volume_per_atom"] = training_volume_per_atom(root)
    if sample is not None:
        kwargs["sample"] = sample
    if processed_root is not None:
        kwargs["processed_root"] = processed_root
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = NRELHypothetical(root, **kwargs)
    table = ds.table()
    return ds, dict(zip(table["id"], table["composition"], strict=True))


_LABELS: dict[str, str] = {}
"""aviary protostructure labels by crystal (digest of z, positions, cell): computed once per
crystal in a process (about 20 ms each), not again for every seed."""


def _with_label(data: Any) -> Any:
    """The crystal with aviary's protostructure label (:class:`AddProtostructure`)."""
    from cft_pyg.nn.aviary import AddProtostructure
    from cft_pyg.nn.structures import crystal_key

    key = crystal_key(data.z, data.pos, data.cell)
    if key not in _LABELS:
        _LABELS[key] = AddProtostructure()(data).protostructure
    data = data.clone()
    data.protostructure = _LABELS[key]
    return data


def train_one(spec: StudyModel, parts: dict[str, Any], compositions: dict[str, str],
              seed: int, preset: Preset, run_dir: Path) -> dict[str, Any]:
    """Train one model for the CPU budget, predict the test part, score it."""
    import torch

    from cft_pyg.data.wyckoff import AddWyckoff
    from cft_pyg.training import TimeBudget, TrainConfig, fit, predict
    from cft_pyg.training.screening import screen_report

    torch.set_num_threads(1)
    if spec.wyckoff:
        add = AddWyckoff()
        parts = {k: [add(d) for d in v] for k, v in parts.items()}
    if spec.protostructure:
        parts = {k: [_with_label(d) for d in v] for k, v in parts.items()}
    config = TrainConfig(
        model=spec.model, model_kwargs=dict(spec.kwargs), target="energy_per_atom",
        target_index=0, epochs=1, batch_size=spec.batch_size, lr=1e-3, weight_decay=1e-4,
        warmup_epochs=0.0, patience=None, seed=seed, accelerator="cpu", devices=1,
        output_dir=str(run_dir), progress_bar=False)
    budget = TimeBudget(preset.budget, eval_points=preset.eval_points, warmup_fraction=0.05,
                        clock=time.process_time)
    wall, cpu = time.perf_counter(), time.process_time()
    result = fit(config, parts["train"], parts["val"], None, overwrite=True, budget=budget)
    train_wall, train_cpu = time.perf_counter() - wall, time.process_time() - cpu
    frame = predict(result.module, parts["test"], progress=False)
    frame["composition"] = frame["material_id"].map(compositions)
    spread = None
    if spec.composition_only:
        grouped = frame.groupby("composition")["y_pred"]
        spread = float((grouped.transform("max") - grouped.transform("min")).max())
        frame["y_pred"] = grouped.transform("mean")
    report = screen_report(frame)
    return {
        "metrics": report.to_dict(),
        "per_composition": report.per_composition.to_dict("records"),
        "predictions": frame[["material_id", "composition", "y_pred"]]
        .to_dict("list"),
        "val_mae": float(result.best_val_score),
        "composition_spread": spread,
        "budget_cpu_seconds": preset.budget,
        "fit_wall_seconds": train_wall, "fit_cpu_seconds": train_cpu,
        "steps": budget.curve[-1]["steps"] if budget.curve else None,
        "epochs": budget.curve[-1]["epochs"] if budget.curve else None,
        "curve": budget.curve,
        "parameters": int(sum(p.numel() for p in result.module.model.parameters())),
        "trainable_parameters": int(sum(p.numel() for p in result.module.model.parameters()
                                        if p.requires_grad)),
        "batch_size": spec.batch_size, "pretrained_on_mp": spec.pretrained_on_mp,
        "n_train": len(parts["train"]), "n_val": len(parts["val"]),
        "n_test": len(parts["test"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the smoke preset (< 1 min)")
    parser.add_argument("--data-root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--results", type=Path, default=None,
                        help="results folder (default results/, quick: results/quick/)")
    parser.add_argument("--processed-root", default=None, help="dataset cache folder")
    parser.add_argument("--worker", default="0/1", help="i/n: run every n-th job from i")
    parser.add_argument("--only", nargs="*", default=None,
                        help="run only these <input>/<model> jobs")
    parser.add_argument("--models", nargs="*", default=None,
                        help="run only the jobs of these models (e.g. the newly added ones)")
    parser.add_argument("--inputs", nargs="*", default=None, choices=INPUTS,
                        help="run only the jobs of these inputs")
    parser.add_argument("--seeds", nargs="*", type=int, default=None,
                        help="run only these seeds of the preset")
    parser.add_argument("--budget", type=float, default=None, help="override CPU seconds")
    args = parser.parse_args(argv)
    preset = PRESETS["quick" if args.quick else "full"]
    if args.budget is not None:
        preset = Preset(args.budget, preset.seeds, preset.eval_points, preset.sample,
                        preset.jobs)
    results = args.results or (HERE / "results" / ("quick" if args.quick else ""))
    (results / "runs").mkdir(parents=True, exist_ok=True)
    index, count = (int(x) for x in args.worker.split("/"))
    root = args.data_root.resolve()
    if not (root / "energies.csv.gz").exists():
        print(f"no NREL data in {root} (see shared/data/README.md section 7)", file=sys.stderr)
        return 2
    # every seed of a job before the next job: the key comparison finishes first
    jobs = [(inp, m, s) for inp, m in preset.jobs for s in preset.seeds
            if ((inp, m) not in ONE_SEED or s == preset.seeds[0])
            and (args.seeds is None or s in args.seeds)
            and (args.only is None or f"{inp}/{m}" in args.only)
            and (args.models is None or m in args.models)
            and (args.inputs is None or inp in args.inputs)]
    unknown = sorted(set(args.models or ()) - set(MODELS))
    if unknown:
        print(f"unknown model(s) {unknown}; the models are {list(MODELS)}", file=sys.stderr)
        return 2
    jobs = jobs[index::count]
    data: dict[str, tuple[dict[str, Any], dict[str, str]]] = {}
    for inp, name, seed in jobs:
        key = run_key(inp, name, seed)
        path = _file_of(results, key)
        if path.exists():
            print(f"{key}: done, skipped", flush=True)
            continue
        if inp not in data:
            parts, comps = {}, {}
            for part in ("train", "val", "test"):
                parts[part], found = load_part(root, part, inp, preset.sample[part],
                                               args.processed_root)
                comps.update(found)
            data[inp] = (parts, comps)
        parts, comps = data[inp]
        start = time.perf_counter()
        load = os.getloadavg()[0]
        record = train_one(MODELS[name], parts, comps, seed, preset,
                           results / "work" / key.replace("/", "__"))
        record.update(key=key, input=inp, model=name, label=MODELS[name].label, seed=seed,
                      preset="quick" if args.quick else "full",
                      wall_seconds=time.perf_counter() - start,
                      load_start=load, load_end=os.getloadavg()[0],
                      finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, path)
        m = record["metrics"]
        print(f"{key}: MAE {m['mae']:.4f}, relative MAE {m['relative_mae']:.4f}, "
              f"Spearman {m['spearman']:.3f}, hits {m['hit_rate']:.2f} "
              f"({record['wall_seconds']:.0f} s wall, load {load:.1f})", flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parents[1]))
    sys.exit(main())
