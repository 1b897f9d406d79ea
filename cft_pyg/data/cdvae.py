"""The CDVAE CSV datasets: :class:`MP20`, :class:`Perov5`, :class:`Carbon24`.

One row per crystal, columns ``material_id``, ``cif`` and property columns; the base
:class:`~cft_pyg.data.crystal_dataset.CrystalDataset` does the caching, conversion and
reports.  Where a file declares a group (MP-20's ``spacegroup.number``), it is compared with
the detected one (``space_group_check``).

**Project split (only val + test available).**  The public MP-20/Perov-5/Carbon-24 train
CSVs are Git LFS objects that could not be obtained here, so the project's experiments use
a fixed split of the val and test files together: ``split='project-train'``,
``'project-val'``, ``'project-test'`` (80/10/10) of the union sorted by ``material_id``,
permuted with ``numpy.random.default_rng(0)`` (see :func:`project_split`).  For MP-20 this
is 14,475 / 1,809 / 1,809 of 18,093 rows.  The official CDVAE splits ``'train'``, ``'val'``,
``'test'`` are used as they are when their files are present (or downloadable).

**Download.**  With internet, :class:`MP20` downloads missing CSVs from the CDVAE
repository.  Its CSVs are stored with Git LFS, so ``raw.githubusercontent.com`` serves a
small pointer file (``version https://git-lfs.github.com/spec/v1 ...``) instead of the data;
a pointer is detected and the file is fetched from GitHub's LFS media host
(``media.githubusercontent.com``) instead.  Without internet, put ``{train,val,test}.csv``
(or ``.csv.gz``) into ``root`` (or ``root/raw``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from torch_geometric.data import download_url

from .crystal_dataset import CrystalDataset
from .entries import Entry, is_number
from .splits import PROJECT_SPLITS, project_split

__all__ = ["CDVAEDataset", "Carbon24", "MP20", "PROJECT_ALL", "Perov5", "files_exist_all"]

PROJECT_ALL = "project-all"
"""The three project parts as one dataset (train, val, test, in that order)."""
_LFS_MAGIC = b"version https://git-lfs"


def _is_lfs_pointer(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a Git LFS pointer file rather than the data."""
    with open(path, "rb") as f:
        return f.read(len(_LFS_MAGIC)) == _LFS_MAGIC


