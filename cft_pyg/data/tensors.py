"""Materials Project tensor properties: dielectric, piezoelectric and elastic tensors.

The three files of ``shared/data/tensors/`` (README section 8 there): 896 dielectric
(3x3, relative permittivity ``e_total`` or ``e_electronic``), 775 piezoelectric (3x3x3,
C/m², symmetric in the last pair) and 1,021 elastic (3x3x3x3, GPa) tensors, **each in the
Cartesian frame of the POSCAR of its record**.  The POSCAR is read with pymatgen (which keeps
the frame) and standardized with :func:`~cft_pyg.data.from_structure`; the crystal's ``y`` is
the full tensor in the input's frame, flattened to ``(1, 3**n)``, and ``std_rotation`` maps
that frame to the standardized one (:mod:`cft_pyg.nn.tensor_head`).

Conventions and caveats (from the data README): Voigt order xx, yy, zz, yz, xz, xy without
factors (:func:`cft_pyg.symmetry.tensors.to_voigt`); the sign of a piezoelectric tensor
relative to the atoms is not verified by the source checks; 61 elastic tensors are not
positive definite.  The dielectric tensors are the raw DFPT values, slightly asymmetric (up
to 0.058); the target here is their symmetric part (the permittivity is symmetric), which
the README's Neumann figures do not change.

The processed crystals are cached under ``get_home_dir()/mp_tensors/<key>/`` (``key``: the
target, featurization, ``max_rows`` and the raw file's size and time), never beside the
read-only shared data.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch_geometric.data import Data, InMemoryDataset

from ..home import get_home_dir
from .errors import StructureError
from .featurization import Featurization
from .structure import from_structure

__all__ = ["MPTensors", "TENSOR_TARGETS", "TensorTarget", "default_tensor_root",
           "read_tensor_records"]

TensorTarget = Literal["dielectric", "piezoelectric", "elastic"]

TENSOR_TARGETS: dict[str, tuple[str, str, int]] = {
    "dielectric": ("dielectric.json.gz", "e_total", 2),
    "dielectric-electronic": ("dielectric.json.gz", "e_electronic", 2),
    "piezoelectric": ("piezoelectric.json.gz", "piezo_tensor", 3),
    "elastic": ("elastic.json.gz", "elastic_tensor", 4),
}
"""target name -> (file, column of the full tensor, rank).  ``dielectric`` is the total
permittivity (electronic + ionic), ``dielectric-electronic`` its electronic part."""

TENSOR_KIND = {"dielectric": "dielectric", "dielectric-electronic": "dielectric",
               "piezoelectric": "piezoelectric", "elastic": "elastic"}
"""target name -> tensor type of :data:`cft_pyg.symmetry.tensors.TENSOR_TYPES`."""


def default_tensor_root() -> Path:
    """``$CFT_PYG_SHARED_DATA/tensors`` or ``../shared/data/tensors`` beside the package's
    checkout (where the project keeps its data)."""
    env = os.environ.get("CFT_PYG_SHARED_DATA")
    if env:
        return Path(env) / "tensors"
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "tensors"


def _check_target(target: str) -> str:
    if target not in TENSOR_TARGETS:
        raise ValueError(f"unknown tensor target {target!r}; one of {sorted(TENSOR_TARGETS)}")
    return target


def read_tensor_records(root: str | os.PathLike | None, target: str) -> list[dict[str, Any]]:
    """The records of one file: dicts with ``material_id``, ``poscar`` and ``tensor``
    (full, ``(3,) * rank`` float64, symmetric part for the dielectric)."""
    filename, column, rank = TENSOR_TARGETS[_check_target(target)]
    path = Path(root if root is not None else default_tensor_root()) / filename
    if not path.exists():
        raise FileNotFoundError(f"tensor data not found: {path} (see shared/data README "
                                "section 8)")
    with gzip.open(path, "rt") as f:
        rows = json.load(f)
    out = []
    for row in rows:
        tensor = np.asarray(row[column], dtype=np.float64).reshape((3,) * rank)
        if rank == 2:
            tensor = 0.5 * (tensor + tensor.T)
        out.append({"material_id": str(row["material_id"]), "poscar": row["poscar"],
                    "tensor": tensor, "formula": row.get("formula")})
    return out


class MPTensors(InMemoryDataset):
    """Crystals with a tensor target in the frame of their POSCAR.

    Args:
        root: folder with the three ``*.json.gz`` files (default
            :func:`default_tensor_root`).
        target: ``'dielectric'``, ``'dielectric-electronic'``, ``'piezoelectric'`` or
            ``'elastic'``.
        featurization: how the structures become crystals (default
            :data:`~cft_pyg.data.DEFAULT_FEATURIZATION`).
        max_rows: use only the first ``max_rows`` records (tests).
        processed_root: where the cache goes (default ``get_home_dir()/mp_tensors``).
        force_reload: process again.
        log: progress and messages.

    Attributes:
        target, rank, kind: the target name, tensor rank and tensor type.
        skipped: ``list[(material_id, reason)]`` of records that could not be standardized.

    Each crystal has ``y`` ``(1, 3**rank)`` float32 (the full tensor in the POSCAR's frame,
    row-major), ``std_rotation``, ``material_id`` and the fields of ``docs/conventions.md``.
    """

    VERSION = 1

    def __init__(self, root: str | os.PathLike | None = None, target: str = "elastic", *,
                 featurization: Featurization | None = None, max_rows: int | None = None,
                 processed_root: str | os.PathLike | None = None, force_reload: bool = False,
                 log: bool = True) -> None:
        self.target = _check_target(target)
        self.rank = TENSOR_TARGETS[target][2]
        self.kind = TENSOR_KIND[target]
        self.featurization = Featurization.resolve(featurization)
        if max_rows is not None and max_rows < 1:
            raise ValueError(f"max_rows must be >= 1, got {max_rows}")
        self.max_rows = max_rows
        self._raw_root = Path(root if root is not None else default_tensor_root()).resolve()
        self._processed_root = Path(processed_root) if processed_root is not None else (
            get_home_dir() / "mp_tensors")
        self.skipped: list[tuple[str, str]] = []
        super().__init__(str(self._raw_root), force_reload=force_reload, log=log)
        self.load(self.processed_paths[0])
        with open(self.processed_paths[1]) as f:
            self.skipped = [tuple(s) for s in json.load(f)["skipped"]]

    @property
    def raw_dir(self) -> str:
        return str(self._raw_root)

    @property
    def raw_file_names(self) -> list[str]:
        return [TENSOR_TARGETS[self.target][0]]

    @property
    def cache_key(self) -> str:
        raw = Path(self.raw_dir) / self.raw_file_names[0]
        stat = raw.stat() if raw.exists() else None
        key = {"v": self.VERSION, "target": self.target, "max_rows": self.max_rows,
               "featurization": self.featurization.cache_dict(),
               "raw": [str(raw), stat.st_size, int(stat.st_mtime)] if stat else None}
        return hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]

    @property
    def processed_dir(self) -> str:
        return str(self._processed_root / f"{self.target}_{self.cache_key}")

    @property
    def processed_file_names(self) -> list[str]:
        return ["data.pt", "meta.json"]

    def download(self) -> None:
        raise FileNotFoundError(f"tensor data not found in {self.raw_dir} (expected "
                                f"{self.raw_file_names[0]}; shared/data README section 8)")

    def process(self) -> None:
        from pymatgen.core import Structure

        records = read_tensor_records(self.raw_dir, self.target)
        if self.max_rows is not None:
            records = records[: self.max_rows]
        data_list: list[Data] = []
        skipped: list[tuple[str, str]] = []
        iterator: Any = records
        if self.log and sys.stderr.isatty():
            from tqdm.auto import tqdm

            iterator = tqdm(records, desc=f"MPTensors({self.target})")
        for record in iterator:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    structure = Structure.from_str(record["poscar"], fmt="poscar")
                data = from_structure(structure, self.featurization,
                                      y=record["tensor"].reshape(-1),
                                      material_id=record["material_id"])
            except (StructureError, ValueError) as err:
                skipped.append((record["material_id"], f"{type(err).__name__}: {err}"))
                continue
            data_list.append(data)
        if not data_list:
            raise RuntimeError(f"MPTensors({self.target}): every record was skipped: "
                               f"{skipped[:3]}")
        self.save(data_list, self.processed_paths[0])
        with open(self.processed_paths[1], "w") as f:
            json.dump({"target": self.target, "records": len(records), "kept": len(data_list),
                       "skipped": skipped}, f, indent=1)

    def tensors(self) -> torch.Tensor:
        """``(N, 3, ..., 3)`` float64 targets in each crystal's input frame."""
        y = self._data.y.reshape(len(self), -1).double()
        return y.reshape((len(self),) + (3,) * self.rank)
