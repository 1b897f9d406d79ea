"""Study: tensor properties with exact crystal symmetry against the usual baselines.

For each target (dielectric, piezoelectric, elastic; Materials Project, in the POSCAR frame)
and each seed, on the same random split and with the **same training time** for every
trained model (the same backbone, CGCNN by default):

* ``mean``: the training set's mean tensor in the standardized frame, projected onto each
  test crystal's point group and rotated into its frame (the head with a zero MLP);
* ``raw``: the backbone predicting the components in the input frame (``mode='raw'``);
* ``raw+fit``: the same predictions symmetrized afterwards with pymatgen's
  ``Tensor.fit_to_structure`` (symprec 0.1) on the input structure;
* ``symmetric``: the library's tensor head (standardized frame, projection, rotation).

Every prediction gets its Neumann violation and (for the trained models) its rotation/mirror
equivariance error (:mod:`cft_pyg.training.tensors`).  Zero-shot: the symmetric model trained
without any crystal of the hexagonal family (trigonal + hexagonal), evaluated on them and on
the in-distribution test crystals.

Run ``python studies/tensors/run.py --quick`` (< 1 min: 48 crystals, 1 seed, seconds of
training) or without ``--quick`` (every crystal, 3 seeds).  Writes
``studies/tensors/results/tensors[_quick].json`` and the table block of
``studies/tensors/README.md`` (full run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from cft_pyg.data.tensors import MPTensors, read_tensor_records  # noqa: E402
from cft_pyg.symmetry import SpaceGroup  # noqa: E402
from cft_pyg.symmetry.tensors import (  # noqa: E402
    cartesian_rotations,
    neumann_violation,
    rotate_tensor,
)
from cft_pyg.training.tensors import (  # noqa: E402
    TensorPropertyModule,
    equivariance_errors,
    fit_tensor_model,
    neumann_violations,
    predict_tensors,
    random_frame,
    rotated_inputs,
    tensor_metrics,
    tensor_split,
)

TARGETS = ("dielectric", "piezoelectric", "elastic")
PRESETS: dict[str, dict[str, Any]] = {
    "quick": {"max_rows": 48, "seeds": [0], "budget_s": 4.0, "epochs": 3,
              "model_kwargs": {"atom_fea_len": 16, "n_conv": 1, "h_fea_len": 32},
              "zero_shot": True, "equivariance_max": 8,
              "e3nn_kwargs": {"mul": 4, "num_layers": 1}},
    "full": {"max_rows": None, "seeds": [0, 1, 2], "budget_s": 60.0, "epochs": 60,
             "model_kwargs": {}, "zero_shot": True, "equivariance_max": None,
             "e3nn_kwargs": {}},
}
HOLDOUT_FAMILY = "hexagonal"
MODELS = ("mean", "raw", "symmetric")
"""Models of a default run; ``e3nn`` (needs e3nn) is added with ``--models`` / ``--merge``."""


def _fit_to_structure(pred: np.ndarray, poscars: list[str]) -> np.ndarray:
    """pymatgen's after-the-fact symmetrization of each predicted tensor."""
    from pymatgen.core import Structure
    from pymatgen.core.tensors import Tensor

    out = np.empty_like(pred)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, (t, poscar) in enumerate(zip(pred, poscars)):
            structure = Structure.from_str(poscar, fmt="poscar")
            out[i] = np.asarray(Tensor(t).fit_to_structure(structure, symprec=0.1))
    return out


def _neumann_own(pred: np.ndarray, poscars: list[str]) -> np.ndarray:
    """Violation under the operations spglib finds in each input structure (symprec 0.1),
    the check a user would make (for methods without a standardized frame)."""
    import spglib
    from pymatgen.core import Structure

    out = np.empty(len(pred))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, (t, poscar) in enumerate(zip(pred, poscars)):
            s = Structure.from_str(poscar, fmt="poscar")
            L = s.lattice.matrix
            rot = spglib.get_symmetry((L, s.frac_coords, s.atomic_numbers),
                                      symprec=0.1)["rotations"]
            out[i] = neumann_violation(t, L.T @ rot @ np.linalg.inv(L.T))
    return out


def _summary(values: np.ndarray) -> dict[str, float]:
    return {"max": float(np.max(values)), "median": float(np.median(values))}


