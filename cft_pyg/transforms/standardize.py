""":class:`StandardizeCrystal`: a crystal given as PyG ``Data`` -> the standardized ``Data`` of
:func:`~cft_pyg.data.from_structure`."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch_geometric.data import Data
from torch_geometric.data.datapipes import functional_transform
from torch_geometric.transforms import BaseTransform

from ..data.errors import StructureError
from ..data.featurization import Featurization
from ..data.structure import from_structure

__all__ = ["StandardizeCrystal", "cell_of_data"]

_REBUILT = frozenset({"pos", "cell", "atomic_numbers", "z", "natoms", "edge_index",
                      "cell_offsets", "distances", "edge_dist", "neighbors", "frac_coords",
                      "x", "batch", "ptr", "num_nodes", "space_group",
                      "transformation_matrix", "origin_shift", "featurization"})
"""Fields the transform reads or rebuilds (never carried over)."""


def cell_of_data(data: Data) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(lattice (3, 3) rows, frac (n, 3), numbers (n,))`` float64 of a crystal ``Data``.

    Reads ``cell`` (``(1, 3, 3)`` or ``(3, 3)``, lattice vectors as rows, Å), the Cartesian
    ``pos`` (Å) and ``atomic_numbers`` (fairchem; float or integer) or ``z`` (PyG).

    Raises:
        StructureError: a missing field, a wrong shape, a non-integral atomic number
            (reason ``bad_shape``) or a singular cell (``degenerate_lattice``).
    """
    if getattr(data, "cell", None) is None or getattr(data, "pos", None) is None:
        raise StructureError("a crystal Data needs 'cell' (1, 3, 3) and 'pos' (n, 3) in Å",
                             "bad_shape")
    numbers = getattr(data, "atomic_numbers", None)
    if numbers is None:
        numbers = getattr(data, "z", None)
    if numbers is None:
        raise StructureError("a crystal Data needs 'atomic_numbers' or 'z'", "bad_shape")
    cell = torch.as_tensor(data.cell).detach().cpu().double()
    if cell.shape not in ((1, 3, 3), (3, 3)):
        raise StructureError(f"cell must have shape (1, 3, 3) or (3, 3), got {tuple(cell.shape)}",
                             "bad_shape")
    lattice = cell.reshape(3, 3).numpy()
    pos = torch.as_tensor(data.pos).detach().cpu().double().numpy()
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise StructureError(f"pos must have shape (n, 3), got {tuple(pos.shape)}", "bad_shape")
    z = torch.as_tensor(numbers).detach().cpu().double().reshape(-1).numpy()
    if z.shape[0] != pos.shape[0]:
        raise StructureError(f"{z.shape[0]} atomic numbers for {pos.shape[0]} positions",
                             "bad_shape")
    if not np.all(np.isfinite(z)) or np.any(z != np.round(z)):
        raise StructureError("atomic numbers must be integers", "bad_shape")
    if not np.all(np.isfinite(lattice)) or abs(np.linalg.det(lattice)) < 1e-9:
        raise StructureError("the cell is singular or not finite", "degenerate_lattice")
    frac = np.linalg.solve(lattice.T, pos.T).T
    return lattice, frac, z.astype(np.int64)


@functional_transform("standardize_crystal")
class StandardizeCrystal(BaseTransform):
    r"""Standardize a crystal given as PyG ``Data`` (functional name:
    :obj:`standardize_crystal`).

    The input follows the common conventions (fairchem v1's ``AtomsToGraphs``, PyG
    periodic datasets): ``pos`` ``(n, 3)`` Cartesian Å, ``cell`` ``(1, 3, 3)`` lattice
    vectors as rows, ``atomic_numbers`` ``(n,)`` (float or integer) or ``z``.  The output is
    exactly :func:`~cft_pyg.data.from_structure` of ``(cell, pos @ cell^-1, numbers)``:
    ``z``, ``frac_coords``, ``pos``, ``cell``, ``space_group``, ``natoms``,
    ``transformation_matrix``, ``origin_shift``, ``featurization`` and (with
    ``neighbor_graph``) ``edge_index``, ``cell_offsets``, ``edge_dist``, in the setting of
    ``SpaceGroup(space_group)``.

    The standardized cell is the conventional one (it may hold more atoms than the input)
    and its atoms are in another order, so **per-atom and per-edge fields of the input are
    dropped** (forces, ``tags``, ``fixed``, the input's graph); every other field (``y``,
    ``energy``, ``sid``, ...) is carried over unchanged.

    Args:
        featurization: the options (default :data:`~cft_pyg.data.DEFAULT_FEATURIZATION`).
        neighbor_graph: build the periodic neighbour graph of the standardized crystal.
        **options: changes to ``featurization`` by name (``symprec=0.01``, ...).

    Raises:
        StructureError: (when called) a bad input, with a ``reason`` code.

    Example::

        from torch_geometric.datasets import ...  # any dataset of crystal Data
        dataset = MyCrystals(root, pre_transform=StandardizeCrystal())
    """

    def __init__(self, featurization: Featurization | None = None, *,
                 neighbor_graph: bool = True, **options: Any) -> None:
        self.featurization = Featurization.resolve(featurization, **options)
        self.neighbor_graph = bool(neighbor_graph)

    def forward(self, data: Data) -> Data:
        cell = cell_of_data(data)
        n = cell[1].shape[0]
        out = from_structure(cell, self.featurization, neighbor_graph=self.neighbor_graph)
        for key, value in data.items():
            if key in _REBUILT or key in out:
                continue
            if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == n \
                    and n != 1:
                continue  # a per-atom field of the input's atoms
            if key in ("force", "forces", "tags", "fixed"):
                continue
            out[key] = value
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(symprec={self.featurization.symprec}, " \
               f"neighbor_graph={self.neighbor_graph})"
