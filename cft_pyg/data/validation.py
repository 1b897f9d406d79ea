"""Input conversion and validation: any supported structure -> a checked ``(lattice, frac, z)``.

:func:`to_cell` reads a pymatgen ``Structure``, an ASE ``Atoms`` or a plain
``(lattice, frac_coords, numbers)`` triple; :func:`validate_cell` checks it **before** any
call into a C extension (spglib crashes the whole process on NaN coordinates or an infinite
lattice): shapes, finiteness, a non-singular lattice, known elements, no disorder, at least
one atom, and no two atoms (or an atom and its own periodic image) closer than
``min_distance``.  Every rejection is a :class:`~cft_pyg.data.StructureError` with a
``reason`` code.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch

from .errors import StructureError
from .featurization import DEFAULT_FEATURIZATION
from .neighbors import radius_graph_pbc

__all__ = ["to_cell", "validate_cell"]


_MAX_Z = 118
_OCCUPANCY_TOL = 1e-6


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
    """LLL-reduced basis of the same lattice (rows), via pymatgen.

    The last few results are kept (keyed by the bytes of ``lattice``): the validation and
    the symmetry detection of one crystal reduce the same lattice.
    """
    lattice = np.ascontiguousarray(lattice, dtype=np.float64)
    return _reduced_of(lattice.tobytes()).copy()


@functools.lru_cache(maxsize=16)
def _reduced_of(lattice: bytes) -> np.ndarray:
    from pymatgen.core import Lattice

    matrix = np.frombuffer(lattice, dtype=np.float64).reshape(3, 3)
    return np.array(Lattice(matrix).get_lll_reduced_lattice().matrix, dtype=np.float64)


def _clearly_apart(cart: np.ndarray, reduced: np.ndarray, min_distance: float) -> bool:
    """Whether no two atoms (an atom's own periodic images included) are within
    ``min_distance``, decided cheaply where it is clear (``False``: not decided).

    In the basis of ``reduced`` a pair within ``r`` has ``|df_k + T_k| <= r |b_k|`` for its
    image ``T`` along every axis (``b_k`` the reciprocal vectors).  Where ``r |b_k| < 1/2``
    for every ``k``, only ``T = -round(df)`` can qualify, so one distance per pair decides;
    a pair at or near ``min_distance`` (and any other case) is left to the full search.
    """
    inv = np.linalg.inv(reduced)
    reach = min_distance * np.linalg.norm(inv, axis=0)  # r |b_k|
    n = cart.shape[0]
    if reach.max() >= 0.45 or n > 2048:
        return False
    frac = cart @ inv
    for start in range(0, n, 256):
        df = frac[None, :, :] - frac[start : start + 256, None, :]  # (c, n, 3)
        df -= np.round(df)
        near = np.all(np.abs(df) <= reach * (1 + 1e-6) + 1e-9, axis=-1)
        centre, other = np.nonzero(near)
        near_pairs = centre + start != other  # an atom and itself (T = 0) is no pair
        if np.any(near_pairs):
            d = np.linalg.norm(df[centre[near_pairs], other[near_pairs]] @ reduced, axis=-1)
            if float(d.min()) <= min_distance * (1 + 1e-6) + 1e-9:
                return False
    return True


def validate_cell(
    lattice: np.ndarray,
    frac_coords: np.ndarray,
    numbers: np.ndarray,
    min_distance: float | None = DEFAULT_FEATURIZATION.min_distance,
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
    if _clearly_apart(cart, reduced, min_distance):
        return
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