def _evaluate(name: str, pred: np.ndarray, target: np.ndarray, kind: str,
              crystals: list, poscars: list[str]) -> dict[str, Any]:
    out = {"model": name, **tensor_metrics(pred, target, kind)}
    out["neumann"] = _summary(neumann_violations(pred, crystals))
    out["neumann_input_ops"] = _summary(_neumann_own(pred, poscars))
    return out


def _mean_model(target: str, train: list, model_kwargs: dict) -> TensorPropertyModule:
    module = TensorPropertyModule(target, "cgcnn", model_kwargs)
    module.set_normalization(train)
    with torch.no_grad():
        last = module.model.head.mlp[-1]
        last.weight.zero_()
        last.bias.zero_()
    return module.eval()


def run_target(target: str, preset: dict[str, Any], log: Any,
               models: tuple[str, ...] = MODELS) -> dict[str, Any]:
    t0 = time.perf_counter()
    dataset = MPTensors(None, target, max_rows=preset["max_rows"], log=False)
    crystals = list(dataset)
    poscar_of = {r["material_id"]: r["poscar"] for r in read_tensor_records(None, target)}
    log(f"{target}: {len(crystals)} crystals ({time.perf_counter() - t0:.0f} s to load)")
    result: dict[str, Any] = {"crystals": len(crystals), "runs": []}
    kind = dataset.kind
    for seed in preset["seeds"]:
        split = tensor_split(crystals, seed)
        train = [crystals[i] for i in split["train"]]
        val = [crystals[i] for i in split["val"]]
        test = [crystals[i] for i in split["test"]]
        poscars = [poscar_of[str(d.material_id)] for d in test]
        target_t = np.stack([d.y.reshape((3,) * dataset.rank).double().numpy() for d in test])
        eq_test = test[: preset["equivariance_max"]] if preset["equivariance_max"] else test
        rows = []
        if "mean" in models:
            mean = _mean_model(target, train, preset["model_kwargs"])
            rows.append(_evaluate("mean", predict_tensors(mean, test), target_t, kind, test,
                                  poscars))
        for mode in [m for m in ("raw", "symmetric", "e3nn") if m in models]:
            load = os.getloadavg()[0]
            module, info = fit_tensor_model(
                target, train, val, model="e3nn" if mode == "e3nn" else "cgcnn",
                model_kwargs=preset["e3nn_kwargs" if mode == "e3nn" else "model_kwargs"],
                mode="raw" if mode == "raw" else "symmetric",
                epochs=preset["epochs"], time_budget_s=preset["budget_s"], seed=seed)
            pred = predict_tensors(module, test)
            row = _evaluate(mode, pred, target_t, kind, test, poscars)
            row.update({"train_seconds": info["train_seconds"], "epochs": info["epochs"],
                        "load_at_start": load})
            row["equivariance"] = _summary(equivariance_errors(module, eq_test, seed=seed))
            # the same test crystals given in random frames (rotations and mirrors), the
            # targets turned with them: what a user with structures in other frames gets
            turned, maps = rotated_inputs(module, eq_test, seed=seed + 1000)
            turned_target = np.stack([rotate_tensor(t, q) for t, q in zip(target_t, maps)])
            row["turned_inputs"] = tensor_metrics(turned, turned_target, kind)
            rows.append(row)
            if mode == "raw":
                fitted = _fit_to_structure(pred, poscars)
                fit_row = _evaluate("raw+fit", fitted, target_t, kind, test, poscars)
                fit_row["equivariance"] = _summary(_fit_equivariance(
                    module, eq_test, [poscar_of[str(d.material_id)] for d in eq_test], seed))
                rows.append(fit_row)
            log(f"  seed {seed} {mode}: frobenius_rel {row['frobenius_rel']:.3f}, "
                f"neumann max {row['neumann']['max']:.1e}, epochs {info['epochs']}")
        result["runs"].append({"seed": seed, "split": {k: len(v) for k, v in split.items()},
                               "models": rows})
        families = {SpaceGroup(int(d.space_group)).crystal_family for d in crystals}
        zero_shot = preset["zero_shot"] and "symmetric" in models
        if zero_shot and seed == preset["seeds"][0] and HOLDOUT_FAMILY not in families:
            result["zero_shot_skipped"] = f"no {HOLDOUT_FAMILY} crystal among the {len(crystals)}"
            log(f"  zero-shot skipped: {result['zero_shot_skipped']}")
        elif zero_shot and seed == preset["seeds"][0]:
            result["zero_shot"] = _zero_shot(target, crystals, kind, dataset.rank, preset, seed)
            zs = result["zero_shot"]
            log(f"  zero-shot {HOLDOUT_FAMILY}: in-distribution "
                f"{zs['in_distribution']['frobenius_rel']:.3f}, held-out family "
                f"{zs['held_out']['frobenius_rel']:.3f}, neumann max "
                f"{zs['held_out']['neumann']['max']:.1e}")
    result["seconds"] = time.perf_counter() - t0
    return result


