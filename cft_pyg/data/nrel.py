"""The NREL hypothetical pnictides (Pandey et al., Patterns 2021): prototype-decorated
candidate structures, **unrelaxed** or relaxed, with the DFT total energy per atom **after
relaxation** (``shared/data`` README, section 7).

8,528 structures of 153 compositions (about 56 candidates each; 7,971 ``clean`` rows).  A
candidate is a composition decorated onto a known prototype: its unrelaxed structure keeps
the prototype's cell and fractional coordinates (exact symmetry, wrong distances and
volume), its relaxed structure is the DFT result.  ``input`` chooses which one becomes the
crystal; the target is always the relaxed energy, so ``input='unrelaxed'`` is the first
step of a materials-discovery screen and ``input='relaxed'`` its upper bound.

**Files** (in ``root`` or ``root/raw``): ``energies.csv.gz`` (one row per structure: ``id``,
``composition``, ``energy_per_atom`` and the README's flag columns), ``unrelaxed.json.gz``
and ``relaxed.json.gz`` (``{id: POSCAR text}``).  Uncompressed ``.csv``/``.json`` work too.

**Rows.**  By default only ``clean`` rows (every flag good); the flags of the README
(``clean``, ``unrelaxed_composition_ok``, ``relaxed_composition_ok``,
``relaxed_identical_to_unrelaxed``, ``same_nsites``) are filters (``flags={...}``).  Rows
the filters exclude are listed in ``dataset.excluded`` (``(id, reason)``); rows that fail
conversion are skipped and recorded as in every :class:`CrystalDataset`
(``dataset.skipped``, ``skipped.csv``).

**Composition split.**  ``split='project-train' | 'project-val' | 'project-test'`` is a
fixed 80/10/10 split **of the compositions** (:func:`composition_split`, seed 0): every
candidate of a composition is in one part, so the test measures energies of compositions
never seen in training.  ``'project-all'`` is the three parts in that order, ``'all'`` every
kept row in file order.

**Volume rescaling** (``volume_per_atom``): each cell is scaled isotropically to this volume
per atom before featurization (fractional coordinates, and so the symmetry, unchanged).  A
cheap correction of the unrelaxed cells' prototype volumes for the distance-based models;
off (``None``) by default.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from .crystal_dataset import CrystalDataset
from .entries import Entry
from .splits import PROJECT_SPLIT_FRACTIONS, PROJECT_SPLIT_SEED, PROJECT_SPLITS, project_split

__all__ = ["NREL_FILES", "NREL_FLAGS", "NRELHypothetical", "composition_split", "nrel_table"]

NREL_FILES: dict[str, tuple[str, ...]] = {
    "energies": ("energies.csv.gz", "energies.csv"),
    "unrelaxed": ("unrelaxed.json.gz", "unrelaxed.json"),
    "relaxed": ("relaxed.json.gz", "relaxed.json"),
}
"""The raw files, by role, with their accepted names (preferred first)."""

NREL_FLAGS = ("clean", "unrelaxed_composition_ok", "relaxed_composition_ok",
              "relaxed_identical_to_unrelaxed", "same_nsites")
"""The boolean columns of ``energies.csv.gz`` that :class:`NRELHypothetical` filters on."""

NRELInput = Literal["unrelaxed", "relaxed"]
_INPUTS = ("unrelaxed", "relaxed")


def composition_split(compositions: Sequence[str], seed: int = PROJECT_SPLIT_SEED,
                      fractions: tuple[float, float, float] = PROJECT_SPLIT_FRACTIONS,
                      ) -> dict[str, str]:
    """A seeded split of the distinct compositions into train, val and test.

    The project's split (:func:`~cft_pyg.data.splits.project_split`) of the distinct
    compositions: sorted (so row order and repeats do not matter), permuted with
    ``numpy.random.default_rng(seed)`` and cut into ``fractions``.  Every row of a composition
    then belongs to the part of its composition: no composition is in two parts.

    Args:
        compositions: The composition of every row (repeats expected).
        seed: Permutation seed.
        fractions: Train, val and test fractions of the compositions (sum 1).

    Returns:
        ``{composition: 'project-train' | 'project-val' | 'project-test'}``.
    """
    parts = project_split([str(c) for c in compositions], seed, fractions)
    return {name: part for part, names in parts.items() for name in names}


def nrel_table(path: str | os.PathLike, split: str = "all",
               flags: Mapping[str, bool] | None = None,
               targets: Sequence[str] = ("energy_per_atom",)) -> pd.DataFrame:
    """The rows of ``energies.csv(.gz)`` that pass ``flags``, of one part of the
    composition split, in dataset order: the file's columns plus ``part``.

    Args:
        path: The energies file.
        split: As :class:`NRELHypothetical`'s ``split``.
        flags: ``{flag: required value}`` (default ``{'clean': True}``).
        targets: Columns that must be present.

    Returns:
        The rows (index reset).  The composition split is made on the compositions of the
        rows that pass the filters.
    """
    flags = {"clean": True} if flags is None else dict(flags)
    frame = pd.read_csv(path)
    needed = ["id", "composition", *targets, *flags]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; columns are "
                         f"{list(frame.columns)}")
    keep = np.ones(len(frame), dtype=bool)
    for flag, value in flags.items():
        keep &= frame[flag].astype(bool).to_numpy() == value
    frame = frame[keep].copy()
    frame["part"] = frame["composition"].map(composition_split(frame["composition"]))
    if split in PROJECT_SPLITS:
        frame = frame[frame["part"] == split]
    elif split == "project-all":
        order = {name: k for k, name in enumerate(PROJECT_SPLITS)}
        frame = frame.iloc[np.argsort(frame["part"].map(order).to_numpy(), kind="stable")]
    return frame.reset_index(drop=True)


def _read_json(path: Path) -> dict[str, str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:
        return json.load(f)


def _poscar_to_cif(poscar: str, volume_per_atom: float | None) -> str:
    """The POSCAR text as CIF text (optionally rescaled to ``volume_per_atom``); a POSCAR
    that pymatgen cannot read gives ``''``, which the conversion skips and records."""
    import warnings

    from pymatgen.core import Structure
    from pymatgen.io.cif import CifWriter

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            structure = Structure.from_str(poscar, fmt="poscar")
            if volume_per_atom is not None:
                structure.scale_lattice(volume_per_atom * len(structure))
            return str(CifWriter(structure, significant_figures=10))
    except Exception:
        return ""


class NRELHypothetical(CrystalDataset):
    """NREL hypothetical pnictides: candidate structures -> DFT energy per atom after
    relaxation (see the module docs).

    Args:
        root: Folder with ``energies.csv.gz``, ``unrelaxed.json.gz`` and ``relaxed.json.gz``
            (``shared/data/nrel_hypothetical``).
        split: ``'project-train'``, ``'project-val'``, ``'project-test'`` (the composition
            split, :func:`composition_split`), ``'project-all'`` (the three in that order)
            or ``'all'`` (every kept row in file order).
        input: ``'unrelaxed'`` (the prototype-decorated structure, default) or
            ``'relaxed'`` (the DFT-relaxed one).
        target: ``'energy_per_atom'`` (eV/atom, the only target).
        flags: Row filters ``{flag: required value}`` on the columns of :data:`NREL_FLAGS`;
            default ``{'clean': True}``.  ``{}`` keeps every row.
        volume_per_atom: Scale every cell isotropically to this volume per atom (Å³) before
            featurization; ``None`` (default) keeps the file's cell.
        **kwargs: Options of :class:`CrystalDataset`.

    Attributes:
        excluded: ``list[(id, reason)]`` of the rows the ``flags`` filters removed.

    Example::

        test = NRELHypothetical("../shared/data/nrel_hypothetical", split="project-test",
                                input="unrelaxed")
    """

    name = "nrel_hypothetical"
    available_targets: ClassVar[tuple[str, ...]] = ("energy_per_atom",)
    splits: ClassVar[tuple[str, ...]] = (*PROJECT_SPLITS, "project-all", "all")

    def __init__(self, root: str | os.PathLike, split: str = "project-train",
                 target: str | Sequence[str] | None = None, *, input: NRELInput = "unrelaxed",
                 flags: Mapping[str, bool] | None = None,
                 volume_per_atom: float | None = None, **kwargs: Any) -> None:
        if split not in self.splits:
            raise ValueError(f"split must be one of {self.splits}, got {split!r}")
        if input not in _INPUTS:
            raise ValueError(f"input must be one of {_INPUTS}, got {input!r}")
        flags = {"clean": True} if flags is None else dict(flags)
        unknown = sorted(set(flags) - set(NREL_FLAGS))
        if unknown:
            raise ValueError(f"unknown flag(s) {unknown}; the flags are {list(NREL_FLAGS)}")
        if volume_per_atom is not None and not volume_per_atom > 0:
            raise ValueError(f"volume_per_atom must be positive, got {volume_per_atom}")
        self.split = split
        self.input = input
        self.flags = {k: bool(v) for k, v in sorted(flags.items())}
        self.volume_per_atom = None if volume_per_atom is None else float(volume_per_atom)
        self.excluded: list[tuple[str, str]] = []
        # the options that change the crystals are part of the cache key
        self._extra_options = {"input": input, "flags": self.flags,
                               "volume_per_atom": self.volume_per_atom}
        super().__init__(root, target, **kwargs)
        self.excluded = self._excluded_rows()

    # ------------------------------------------------------------------ options
    @property
    def split_name(self) -> str:
        return f"{self.split}-{self.input}"

    @property
    def cache_key(self) -> str:
        self.options.update(self._extra_options)
        return super().cache_key

    def _raw_requirements(self) -> list[list[str]]:
        return [list(NREL_FILES["energies"]), list(NREL_FILES[self.input])]

    def download(self) -> None:
        missing = [names[0] for names, path in zip(self._raw_requirements(), self.raw_paths,
                                                   strict=True) if not os.path.exists(path)]
        raise FileNotFoundError(
            f"{type(self).__name__}: no {', '.join(missing)} in {self._root_path} or "
            f"{self._root_path}/raw (the folder needs energies.csv.gz, unrelaxed.json.gz and "
            f"relaxed.json.gz of shared/data/nrel_hypothetical; nothing is downloaded)")

    # ------------------------------------------------------------------ rows
    def table(self) -> pd.DataFrame:
        """The rows of this split that pass the filters, in dataset order (before
        conversion): see :func:`nrel_table`."""
        return nrel_table(Path(self.raw_dir) / self.raw_file_names[0], self.split,
                          self.flags, self.targets)

    def _excluded_rows(self) -> list[tuple[str, str]]:
        path = Path(self.raw_dir) / self.raw_file_names[0]
        frame = pd.read_csv(path, usecols=["id", *NREL_FLAGS])
        out = []
        for record in frame.to_dict("records"):
            bad = [f"{flag} is {bool(record[flag])}" for flag, value in self.flags.items()
                   if bool(record[flag]) != value]
            if bad:
                out.append((str(record["id"]), "filtered: " + ", ".join(bad)))
        return out

    def _entries(self) -> list[Entry]:
        frame = self.table()
        structures = _read_json(Path(self.raw_dir) / self.raw_file_names[1])
        entries = []
        for record in frame.to_dict("records"):
            entry_id = str(record["id"])
            poscar = structures.get(entry_id)
            cif = "" if poscar is None else _poscar_to_cif(poscar, self.volume_per_atom)
            targets = [float(record[t]) for t in self.targets]
            entries.append(Entry(entry_id, cif, None, targets, None))
        return entries
