r"""Where a shipped model may be trusted: its training crystals, and its measured domain.

A model card states the test error on crystals like the training ones. This module adds what a
user needs before predicting anything else:

* :func:`training_ids` - the identifiers of the model's training crystals, **computed here
  from the raw dataset files** (nothing of the data is shipped) and checked against the card's
  count and SHA-256 digest. For the MP-20 models the project split pools CDVAE's ``val.csv``
  and ``test.csv``, so CDVAE's own validation and test files *contain* these crystals:
  evaluate a shipped model on ``split='project-test'`` or on data of your own, or drop these
  IDs first. :func:`cft_pyg.training.predict` warns when given a dataset part that holds them.
  :func:`training_compositions` does the same for the compositions of a model trained on a
  composition split (``nrel-unrelaxed-energy``).
* :func:`measure_validity` - the card's ``validity`` entry. MP-20 models: the error on the
  project-test split broken down by number of elements, crystal system and atoms per cell,
  the signed error on elemental solids, and (formation energy) how well the model orders the
  carbon polymorphs of Carbon-24, an out-of-domain set of structures that MP-20 does not
  contain; written by ``python -m cft_pyg.pretrained.validity NAME --data-root DIR
  --carbon-root DIR --write``. Screen models (:mod:`cft_pyg.pretrained.screens`): the worst
  test compositions, the error split by whether relaxation changes the space group, the
  chemistry they were trained on; measured by the builder.

What differs between datasets is one :class:`Source` per registered dataset name in
:data:`SOURCES`; a recipe names its dataset, and everything here follows from that entry.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import screens
from .recipes import Recipe, recipe

__all__ = ["OVERLAPPING_PARTS", "SOURCES", "TRAINING_PART", "Source", "ids_digest",
           "measure_validity", "main", "source_of", "training_compositions", "training_ids"]

TRAINING_PART = "project-train"
"""The part of the dataset the shipped models were trained on (every recipe's default)."""

OVERLAPPING_PARTS = ("val", "test", "all", "project-train", "project-all")
"""MP-20 dataset parts (``split=``) that contain a shipped MP-20 model's training crystals."""


def ids_digest(ids: Sequence[str]) -> str:
    """SHA-256 of the sorted identifiers, one per line (order-independent)."""
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()


def _csv(root: Path, split: str) -> Path:
    for folder in (root, root / "raw"):
        for name in (f"{split}.csv.gz", f"{split}.csv"):
            if (folder / name).is_file():
                return folder / name
    raise FileNotFoundError(f"no {split}.csv(.gz) in {root} or {root}/raw (is it the "
                            f"dataset's own folder, e.g. .../mp_20?)")


def _mp20_training_ids(root: Path, rec: Recipe) -> list[str]:
    """MP-20: the project split of the material IDs of ``val.csv`` + ``test.csv``."""
    import pandas as pd

    from ..data.splits import project_split

    ids = pd.concat([pd.read_csv(_csv(root, s), usecols=["material_id"])
                     for s in ("val", "test")])["material_id"].astype(str).tolist()
    return project_split(ids)[rec.splits["train"]]


def _checked(found: list[str], expected: dict[str, Any], count: str, digest: str,
             what: str, root: Path, name: str) -> list[str]:
    if len(found) != expected[count] or (
            digest in expected and ids_digest(found) != expected[digest]):
        raise ValueError(f"{root} gives {len(found)} training {what} that differ from the "
                         f"{expected[count]} of {name!r}: not the dataset it was trained on")
    return found


def training_ids(name: str, data_root: str | os.PathLike,
                 card: dict[str, Any] | None = None) -> list[str]:
    """The identifiers of the training crystals of the shipped model ``name``.

    Computed from the raw files in ``data_root`` by the recipe's dataset entry of
    :data:`SOURCES` (MP-20: ``val.csv(.gz)`` and ``test.csv(.gz)`` with
    :func:`cft_pyg.data.project_split`; NREL: the candidates of the training compositions in
    ``energies.csv.gz``), and checked against the card's count and digest.

    Args:
        name: a shipped model (:func:`cft_pyg.pretrained.available`).
        data_root: folder of the model's dataset (e.g. ``.../mp_20``).
        card: the model card (default: the shipped one).

    Raises:
        ValueError: the files give other IDs than those the model was trained on (another
            version of the dataset).
    """
    from . import model_card

    card = model_card(name) if card is None else card
    rec = recipe(name)
    root = Path(data_root).expanduser()
    found = source_of(rec).training_ids(root, rec)
    # n_train counts the crystals trained on; n_train_ids, where recorded, the rows of the
    # training part before conversion (a row that fails conversion is skipped in training)
    count = "n_train_ids" if "n_train_ids" in card["data"] else "n_train"
    return _checked(found, card["data"], count, "train_ids_sha256", "IDs", root, name)


def training_compositions(name: str, data_root: str | os.PathLike,
                          card: dict[str, Any] | None = None) -> list[str]:
    """The compositions of the training crystals of a model trained on a composition split
    (every candidate of these compositions was in training; the test compositions were never
    seen), computed from the raw files and checked against the card's count and digest.

    Raises:
        ValueError: the model's dataset has no composition split, or the files give other
            compositions than those the model was trained on.
    """
    from . import model_card

    rec = recipe(name)
    source = source_of(rec)
    if source.training_compositions is None:
        raise ValueError(f"{name!r} was not trained on a composition split ({rec.dataset})")
    card = model_card(name) if card is None else card
    root = Path(data_root).expanduser()
    found = source.training_compositions(root, rec)
    return _checked(found, card["data"], "n_train_compositions",
                    "train_compositions_sha256", "compositions", root, name)


def trained_on(name: str) -> dict[str, Any]:
    """What :func:`cft_pyg.training.predict` checks its input against (set on a loaded
    shipped model as ``module.trained_on``)."""
    from ..training.registry import dataset_factory

    rec = recipe(name)
    source = source_of(rec)
    return {"model": name, "dataset": dataset_factory(rec.dataset).name,  # e.g. 'mp_20'
            "part": rec.splits["train"], "test_part": rec.splits["test"],
            "overlapping_parts": list(source.overlapping_parts),
            "part_note": source.part_note}


# ---------------------------------------------------------------------------- measurement
def _groups(frame: Any, column: str) -> list[dict[str, Any]]:
    rows = []
    for key, part in frame.groupby(column, sort=True):
        err = part["y_pred"] - part["y_true"]
        rows.append({column: key if isinstance(key, str) else int(key), "n": len(part),
                     "mae": float(err.abs().mean()), "mean_signed_error": float(err.mean())})
    return rows


def _atoms_bin(n: int) -> str:
    return "1-4" if n <= 4 else "5-8" if n <= 8 else "9-12" if n <= 12 else "13-20"


def measure_validity(name: str, data_root: str | os.PathLike,
                     carbon_root: str | os.PathLike | None = None,
                     carbon_count: int | None = None, *, module: Any = None,
                     **options: Any) -> dict[str, Any]:
    """The measured domain of ``name`` (the card's ``validity`` entry), by its dataset's
    :class:`Source`.

    MP-20 models: errors on the project-test crystals by family, and (formation energy, with
    ``carbon_root``) the ordering of Carbon-24 polymorphs; returns ``{"by_elements",
    "by_crystal_system", "by_atoms", "elemental", "carbon_polymorphs", "failure_cases",
    "domain"}`` (lists of ``{group, n, mae, mean_signed_error}`` and one-line statements
    computed from them). Screen models: :func:`cft_pyg.pretrained.screens.measure_screen`.

    Args:
        name: a shipped model.
        data_root: its dataset folder (``.../mp_20``, ``.../nrel_hypothetical``).
        carbon_root: the Carbon-24 folder (``.../carbon_24``); ``None`` skips that part
            (MP-20 only).
        carbon_count: Carbon-24 project-test structures used (a seeded sample, chosen before
            processing; ``None``: all 406).
        module: the model (default: the shipped one, :func:`cft_pyg.pretrained.load`).
        **options: further options of the dataset's measurement.
    """
    from . import load

    rec = recipe(name)
    module = load(name) if module is None else module
    return source_of(rec).measure(module, rec, Path(data_root).expanduser(),
                                  carbon_root=carbon_root, carbon_count=carbon_count, **options)


def _measure_mp20(module: Any, rec: Recipe, data_root: Path, *,
                  carbon_root: str | os.PathLike | None = None,
                  carbon_count: int | None = None, test: Any = None,
                  **_: Any) -> dict[str, Any]:
    """:func:`measure_validity` of an MP-20 model."""
    from scipy import stats

    from ..data import Carbon24
    from ..symmetry.space_group import crystal_system
    from ..training import predict
    from .recipes import load_split

    if test is None:
        test = load_split(rec, data_root, "test", featurization=module.featurization)
    frame = predict(module, test, batch_size=128)
    frame["elements"] = [len(set(d.z.tolist())) for d in test]
    frame["n_elements"] = frame["elements"].map(lambda k: str(k) if k < 4 else "4+")
    frame["crystal_system"] = frame["space_group"].map(lambda g: crystal_system(int(g)))
    frame["atoms"] = frame["natoms"].map(lambda n: _atoms_bin(int(n)))
    unit = rec.unit
    out: dict[str, Any] = {
        "test_part": "project-test", "unit": unit,
        "by_elements": _groups(frame, "n_elements"),
        "by_crystal_system": _groups(frame, "crystal_system"),
        "by_atoms": _groups(frame, "atoms"),
    }
    single = frame[frame["elements"] == 1]
    err = single["y_pred"] - single["y_true"]
    out["elemental"] = {"n": len(single), "mae": float(err.abs().mean()),
                        "mean_signed_error": float(err.mean()),
                        "min_error": float(err.min()), "max_error": float(err.max())}
    overall = float((frame["y_pred"] - frame["y_true"]).abs().mean())
    failures = []
    worst = max(out["by_elements"] + out["by_crystal_system"] + out["by_atoms"],
                key=lambda r: r["mae"])
    label = next(k for k in worst if k not in ("n", "mae", "mean_signed_error"))
    failures.append(f"largest family error: {label} {worst[label]} (n = {worst['n']}), MAE "
                    f"{worst['mae']:.3f} {unit} against {overall:.3f} overall")
    failures.append(f"elemental solids (n = {len(single)}): MAE {out['elemental']['mae']:.3f}, "
                    f"mean signed error {out['elemental']['mean_signed_error']:+.3f} {unit} "
                    f"(errors {out['elemental']['min_error']:+.3f} to "
                    f"{out['elemental']['max_error']:+.3f})")
    out["carbon_polymorphs"] = None
    if carbon_root is not None and rec.target == "formation_energy_per_atom":
        carbon = Carbon24(carbon_root, split="project-test", sample=carbon_count,
                          sample_seed=0, featurization=module.featurization, log=False)
        cdf = predict(module, carbon, batch_size=128)
        pearson = float(stats.pearsonr(cdf["y_pred"], cdf["y_true"])[0])
        spearman = float(stats.spearmanr(cdf["y_pred"], cdf["y_true"])[0])
        # formation energy vs total energy: only differences between polymorphs are physical
        spread = float(cdf["y_true"].std())
        out["carbon_polymorphs"] = {
            "n": len(cdf), "reference": "Carbon-24 energy_per_atom (DFT, 10 GPa)",
            "pearson_r": pearson, "spearman_rho": spearman,
            "dft_std": spread, "predicted_std": float(cdf["y_pred"].std())}
        failures.append(
            f"carbon polymorphs (Carbon-24, n = {len(cdf)}): predicted formation energies "
            f"against DFT energies per atom, Pearson r = {pearson:+.2f}, Spearman "
            f"{spearman:+.2f}; spread {cdf['y_pred'].std():.3f} predicted vs {spread:.3f} "
            "DFT eV/atom: it does not rank polymorphs of one element")
    out["failure_cases"] = failures
    out["domain"] = (f"inorganic crystals like MP-20's: at most 20 atoms per cell, elements "
                     f"and structure types of the Materials Project; "
                     f"{len(test)} project-test crystals give the card's MAE")
    return out


_MP20_NOTE = ("project-train: 80% of the union of CDVAE MP-20 val.csv + test.csv "
              "(cft_pyg.data.project_split). CDVAE's val and test files therefore CONTAIN the "
              "training crystals; evaluate on project-test, or exclude "
              "cft_pyg.pretrained.training_ids(name, data_root)")


@dataclass(frozen=True)
class Source:
    """What the pretrained machinery needs to know about one dataset, beyond a recipe.

    Attributes:
        training_ids: ``(root, recipe) -> ids`` of the training part, from the raw files.
        overlapping_parts: dataset parts (``split=``) that hold the training crystals
            (:func:`cft_pyg.training.predict` warns on them).
        part_note: how the training part relates to the dataset's files (in that warning).
        note: the card's ``data.split`` statement.
        measure: ``(module, recipe, root, **options) -> validity`` (the card's ``validity``).
        measured_at_build: the builder writes ``validity`` (otherwise :func:`main` does).
        training_compositions: ``(root, recipe) -> compositions`` of a composition split.
        test_metrics: ``(module, recipe, root, test=...) -> dict``: more entries of the card's
            ``test`` (the screen metrics); ``None``: the plain MAE only.
    """

    training_ids: Callable[[Path, Recipe], list[str]]
    overlapping_parts: tuple[str, ...]
    part_note: str
    note: str
    measure: Callable[..., dict[str, Any]]
    measured_at_build: bool = False
    training_compositions: Callable[[Path, Recipe], list[str]] | None = None
    test_metrics: Callable[..., dict[str, Any]] | None = None


SOURCES: dict[str, Source] = {
    "mp20": Source(training_ids=_mp20_training_ids, overlapping_parts=OVERLAPPING_PARTS,
                   part_note="which pools CDVAE's val and test files", note=_MP20_NOTE,
                   measure=_measure_mp20),
    "nrel-hypothetical": Source(
        training_ids=screens.training_ids, overlapping_parts=screens.OVERLAPPING_PARTS,
        part_note="every candidate of the training compositions", note=screens.NOTE,
        measure=screens.measure_screen, measured_at_build=True,
        training_compositions=screens.training_compositions,
        test_metrics=screens.test_metrics),
}
"""Registered dataset name -> what a recipe on it needs (see :class:`Source`)."""


def source_of(rec: Recipe) -> Source:
    """The :class:`Source` of the recipe's dataset."""
    if rec.dataset not in SOURCES:
        raise KeyError(f"recipe {rec.name!r}: no pretrained source for dataset {rec.dataset!r} "
                       f"(known: {', '.join(SOURCES)})")
    return SOURCES[rec.dataset]


def _write(name: str, validity: dict[str, Any], digest: str, models_dir: Path) -> None:
    path = models_dir / f"{name}.json"
    card = json.loads(path.read_text())
    card["data"]["train_ids_sha256"] = digest
    card["data"]["split"] = source_of(recipe(name)).note
    card["validity"] = validity
    path.write_text(json.dumps(card, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    from . import MODELS_DIR, model_card

    parser = argparse.ArgumentParser(
        prog="python -m cft_pyg.pretrained.validity",
        description="Measure where a shipped model is valid (MP-20: errors by family, "
                    "elemental solids, carbon polymorphs; screens: worst compositions, "
                    "symmetry changes on relaxation); with --write, store it in the model card.")
    parser.add_argument("names", nargs="+", metavar="NAME")
    parser.add_argument("--data-root", required=True, help="the model's dataset folder")
    parser.add_argument("--carbon-root", default=None, help="the Carbon-24 folder (MP-20)")
    parser.add_argument("--write", action="store_true", help="write into the model cards")
    args = parser.parse_args(argv)
    for name in args.names:
        card = model_card(name)
        train = training_ids(name, args.data_root, card={**card, "data": {
            k: v for k, v in card["data"].items() if k != "train_ids_sha256"}})
        previous = card.get("validity") or {}
        validity = measure_validity(name, args.data_root, args.carbon_root,
                                    study=previous.get("study"))
        print(f"{name}:")
        for line in validity["failure_cases"]:
            print(f"  {line}")
        if args.write:
            _write(name, validity, ids_digest(train), MODELS_DIR)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