def _fit_equivariance(module: TensorPropertyModule, crystals: list, poscars: list[str],
                      seed: int) -> np.ndarray:
    """Equivariance error of raw predictions symmetrized with pymatgen, under the same
    random orthogonal maps as :func:`equivariance_errors` (the input structures turned)."""
    from pymatgen.core import Lattice, Structure

    from cft_pyg.data.structure import from_structure

    rng = np.random.default_rng(seed)
    base = _fit_to_structure(predict_tensors(module, crystals), poscars)
    err = np.empty(len(crystals))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, poscar in enumerate(poscars):
            q = random_frame(rng, improper=bool(i % 2))
            s = Structure.from_str(poscar, fmt="poscar")
            moved = Structure(Lattice(s.lattice.matrix @ q.T), s.species, s.frac_coords)
            raw = predict_tensors(module, [from_structure(moved, module.featurization)])
            out = _fit_to_structure(raw, [moved.to(fmt="poscar")])[0]
            err[i] = np.linalg.norm(out - rotate_tensor(base[i], q)) / max(
                np.linalg.norm(base[i]), 1e-30)
    return err


def _zero_shot(target: str, crystals: list, kind: str, rank: int, preset: dict[str, Any],
               seed: int) -> dict[str, Any]:
    split = tensor_split(crystals, seed, holdout_family=HOLDOUT_FAMILY)
    module, info = fit_tensor_model(
        target, [crystals[i] for i in split["train"]], [crystals[i] for i in split["val"]],
        model_kwargs=preset["model_kwargs"], epochs=preset["epochs"],
        time_budget_s=preset["budget_s"], seed=seed)
    out: dict[str, Any] = {"family": HOLDOUT_FAMILY, "train_seconds": info["train_seconds"]}
    for part, name in (("test", "in_distribution"), ("zeroshot", "held_out")):
        items = [crystals[i] for i in split[part]]
        target_t = np.stack([d.y.reshape((3,) * rank).double().numpy() for d in items])
        pred = predict_tensors(module, items)
        eq_items = items[: preset["equivariance_max"]] if preset["equivariance_max"] else items
        out[name] = {"crystals": len(items), **tensor_metrics(pred, target_t, kind),
                     "neumann": _summary(neumann_violations(pred, items)),
                     "equivariance": _summary(equivariance_errors(module, eq_items,
                                                                   seed=seed))}
        out[name]["form_exact"] = _form_check(pred, items)
    return out


def _form_check(pred: np.ndarray, crystals: list) -> float:
    """Largest violation of each prediction's form under its own group (standardized frame)."""
    worst = 0.0
    for t, data in zip(pred, crystals):
        R = data.std_rotation.reshape(3, 3).double().numpy()
        ops = cartesian_rotations(SpaceGroup(int(data.space_group)),
                                  data.cell.reshape(3, 3).double().numpy())
        worst = max(worst, neumann_violation(rotate_tensor(t, R), ops))
    return worst


def fill_pooled(result: dict[str, Any]) -> None:
    """Rows written before ``frobenius_rel_pooled`` existed get it from their
    ``frobenius_mae`` and the mean target norm of their (deterministic) test split:
    ``sum ||dT|| / sum ||T|| = frobenius_mae / mean ||T||``."""
    for target, res in result["targets"].items():
        crystals = None
        for run in res["runs"]:
            missing = [r for r in run["models"] if "frobenius_rel_pooled" not in r]
            if not missing:
                continue
            if crystals is None:
                crystals = list(MPTensors(None, target, max_rows=result["settings"]["max_rows"],
                                          log=False))
            test = tensor_split(crystals, run["seed"])["test"]
            mean_norm = float(np.mean([float(crystals[i].y.double().norm()) for i in test]))
            for row in missing:
                row["frobenius_rel_pooled"] = row["frobenius_mae"] / mean_norm
                turned = row.get("turned_inputs")
                if turned is not None and result["settings"]["equivariance_max"] is None:
                    turned["frobenius_rel_pooled"] = turned["frobenius_mae"] / mean_norm