class CDVAEDataset(CrystalDataset):
    """A dataset in the CDVAE CSV format, with official and project splits.

    Args:
        root: Folder with ``{train,val,test}.csv`` or ``.csv.gz`` (in ``root`` or
            ``root/raw``).
        split: ``'train'``, ``'val'``, ``'test'`` (official; one file each) or
            ``'project-train'``, ``'project-val'``, ``'project-test'`` (the fixed split of
            val + test, see :func:`project_split`); ``'all'`` and ``'project-all'`` are the
            three official or project parts in that order (train, val, test) as one
            dataset, so that a ``sample`` of the whole is drawn before processing.
        target: Target column(s), default the first of ``available_targets``.
        download: Download missing files from the CDVAE repository (only where the class has
            a URL). Off by default: a folder without the files is an error that lists what
            was looked for, and nothing reaches for the network unless asked.
        **kwargs: Options of :class:`CrystalDataset`.
    """

    url: ClassVar[str | None] = None
    lfs_url: ClassVar[str | None] = None
    declared_group_column: ClassVar[str | None] = None

    def __init__(self, root: str | os.PathLike, split: str = "project-train",
                 target: str | Sequence[str] | None = None, *, download: bool = False,
                 **kwargs: Any) -> None:
        valid = ("train", "val", "test", "all", *PROJECT_SPLITS, PROJECT_ALL)
        if split not in valid:
            raise ValueError(f"split must be one of {valid}, got {split!r}")
        self.split = split
        self.allow_download = download
        super().__init__(root, target, **kwargs)

    @property
    def split_name(self) -> str:
        return self.split

    def _files_needed(self) -> list[str]:
        if self.split in (*PROJECT_SPLITS, PROJECT_ALL):
            return ["val", "test"]
        return ["train", "val", "test"] if self.split == "all" else [self.split]

    def _raw_requirements(self) -> list[list[str]]:
        return [[f"{s}.csv.gz", f"{s}.csv"] for s in self._files_needed()]

    def download(self) -> None:
        if files_exist_all(self.processed_paths):
            return
        missing = [s for s, p in zip(self._files_needed(), self.raw_paths, strict=True)
                   if not os.path.exists(p)]
        if not self.allow_download or self.url is None:
            looked = ", ".join(f"{s}.csv(.gz)" for s in missing)
            raise FileNotFoundError(
                f"{type(self).__name__}: no {looked} in {self.root} or {self.root}/raw "
                f"(is --data-root the dataset's own folder, e.g. .../mp_20?)"
                + ("" if self.url is None else
                   "; download=True (cft-pyg train --download) fetches them from "
                   + self.url.split("{split}")[0]))
        os.makedirs(self.raw_dir, exist_ok=True)
        for split in missing:
            path = download_url(self.url.format(split=split), self.raw_dir, log=self.log)
            if _is_lfs_pointer(path) and self.lfs_url is not None:
                os.remove(path)
                path = download_url(self.lfs_url.format(split=split), self.raw_dir,
                                    log=self.log)
            if _is_lfs_pointer(path):
                os.remove(path)
                raise RuntimeError(
                    f"{self.url.format(split=split)} is a Git LFS pointer and the LFS media "
                    f"host did not serve the data; clone the repository with git-lfs "
                    f"(`git lfs pull`) and copy {split}.csv into {self.raw_dir}")

    def _read(self, split: str) -> pd.DataFrame:
        path = Path(self.raw_dir) / self.raw_file_names[self._files_needed().index(split)]
        frame = pd.read_csv(path)
        missing = [c for c in ["material_id", "cif", *self.stored_targets]
                   if c not in frame.columns]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing}; columns are "
                             f"{list(frame.columns)}")
        return frame

    def _entries(self) -> list[Entry]:
        frames = [self._read(s) for s in self._files_needed()]
        frame = pd.concat(frames, ignore_index=True)
        frame["material_id"] = frame["material_id"].astype(str)
        if self.split in (*PROJECT_SPLITS, PROJECT_ALL):
            parts = project_split(frame["material_id"].tolist())
            ids = parts[self.split] if self.split in PROJECT_SPLITS else \
                [i for name in PROJECT_SPLITS for i in parts[name]]
            order = {mid: k for k, mid in enumerate(ids)}
            frame = frame[frame["material_id"].isin(order)]
            frame = frame.drop_duplicates("material_id")
            frame = frame.iloc[np.argsort([order[m] for m in frame["material_id"]],
                                          kind="stable")]
        entries = []
        column = self.declared_group_column
        for record in frame.to_dict("records"):
            targets = [float(record[t]) if is_number(record[t]) else float("nan")
                       for t in self.stored_targets]
            cif = record["cif"] if isinstance(record["cif"], str) else ""
            declared = None
            if column is not None and column in record and is_number(record[column]):
                declared = int(record[column])
            entries.append(Entry(record["material_id"], cif, None, targets, declared))
        return entries


def files_exist_all(paths: Sequence[str]) -> bool:
    """Whether every path exists (and the list is not empty)."""
    return len(paths) > 0 and all(os.path.exists(p) for p in paths)




