"""``cft-pyg tensor train | evaluate | predict``: tensor properties from the command line.

* ``train --target dielectric|piezoelectric|elastic``: the Materials Project tensors
  (:class:`~cft_pyg.data.MPTensors`), a seeded random split (optionally holding out a whole
  crystal family for zero-shot), a registry backbone with the exact tensor head; writes
  ``best.ckpt``, ``split.json`` and ``metrics.json`` (test and zero-shot metrics) to
  ``--output-dir``.
* ``evaluate CHECKPOINT``: the metrics of a part of the run's split (JSON on stdout and in
  ``<run>/evaluation_<part>.json``).
* ``predict CHECKPOINT INPUT...``: tensors of structure files, **in the Cartesian frame of
  each file's structure**, full and Voigt forms, as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["TARGET_NAMES", "add_tensor_parser", "run_tensor_command"]

TARGET_NAMES = ("dielectric", "dielectric-electronic", "elastic", "piezoelectric")
"""The names of :data:`cft_pyg.data.tensors.TENSOR_TARGETS`, spelled out so that
``cft-pyg --help`` imports no torch (a test checks that they agree)."""


def add_tensor_parser(sub: Any) -> None:
    """Add the ``tensor`` command (with ``train``, ``evaluate``, ``predict``) to ``sub``."""
    p = sub.add_parser("tensor", help="tensor properties (dielectric, piezoelectric, elastic)",
                       description="Train, evaluate and predict Cartesian tensor properties "
                                   "with exact crystal symmetry (Neumann's principle) and "
                                   "exact rotation with the input.")
    tsub = p.add_subparsers(dest="tensor_command", metavar="SUBCOMMAND")
    tsub.required = True
    t = tsub.add_parser("train", help="train a tensor model on the Materials Project tensors")
    t.add_argument("--target", required=True, choices=TARGET_NAMES)
    t.add_argument("--data-root", default=None, help="folder of the *.json.gz files "
                   "(default ../shared/data/tensors or $CFT_PYG_SHARED_DATA/tensors)")
    t.add_argument("--model", default="cgcnn", help="registered backbone (default cgcnn)")
    t.add_argument("--model-kwargs", default="{}", help="JSON keyword arguments of the model")
    t.add_argument("--mode", choices=["symmetric", "raw"], default="symmetric",
                   help="symmetric (exact, default) or raw (baseline, not equivariant)")
    t.add_argument("--epochs", type=int, default=100)
    t.add_argument("--time-budget", type=float, default=None, metavar="SECONDS")
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--max-crystals", type=int, default=None)
    t.add_argument("--holdout-family", default=None,
                   help="crystal family left out of training (e.g. hexagonal)")
    t.add_argument("--output-dir", required=True)
    e = tsub.add_parser("evaluate", help="metrics of a checkpoint on a part of its split")
    e.add_argument("checkpoint")
    e.add_argument("--part", choices=["train", "val", "test", "zeroshot"], default="test")
    e.add_argument("--no-equivariance", action="store_true",
                   help="skip the equivariance check (re-standardizes every crystal)")
    r = tsub.add_parser("predict", help="tensors of structure files, in their own frames")
    r.add_argument("checkpoint")
    r.add_argument("inputs", nargs="+", help="structure files (POSCAR, CIF, ...)")
    r.add_argument("-o", "--output", default="tensors.json")


def _dataset(run: dict[str, Any]) -> Any:
    from .data.tensors import MPTensors

    return MPTensors(run.get("data_root"), run["target"], max_rows=run.get("max_crystals"),
                     log=False)


def _train(args: argparse.Namespace) -> int:
    from .training.tensors import evaluate_tensor_model, fit_tensor_model, tensor_split

    out = Path(args.output_dir)
    run = {"target": args.target, "data_root": args.data_root, "model": args.model,
           "model_kwargs": json.loads(args.model_kwargs), "mode": args.mode,
           "epochs": args.epochs, "time_budget": args.time_budget,
           "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
           "max_crystals": args.max_crystals, "holdout_family": args.holdout_family}
    dataset = _dataset(run)
    crystals = list(dataset)
    split = tensor_split(crystals, args.seed, holdout_family=args.holdout_family)
    module, info = fit_tensor_model(
        args.target, [crystals[i] for i in split["train"]],
        [crystals[i] for i in split["val"]], model=args.model,
        model_kwargs=run["model_kwargs"], mode=args.mode, epochs=args.epochs,
        time_budget_s=args.time_budget, batch_size=args.batch_size, lr=args.lr,
        seed=args.seed, output_dir=out)
    ids = [str(d.material_id) for d in crystals]
    with open(out / "split.json", "w") as f:
        json.dump({"run": run, **{k: [ids[i] for i in v] for k, v in split.items()}}, f)
    metrics = {"train": info}
    for part in ("test", "zeroshot"):
        if split[part]:
            metrics[part] = evaluate_tensor_model(module, [crystals[i] for i in split[part]])
    with open(out / "metrics.json", "w") as f:
        json.dump(metrics, f, indent=1)
    print(json.dumps(metrics, indent=1))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from .training.tensors import evaluate_tensor_model, load_tensor_model

    ckpt = Path(args.checkpoint)
    split_path = ckpt.parent / "split.json"
    if not split_path.exists():
        raise FileNotFoundError(f"{split_path} not found (written by `cft-pyg tensor train`)")
    with open(split_path) as f:
        split = json.load(f)
    wanted = set(split[args.part])
    if not wanted:
        raise ValueError(f"the run's split has no {args.part!r} crystals")
    module = load_tensor_model(ckpt)
    crystals = [d for d in _dataset(split["run"]) if str(d.material_id) in wanted]
    metrics = evaluate_tensor_model(module, crystals, equivariance=not args.no_equivariance)
    with open(ckpt.parent / f"evaluation_{args.part}.json", "w") as f:
        json.dump(metrics, f, indent=1)
    print(json.dumps(metrics, indent=1))
    return 0


def _predict(args: argparse.Namespace) -> int:
    from .data.readers import read_structure
    from .symmetry.tensors import to_voigt
    from .training.tensors import load_tensor_model, predict_structures

    module = load_tensor_model(args.checkpoint)
    structures = [read_structure(Path(p)) for p in args.inputs]
    tensors = predict_structures(module, structures)
    rows = [{"file": str(p), "target": module.hparams.target, "tensor": t.tolist(),
             "voigt": to_voigt(t, module.rank).tolist()}
            for p, t in zip(args.inputs, tensors)]
    with open(args.output, "w") as f:
        json.dump(rows, f, indent=1)
    print(f"wrote {len(rows)} tensors to {args.output}", file=sys.stderr)
    return 0


def run_tensor_command(args: argparse.Namespace) -> int:
    """Run ``cft-pyg tensor <subcommand>``."""
    from .training.quiet import silence_lightning

    silence_lightning()
    commands = {"train": _train, "evaluate": _evaluate, "predict": _predict}
    return commands[args.tensor_command](args)
