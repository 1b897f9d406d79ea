"""Structures in, standardized crystal ``Data`` out.

:func:`from_structure` turns a pymatgen ``Structure``, an ASE ``Atoms`` or a plain
``(lattice, frac_coords, numbers)`` triple into a :class:`torch_geometric.data.Data` with
the fields of ``docs/conventions.md``, in **exactly the setting of**
``cft_pyg.SpaceGroup(space_group)`` (spglib's smallest Hall number of the detected
number), so that the space-group operations of that object map the atoms onto themselves.

Pipeline (:func:`standardize`):

1. The input is validated in Python **before** any call into a C extension (spglib
   crashes the whole process on NaN coordinates or an infinite lattice): shapes,
   finiteness, a non-singular lattice, known elements, no disorder, at least one atom,
   and no two atoms (or an atom and its own periodic image) closer than
   ``min_distance``.  Every rejection is a :class:`~cft_pyg.data.StructureError` with a
   ``reason`` code.
2. ``spglib.get_symmetry_dataset(cell, symprec, angle_tolerance)`` (on an LLL-reduced
   basis of the input lattice, robust for very skewed input cells) detects the number
   ``n``; when spglib's choice of Hall setting is not ``default_hall_number(n)`` it is
   re-run with ``hall_number=default_hall_number(n)``.
3. The atoms of its conventional cell (``std_types``) are placed at the **measured**
   input positions they stand for (``P x + p`` plus the exact centring/lattice
   translation; spglib's own idealized ``std_positions`` depend on the order of the
   atoms), moved to the origin that fits the operations best (least squares), and
   **symmetrized** with the operations of ``SpaceGroup(n)``: each atom is replaced by the
   average of its pre-images under all operations (the Reynolds projection); the metric
   of ``std_lattice`` is averaged over the point group.  The result depends on the atom
   set only: not on the order of the atoms nor on the input description.  Afterwards
   every operation maps the atom set onto itself to ~1e-12 in fractional coordinates
   (float64; ~1e-7 after the float32 cast of ``Data.frac_coords``).
4. With ``canonical_origin=True`` (default) the remaining choice among equivalent
   origins and axes is made canonically (see "Uniqueness" below).

Mapping back (spglib's convention, kept in ``Data.transformation_matrix`` ``P`` and
``Data.origin_shift`` ``p``): a point with fractional coordinates ``x`` in the input cell
has ``x_std = P x + p`` (mod 1) in the standardized cell, and the standardized lattice
vectors (rows) are ``std_rotation_matrix @ (input_lattice.T @ inv(P))`` transposed
(:class:`StandardizedCrystal` also keeps ``std_rotation_matrix``); see
:func:`std_to_input_frac`.

Uniqueness (what is and is not canonical).  Re-descriptions of the same crystal
(permuted atoms, a symmetry operation applied to all atoms, primitive vs conventional
cell, a supercell, another Hall setting, a rotated Cartesian frame, another origin) give
the same space-group number and the same standardized cell.  spglib's standardized
*coordinates*, however, are unique only up to the affine normalizer of the group:

* polar groups (1, 3-9, 25-46, 75-80, 99-110, 143-146, 156-161, 168-173, 183-186) have
  a continuous origin freedom along the polar axes: spglib passes the input's origin
  through;
* other groups have a finite set of equivalent origins (e.g. (1/2, 1/2, 1/2) in Pm-3m
  swaps the Cs and Cl sites of CsCl) and sometimes equivalent axis choices, and which
  one spglib picks depends on the input description.

Measured with ``benchmarks/bench_data.py --ambiguity 1000 --no-canonical`` (1,000 seeded
MP-20 val+test crystals, each against one random composite re-description: atom
permutation, origin shift, unimodular change of basis, rotation), spglib's own choice
gave the same atoms up to order for only **27.6%** of crystals (0% of the 152 in polar
groups); 59.6% differed by a pure translation (another origin) and 12.8% otherwise
(another normalizer element or a near-tie).

Hence ``canonical_origin=True`` (the default): among the descriptions ``A x + t``
related by the **proper** (``det A = +1``), metric-preserving elements of the group's
affine normalizer (``A`` integer with entries in {-1, 0, 1}, ``t`` in twelfths), and for
polar groups with an atom of the rarest species (smallest Z on ties) pinned to 0 along
the free axes, the description with the lexicographically smallest key (atoms sorted
by (Z, coordinates rounded to 1e-4)) is chosen.  These maps keep the setting and the
lattice, so the operations of ``SpaceGroup(n)`` still map the atoms onto themselves;
``transformation_matrix``/``origin_shift``/``std_rotation_matrix`` are updated to match.
Improper normalizer elements are excluded, so a chiral crystal is not replaced by its
mirror image.  Measured with ``--ambiguity 500`` (500 other seeded crystals, same
composite re-description): **97.0%** identical to 1e-4 Å up to atom order, the other
3.0% identical to 0.01 Å (near-ties of pseudo-symmetric crystals whose candidate keys
coincide at the rounding), none differing by an origin or axis choice; for atom
permutations alone 2 of 500 (0.4%, polar groups) still differed by more than 0.01 Å.
Figures per kind of re-description and for polar/non-polar groups are in
``benchmarks/results/data.json``.
"""

from __future__ import annotations

import functools
import io
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import spglib
import torch
from torch_geometric.data import Data

from ..symmetry.space_group import SpaceGroup, default_hall_number
from .errors import StructureError
from .neighbors import radius_graph_pbc

__all__ = [
    "StandardizedCrystal",
    "compare_standardized",
    "from_structure",
    "from_cif",
    "parse_cif",
    "standardize",
    "symmetrize_frac_coords",
    "std_to_input_frac",
    "to_cell",
    "validate_cell",
    "DEFAULT_SYMPREC",
    "DEFAULT_ANGLE_TOLERANCE",
    "DEFAULT_RADIUS",
    "DEFAULT_MAX_NEIGHBORS",
    "DEFAULT_MIN_DISTANCE",
]

