"""Structures in, standardized crystal ``Data`` out: :func:`from_structure`.

:func:`from_structure` turns a pymatgen ``Structure``, an ASE ``Atoms`` or a plain
``(lattice, frac_coords, numbers)`` triple into a :class:`torch_geometric.data.Data` with
the fields of ``docs/conventions.md``, in **exactly the setting of**
``cft_pyg.SpaceGroup(space_group)`` (spglib's smallest Hall number of the detected
number), so that the space-group operations of that object map the atoms onto themselves.

The steps live in their own modules: input conversion and validation in
:mod:`cft_pyg.data.validation`, spglib, symmetrization and the canonical origin in
:mod:`cft_pyg.data.standardization` (group theory of the origin choice in
:mod:`cft_pyg.symmetry.normalizer`), comparison in :mod:`cft_pyg.data.comparison`; their
names stay importable from here.  Reading files builds on this module (never the other way
round): CIF in :mod:`cft_pyg.data.cif`, every other format and in-memory pymatgen/ASE objects
in :mod:`cft_pyg.data.readers`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch_geometric.data import Data

from .comparison import compare_standardized
from .featurization import Featurization
from .geometry import measured_positions
from .neighbors import radius_graph_pbc
from .standardization import (
    StandardizedCrystal,
    standardize,
    std_to_input_frac,
    symmetrize_frac_coords,
)
from .validation import to_cell, validate_cell

__all__ = [
    "StandardizedCrystal",
    "compare_standardized",
    "from_standardized",
    "from_structure",
    "standardize",
    "symmetrize_frac_coords",
    "std_to_input_frac",
    "to_cell",
    "validate_cell",
]


def _target_tensor(y: Any) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(y, dtype=np.float32))
    if t.ndim == 0:
        return t.reshape(1)
    if t.ndim == 1:
        return t.reshape(1, -1)
    raise ValueError(f"y must be a scalar or a 1-D sequence of targets, got shape {tuple(t.shape)}")


def from_structure(
    structure: Any,
    featurization: Featurization | None = None,
    *,
    expected_space_group: int | None = None,
    neighbor_graph: bool = True,
    y: float | Sequence[float] | np.ndarray | torch.Tensor | None = None,
    material_id: str | None = None,
    **options: Any,
) -> Data:
    """A standardized crystal ``Data`` (fields of ``docs/conventions.md``).

    Args:
        structure: pymatgen ``Structure``/``IStructure``, ASE ``Atoms`` (pbc in all
            directions) or ``(lattice (3, 3) rows, frac_coords (n, 3), numbers (n,))``.
        featurization: symmetry tolerances, canonical choices and neighbour graph
            (default :data:`~cft_pyg.data.DEFAULT_FEATURIZATION`: symprec
            0.1 Å, angle tolerance 5°, canonical origin and handedness, 8 Å and 12
            neighbours, tied shells kept whole so that the graph respects the crystal's
            symmetry and does not depend on atom order).
        expected_space_group: raise :class:`StructureError` if the detected ITA number
            differs (e.g. a database's declared group).
        neighbor_graph: add ``edge_index``, ``cell_offsets``, ``edge_dist``.
        y: optional target, a scalar (-> ``(1,)``) or a 1-D sequence (-> ``(1, T)``).
        material_id: optional identifier stored as ``Data.material_id``.
        **options: changes to ``featurization`` by name, e.g. ``symprec=0.01`` or
            ``radius=6.0`` (see :class:`~cft_pyg.data.Featurization`).

    Returns:
        ``Data`` with ``z`` (n,), ``frac_coords`` (n, 3) float32 in [0, 1), ``pos``
        (n, 3) float32 = ``frac_coords @ cell[0]``, ``cell`` (1, 3, 3) float32,
        ``space_group`` (1,), ``natoms`` (1,), ``transformation_matrix`` (1, 3, 3) and
        ``origin_shift`` (1, 3) float64, ``std_rotation`` (1, 3, 3) float64 (the
        orthogonal Cartesian map ``r_std = R r_in`` from the input's frame to the standardized
        one; a rotoinversion for a mirrored input), ``featurization`` (the options as JSON, see
        :meth:`Featurization.to_json`), and when requested ``edge_index`` (2, E),
        ``cell_offsets`` (E, 3), ``edge_dist`` (E,) float32, ``y``, ``material_id``.
        The graph is computed in float64 from the stored float32 ``frac_coords`` and
        ``cell``, so ``pos[j] + cell_offsets @ cell - pos[i]`` reproduces ``edge_dist``.

    Raises:
        StructureError: for every invalid input (see :mod:`cft_pyg.data.errors`).
        TypeError: an unknown option name.
    """
    f = Featurization.resolve(featurization, **options)
    std = standardize(structure, f, expected_space_group=expected_space_group)
    measured = None
    if neighbor_graph and f.geometry == "measured":
        measured = measured_positions(std, *to_cell(structure),
                                      tolerance=f.symmetrization_tolerance)
    return from_standardized(std, f, neighbor_graph=neighbor_graph, y=y, material_id=material_id,
                             measured=measured)


def from_standardized(
    std: StandardizedCrystal,
    featurization: Featurization | None = None,
    *,
    neighbor_graph: bool = True,
    y: float | Sequence[float] | np.ndarray | torch.Tensor | None = None,
    material_id: str | None = None,
    measured: tuple[np.ndarray, np.ndarray] | None = None,
) -> Data:
    """The ``Data`` of a :class:`StandardizedCrystal` (the second half of
    :func:`from_structure`; its arguments and fields).  ``featurization`` gives the
    neighbour graph's radius, cap and geometry and is recorded on the result.

    Args:
        measured: with ``geometry='measured'``, the input's own positions at the sites and
            its lattice (:func:`~cft_pyg.data.geometry.measured_positions`): the neighbour
            graph (``edge_index``, ``cell_offsets``, ``edge_dist``) is built from them, and
            ``pos[j] + cell_offsets @ cell - pos[i]`` then differs from ``edge_dist`` by the
            symmetrization.  Required for that geometry when the graph is built.
    """
    f = Featurization.resolve(featurization)
    if neighbor_graph and f.geometry == "measured" and measured is None:
        raise ValueError("geometry='measured' builds the neighbour graph from the input's own "
                         "positions: pass measured=measured_positions(std, lattice, frac, "
                         "numbers) (from_structure does)")
    # conversions in NumPy (the same roundings as torch's, fewer tensor ops per crystal)
    frac32_np = np.array(std.frac_coords, dtype=np.float32)
    frac32_np[frac32_np >= 1.0] = 0.0  # float32 rounding of values just below 1
    cell32_np = np.array(std.lattice, dtype=np.float32)
    frac32, cell32 = torch.from_numpy(frac32_np), torch.from_numpy(cell32_np)
    pos32 = frac32 @ cell32
    n = frac32.shape[0]
    data = Data(
        z=torch.from_numpy(std.numbers).to(torch.long),
        frac_coords=frac32,
        pos=pos32,
        cell=cell32.unsqueeze(0),
        space_group=torch.tensor([std.number], dtype=torch.long),
        natoms=torch.tensor([n], dtype=torch.long),
        transformation_matrix=torch.from_numpy(std.transformation_matrix).unsqueeze(0),
        origin_shift=torch.from_numpy(std.origin_shift).unsqueeze(0),
        std_rotation=torch.from_numpy(np.ascontiguousarray(std.std_rotation_matrix,
                                                           dtype=np.float64)).unsqueeze(0),
        featurization=f.to_json(),
    )
    if neighbor_graph:
        if f.geometry == "measured":
            frac_g = torch.from_numpy(measured[0]).to(torch.float32).double()
            cell_g = torch.from_numpy(measured[1]).to(torch.float32).double()
        else:
            frac_g = torch.from_numpy(frac32_np.astype(np.float64))
            cell_g = torch.from_numpy(cell32_np.astype(np.float64))
        edge_index, offsets, dist = radius_graph_pbc(
            frac_g @ cell_g, cell_g, radius=f.radius, max_neighbors=f.max_neighbors)
        data.edge_index = edge_index
        data.cell_offsets = offsets
        data.edge_dist = dist.to(torch.float32)
    if y is not None:
        data.y = _target_tensor(y)
    if material_id is not None:
        data.material_id = str(material_id)
    return data
