"""CGCNN's CIF-folder format (also read by ALIGNN): ``id_prop.csv`` and one CIF per id."""

from __future__ import annotations

import csv
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .crystal_dataset import CrystalDataset
from .entries import Entry, is_number

__all__ = ["CIFFolder"]


class CIFFolder(CrystalDataset):
    """CGCNN's folder format: ``id_prop.csv`` (no header; ``id,target[,target...]``) and one
    ``<id>.cif`` per id (an id that already ends in ``.cif`` is used as the file name, as
    ALIGNN writes it).

    ``y`` is ``(1,)`` for one target column and ``(1, T)`` for several; ``target`` selects
    columns by 0-based index among the target columns (default: all).  Entries whose CIF is
    missing or bad are skipped and reported.  No split is applied: use
    :mod:`cft_pyg.data.splits`.

    Args:
        root: The folder.
        target: Target column indices (``int`` or sequence), default all.
        id_prop: Name of the id/target file.
        **kwargs: Options of :class:`CrystalDataset`.
    """

    name = "cif_folder"

    def __init__(self, root: str | os.PathLike, target: int | Sequence[int] | None = None, *,
                 id_prop: str = "id_prop.csv", **kwargs: Any) -> None:
        self.id_prop = id_prop
        self.target_columns = None if target is None else (
            [int(target)] if isinstance(target, (int, np.integer)) else [int(t) for t in target])
        super().__init__(root, None, **kwargs)

    def _check_targets(self, target: str | Sequence[str] | None) -> list[str]:
        cols = getattr(self, "target_columns", None)
        return ["all"] if cols is None else [f"column{c}" for c in cols]

    def _raw_requirements(self) -> list[list[str]]:
        return [[self.id_prop]]

    def _entries(self) -> list[Entry]:
        folder = Path(self.raw_dir)
        entries = []
        with open(folder / self.id_prop, newline="") as f:
            for line_no, row in enumerate(csv.reader(f), start=1):
                if not row or not row[0].strip():
                    continue
                entry_id = row[0].strip()
                raw_targets = row[1:]
                if self.target_columns is not None:
                    raw_targets = [raw_targets[c] if c < len(raw_targets) else ""
                                   for c in self.target_columns]
                values = [float(v) if is_number(v) else float("nan") for v in raw_targets]
                if not values:
                    warnings.warn(f"{folder / self.id_prop}:{line_no}: no target column",
                                  stacklevel=2)
                file_name = entry_id if entry_id.lower().endswith(".cif") else f"{entry_id}.cif"
                entries.append(Entry(entry_id, None, str(folder / file_name), values or None, None))
        return entries