DEFAULT_SYMPREC = 0.01
"""spglib's distance tolerance (Å).  0.01 follows pymatgen's ``SpacegroupAnalyzer``
default and keeps MP-20's detected groups identical to the database's in most cases."""
DEFAULT_ANGLE_TOLERANCE = -1.0
"""spglib's angle tolerance in degrees; negative lets spglib derive it from ``symprec``."""
DEFAULT_RADIUS = 8.0
"""Neighbour-graph cutoff (Å), CGCNN's default."""
DEFAULT_MAX_NEIGHBORS = 12
"""Neighbours kept per centre, CGCNN's default."""
DEFAULT_MIN_DISTANCE = 0.5
"""Atoms closer than this (Å) are rejected as overlapping (shortest real bond H-H ~0.74 Å)."""

_MAX_Z = 118
_OCCUPANCY_TOL = 1e-6


# ---------------------------------------------------------------------------- input
def _structure_to_cell(structure: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """pymatgen ``(I)Structure`` -> (lattice, frac, numbers), raising on disorder/dummies."""
    from pymatgen.core.periodic_table import Element

    if not structure.is_ordered:
        bad = [
            (k, str(site.species))
            for k, site in enumerate(structure)
            if len(site.species) != 1 or abs(sum(site.species.values()) - 1) > _OCCUPANCY_TOL
        ]
        raise StructureError(
            f"disordered structure: {len(bad)} site(s) with partial occupancy or mixed "
            f"species, first: site {bad[0][0] if bad else '?'} = {bad[0][1] if bad else '?'}; "
            "order it first (e.g. pymatgen OrderDisorderedStructureTransformation)",
            "disorder",
        )
    numbers = []
    for k, site in enumerate(structure):
        (sp, occ), = site.species.items()
        if abs(occ - 1.0) > _OCCUPANCY_TOL:
            raise StructureError(f"site {k} has occupancy {occ} != 1", "disorder")
        el = getattr(sp, "element", sp)
        if not isinstance(el, Element):
            raise StructureError(f"site {k} has unknown or dummy species {sp!s}", "unknown_element")
        numbers.append(int(el.Z))
    lattice = np.array(structure.lattice.matrix, dtype=np.float64)
    frac = np.array(structure.frac_coords, dtype=np.float64).reshape(-1, 3)
    return lattice, frac, np.array(numbers, dtype=np.int64)


def _atoms_to_cell(atoms: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ASE ``Atoms`` -> (lattice, frac, numbers) without ASE's own (raising) scaled positions."""
    if not np.all(atoms.pbc):
        raise StructureError(
            f"ASE Atoms must be periodic in all three directions, got pbc={atoms.pbc.tolist()}",
            "unsupported_input",
        )
    occupancy = atoms.info.get("occupancy") if hasattr(atoms, "info") else None
    if occupancy:
        for tag, occ in occupancy.items():
            values = occ.values() if isinstance(occ, dict) else [occ]
            if any(abs(float(v) - 1.0) > _OCCUPANCY_TOL for v in values):
                raise StructureError(
                    f"disordered structure: site {tag} has occupancies {occ}", "disorder"
                )
    lattice = np.array(atoms.cell[:], dtype=np.float64)
    cart = np.array(atoms.positions, dtype=np.float64).reshape(-1, 3)
    _check_lattice(lattice)
    _check_finite(cart, "Cartesian positions")
    frac = np.linalg.solve(lattice.T, cart.T).T
    return lattice, frac, np.array(atoms.numbers, dtype=np.int64)


def to_cell(structure: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Extract and validate ``(lattice, frac_coords, numbers)`` from an input structure.

    Args:
        structure: pymatgen ``Structure``/``IStructure``, ASE ``Atoms``, or a tuple
            ``(lattice (3, 3) rows in Å, frac_coords (n, 3), numbers (n,))``.

    Returns:
        ``lattice`` (3, 3) float64, ``frac_coords`` (n, 3) float64 (not wrapped),
        ``numbers`` (n,) int64.

    Raises:
        StructureError: for unsupported input types and every check of :func:`validate_cell`
            except the overlap check.
    """
    cls = type(structure)
    module = cls.__module__
    if module.startswith("pymatgen") and hasattr(structure, "lattice"):
        lattice, frac, numbers = _structure_to_cell(structure)
    elif module.startswith("ase") and hasattr(structure, "cell"):
        lattice, frac, numbers = _atoms_to_cell(structure)
    elif isinstance(structure, (tuple, list)) and len(structure) == 3:
        try:
            lattice = np.array(structure[0], dtype=np.float64)
            frac = np.array(structure[1], dtype=np.float64)
            numbers_raw = np.asarray(structure[2])
        except (TypeError, ValueError) as exc:
            raise StructureError(
                f"cannot read (lattice, frac, numbers): {exc}", "bad_shape"
            ) from exc
        integral = np.issubdtype(numbers_raw.dtype, np.integer) or (
            np.issubdtype(numbers_raw.dtype, np.floating)
            and bool(np.all(np.isfinite(numbers_raw) & (numbers_raw == np.round(numbers_raw))))
        )
        if numbers_raw.size and not integral:
            raise StructureError(
                f"atomic numbers must be integers, got {numbers_raw.dtype} values",
                "unknown_element",
            )
        numbers = numbers_raw.astype(np.int64)
        if frac.size == 0:
            frac = frac.reshape(0, 3)
    else:
        raise StructureError(
            f"unsupported input type {module}.{cls.__name__}: pass a pymatgen Structure, an ASE "
            "Atoms, or a (lattice, frac_coords, numbers) tuple (use from_cif for CIF text/files)",
            "unsupported_input",
        )
    validate_cell(lattice, frac, numbers, min_distance=None)
    return lattice, frac, numbers


def _check_finite(a: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(a)):
        raise StructureError(f"{what} contain NaN or infinite values", "non_finite")


def _check_lattice(lattice: np.ndarray) -> None:
    if lattice.shape != (3, 3):
        raise StructureError(f"lattice must be 3x3, got shape {lattice.shape}", "bad_shape")
    _check_finite(lattice, "lattice vectors")
    lengths = np.linalg.norm(lattice, axis=1)
    if np.any(lengths < 1e-6):
        raise StructureError(
            f"degenerate lattice: a lattice vector has length {lengths.min():.3g} Å",
            "degenerate_lattice",
        )
    with np.errstate(over="ignore", invalid="ignore"):
        det = float(np.linalg.det(lattice))
    if not np.isfinite(det):
        raise StructureError("lattice is too large (its volume overflows)", "non_finite")
    # volume relative to the box of the vector lengths: 1 for orthogonal, 0 for flat
    flatness = abs(det) / float(np.prod(lengths))
    if flatness < 1e-8:
        raise StructureError(
            f"singular or degenerate lattice: volume {det:.3g} Å^3, |det| / (|a||b||c|) = "
            f"{flatness:.3g} (the lattice vectors are (nearly) coplanar)",
            "degenerate_lattice",
        )


def _reduced_lattice(lattice: np.ndarray) -> np.ndarray:
    """LLL-reduced basis of the same lattice (rows), via pymatgen."""
    from pymatgen.core import Lattice

    return np.array(Lattice(lattice).get_lll_reduced_lattice().matrix, dtype=np.float64)


def validate_cell(
    lattice: np.ndarray,
    frac_coords: np.ndarray,
    numbers: np.ndarray,
    min_distance: float | None = DEFAULT_MIN_DISTANCE,
) -> None:
    """Check a cell before it is handed to spglib (which crashes on bad input).

    Args:
        lattice: ``(3, 3)`` lattice vectors as rows (Å).
        frac_coords: ``(n, 3)`` fractional coordinates.
        numbers: ``(n,)`` atomic numbers.
        min_distance: reject pairs of atoms (periodic images included) closer than this
            (Å); ``None`` skips the overlap check.

    Raises:
        StructureError: with reason ``bad_shape``, ``no_atoms``, ``non_finite``,
            ``degenerate_lattice``, ``unknown_element`` or ``overlapping_atoms``.
    """
    _check_lattice(lattice)
    if frac_coords.ndim != 2 or frac_coords.shape[1] != 3:
        raise StructureError(
            f"fractional coordinates must have shape (n, 3), got {frac_coords.shape}", "bad_shape"
        )
    if numbers.ndim != 1 or numbers.shape[0] != frac_coords.shape[0]:
        raise StructureError(
            f"{numbers.shape} atomic numbers for {frac_coords.shape[0]} positions", "bad_shape"
        )
    if frac_coords.shape[0] == 0:
        raise StructureError("the structure has zero atoms", "no_atoms")
    _check_finite(frac_coords, "fractional coordinates")
    if np.any(np.abs(frac_coords) > 1e6):
        raise StructureError(
            "fractional coordinates larger than 1e6 in magnitude (corrupt input?)", "non_finite"
        )
    bad = (numbers < 1) | (numbers > _MAX_Z)
    if np.any(bad):
        raise StructureError(
            f"unknown element: atomic number(s) {sorted(set(numbers[bad].tolist()))} "
            f"outside 1..{_MAX_Z}",
            "unknown_element",
        )
    if min_distance is None:
        return
    reduced = _reduced_lattice(lattice)
    shortest = float(np.linalg.norm(reduced, axis=1).min())
    if shortest < min_distance:
        raise StructureError(
            f"overlapping atoms: the shortest lattice vector is {shortest:.3g} Å < "
            f"{min_distance} Å, so every atom overlaps its own periodic image",
            "overlapping_atoms",
        )
    cos = abs(np.linalg.det(reduced)) / np.prod(np.linalg.norm(reduced, axis=1))
    if cos < 1e-3:
        raise StructureError(
            f"degenerate lattice: reduced cell is nearly flat (|det|/(|a||b||c|) = {cos:.3g})",
            "degenerate_lattice",
        )
    cart = frac_coords @ lattice
    edge_index, _, dist = radius_graph_pbc(
        torch.from_numpy(cart),
        torch.from_numpy(reduced),
        radius=min_distance,
        max_neighbors=1,
    )
    if edge_index.shape[1]:
        k = int(torch.argmin(dist))
        j, i = int(edge_index[0, k]), int(edge_index[1, k])
        raise StructureError(
            f"overlapping atoms: atoms {i} (Z={numbers[i]}) and {j} (Z={numbers[j]}) are "
            f"{float(dist[k]):.3g} Å apart (< {min_distance} Å)",
            "overlapping_atoms",
        )


# ---------------------------------------------------------------------------- symmetry
def _periodic_match(
    images: np.ndarray, frac: np.ndarray, numbers: np.ndarray, lattice: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For images (g, n, 3) find the same-type atom nearest to each image.

    Returns ``perm`` (g, n) atom index, ``shift`` (g, n, 3) integer lattice vectors with
    ``images ~ frac[perm] + shift`` and the Cartesian mismatch (g, n).
    """
    g, n = images.shape[:2]
    perm = np.empty((g, n), dtype=np.int64)
    best_shift = np.empty((g, n, 3))
    best_dist = np.empty((g, n))
    other_type = numbers[:, None] != numbers[None, :]
    step = max(1, (1 << 21) // max(1, n * n))  # bound memory to ~50 MB per chunk
    for a in range(0, g, step):
        diff = images[a : a + step, :, None, :] - frac[None, None, :, :]  # (c, n, n, 3)
        shift = np.round(diff)
        dist = np.linalg.norm((diff - shift) @ lattice, axis=-1)
        dist[:, other_type] = np.inf
        p = np.argmin(dist, axis=-1)
        g_idx, n_idx = np.indices(p.shape)
        perm[a : a + step] = p
        best_shift[a : a + step] = shift[g_idx, n_idx, p]
        best_dist[a : a + step] = dist[g_idx, n_idx, p]
    return perm, best_shift, best_dist


def _measured_std_positions(
    dataset: Any, frac_reduced: np.ndarray, std_lattice: np.ndarray, group: SpaceGroup
) -> np.ndarray:
    """The input's own positions in spglib's standard cell, **before** idealization.

    spglib's ``std_positions`` are idealized from particular atoms, so for a structure
    that is symmetric only within the tolerance they depend on the order of the atoms
    (measured: 3 of 100 MP-20 crystals change by ~1e-4 when their atoms are permuted).
    Here every standard-cell atom ``k`` is instead placed at the measured position of the
    input atoms it stands for: ``P x_j + p`` plus the exact lattice translation (a
    centring vector plus an integer vector) closest to spglib's ``s_k - (P x_j + p)``,
    averaged over the input atoms ``j`` of the same primitive atom (one, or several for a
    supercell).  The exact symmetrization (:func:`symmetrize_frac_coords`) then starts
    from data that depend on the atom set only.
    """
    P = np.array(dataset.transformation_matrix, dtype=np.float64)
    p = np.array(dataset.origin_shift, dtype=np.float64)
    ideal = np.array(dataset.std_positions, dtype=np.float64)  # (m, 3)
    measured = frac_reduced @ P.T + p  # (n, 3)
    same = (np.asarray(dataset.std_mapping_to_primitive)[:, None]
            == np.asarray(dataset.mapping_to_primitive)[None, :])  # (m, n)
    identity = np.all(group.rotations == np.eye(3, dtype=group.rotations.dtype), axis=(1, 2))
    centring = group.translations[identity]  # (c, 3), includes 0
    delta = ideal[:, None, :] - measured[None, :, :]  # (m, n, 3)
    rest = delta[:, :, None, :] - centring[None, None, :, :]  # (m, n, c, 3)
    frac_err = rest - np.round(rest)
    err = np.linalg.norm(frac_err @ std_lattice, axis=-1)  # (m, n, c)
    best = np.argmin(err, axis=-1)  # (m, n)
    chosen = np.take_along_axis(rest, best[..., None, None], axis=2)[:, :, 0, :]
    exact = centring[best] + np.round(chosen)  # lattice translation, (m, n, 3)
    estimates = measured[None, :, :] + exact  # (m, n, 3), each close to ideal[k]
    weight = same.astype(np.float64)
    return np.einsum("mn,mnk->mk", weight, estimates) / weight.sum(axis=1, keepdims=True)


def _best_origin(residual: np.ndarray, group: SpaceGroup, lattice: np.ndarray) -> np.ndarray:
    """The origin shift ``t`` that best fits the operations to the atoms.

    With the atoms moved to ``y = x - t`` the mismatch of operation ``g`` on atom ``i``
    becomes ``r_gi - (W_g - I) t``; ``t`` minimizes its sum of squares in the Cartesian
    metric (minimum-norm solution: no shift along polar axes, where the origin is free).
    spglib places the origin from particular atoms, so for a structure that is symmetric
    only within the tolerance its origin depends on the order of the atoms; the fitted
    origin depends on the atom *set* only, which makes the symmetrized structure
    independent of the input order and description.
    """
    A = group.rotations.astype(np.float64) - np.eye(3)  # (g, 3, 3)
    G = lattice @ lattice.T
    mean = residual.mean(axis=1)  # (g, 3)
    lhs = np.einsum("gji,jk,gkl->il", A, G, A)
    rhs = np.einsum("gji,jk,gk->i", A, G, mean)
    return np.linalg.pinv(lhs, rcond=1e-10) @ rhs


def symmetrize_frac_coords(
    frac_coords: np.ndarray,
    numbers: np.ndarray,
    lattice: np.ndarray,
    group: SpaceGroup,
    tolerance: float,
) -> np.ndarray:
    """Project fractional coordinates onto exact symmetry of ``group`` (Reynolds average).

    For each operation ``g = (W, w)`` the image ``W x_i + w`` is matched to the nearest
    atom ``x_{p(i)}`` of the same type (up to a lattice vector ``L``); the atoms are first
    moved to the origin that fits the operations best (least squares, see
    :func:`_best_origin`; zero for an exactly symmetric input), then the symmetrized
    position is ``mean_g W^-1 (x_{p(i)} + L - w)``.  The result is exactly invariant under
    the group (to rounding) and does not depend on the order of the atoms.

    Args:
        frac_coords: ``(n, 3)`` fractional coordinates in the setting of ``group``.
        numbers: ``(n,)`` atomic numbers.
        lattice: ``(3, 3)`` lattice rows (Å), for Cartesian matching distances.
        group: the space group, in the setting of ``frac_coords``.
        tolerance: largest accepted Cartesian mismatch (Å) between an image and its atom.

    Returns:
        ``(n, 3)`` float64 symmetrized fractional coordinates (not wrapped).

    Raises:
        StructureError: (reason ``symmetry_failed``) if some operation does not map the
            atom set onto itself within ``tolerance``.
    """
    x = np.asarray(frac_coords, dtype=np.float64)
    images = group.apply(x)  # (g, n, 3)
    perm, shift, mismatch = _periodic_match(images, x, numbers, lattice)
    worst = float(mismatch.max())
    bijective = bool(np.all(np.sort(perm, axis=1) == np.arange(perm.shape[1])))
    if worst > tolerance or not bijective:
        raise StructureError(
            f"symmetrization failed: an operation of {group!r} maps an atom {worst:.3g} Å away "
            f"from any atom of its type (tolerance {tolerance:.3g} Å, bijective={bijective})",
            "symmetry_failed",
        )
    x = x - _best_origin(images - (x[perm] + shift), group, lattice)
    W_inv = np.linalg.inv(group.rotations.astype(np.float64))  # (g, 3, 3)
    target = x[perm] + shift - group.translations[:, None, :]  # (g, n, 3)
    pre = np.einsum("gij,gnj->gni", W_inv, target)
    return pre.mean(axis=0)


def _symmetrize_lattice(lattice: np.ndarray, group: SpaceGroup) -> np.ndarray:
    """Average the metric over the point group; keep the orientation when already exact."""
    W = group.point_group_rotations.astype(np.float64)
    G = lattice @ lattice.T
    G_sym = np.einsum("gji,jk,gkl->il", W, G, W) / W.shape[0]
    if np.abs(G_sym - G).max() <= 1e-12 * np.abs(G).max():
        return lattice
    # rebuild a lattice with the symmetric metric, closest in orientation to the input
    chol = np.linalg.cholesky(G_sym)  # rows: a along x, b in xy-plane (lower triangular)
    # rotate the Cholesky frame onto the input frame (orthogonal Procrustes)
    u, _, vt = np.linalg.svd(chol.T @ lattice)
    return chol @ (u @ vt)


_UNIT_MATRICES = np.array(
    [np.array(m).reshape(3, 3) for m in np.ndindex(*(3,) * 9)], dtype=np.int64
) - 1  # all 3x3 matrices with entries in {-1, 0, 1}
_UNIT_MATRICES = _UNIT_MATRICES[np.rint(np.linalg.det(_UNIT_MATRICES)).astype(int) == 1]
_GRID_12 = np.array(list(np.ndindex(12, 12, 12)), dtype=np.int64)  # t = k / 12


def _op_keys(rotations: np.ndarray, translations_12: np.ndarray) -> np.ndarray:
    """Integer key of each operation (rotation entries base 3, translation base 12)."""
    r = (rotations.reshape(*rotations.shape[:-2], 9) + 1) @ (3 ** np.arange(9))
    t = (translations_12 % 12) @ np.array([144, 12, 1])
    return r * 1728 + t


@functools.cache
def _normalizer_of(hall: int, metric_matrices: bytes) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Proper affine-normalizer elements ``(A, t_12)`` of a group, modulo lattice translations.

    ``A`` runs over the given metric-preserving integer matrices (det +1), ``t`` over
    ``k / 12`` with the components along free (polar) axes set to 0 (those are fixed by
    pinning instead).  ``(A, t)`` is kept when ``x -> A x + t`` maps the set of
    operations onto itself (translations modulo 1, centrings included).
    """
    group = SpaceGroup.from_hall(hall)
    rot, tr12 = group.rotations, group.translations_12
    ref = np.sort(_op_keys(rot, tr12))
    free = _free_axes(group)
    grid = _GRID_12[np.all(_GRID_12[:, free] == 0, axis=1)] if free else _GRID_12
    out = []
    for A in np.frombuffer(metric_matrices, dtype=np.int64).reshape(-1, 3, 3):
        A_inv = np.rint(np.linalg.inv(A)).astype(np.int64)
        rot_new = A @ rot @ A_inv  # (g, 3, 3)
        if not np.array_equal(np.unique(_op_keys(rot_new, np.zeros_like(tr12))),
                              np.unique(_op_keys(rot, np.zeros_like(tr12)))):
            continue
        # w' = A w + (I - W') t  (all in twelfths), for every grid t at once
        base = tr12 @ A.T  # (g, 3)
        shift = np.einsum("gij,tj->tgi", np.eye(3, dtype=np.int64) - rot_new, grid)
        keys = np.sort(_op_keys(rot_new[None], base[None] + shift), axis=1)  # (t, g)
        for t in grid[np.all(keys == ref[None], axis=1)]:
            out.append((A, t))
    # (A, t) and (A, t) o g give the same image of a G-invariant crystal: keep one element
    # per coset (A, t) G, identified by the smallest key of the coset
    cosets: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for A, t in out:
        coset = _op_keys(A @ rot, tr12 @ A.T + t).min()
        cosets.setdefault(int(coset), (A, t))
    return tuple(cosets.values())


def _free_axes(group: SpaceGroup) -> list[int]:
    """Axes along which the origin may move continuously (polar directions)."""
    M = np.concatenate([np.eye(3, dtype=np.int64) - W for W in group.point_group_rotations])
    return [k for k in range(3) if np.all(M[:, k] == 0)]


def _canonical_key(frac: np.ndarray, numbers: np.ndarray) -> tuple[int, ...]:
    q = np.rint(frac * 1e4).astype(np.int64) % 10_000
    rows = np.concatenate([numbers[:, None], q], axis=1)
    return tuple(rows[np.lexsort(rows.T[::-1])].ravel().tolist())


def _canonical_origin(
    frac: np.ndarray, numbers: np.ndarray, lattice: np.ndarray, group: SpaceGroup
) -> tuple[np.ndarray, np.ndarray]:
    """The proper normalizer element ``(A, t)`` giving the smallest canonical key.

    Returns ``A`` (3, 3) int and ``t`` (3,) float such that ``A x + t`` is the chosen
    description.  Candidates: the proper affine-normalizer elements of the group that
    preserve the metric, combined, for polar groups, with pinning an atom of the rarest
    species (smallest Z on ties) to 0 along the free axes.
    """
    G = lattice @ lattice.T
    W = _UNIT_MATRICES.astype(np.float64)
    ok = np.abs(np.einsum("aji,jk,akl->ail", W, G, W) - G).max(axis=(1, 2))
    metric = _UNIT_MATRICES[ok <= 1e-6 * np.abs(G).max()]
    elements = _normalizer_of(group.hall_number, np.ascontiguousarray(metric).tobytes())
    free = _free_axes(group)
    species, count = np.unique(numbers, return_counts=True)
    anchor_species = species[np.lexsort((species, count))[0]]
    anchors = np.flatnonzero(numbers == anchor_species) if free else np.array([-1])
    best: tuple | None = None
    best_at = (np.eye(3, dtype=np.int64), np.zeros(3))
    for A, t12 in elements:
        moved = frac @ A.T + t12 / 12.0
        for k in anchors:
            t = t12 / 12.0
            x = moved
            if k >= 0:
                pin = np.zeros(3)
                pin[free] = -moved[k, free]
                x, t = moved + pin, t + pin
            key = _canonical_key(_wrap(x), numbers)
            if best is None or key < best:
                best, best_at = key, (A, t)
    return best_at


@dataclass(frozen=True)
class StandardizedCrystal:
    """A crystal in the standard conventional cell of ``SpaceGroup(number)``.

    Attributes:
        number: ITA space-group number.
        hall_number: spglib Hall number of the setting (``default_hall_number(number)``).
        lattice: ``(3, 3)`` float64 lattice rows (Å).
        frac_coords: ``(n, 3)`` float64 symmetrized fractional coordinates in ``[0, 1)``.
        numbers: ``(n,)`` int64 atomic numbers.
        transformation_matrix: ``(3, 3)`` float64 spglib ``P``: ``x_std = P x_in + p``.
        origin_shift: ``(3,)`` float64 spglib ``p``.
        std_rotation_matrix: ``(3, 3)`` float64 rotation from the input Cartesian frame
            to the standardized one.
    """

    number: int
    hall_number: int
    lattice: np.ndarray
    frac_coords: np.ndarray
    numbers: np.ndarray
    transformation_matrix: np.ndarray
    origin_shift: np.ndarray
    std_rotation_matrix: np.ndarray

    @property
    def space_group(self) -> SpaceGroup:
        """The :class:`SpaceGroup` whose operations leave this crystal invariant."""
        return SpaceGroup(self.number)


def _spglib_dataset(
    cell: tuple[np.ndarray, np.ndarray, np.ndarray],
    symprec: float,
    angle_tolerance: float,
    hall_number: int = 0,
) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            dataset = spglib.get_symmetry_dataset(
                cell, symprec=symprec, angle_tolerance=angle_tolerance, hall_number=hall_number
            )
    except Exception as exc:  # spglib >= 2.5 may raise SpglibError
        raise StructureError(f"spglib symmetry detection failed: {exc}", "symmetry_failed") from exc
    if dataset is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            message = spglib.get_error_message()
        raise StructureError(
            f"spglib symmetry detection failed ({message}) at symprec={symprec}", "symmetry_failed"
        )
    return dataset


def _wrap(frac: np.ndarray) -> np.ndarray:
    """Wrap to [0, 1) in float64, snapping values within 1e-12 of an integer to it."""
    out = frac - np.floor(frac)
    out[(out < 1e-12) | (out > 1 - 1e-12)] = 0.0
    return out


def standardize(
    structure: Any,
    *,
    symprec: float = DEFAULT_SYMPREC,
    angle_tolerance: float = DEFAULT_ANGLE_TOLERANCE,
    expected_space_group: int | None = None,
    min_distance: float = DEFAULT_MIN_DISTANCE,
    canonical_origin: bool = True,
) -> StandardizedCrystal:
    """Validate, detect the space group and standardize to the setting of ``SpaceGroup(n)``.

    Args:
        structure: pymatgen ``Structure``, ASE ``Atoms`` or ``(lattice, frac, numbers)``.
        symprec: spglib distance tolerance (Å).
        angle_tolerance: spglib angle tolerance (degrees; negative = spglib's default).
        expected_space_group: if given, raise unless the detected number equals it.
        min_distance: overlap threshold (Å) of :func:`validate_cell`.
        canonical_origin: among the descriptions related by proper (det +1),
            metric-preserving elements of the group's affine normalizer (equivalent
            origins, equivalent axis choices, the origin along polar axes), pick the one
            with the smallest canonical key, so that it no longer depends on the input
            description (see the module docstring).  ``False`` keeps spglib's choice.

    Returns:
        The :class:`StandardizedCrystal`.

    Raises:
        StructureError: bad input (see :func:`validate_cell`), symmetry detection
            failure, or disagreement with ``expected_space_group``.
    """
    if not (np.isfinite(symprec) and symprec > 0):
        raise ValueError(f"symprec must be a positive finite number, got {symprec}")
    lattice, frac, numbers = to_cell(structure)
    validate_cell(lattice, frac, numbers, min_distance=min_distance)
    # hand spglib an LLL-reduced basis of the same lattice (robust for skewed input
    # cells): rows L_red = U L with U unimodular, so fractional rows f_red = f U^-1
    reduced = _reduced_lattice(lattice)
    U = np.rint(reduced @ np.linalg.inv(lattice))
    U_inv = np.linalg.inv(U)
    cell = (reduced, _wrap(frac @ U_inv), numbers.astype(np.intc))
    dataset = _spglib_dataset(cell, symprec, angle_tolerance)
    number = int(dataset.number)
    if expected_space_group is not None and number != int(expected_space_group):
        raise StructureError(
            f"detected space group {number} ({dataset.international}) at symprec={symprec} "
            f"but {int(expected_space_group)} was expected",
            "space_group_mismatch",
        )
    hall = default_hall_number(number)
    if int(dataset.hall_number) != hall:
        dataset = _spglib_dataset(cell, symprec, angle_tolerance, hall_number=hall)
        if int(dataset.number) != number or int(dataset.hall_number) != hall:
            raise StructureError(
                f"spglib could not standardize group {number} to Hall setting {hall} "
                f"(got number {dataset.number}, Hall {dataset.hall_number})",
                "symmetry_failed",
            )
    group = SpaceGroup(number)
    std_lattice = _symmetrize_lattice(np.array(dataset.std_lattice, dtype=np.float64), group)
    std_numbers = np.array(dataset.std_types, dtype=np.int64)
    std_frac = _measured_std_positions(dataset, cell[1], std_lattice, group)
    std_frac = symmetrize_frac_coords(
        std_frac, std_numbers, std_lattice, group, tolerance=max(4.0 * symprec, 1e-6)
    )
    # x_std = P x_red + p and x_red = U^-T x_in, so the input's P is P U^-T
    P = np.array(dataset.transformation_matrix, dtype=np.float64) @ U_inv.T
    p = np.array(dataset.origin_shift, dtype=np.float64)
    R = np.array(dataset.std_rotation_matrix, dtype=np.float64)
    if canonical_origin:
        A, t = _canonical_origin(_wrap(std_frac), std_numbers, std_lattice, group)
        std_frac = std_frac @ A.T + t
        P, p = A @ P, A @ p + t
        R = std_lattice.T @ A @ np.linalg.inv(std_lattice.T) @ R
    return StandardizedCrystal(
        number=number,
        hall_number=hall,
        lattice=std_lattice,
        frac_coords=_wrap(std_frac),
        numbers=std_numbers,
        transformation_matrix=P,
        origin_shift=p,
        std_rotation_matrix=R,
    )


def std_to_input_frac(
    frac_std: np.ndarray, transformation_matrix: np.ndarray, origin_shift: np.ndarray
) -> np.ndarray:
    """Map standardized fractional coordinates back to the input cell's basis.

    Args:
        frac_std: ``(n, 3)`` fractional coordinates in the standardized cell.
        transformation_matrix: ``(3, 3)`` spglib ``P`` (``Data.transformation_matrix[0]``).
        origin_shift: ``(3,)`` spglib ``p`` (``Data.origin_shift[0]``).

    Returns:
        ``(n, 3)`` fractional coordinates ``x_in = P^-1 (x_std - p)`` (not wrapped).
    """
    P = np.asarray(transformation_matrix, dtype=np.float64).reshape(3, 3)
    p = np.asarray(origin_shift, dtype=np.float64).reshape(3)
    return np.linalg.solve(P, (np.asarray(frac_std, dtype=np.float64) - p).T).T


# ---------------------------------------------------------------------------- Data
def _target_tensor(y: Any) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(y, dtype=np.float32))
    if t.ndim == 0:
        return t.reshape(1)
    if t.ndim == 1:
        return t.reshape(1, -1)
    raise ValueError(f"y must be a scalar or a 1-D sequence of targets, got shape {tuple(t.shape)}")


def from_structure(
    structure: Any,
    *,
    symprec: float = DEFAULT_SYMPREC,
    angle_tolerance: float = DEFAULT_ANGLE_TOLERANCE,
    expected_space_group: int | None = None,
    neighbor_graph: bool = True,
    radius: float = DEFAULT_RADIUS,
    max_neighbors: int | None = DEFAULT_MAX_NEIGHBORS,
    min_distance: float = DEFAULT_MIN_DISTANCE,
    canonical_origin: bool = True,
    y: float | Sequence[float] | np.ndarray | torch.Tensor | None = None,
    material_id: str | None = None,
) -> Data:
    """A standardized crystal ``Data`` (fields of ``docs/conventions.md``).

    Args:
        structure: pymatgen ``Structure``/``IStructure``, ASE ``Atoms`` (pbc in all
            directions) or ``(lattice (3, 3) rows, frac_coords (n, 3), numbers (n,))``.
        symprec: spglib distance tolerance in Å (default 0.01, as pymatgen).
        angle_tolerance: spglib angle tolerance in degrees (negative: spglib's default).
        expected_space_group: raise :class:`StructureError` if the detected ITA number
            differs (e.g. a database's declared group).
        neighbor_graph: add ``edge_index``, ``cell_offsets``, ``edge_dist``.
        radius: neighbour cutoff in Å (CGCNN: 8).
        max_neighbors: nearest neighbours kept per centre (CGCNN: 12), plus every further
            neighbour tied with the last kept one, so that the graph respects the
            crystal's symmetry and does not depend on atom order
            (:func:`~cft_pyg.data.neighbors.nearest_neighbor_mask`); ``None`` keeps all
            within ``radius``.
        min_distance: atoms closer than this (Å) are rejected as overlapping.
        canonical_origin: choose the origin/axes canonically among the equivalent
            descriptions (see :func:`standardize`); ``False`` keeps spglib's choice.
        y: optional target, a scalar (-> ``(1,)``) or a 1-D sequence (-> ``(1, T)``).
        material_id: optional identifier stored as ``Data.material_id``.

    Returns:
        ``Data`` with ``z`` (n,), ``frac_coords`` (n, 3) float32 in [0, 1), ``pos``
        (n, 3) float32 = ``frac_coords @ cell[0]``, ``cell`` (1, 3, 3) float32,
        ``space_group`` (1,), ``natoms`` (1,), ``transformation_matrix`` (1, 3, 3) and
        ``origin_shift`` (1, 3) float64, and when requested ``edge_index`` (2, E),
        ``cell_offsets`` (E, 3), ``edge_dist`` (E,) float32, ``y``, ``material_id``.
        The graph is computed in float64 from the stored float32 ``frac_coords`` and
        ``cell``, so ``pos[j] + cell_offsets @ cell - pos[i]`` reproduces ``edge_dist``.

    Raises:
        StructureError: for every invalid input (see :mod:`cft_pyg.data.errors`).
    """
    std = standardize(
        structure,
        symprec=symprec,
        angle_tolerance=angle_tolerance,
        expected_space_group=expected_space_group,
        min_distance=min_distance,
        canonical_origin=canonical_origin,
    )
    frac32 = torch.from_numpy(std.frac_coords).to(torch.float32)
    frac32[frac32 >= 1.0] = 0.0  # float32 rounding of values just below 1
    cell32 = torch.from_numpy(std.lattice).to(torch.float32)
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
    )
    if neighbor_graph:
        edge_index, offsets, dist = radius_graph_pbc(
            frac32.double() @ cell32.double(),
            cell32.double(),
            radius=radius,
            max_neighbors=max_neighbors,
        )
        data.edge_index = edge_index
        data.cell_offsets = offsets
        data.edge_dist = dist.to(torch.float32)
    if y is not None:
        data.y = _target_tensor(y)
    if material_id is not None:
        data.material_id = str(material_id)
    return data


# ---------------------------------------------------------------------------- CIF
def parse_cif(source: str | os.PathLike[str], index: int = 0) -> Any:
    """Parse a CIF (text or path) into a pymatgen ``Structure``, without standardizing.

    Args:
        source: CIF text (anything containing a newline or ``data_``) or a file path.
        index: which data block to read when the CIF holds several.

    Returns:
        The pymatgen ``Structure`` (possibly disordered: :func:`from_structure` rejects it).

    Raises:
        StructureError: (reason ``malformed_cif``) if the file is missing or the text
            cannot be parsed into at least ``index + 1`` structures.
    """
    from pymatgen.io.cif import CifParser

    text: str
    if isinstance(source, os.PathLike) or (
        isinstance(source, str) and "\n" not in source and "data_" not in source
    ):
        path = Path(source)
        if not path.is_file():
            raise StructureError(f"CIF file not found: {path}", "malformed_cif")
        text = path.read_text(errors="replace")
    elif isinstance(source, str):
        text = source
    else:
        raise StructureError(
            f"CIF source must be text or a path, got {type(source).__name__}", "malformed_cif"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parser = CifParser(io.StringIO(text))
            structures = parser.parse_structures(primitive=False, on_error="raise")
    except Exception as exc:
        raise StructureError(
            f"malformed CIF: {type(exc).__name__}: {exc}", "malformed_cif"
        ) from exc
    if len(structures) <= index:
        raise StructureError(
            f"malformed CIF: {len(structures)} structure(s) parsed, block {index} requested",
            "malformed_cif",
        )
    return structures[index]


def from_cif(source: str | os.PathLike[str], *, index: int = 0, **kwargs: Any) -> Data:
    """:func:`from_structure` of a CIF given as text or a file path.

    Args:
        source: CIF text or path.
        index: data block to read.
        **kwargs: passed to :func:`from_structure`.

    Returns:
        The standardized crystal ``Data``.

    Raises:
        StructureError: malformed CIF, or any error of :func:`from_structure`.
    """
    return from_structure(parse_cif(source, index=index), **kwargs)


# ---------------------------------------------------------------------------- comparison
def _as_triplet(crystal: StandardizedCrystal | Data) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if isinstance(crystal, StandardizedCrystal):
        return crystal.lattice, crystal.frac_coords, crystal.numbers
    return (
        crystal.cell[0].double().numpy(),
        crystal.frac_coords.double().numpy(),
        crystal.z.numpy(),
    )


def _same_set(
    fa: np.ndarray, za: np.ndarray, fb: np.ndarray, zb: np.ndarray, lattice: np.ndarray, tol: float
) -> bool:
    """Whether two periodic point sets with types coincide (Cartesian tolerance, Å)."""
    diff = fa[:, None, :] - fb[None, :, :]
    diff -= np.round(diff)
    dist = np.linalg.norm(diff @ lattice, axis=-1)
    dist[za[:, None] != zb[None, :]] = np.inf
    close = dist <= tol
    # every atom of a has a partner and vice versa, with equal counts per type
    return bool(close.any(axis=1).all() and close.any(axis=0).all())


def compare_standardized(
    a: StandardizedCrystal | Data, b: StandardizedCrystal | Data, *, tol: float = 1e-4
) -> str:
    """Compare two standardized crystals up to atom order.

    Args:
        a: a :class:`StandardizedCrystal` or a crystal ``Data`` from :func:`from_structure`.
        b: the same kinds.
        tol: tolerance in Å for lattice entries and atom positions.

    Returns:
        ``"identical"``: same group, cell and atoms up to order;
        ``"origin"``: same group and cell, atoms equal only after a translation (another
        equivalent origin; see the module docstring);
        ``"different"``: anything else (another orientation or axis choice, group, ...).
    """
    la, fa, za = _as_triplet(a)
    lb, fb, zb = _as_triplet(b)
    num_a = a.number if isinstance(a, StandardizedCrystal) else int(a.space_group[0])
    num_b = b.number if isinstance(b, StandardizedCrystal) else int(b.space_group[0])
    if num_a != num_b or fa.shape != fb.shape or np.abs(la - lb).max() > tol:
        return "different"
    if np.any(np.sort(za) != np.sort(zb)):
        return "different"
    if _same_set(fa, za, fb, zb, la, tol):
        return "identical"
    # try the translations taking a's rarest-type atom onto each atom of b of that type
    types, counts = np.unique(za, return_counts=True)
    rare = types[np.argmin(counts)]
    anchor = fa[np.flatnonzero(za == rare)[0]]
    for target in fb[zb == rare]:
        if _same_set(fa + (target - anchor), za, fb, zb, la, tol):
            return "origin"
    return "different"
