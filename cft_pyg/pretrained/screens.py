r"""The card of a shipped model for screens: candidate structures of compositions never seen
in training (``nrel-unrelaxed-energy``: the NREL hypothetical pnictides, unrelaxed
prototype-decorated candidates -> DFT energy per atom after relaxation).

A screen ranks the candidates of each composition, so the card reports the screen metrics of
:mod:`cft_pyg.training.screening` on the test compositions next to the plain MAE
(:func:`test_metrics`), and its ``validity`` (:func:`measure_screen`) says where the model was
measured to fail: the worst test compositions, the error split by whether DFT relaxation
changes the candidate's space group (spglib on both POSCARs of the dataset), the same
candidates given as relaxed structures, the chemistry of its training compositions, and the
study that chose it.  The training identifiers and compositions are computed from the raw
files (:func:`training_ids`, :func:`training_compositions`): nothing of the data ships.

Light to import (no torch): everything heavy is imported inside the functions.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

__all__ = ["NOTE", "OVERLAPPING_PARTS", "PNICTOGENS", "SYMPREC", "formula_type",
           "measure_screen", "study_statement", "test_metrics", "training_compositions",
           "training_ids"]

OVERLAPPING_PARTS = ("all", "project-train", "project-all")
"""NREL dataset parts (``split=``) that contain the training candidates."""

NOTE = ("project-train: every clean candidate of 80% of the compositions of the NREL "
        "hypothetical pnictides (composition split, cft_pyg.data.composition_split, seed 0); "
        "the project-test compositions were never seen in training. "
        "cft_pyg.pretrained.training_compositions(name, data_root) lists the training "
        "compositions, training_ids(name, data_root) the training candidates")

PNICTOGENS = ("N", "P", "As", "Sb", "Bi")
"""Group-15 elements: the anions of the NREL pnictides."""

SYMPREC = 0.1
"""spglib tolerance (Å) of the space groups compared before and after relaxation (the data
README's 29 % is at this tolerance)."""

WORST = 5
"""Test compositions listed as the worst."""


# ---------------------------------------------------------------------------- raw files
def _energies(root: Path) -> Path:
    from ..data.nrel import NREL_FILES

    for folder in (root, root / "raw"):
        for name in NREL_FILES["energies"]:
            if (folder / name).is_file():
                return folder / name
    raise FileNotFoundError(f"no {NREL_FILES['energies'][0]} in {root} or {root}/raw (is it "
                            f"the NREL folder, .../nrel_hypothetical?)")


def _table(root: Path, rec: Any, role: str) -> Any:
    """The rows of the recipe's ``role`` part (before conversion), as the dataset reads them."""
    from ..data.nrel import nrel_table

    return nrel_table(_energies(root), rec.splits[role], rec.dataset_options.get("flags"))


def training_ids(root: Path, rec: Any) -> list[str]:
    """The candidate IDs of the training part (every row of the training compositions that
    passes the recipe's filters), from ``energies.csv.gz``."""
    return _table(root, rec, "train")["id"].astype(str).tolist()


def training_compositions(root: Path, rec: Any) -> list[str]:
    """The training compositions (sorted), from ``energies.csv.gz``."""
    return sorted(set(_table(root, rec, "train")["composition"].astype(str)))


def _space_groups(root: Path, ids: list[str]) -> dict[str, tuple[int, int]]:
    """``{id: (unrelaxed group, relaxed group)}`` by spglib at :data:`SYMPREC` on the two
    POSCARs of each candidate (0: spglib found none)."""
    import warnings

    import spglib
    from pymatgen.core import Structure

    from ..data.nrel import NREL_FILES, _read_json

    def group(poscar: str | None) -> int:
        if poscar is None:
            return 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s = Structure.from_str(poscar, fmt="poscar")
            found = spglib.get_symmetry_dataset(
                (s.lattice.matrix, s.frac_coords, [sp.Z for sp in s.species]), symprec=SYMPREC)
        return 0 if found is None else int(found.number)

    texts = {}
    for kind in ("unrelaxed", "relaxed"):
        path = next((folder / name for folder in (root, root / "raw")
                     for name in NREL_FILES[kind] if (folder / name).is_file()), None)
        if path is None:
            raise FileNotFoundError(f"no {NREL_FILES[kind][0]} in {root} or {root}/raw")
        texts[kind] = _read_json(path)
    return {i: (group(texts["unrelaxed"].get(i)), group(texts["relaxed"].get(i))) for i in ids}


# ---------------------------------------------------------------------------- predictions
def _predictions(module: Any, rec: Any, root: Path, test: Any = None) -> Any:
    """Predictions on the recipe's test part with each candidate's composition."""
    from ..training import predict
    from .recipes import load_split

    if test is None:
        test = load_split(rec, root, "test", featurization=module.featurization)
    frame = predict(module, test, batch_size=128, progress=False)
    table = test.table()
    frame["composition"] = frame["material_id"].map(
        dict(zip(table["id"].astype(str), table["composition"], strict=True)))
    return frame


def _bootstrap(values: Any, n_resamples: int = 2000, seed: int = 0) -> list[float]:
    import numpy as np

    v = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(n_resamples, v.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return [float(low), float(high)]


def test_metrics(module: Any, rec: Any, root: Path, *, test: Any = None, frame: Any = None,
                 **_: Any) -> dict[str, Any]:
    """The screen metrics of the test compositions (the card's ``test["screen"]``):
    :func:`cft_pyg.training.screening.screen_report` (plain MAE, relative-energy MAE,
    within-composition Spearman, ground-state hit rate, numbers of compositions and
    candidates), a bootstrap interval of the relative-energy MAE over compositions, and the
    floor of predicting one value per composition (no ranking)."""
    from ..training.screening import screen_report

    frame = _predictions(module, rec, root, test) if frame is None else frame
    report = screen_report(frame)
    floor = screen_report(frame.assign(y_pred=0.0))
    return {"screen": {
        **report.to_dict(),
        "relative_mae_95ci": _bootstrap(report.per_composition["relative_mae"]),
        "interval": "percentile bootstrap over test compositions, 2000 resamples",
        "one_value_per_composition": {"relative_mae": floor.relative_mae,
                                      "spearman": floor.spearman,
                                      "hit_rate": floor.hit_rate},
        "metrics": "cft_pyg.training.screening (per composition, then averaged)",
        "part": rec.splits["test"]}}


# ---------------------------------------------------------------------------- validity
def formula_type(composition: str) -> str:
    """``'K1Zn1Bi1'`` -> ``'ABX'``, ``'Na1Al1Sb4'`` -> ``'ABX4'``, ``'Cd1As2'`` -> ``'AX2'``:
    cations (A, B, ...) then pnictogen anions (X, Y), each with its count when above one,
    larger counts first."""
    counts = [(el, int(n or 1)) for el, n in re.findall(r"([A-Z][a-z]?)(\d*)", composition)]
    cations = sorted((n for el, n in counts if el not in PNICTOGENS), reverse=True)
    anions = sorted((n for el, n in counts if el in PNICTOGENS), reverse=True)
    return "".join(f"{letter}{n if n > 1 else ''}" for letters, ns in (("ABCDEFG", cations),
                                                                      ("XYZ", anions))
                   for letter, n in zip(letters, ns, strict=False))


def _relative_errors(frame: Any) -> Any:
    """Per candidate: the error of its energy above its composition's DFT ground state
    (the per-candidate terms of the relative-energy MAE of :mod:`cft_pyg.training.screening`)."""
    import numpy as np

    out = np.full(len(frame), np.nan)
    pred, true = frame["y_pred"].to_numpy(float), frame["y_true"].to_numpy(float)
    for _, idx in frame.groupby("composition", sort=True).indices.items():
        if len(idx) < 2:
            continue
        ground = true[idx] == true[idx].min()
        rel_t = true[idx] - true[idx][ground].mean()
        rel_p = pred[idx] - pred[idx][ground].mean()
        out[idx] = np.abs(rel_p - rel_t)
    return out


def _chemistry(compositions: list[str]) -> dict[str, Any]:
    from collections import Counter

    elements = {el for c in compositions for el in re.findall(r"[A-Z][a-z]?", c)}
    types = Counter(formula_type(c) for c in compositions)
    return {"anions": [e for e in PNICTOGENS if e in elements],
            "cations": sorted(elements - set(PNICTOGENS)),
            "formula_types": dict(sorted(types.items(), key=lambda kv: (-kv[1], kv[0]))),
            "n_compositions": len(compositions)}


def study_statement(study: dict[str, Any]) -> str:
    """The card's line on the study that chose the architecture: the library's coordinate-free
    Wyckoff model ties it, and aviary's Wrenformer, where the study has its row, is compared
    too (``study``: the rows of ``studies/unrelaxed/results/summary.json``)."""
    rows = study["rows"]
    cft, wyckoff, none = rows["cft"], rows["wyckoff"], rows["cft-no-encoding"]

    def pm(r: dict[str, Any], key: str, d: int = 4) -> str:
        return f"{r[key]:.{d}f} ± {r[key + '_std']:.{d}f}"

    wren = rows.get("wrenformer")
    if wren is None:
        other = ""
    else:
        ahead = wren["relative_mae"] > cft["relative_mae"]
        other = (f"; aviary's Wrenformer (the coordinate-free Wyckoff baseline of a maintained "
                 f"package, {wren['epochs']:.1f} epochs) reached {pm(wren, 'relative_mae')} "
                 f"eV/atom (Spearman {wren['spearman']:.2f}), "
                 f"{'behind' if ahead else 'ahead of'} this architecture")
    return (f"the study that chose it ({study['source']}: unrelaxed inputs, the same "
            f"{cft['n_compositions']} test compositions, {len(cft['seeds'])} seeds of "
            f"{cft['budget_cpu_seconds']:.0f} CPU-seconds of training each) found a tie, not "
            f"a win: the library's coordinate-free Wyckoff model (elements, space group, "
            f"Wyckoff letters; no coordinates) reached a relative-energy MAE of "
            f"{pm(wyckoff, 'relative_mae')} against {pm(cft, 'relative_mae')} eV/atom for "
            f"this architecture (Spearman {wyckoff['spearman']:.2f} against "
            f"{cft['spearman']:.2f}){other}; the encoding's gain is over the same trunk "
            f"without it ({pm(none, 'relative_mae', 3)}), which reads the prototypes' wrong "
            f"distances. Those runs trained {cft['epochs']:.1f} epochs; this model trained "
            f"longer, and no Wyckoff model was trained as long, so whether the tie holds at "
            f"this length is not measured")


def _group_rows(frame: Any, column: str) -> list[dict[str, Any]]:
    rows = []
    for key, part in frame.groupby(column, sort=True):
        err = part["y_pred"] - part["y_true"]
        rows.append({column: str(key), "n": len(part), "mae": float(err.abs().mean()),
                     "mean_signed_error": float(err.mean()),
                     "relative_mae": float(part["relative_error"].mean())})
    return rows


def _relaxed_inputs(module: Any, rec: Any, root: Path, test: Any,
                    ids: list[str]) -> dict[str, Any]:
    """The same test candidates given as their DFT-relaxed structures."""
    from ..training import predict
    from ..training.screening import screen_report
    from .recipes import load_split

    relaxed_rec = replace(rec, dataset_options={**rec.dataset_options, "input": "relaxed"})
    relaxed = load_split(relaxed_rec, root, "test", max_rows=getattr(test, "max_rows", None),
                         featurization=module.featurization)
    frame = predict(module, relaxed, batch_size=128, progress=False)
    table = relaxed.table()
    frame["composition"] = frame["material_id"].map(
        dict(zip(table["id"].astype(str), table["composition"], strict=True)))
    frame = frame[frame["material_id"].isin(set(ids))]
    report = screen_report(frame)
    return {k: v for k, v in report.to_dict().items() if k != "tolerance"}


def measure_screen(module: Any, rec: Any, root: Path, *, train: Any = None, test: Any = None,
                   study: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """The card's ``validity`` of a screen model: worst test compositions, error by symmetry
    change on relaxation, the relaxed structures of the test candidates as inputs, training
    domain and chemistry, one-line failure statements and the domain.

    Args:
        module: the model.
        rec: its recipe.
        root: the NREL folder (``.../nrel_hypothetical``).
        train, test: the recipe's training and test parts (default: loaded here).
        study: ``{"source", "rows": {model: summary row}}`` of the study that chose the
            architecture (the builder reads it from ``studies/unrelaxed``); ``None`` leaves
            that statement out.
    """
    from ..training.domain import domain_of
    from ..training.screening import screen_report
    from .recipes import load_split

    if test is None:
        test = load_split(rec, root, "test", featurization=module.featurization)
    if train is None:
        train = load_split(rec, root, "train", featurization=module.featurization)
    unit = rec.unit
    frame = _predictions(module, rec, root, test)
    report = screen_report(frame)
    frame["relative_error"] = _relative_errors(frame)
    ids = frame["material_id"].astype(str).tolist()
    groups = _space_groups(root, ids)
    frame["space_group_on_relaxation"] = [
        "changes" if groups[i][0] != groups[i][1] else "kept" for i in ids]
    by_change = _group_rows(frame, "space_group_on_relaxation")
    changed = int((frame["space_group_on_relaxation"] == "changes").sum())
    per = report.per_composition.sort_values("relative_mae", ascending=False)
    worst = [{k: (v if isinstance(v, str) else int(v) if k == "n" else float(v))
              for k, v in row.items()} for row in per.head(WORST).to_dict("records")]
    relaxed = _relaxed_inputs(module, rec, root, test, ids)

    table = _table(root, rec, "train")
    trained = domain_of(train)
    domain = {"max_atoms": trained["max_atoms"], "max_input_atoms": int(table["nsites"].max()),
              "elements": trained["elements"], "n_crystals": len(train),
              "atoms": "of the standardized conventional cell (what the model reads)"}
    chemistry = _chemistry(sorted(set(table["composition"].astype(str))))

    from ase.data import chemical_symbols

    names = ", ".join(chemical_symbols[z] for z in domain["elements"])
    kept = next((r for r in by_change if r["space_group_on_relaxation"] == "kept"), None)
    moved = next((r for r in by_change if r["space_group_on_relaxation"] == "changes"), None)
    failures = [
        "worst test compositions by relative-energy MAE: " + "; ".join(
            f"{w['composition']} {w['relative_mae']:.3f} (n = {w['n']}, Spearman "
            f"{w['spearman']:+.2f})" for w in worst[:3])
        + f" {unit}, against {report.relative_mae:.3f} averaged over the "
        f"{report.n_compositions} test compositions"]
    if kept is not None and moved is not None:
        failures.append(
            f"candidates whose space group changes on relaxation (spglib, symprec {SYMPREC}: "
            f"{changed} of {len(frame)} test candidates, {100 * changed / len(frame):.0f} %): "
            f"error of the energy above the ground state {moved['relative_mae']:.3f} against "
            f"{kept['relative_mae']:.3f} {unit} where it is kept (plain MAE "
            f"{moved['mae']:.3f} against {kept['mae']:.3f}): the exact symmetry the encoding "
            "reads is the prototype's, not the relaxed crystal's")
    failures.append(
        f"trained on prototype-decorated pnictides only: anions {', '.join(chemistry['anions'])}"
        f"; cations {', '.join(chemistry['cations'])}; {chemistry['n_compositions']} "
        f"compositions ({', '.join(f'{t} {n}' for t, n in chemistry['formula_types'].items())}"
        "). Oxides, halides, chalcogenides, intermetallics and any other anion are outside "
        "its measured domain, and predict warns only for elements absent from training")
    failures.append(
        "the target is the NREL set's DFT total energy per atom after relaxation (the source "
        "does not state the functional), not a formation energy: compare the candidates of one "
        "composition with each other, not with energies of other codes or datasets")
    failures.append(
        f"given the relaxed structures of the same test candidates (not its training input): "
        f"relative-energy MAE {relaxed['relative_mae']:.3f}, Spearman "
        f"{relaxed['spearman']:.2f}, plain MAE {relaxed['mae']:.3f} {unit}, against "
        f"{report.relative_mae:.3f}, {report.spearman:.2f} and {report.mae:.3f} on the "
        "unrelaxed ones")
    if study is not None:
        failures.append(study_statement(study))
    out: dict[str, Any] = {
        "test_part": rec.splits["test"], "unit": unit,
        "input": rec.dataset_options.get("input"),
        "worst_compositions": worst,
        "by_symmetry_change": by_change,
        "symmetry_change": {"changed": changed, "n": len(frame), "symprec": SYMPREC,
                            "detector": "spglib on the unrelaxed and the relaxed POSCAR"},
        "relaxed_inputs": relaxed,
        "chemistry": chemistry,
        "training_domain": domain,
        "failure_cases": failures,
        "domain": (
            f"unrelaxed prototype-decorated pnictide candidates like the NREL set's (the "
            f"prototype's cell and fractional coordinates with new elements): the "
            f"{len(domain['elements'])} elements of its training candidates ({names}), at most "
            f"{domain['max_input_atoms']} atoms per input cell ({domain['max_atoms']} in the "
            "standardized cell the model reads); predict warns once for crystals outside this; "
            "see failure_cases for where it was measured to fail"),
    }
    if study is not None:
        out["study"] = study
    return out
