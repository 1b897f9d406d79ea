"""Standardization: spglib's conventional cell, symmetrized exactly, with a canonical origin.

:func:`standardize` (used by :func:`cft_pyg.data.from_structure`):

1. validates the input (:mod:`cft_pyg.data.validation`) before any call into spglib;
2. runs ``spglib.get_symmetry_dataset`` on an LLL-reduced basis of the input lattice and,
   when spglib's Hall setting is not ``default_hall_number(n)``, again with that setting;
3. places the atoms of spglib's conventional cell at the **measured** input positions they
   stand for (:func:`_measured_std_positions`: spglib's own idealized ``std_positions``
   depend on the order of the atoms), moves them to the origin that fits the operations
   best (least squares) and **symmetrizes** them with the operations of ``SpaceGroup(n)``
   (the Reynolds projection :func:`symmetrize_frac_coords`; the metric is averaged over the
   point group), so every operation maps the atoms onto themselves to ~1e-12 in fractional
   coordinates and the result depends on the atom set only, not on its order or
   description;
4. with ``canonical_origin=True`` picks, among the descriptions related by the proper
   metric-preserving elements of the group's affine normalizer
   (:mod:`cft_pyg.symmetry.normalizer`), and for polar groups an atom of the rarest species
   (smallest Z on ties) pinned to 0 along the free axes, the one with the smallest key (atoms
   sorted by (Z, coordinates rounded to 1e-4)).

Mapping back (spglib's convention): ``x_std = P x + p`` (mod 1) with ``P`` =
``transformation_matrix`` and ``p`` = ``origin_shift``; see :func:`std_to_input_frac`.
How often re-descriptions of a crystal agree with and without the canonical origin is
measured in ``benchmarks/README.md``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import spglib

from ..symmetry.normalizer import free_axes, metric_preserving_matrices, proper_normalizer
from ..symmetry.space_group import SpaceGroup, default_hall_number
from .errors import StructureError
from .validation import DEFAULT_MIN_DISTANCE, _reduced_lattice, to_cell, validate_cell

__all__ = [
    "DEFAULT_ANGLE_TOLERANCE",
    "DEFAULT_SYMPREC",
    "StandardizedCrystal",
    "standardize",
    "std_to_input_frac",
    "symmetrize_frac_coords",
]

DEFAULT_SYMPREC = 0.01
"""spglib's distance tolerance (Å).  0.01 follows pymatgen's ``SpacegroupAnalyzer``
default and keeps MP-20's detected groups identical to the database's in most cases."""
DEFAULT_ANGLE_TOLERANCE = -1.0
"""spglib's angle tolerance in degrees; negative lets spglib derive it from ``symprec``."""


# ---------------------------------------------------------------------------- symmetrization
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


# ---------------------------------------------------------------------------- canonical origin
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
    elements = proper_normalizer(group, metric_preserving_matrices(lattice))
    free = free_axes(group)
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


# ---------------------------------------------------------------------------- standardization
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
