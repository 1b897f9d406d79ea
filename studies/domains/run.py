"""The shipped models on outside references: ASE's 71 elemental crystals and textbook solids.

Each card of :mod:`cft_pyg.pretrained` reports its error on MP-20's project-test part, which
is drawn from the same distribution as its training crystals. This study measures the models
on crystals chosen by others:

* ``ase.collections.dcdft``: the 71 elemental crystals of the Delta test (Lejaeghere et al.,
  Science 351, aad3000 (2016)), each an element's reference crystal, so its formation energy
  is 0 eV/atom by definition;
* textbook solids with published PBE band gaps (approximate literature values, eV):
  diamond 4.2, Si 0.61, Ge 0.0 (PBE closes its gap), NaCl 5.0, MgO 4.45; and for three
  Delta-test elements, as quoted in issue 39: Ne 11.6, Kr 7.18, B 1.52.

It also records each model's training domain (atoms per cell, elements: from the MP-20
rows of its training crystals), which ``predict`` checks (one warning for the crystals
outside it). ``--write-cards`` adds both to the shipped cards (``validity``).

    python studies/domains/run.py --quick                 # 12 elements, seconds
    python studies/domains/run.py --data-root ../shared/data/mp_20 --write-cards
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
PBE_GAPS = {  # eV; approximate published PBE values (see the module docstring)
    "C (diamond)": 4.2, "Si": 0.61, "Ge": 0.0, "NaCl": 5.0, "MgO": 4.45,
    "Ne": 11.6, "Kr": 7.18, "B": 1.52,
}
TEXTBOOK = {  # name: (space group, cubic a in Å, species, fractional sites)
    "C (diamond)": ("Fd-3m", 3.567, ["C"], [[0, 0, 0]]),
    "Si": ("Fd-3m", 5.431, ["Si"], [[0, 0, 0]]),
    "Ge": ("Fd-3m", 5.658, ["Ge"], [[0, 0, 0]]),
    "NaCl": ("Fm-3m", 5.640, ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
    "MgO": ("Fm-3m", 4.212, ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
}
QUICK_ELEMENTS = ("H", "Li", "B", "C", "Na", "Al", "Si", "Fe", "Cu", "Ge", "Kr", "I")
REFERENCE_TARGETS = ("formation_energy_per_atom", "band_gap")
"""Targets these references measure (a formation energy of 0 for elements, PBE gaps)."""


def measured_models() -> list[str]:
    """The shipped models this study measures: those of :data:`REFERENCE_TARGETS` (a total
    energy, as ``nrel-unrelaxed-energy``'s, has no reference here)."""
    from cft_pyg import pretrained

    return [n for n in pretrained.available()
            if pretrained.recipe(n).target in REFERENCE_TARGETS]


def training_domain(name: str, data_root: Path) -> dict[str, Any]:
    """Atoms per cell and elements of the model's training crystals (MP-20 rows)."""
    import pandas as pd
    from ase.data import atomic_numbers

    from cft_pyg.pretrained import training_ids

    ids = set(training_ids(name, data_root))
    frames = [pd.read_csv(p) for p in sorted(data_root.glob("*.csv*"))
              if p.name.split(".")[0] in ("val", "test")]
    rows = pd.concat(frames).drop_duplicates("material_id")
    rows = rows[rows["material_id"].astype(str).isin(ids)]
    import spglib
    from pymatgen.core import Structure

    from cft_pyg.data import Featurization

    f = Featurization()
    max_atoms, max_input, elements = 0, 0, set()
    for cif in rows["cif"]:
        found = re.search(r"_chemical_formula_sum\s+'([^']+)'", cif)
        counts = re.findall(r"([A-Z][a-z]?)(\d*\.?\d*)", found.group(1)) if found else []
        max_input = max(max_input, round(sum(float(n or 1) for _, n in counts)))
        elements |= {atomic_numbers[s] for s, _ in counts}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s = Structure.from_str(cif, fmt="cif")
        cell = (s.lattice.matrix, s.frac_coords, [sp.Z for sp in s.species])
        data = spglib.get_symmetry_dataset(cell, symprec=f.symprec,
                                           angle_tolerance=f.angle_tolerance)
        max_atoms = max(max_atoms, len(data.std_types))  # the cell the model reads
    return {"max_atoms": max_atoms, "max_input_atoms": max_input,
            "elements": sorted(elements), "n_crystals": len(rows),
            "atoms": "of the standardized conventional cell (what the model reads)"}


def crystals(quick: bool) -> dict[str, Any]:
    """The outside crystals: Delta-test elements (ASE Atoms) and textbook solids."""
    from ase.collections import dcdft
    from pymatgen.core import Lattice, Structure

    names = QUICK_ELEMENTS if quick else dcdft.names
    out: dict[str, Any] = {f"dcdft {n}": dcdft[n] for n in names}
    for name, (group, a, species, sites) in TEXTBOOK.items():
        out[name] = Structure.from_spacegroup(group, Lattice.cubic(a), species, sites)
    return out


def measure(name: str, items: dict[str, Any]) -> dict[str, Any]:
    """Predictions of the shipped model ``name`` on ``items``, with the domain warning."""
    from cft_pyg import pretrained
    from cft_pyg.training import predict

    model = pretrained.load(name)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = predict(model, list(items.values()), progress=False)
    seconds = time.perf_counter() - start
    domain_warnings = [str(w.message) for w in caught if "measured domain" in str(w.message)]
    preds = dict(zip(items, frame["y_pred"].astype(float).round(4).tolist(), strict=True))
    return {"predictions": preds, "seconds": round(seconds, 1),
            "domain_warnings": domain_warnings}


def summarize(name: str, preds: dict[str, float]) -> dict[str, Any]:
    """Errors against the references: formation energy 0 for the Delta-test elements; PBE
    gaps where published."""
    if name == "mp20-formation-energy":
        errs = {k.split()[1]: v for k, v in preds.items() if k.startswith("dcdft ")}
        values = np.array(list(errs.values()))
        order = sorted(errs, key=lambda k: -abs(errs[k]))
        return {"title": "ASE dcdft elemental crystals (formation energy 0 eV/atom by "
                         "definition)",
                "n": len(values), "mae": float(np.abs(values).mean()),
                "max_abs_error": float(np.abs(values).max()),
                "largest_errors": {k: errs[k] for k in order[:8]},
                "crystals": preds}
    refs = {k: v for k, v in PBE_GAPS.items()}
    pairs = {}
    for key, ref in refs.items():
        got = preds.get(key, preds.get(f"dcdft {key}"))
        if got is not None:
            pairs[key] = {"predicted": got, "pbe": ref, "error": round(got - ref, 4)}
    errors = np.array([p["error"] for p in pairs.values()])
    return {"title": "textbook solids and Delta-test elements with published PBE gaps",
            "n": len(pairs), "mae": float(np.abs(errors).mean()) if len(errors) else None,
            "references": pairs, "crystals": preds}


def failure_lines(name: str, summary: dict[str, Any], unit: str) -> list[str]:
    """The card's plain statements of where the model fails on the outside references."""
    if name == "mp20-formation-energy":
        worst = ", ".join(f"{k} {v:+.2f}" for k, v in list(summary["largest_errors"].items())[:4])
        return [f"outside reference, ASE's {summary['n']} elemental crystals (formation "
                f"energy 0 by definition): MAE {summary['mae']:.3f} {unit}, up to "
                f"{summary['max_abs_error']:.2f} ({worst}); the project-test elemental "
                "figure above rests on few crystals"]
    bad = [f"{k} {p['predicted']:.2f} against {p['pbe']:.2f}"
           for k, p in summary["references"].items() if abs(p["error"]) > 0.5]
    return [f"insulators outside MP-20's metals-heavy elemental set fail: {'; '.join(bad)} "
            f"eV (PBE); MAE {summary['mae']:.2f} {unit} on these {summary['n']} solids. The "
            "project-test 'elemental solids' figure rests on metals only"] if bad else []


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="12 elements (seconds)")
    p.add_argument("--data-root", default=None, help="MP-20 folder (for the training domain)")
    p.add_argument("--write-cards", action="store_true",
                   help="add the measured references and training domain to the cards")
    p.add_argument("--output", default=str(HERE / "results" / "domains.json"))
    args = p.parse_args(argv)
    from cft_pyg import pretrained
    from cft_pyg.pretrained import MODELS_DIR

    items = crystals(args.quick)
    result: dict[str, Any] = {
        "quick": args.quick, "n_crystals": len(items), "machine": {
            "cpu_count": os.cpu_count(), "loadavg_start": list(os.getloadavg()),
            "platform": platform.platform(), "threads": os.environ.get("OMP_NUM_THREADS")},
        "models": {}}
    for name in measured_models():
        card = pretrained.model_card(name)
        measured = measure(name, items)
        summary = summarize(name, measured["predictions"])
        entry = {**measured, "summary": summary,
                 "failure_cases": failure_lines(name, summary, card["unit"])}
        if args.data_root:
            entry["training_domain"] = training_domain(name, Path(args.data_root))
        result["models"][name] = entry
        print(f"{name}: {summary['title']}: n = {summary['n']}, MAE "
              f"{summary['mae']:.3f} {card['unit']} ({measured['seconds']} s)")
        for line in entry["failure_cases"]:
            print(f"  {line}")
        for line in measured["domain_warnings"]:
            print(f"  warning: {line}")
        if args.write_cards and not args.quick:
            path = MODELS_DIR / f"{name}.json"
            full = json.loads(path.read_text())
            v = full.setdefault("validity", {})
            v["outside_references"] = {"outside": {k: summary[k] for k in summary
                                                   if k != "crystals"}}
            if "training_domain" in entry:
                v["training_domain"] = entry["training_domain"]
            v["failure_cases"] = [f for f in v.get("failure_cases", [])
                                  if not f.startswith(("outside reference", "insulators"))]
            v["failure_cases"] += entry["failure_cases"]
            if "training_domain" in entry:
                d = entry["training_domain"]
                v["domain"] = (f"inorganic crystals like MP-20's: at most "
                               f"{d['max_input_atoms']} atoms per input cell ("
                               f"{d['max_atoms']} in the standardized cell the model reads), the "
                               f"{len(d['elements'])} elements of its "
                               "training crystals; predict warns once for crystals outside "
                               "this; see failure_cases for where it was measured to fail")
            path.write_text(json.dumps(full, indent=2) + "\n")
    result["machine"]["loadavg_end"] = list(os.getloadavg())
    out = Path(args.output if not args.quick else
               str(Path(args.output).with_name("domains_quick.json")))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
