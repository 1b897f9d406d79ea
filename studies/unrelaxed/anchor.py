"""The CHGNet anchor of the unrelaxed-inputs study: what a user would do instead of training.

CHGNet (pretrained universal potential, weights shipped inside the ``chgnet`` package, loaded
offline; model ``0.3.0``) predicts the energy per atom of

* ``chgnet-static``: each unrelaxed test structure as it is;
* ``chgnet-relaxed``: each unrelaxed test structure after relaxing it with CHGNet (FIRE, cell
  and positions, at most ``--steps`` steps, ``fmax`` 0.1 eV/Å), on a seeded subset of the
  test compositions (every candidate of a chosen composition): compositions in a seeded
  random order, each taken while the relaxations stay within ``--max-structures``, up to
  ``--relax-compositions`` of them.

CHGNet's energies are on the Materials Project's (corrected GGA/GGA+U) scale; the NREL
energies are DFT totals of another setup.  Each gets a per-element linear correction fitted
on the training compositions, :math:`E_{DFT} \\approx E_{CHGNet} + \\sum_e x_e c_e` (least
squares over ``--fit-per-composition`` seeded candidates of every training composition,
:math:`x_e` the element fractions): for the static energies on the training rows' unrelaxed
structures, for the relaxed ones on CHGNet's static energies of the training rows'
**DFT-relaxed** structures (a proxy for relaxing the training structures with CHGNet, which
would cost as much as the test relaxations again).  A per-element correction is constant
within a composition, so it changes the plain MAE only, never the per-composition metrics.

Writes ``results/anchor.json`` (metrics, CPU seconds per structure, the subset).

Usage::

    python studies/unrelaxed/anchor.py --relax-compositions 3
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
DEFAULT_ROOT = HERE.parents[1] / ".." / "shared" / "data" / "nrel_hypothetical"


def _structures(root: Path, kind: str, ids: list[str]) -> list[Any]:
    from pymatgen.core import Structure

    with gzip.open(root / f"{kind}.json.gz", "rt") as f:
        texts = json.load(f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [Structure.from_str(texts[i], fmt="poscar") for i in ids]


def _fractions(structures: list[Any], elements: list[str]) -> np.ndarray:
    out = np.zeros((len(structures), len(elements)))
    for k, s in enumerate(structures):
        comp = s.composition.fractional_composition
        for el, x in comp.get_el_amt_dict().items():
            out[k, elements.index(el)] = x
    return out


def _static(model: Any, structures: list[Any]) -> tuple[np.ndarray, float]:
    """CHGNet energy per atom of each structure, and the CPU seconds per structure."""
    cpu = time.process_time()
    preds = model.predict_structure(structures, task="e", batch_size=16)
    energies = np.array([float(p["e"]) for p in preds])
    return energies, (time.process_time() - cpu) / max(len(structures), 1)


def _correction(fractions: np.ndarray, residual: np.ndarray) -> np.ndarray:
    coef, *_ = np.linalg.lstsq(fractions, residual, rcond=None)
    return coef


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "anchor.json")
    parser.add_argument("--relax-compositions", type=int, default=3)
    parser.add_argument("--max-structures", type=int, default=200,
                        help="at most this many relaxations (whole compositions)")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--fit-per-composition", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch
    from chgnet.model import CHGNet, StructOptimizer

    from cft_pyg.data.nrel import nrel_table
    from cft_pyg.training.screening import screen_report

    torch.set_num_threads(1)
    root = args.data_root.resolve()
    rng = np.random.default_rng(args.seed)
    train = nrel_table(root / "energies.csv.gz", "project-train")
    test = nrel_table(root / "energies.csv.gz", "project-test")
    fit_rows = pd.concat([g.sample(min(len(g), args.fit_per_composition),
                                   random_state=args.seed)
                          for _, g in train.groupby("composition", sort=True)])
    model = CHGNet.load(model_name="0.3.0", use_device="cpu", verbose=False)
    start = time.perf_counter()

    fit_unrelaxed = _structures(root, "unrelaxed", fit_rows["id"].tolist())
    fit_relaxed = _structures(root, "relaxed", fit_rows["id"].tolist())
    test_unrelaxed = _structures(root, "unrelaxed", test["id"].tolist())
    elements = sorted({el.symbol for s in fit_unrelaxed + test_unrelaxed
                       for el in s.composition.elements})
    x_fit = _fractions(fit_unrelaxed, elements)
    x_test = _fractions(test_unrelaxed, elements)
    e_fit_u, _ = _static(model, fit_unrelaxed)
    e_fit_r, _ = _static(model, fit_relaxed)
    e_test_u, cpu_static = _static(model, test_unrelaxed)
    coef_u = _correction(x_fit, fit_rows["energy_per_atom"].to_numpy() - e_fit_u)
    coef_r = _correction(x_fit, fit_rows["energy_per_atom"].to_numpy() - e_fit_r)

    out: dict[str, Any] = {"model": "CHGNet 0.3.0", "threads": 1,
                           "n_fit": len(fit_rows), "elements": elements}
    frame = pd.DataFrame({"composition": test["composition"], "y_true":
                          test["energy_per_atom"], "y_pred": e_test_u + x_test @ coef_u,
                          "y_pred_raw": e_test_u})
    report = screen_report(frame)
    out["chgnet-static"] = {"metrics": report.to_dict(),
                            "per_composition": report.per_composition.to_dict("records"),
                            "mae_uncorrected": float(np.mean(np.abs(e_test_u - test[
                                "energy_per_atom"].to_numpy()))),
                            "cpu_seconds_per_structure": cpu_static}

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))  # the static part, before the long part
    if args.relax_compositions < 1:
        return 0
    # compositions in a seeded random order, taken while their candidates fit the budget
    comps = sorted(test["composition"].unique())
    sizes = test["composition"].value_counts()
    chosen = []
    for c in rng.permutation(comps).tolist():
        if len(chosen) >= args.relax_compositions:
            break
        if sum(sizes[x] for x in chosen) + sizes[c] <= args.max_structures:
            chosen.append(c)
    chosen.sort()
    mask = test["composition"].isin(chosen).to_numpy()
    optimizer = StructOptimizer(model=model, optimizer_class="FIRE", use_device="cpu")
    relaxed_e, steps, cpu_each = [], [], []
    for k in np.flatnonzero(mask):
        cpu = time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = optimizer.relax(test_unrelaxed[k], fmax=0.1, steps=args.steps,
                                     verbose=False)
        cpu_each.append(time.process_time() - cpu)
        trajectory = result["trajectory"]
        relaxed_e.append(float(trajectory.energies[-1]) / len(result["final_structure"]))
        steps.append(len(trajectory.energies))
        print(f"relaxed {test['id'].iloc[k]}: {steps[-1]} steps, {cpu_each[-1]:.1f} s CPU",
              flush=True)
    relaxed_e = np.array(relaxed_e)
    sub = frame[mask].copy()
    sub["y_pred"] = relaxed_e + x_test[mask] @ coef_r
    report_r = screen_report(sub)
    static_sub = screen_report(frame[mask])
    out["chgnet-relaxed"] = {
        "metrics": report_r.to_dict(),
        "per_composition": report_r.per_composition.to_dict("records"),
        "static_on_subset": static_sub.to_dict(),
        "compositions": chosen, "steps_max": args.steps,
        "steps_mean": float(np.mean(steps)), "reached_max_steps": int(np.sum(
            np.array(steps) >= args.steps)),
        "cpu_seconds_per_structure": float(np.mean(cpu_each)),
    }
    out["wall_seconds"] = time.perf_counter() - start
    out["load_end"] = os.getloadavg()[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    for key in ("chgnet-static", "chgnet-relaxed"):
        m = out[key]["metrics"]
        print(f"{key}: MAE {m['mae']:.4f}, relative MAE {m['relative_mae']:.4f}, Spearman "
              f"{m['spearman']:.3f}, hits {m['hit_rate']:.2f}, "
              f"{out[key]['cpu_seconds_per_structure']:.2f} s CPU per structure")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parents[1]))
    sys.exit(main())