class MP20(CDVAEDataset):
    """MP-20 (CDVAE): 45,229 Materials Project crystals with at most 20 atoms per cell.

    Targets: ``formation_energy_per_atom`` (default, eV/atom), ``band_gap`` (eV),
    ``e_above_hull`` (eV/atom).  The declared ``spacegroup.number`` (MP, symprec 0.1) is
    checked against the detected group (see the module docs); MP's tolerances
    (``symprec=0.1``, ``angle_tolerance=5``) are the defaults.

    Locally (``shared/data/mp_20``) only ``val.csv.gz`` and ``test.csv.gz`` exist: use the
    ``project-*`` splits (14,475 / 1,809 / 1,809).  With internet, the official files are
    downloaded from ``https://raw.githubusercontent.com/txie-93/cdvae/main/data/mp_20/``
    (Git LFS: fetched from ``media.githubusercontent.com``).

    Args:
        root: Folder with the CSV files (read-only is fine: the cache then goes to
            ``processed_root`` or the user cache).
        split: See :class:`CDVAEDataset`.
        target: One or several of the targets above.
        **kwargs: Options of :class:`CDVAEDataset` / :class:`CrystalDataset`.

    Processing (CIF parsing, spglib standardization, neighbour graph) costs about 21 ms of
    CPU per crystal: 372 s of CPU for the 18,093 local crystals (about 3 min with the
    default 2 worker processes on 2 free cores); it runs once, later loads hit the cache.
    Measured with ``symprec=0.1``, ``angle_tolerance=5``: no local entry is skipped, the
    crystals cover 168 groups, and the detected group differs from the declared
    ``spacegroup.number`` for 1 of 18,093 (``mp-5466``: declared 15, detected 88; kept with
    88 and listed in ``disagreements``).

    Example::

        train = MP20("../shared/data/mp_20", split="project-train", target="band_gap")
    """

    name = "mp_20"
    available_targets = ("formation_energy_per_atom", "band_gap", "e_above_hull")
    url = "https://raw.githubusercontent.com/txie-93/cdvae/main/data/mp_20/{split}.csv"
    lfs_url = "https://media.githubusercontent.com/media/txie-93/cdvae/main/data/mp_20/{split}.csv"
    declared_group_column = "spacegroup.number"


class Perov5(CDVAEDataset):
    """Perov-5 (CDVAE): 18,928 ABX3 perovskites with 5 atoms per cell, 5 space groups.

    Targets: ``heat_ref`` (default; heat of formation, eV per 5-atom cell), ``heat_all``,
    ``dir_gap``, ``ind_gap`` (eV).  Locally only val + test have properties: use the
    ``project-*`` splits.  Official files: ``txie-93/cdvae`` ``data/perov_5/``.

    Args:
        root: Folder with the CSV files.
        split: See :class:`CDVAEDataset`.
        target: One or several of the targets above.
        **kwargs: Options of :class:`CDVAEDataset` / :class:`CrystalDataset`.
    """

    name = "perov_5"
    available_targets = ("heat_ref", "heat_all", "dir_gap", "ind_gap")
    url = "https://raw.githubusercontent.com/txie-93/cdvae/main/data/perov_5/{split}.csv"
    lfs_url = ("https://media.githubusercontent.com/media/txie-93/cdvae/main/data/perov_5/"
               "{split}.csv")


class Carbon24(CDVAEDataset):
    """Carbon-24 (CDVAE): 10,153 carbon structures (6-24 atoms) from AIRSS at 10 GPa.

    Target: ``energy_per_atom`` (eV/atom).  Locally only val + test have properties: use the
    ``project-*`` splits.  Official files: ``txie-93/cdvae`` ``data/carbon_24/``.

    Args:
        root: Folder with the CSV files.
        split: See :class:`CDVAEDataset`.
        target: ``'energy_per_atom'``.
        **kwargs: Options of :class:`CDVAEDataset` / :class:`CrystalDataset`.
    """

    name = "carbon_24"
    available_targets = ("energy_per_atom",)
    url = "https://raw.githubusercontent.com/txie-93/cdvae/main/data/carbon_24/{split}.csv"
    lfs_url = ("https://media.githubusercontent.com/media/txie-93/cdvae/main/data/carbon_24/"
               "{split}.csv")