def aggregate(result: dict[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    """Mean and std over seeds of each model's metrics, per target."""
    fill_pooled(result)
    table: dict[str, dict[str, dict[str, float]]] = {}
    for target, res in result["targets"].items():
        models: dict[str, list[dict[str, Any]]] = {}
        for run in res["runs"]:
            for row in run["models"]:
                models.setdefault(row["model"], []).append(row)
        table[target] = {}
        for name, rows in models.items():
            entry: dict[str, float] = {}
            for key in ("frobenius_rel", "frobenius_rel_pooled", "frobenius_mae", "voigt_mae"):
                values = np.array([r[key] for r in rows])
                entry[key] = float(values.mean())
                entry[key + "_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
            entry["neumann_max"] = float(max(r["neumann"]["max"] for r in rows))
            if "turned_inputs" in rows[0] and all(
                    "frobenius_rel_pooled" in r["turned_inputs"] for r in rows):
                values = np.array([r["turned_inputs"]["frobenius_rel_pooled"] for r in rows])
                entry["turned_frobenius_rel"] = float(values.mean())
                entry["turned_frobenius_rel_std"] = float(values.std(ddof=1)) \
                    if len(values) > 1 else 0.0
            if "epochs" in rows[0]:
                entry["epochs"] = float(np.mean([r["epochs"] for r in rows]))
                entry["train_seconds"] = float(np.mean([r["train_seconds"] for r in rows]))
            if "equivariance" in rows[0]:
                entry["equivariance_max"] = float(max(r["equivariance"]["max"] for r in rows))
            scalars = [k for k in rows[0] if k.endswith("_mae") and k not in
                       ("frobenius_mae", "voigt_mae")]
            if all("frobenius_rel_median" in r for r in rows):
                entry["frobenius_rel_median"] = float(np.mean([r["frobenius_rel_median"]
                                                               for r in rows]))
            for key in scalars:
                entry[key] = float(np.mean([r[key] for r in rows]))
            table[target][name] = entry
    return table


def markdown(result: dict[str, Any]) -> str:
    """The table block of the README."""
    lines = ["| target | model | rel. Frobenius error (pooled) | same, inputs in random "
             "frames | mean of per-crystal ratios | Frobenius MAE | Voigt MAE | derived "
             "scalar MAE | Neumann max | equivariance max | epochs in the budget |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for target, models in result["summary"].items():
        for name, e in models.items():
            scal = ", ".join(f"{k[:-4]} {v:.3g}" for k, v in e.items()
                             if k.endswith("_mae") and k not in ("frobenius_mae", "voigt_mae"))
            eq = f"{e['equivariance_max']:.1e}" if "equivariance_max" in e else "-"
            epochs = f"{e['epochs']:.1f}" if "epochs" in e else "-"
            turned = (f"{e['turned_frobenius_rel']:.3f} ± {e['turned_frobenius_rel_std']:.3f}"
                      if "turned_frobenius_rel" in e else "-")
            lines.append(f"| {target} | {name} | {e['frobenius_rel_pooled']:.3f} ± "
                         f"{e['frobenius_rel_pooled_std']:.3f} | {turned} | "
                         f"{e['frobenius_rel']:.3g} ± {e['frobenius_rel_std']:.2g} | "
                         f"{e['frobenius_mae']:.3g} ± {e['frobenius_mae_std']:.2g} | "
                         f"{e['voigt_mae']:.3g} ± "
                         f"{e['voigt_mae_std']:.2g} | {scal} | {e['neumann_max']:.1e} | {eq} | "
                         f"{epochs} |")
    zs = ["", f"Zero-shot ({HOLDOUT_FAMILY} family held out, seed 0, symmetric model):", "",
          "| target | in-distribution rel. Frobenius (mean ratio) | held-out family "
          "rel. Frobenius (mean ratio) | "
          "held-out crystals | Neumann max (held out) | equivariance max (held out) |",
          "|---|---|---|---|---|---|"]
    for target, res in result["targets"].items():
        z = res.get("zero_shot")
        if z:
            zs.append(f"| {target} | {z['in_distribution']['frobenius_rel']:.3f} | "
                      f"{z['held_out']['frobenius_rel']:.3f} | {z['held_out']['crystals']} | "
                      f"{z['held_out']['neumann']['max']:.1e} | "
                      f"{z['held_out']['equivariance']['max']:.1e} |")
    return "\n".join(lines + zs)


def write_readme_block(text: str) -> None:
    path = HERE / "README.md"
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    content = path.read_text()
    head, rest = content.split(start, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{start}\n{text}\n{end}{tail}")


def combine(other: Path, main_json: Path) -> int:
    """Append the rows of ``other`` (per target and seed) to ``main_json``, re-aggregate and
    write the README block."""
    result = json.loads(main_json.read_text())
    extra = json.loads(other.read_text())
    for target, res in extra["targets"].items():
        if target not in result["targets"]:
            continue
        for run, new_run in zip(result["targets"][target]["runs"], res["runs"]):
            if run["seed"] != new_run["seed"] or run["split"] != new_run["split"]:
                raise ValueError(f"{target}: runs of {other} do not match (seed/split)")
            names = {m["model"] for m in run["models"]}
            run["models"] += [m for m in new_run["models"] if m["model"] not in names]
    result.setdefault("merged", []).append({"file": other.name,
                                            "conditions": extra["conditions"],
                                            "settings": extra["settings"]})
    result["summary"] = aggregate(result)
    main_json.write_text(json.dumps(result, indent=1))
    table = markdown(result)
    print(table)
    if set(result["targets"]) == set(TARGETS) and result["preset"] == "full":
        write_readme_block(table)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the < 1 min preset")
    parser.add_argument("--targets", nargs="+", default=list(TARGETS), choices=TARGETS)
    parser.add_argument("--budget", type=float, default=None, help="training seconds per model")
    parser.add_argument("--output", default=None, help="JSON path")
    parser.add_argument("--models", nargs="+", default=list(MODELS),
                        choices=["mean", "raw", "symmetric", "e3nn"],
                        help="models to run (raw includes raw+fit); default mean raw symmetric")
    parser.add_argument("--merge", action="store_true",
                        help="add the models' rows to the existing JSON (same splits) instead "
                             "of starting a new one")
    parser.add_argument("--combine", metavar="JSON", default=None,
                        help="only merge the model rows of another run's JSON (same seeds and "
                             "splits, e.g. an e3nn run written with --output) into the main "
                             "JSON and regenerate the README block; trains nothing")
    args = parser.parse_args(argv)
    if args.combine:
        return combine(Path(args.combine), Path(args.output) if args.output
                       else HERE / "results" / "tensors.json")
    torch.set_num_threads(1)
    name = "quick" if args.quick else "full"
    preset = dict(PRESETS[name])
    if args.budget is not None:
        preset["budget_s"] = args.budget

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    start = time.perf_counter()
    load = os.getloadavg()[0]
    result: dict[str, Any] = {
        "preset": name, "settings": preset, "holdout_family": HOLDOUT_FAMILY,
        "conditions": {"load_at_start": load, "threads": 1, "cpus": os.cpu_count(),
                       "python": platform.python_version(), "torch": torch.__version__,
                       "machine": platform.machine()},
        "targets": {}}
    out = Path(args.output) if args.output else HERE / "results" / (
        "tensors_quick.json" if args.quick else "tensors.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.merge:
        previous = json.loads(out.read_text())
        previous.setdefault("merged", []).append(
            {"models": args.models, "conditions": result["conditions"]})
        result = previous
    for target in args.targets:
        fresh = run_target(target, preset, log, tuple(args.models))
        if args.merge:
            for old_run, new_run in zip(result["targets"][target]["runs"], fresh["runs"]):
                assert old_run["seed"] == new_run["seed"]
                old_run["models"] += new_run["models"]
        else:
            result["targets"][target] = fresh
        result["summary"] = aggregate(result)  # written after every target (partial runs)
        result["seconds"] = time.perf_counter() - start
        result["conditions"]["load_at_end"] = os.getloadavg()[0]
        out.write_text(json.dumps(result, indent=1))
    table = markdown(result)
    print(table)
    if not args.quick and args.output is None and set(args.targets) == set(TARGETS):
        write_readme_block(table)
    log(f"wrote {out} in {result['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
