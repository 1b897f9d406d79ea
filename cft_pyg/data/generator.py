"""Random crystals invariant under a given space group (default setting), on Wyckoff positions.

How a crystal of group ``n`` is made (everything in the default setting of
:class:`cft_pyg.SpaceGroup` ``(n)``, so no spglib call is needed and ``frac_coords`` are
already in the setting of the group's operations):

1. **Lattice** (:func:`cft_pyg.symmetry.random_lattice`). A random metric tensor ``G0``
   (lengths 0.8-1.25 relative, angles 75-105 deg)
   is averaged over the point group, ``G = mean_W W^T G0 W``.  The average is positive
   definite and satisfies ``W^T G W == G`` for every rotation, so it has exactly the Bravais
   type the group needs in this setting (``a = b, gamma = 120`` for the hexagonal family,
   ``beta`` free for b-unique monoclinic, ...).  It is scaled to a volume of
   ``natoms * U(volume_per_atom)``; the cell rows come from the Cholesky factor (``a`` along
   ``x``, ``b`` in the ``xy`` plane).
2. **Atoms on Wyckoff positions.** Each orbit starts from an operation ``g = (W, w)`` of the
   group that has fixed points (identity for a general position; rotations, mirrors,
   inversions, ... for special positions; screws and glides have none).  ``g`` is shifted by
   its intrinsic (lattice) translation so that ``g^k = 1``, and a uniform random point ``x``
   is projected onto the fixed set with ``(1/k) sum_i g^i(x)``.  Its images under all
   operations are wrapped into ``[0, 1)`` and coincident images are merged (periodic
   tolerance ``1e-6``), giving an orbit with the multiplicity of that Wyckoff position.
3. **Distances.** An orbit is accepted only if every new atom is at least ``min_distance``
   (default 1.5 A) from every atom, including periodic images (of itself too); otherwise a
   new point is drawn, and after repeated failures a new lattice and new Wyckoff choices.
4. **Species.** 1-3 elements from a fixed pool; one element per orbit.

A crystal is invariant under its generating group, and by default (``exact_symmetry``) a
crystal whose full symmetry is larger (spglib at ``symprec=1e-3`` A finds a supergroup, e.g.
a single atom in P1 is P-1) is re-drawn, so ``space_group`` is the crystal's true group.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence

import numpy as np
import spglib

from ..symmetry.distance import NEIGHBOR_CELL_SHIFTS, ZERO_SHIFT_INDEX
from ..symmetry.lattice import random_lattice
from ..symmetry.space_group import SpaceGroup

__all__ = ["SPECIES_POOL", "covalent_radii", "generate_crystal", "pair_distances"]

SPECIES_POOL: tuple[int, ...] = (3, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 19, 20, 22, 26, 29,
                                 30, 31, 38, 47, 50, 56)
"""Atomic numbers the generator draws species from (Li ... Ba, common in inorganic crystals)."""

_IDENTITY = np.eye(3, dtype=np.int64)


def _wrap(x: np.ndarray) -> np.ndarray:
    x = x - np.floor(x)
    x[x >= 1.0] = 0.0
    return x


def _op_order(W: np.ndarray) -> int:
    power = W.copy()
    for k in range(1, 7):
        if np.array_equal(power, _IDENTITY):
            return k
        power = power @ W
    raise AssertionError(f"rotation of order > 6: {W.tolist()}")


@functools.cache
def _site_operations(number: int) -> tuple[tuple[np.ndarray, np.ndarray, int, int], ...]:
    """Operations with fixed points, as ``(W, w, k, multiplicity)`` with ``g^k = 1`` exactly.

    ``w`` has the intrinsic lattice translation removed; ``multiplicity`` is the orbit size of
    a generic point of the fixed set (computed once with a fixed private seed).
    """
    group = SpaceGroup(number)
    rng = np.random.default_rng(12345)
    seen: set[tuple[int, ...]] = set()
    ops: list[tuple[np.ndarray, np.ndarray, int, int]] = []
    for W, w in zip(group.rotations, group.translations, strict=True):
        k = _op_order(W)
        power, intrinsic = _IDENTITY.copy(), np.zeros(3)
        for _ in range(k):
            intrinsic += power @ w
            power = power @ W
        intrinsic /= k
        if np.max(np.abs(intrinsic - np.rint(intrinsic))) > 1e-9:
            continue  # screw axis or glide plane: no fixed points
        w_fixed = w - np.rint(intrinsic)
        key = (*W.ravel().tolist(), *np.rint(_wrap(w_fixed.copy()) * 12).astype(int).tolist())
        if key in seen:
            continue
        seen.add(key)
        x = _project_fixed(W, w_fixed, k, rng.random(3))
        ops.append((W.astype(np.float64), w_fixed, k, _orbit(group, x).shape[0]))
    return tuple(ops)


def _project_fixed(W: np.ndarray, w: np.ndarray, k: int, x: np.ndarray) -> np.ndarray:
    """Average of ``x`` over the cyclic group of ``g = (W, w)`` (``g^k = 1``): a fixed point."""
    total, y = np.zeros(3), x.astype(np.float64)
    for _ in range(k):
        total += y
        y = W @ y + w
    return total / k


def _orbit(group: SpaceGroup, x: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    """Distinct images of the fractional point ``x`` under ``group``, wrapped to ``[0, 1)``.

    Images closer than ``tol`` (fractional, periodic) are merged; they are exact copies up to
    rounding when ``x`` lies exactly on a fixed set.
    """
    images = _wrap(group.apply(x[None, :])[:, 0, :])
    grid = 1.0 / tol
    keys = np.rint(images * grid).astype(np.int64) % round(grid)
    _, first = np.unique(keys, axis=0, return_index=True)
    return images[np.sort(first)]


def pair_distances(cell: np.ndarray, a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Shortest periodic distances (A) between fractional points (27 nearest images).

    Exact for points wrapped into the cell when no face distance of ``cell`` is shorter than
    the distances of interest (true for the cells made here, whose distances are checked
    against at most a few A).

    Args:
        cell: ``(3, 3)`` lattice rows (A).
        a: ``(n, 3)`` fractional points.
        b: ``(m, 3)`` fractional points; ``None`` for the distances within ``a``, where an
            atom and itself are compared only through non-zero lattice translations.

    Returns:
        ``(n, m)`` (or ``(n, n)``) distances.
    """
    other = a if b is None else b
    diff = a[:, None, :] - other[None, :, :]
    diff -= np.rint(diff)
    cart = (diff[:, :, None, :] + NEIGHBOR_CELL_SHIFTS[None, None, :, :]) @ cell
    sq = np.sum(cart * cart, axis=-1)
    if b is None:
        idx = np.arange(a.shape[0])
        sq[idx, idx, ZERO_SHIFT_INDEX] = np.inf
    return np.sqrt(sq.min(axis=-1))


def covalent_radii(z: np.ndarray) -> np.ndarray:
    """ASE's covalent radii (A) of atomic numbers ``z``."""
    from ase.data import covalent_radii

    return np.asarray(covalent_radii, dtype=np.float64)[z]


def _detected_number(cell: np.ndarray, frac: np.ndarray, z: np.ndarray) -> int:
    """spglib's space-group number of a (finite, well-formed) generated crystal, 0 if none."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = spglib.get_symmetry_dataset((cell, frac, z), symprec=1e-3)
    return 0 if dataset is None else int(dataset.number)


def generate_crystal(
    number: int,
    rng: np.random.Generator,
    *,
    max_atoms: int = 48,
    max_orbits: int = 4,
    min_distance: float = 1.5,
    bond_factor: float = 0.7,
    p_general: float = 0.35,
    species_pool: Sequence[int] = SPECIES_POOL,
    max_attempts: int = 200,
    exact_symmetry: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One random crystal invariant under space group ``number`` (default setting).

    The cell volume is ``sum_atoms 4/3 pi (r_cov + 0.7 A)^3`` times a random factor in
    ``[0.7, 1.3]``, close to the volumes per atom of real inorganic crystals (about 10 A^3
    per O, 25 per Si, 100 per Ba).  Two atoms of species ``s, t`` are at least
    ``max(min_distance, bond_factor * (r_cov(s) + r_cov(t)))`` apart.

    Args:
        number: ITA number 1-230.
        rng: Random generator (all randomness comes from it).
        max_atoms: Maximum atoms in the conventional cell (see ``exact_symmetry``).
        max_orbits: Maximum number of Wyckoff orbits (1..max_orbits drawn uniformly).
        min_distance: Minimum interatomic distance in A (periodic images included).
        bond_factor: Minimum distance as a fraction of the sum of covalent radii.
        p_general: Probability that an orbit is drawn on the general position (when it fits).
        species_pool: Atomic numbers to draw 1-3 species from.
        max_attempts: Lattice/Wyckoff re-draws before giving up.
        exact_symmetry: Re-draw crystals whose full symmetry (spglib, ``symprec=1e-3`` A)
            is a proper supergroup of the generating group (e.g. a single atom in P1 is
            P-1), so that the generating group is the crystal's space group.  For the few
            groups whose small orbits all have extra symmetry (F-centred cubic groups such
            as F432, Fd-3c), the atom limit is doubled after each quarter of
            ``max_attempts`` (up to ``4 * max_atoms``); if still no exact crystal is found,
            the smallest crystal found (invariant, with extra symmetry) is returned.

    Returns:
        ``(cell, frac_coords, z)``: ``(3, 3)`` float64 rows in A, ``(n, 3)`` float64 in
        ``[0, 1)``, ``(n,)`` int64.

    Raises:
        ValueError: If the smallest orbit of the group exceeds ``max_atoms``.
        RuntimeError: If no crystal satisfying the constraints was found.
    """
    group = SpaceGroup(number)
    site_ops = _site_operations(number)
    general = [i for i, op in enumerate(site_ops) if op[3] == group.num_operations]
    special = [i for i in range(len(site_ops)) if i not in general]
    mults = np.array([op[3] for op in site_ops])
    if mults.min() > max_atoms:
        raise ValueError(f"space group {number}: smallest orbit has {mults.min()} atoms "
                         f"> max_atoms={max_atoms}")
    pool = np.asarray(species_pool, dtype=np.int64)
    stretch = 1.0
    limit = max_atoms
    fallback: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    for attempt in range(max_attempts):
        if exact_symmetry and attempt and attempt % max(max_attempts // 4, 1) == 0:
            limit = min(2 * limit, 4 * max_atoms)  # groups needing large orbits
        # Wyckoff plan: orbits that fit within the atom limit, one species per orbit.
        n_orbits = int(rng.integers(1, max_orbits + 1))
        plan: list[int] = []
        total = 0
        for _ in range(n_orbits):
            fits_general = [i for i in general if total + mults[i] <= limit]
            fits_special = [i for i in special if total + mults[i] <= limit]
            if fits_general and (not fits_special or rng.random() < p_general):
                choice = int(rng.choice(fits_general))
            elif fits_special:
                choice = int(rng.choice(fits_special))
            else:
                break
            plan.append(choice)
            total += int(mults[choice])
        n_species = int(rng.integers(1, min(3, len(plan)) + 1))
        species = rng.choice(pool, size=n_species, replace=False)
        orbit_species = np.concatenate([species, rng.choice(species, len(plan) - n_species)])
        rng.shuffle(orbit_species)
        radii = covalent_radii(orbit_species)
        volume = float(np.sum(mults[plan] * 4.0 / 3.0 * np.pi * (radii + 0.7) ** 3))
        volume *= rng.uniform(0.7, 1.3) * stretch
        cell = random_lattice(group, volume, rng)
        frac = np.zeros((0, 3))
        frac_radii = np.zeros(0)
        ok = True
        for choice, radius in zip(plan, radii, strict=True):
            W, w, k, mult = site_ops[choice]
            d_self = max(min_distance, bond_factor * 2.0 * radius)
            d_other = np.maximum(min_distance, bond_factor * (radius + frac_radii))
            for _try in range(20):
                orbit = _orbit(group, _wrap(_project_fixed(W, w, k, rng.random(3))))
                if orbit.shape[0] != mult:
                    continue  # landed on a more special point of the fixed set
                if pair_distances(cell, orbit).min() < d_self:
                    continue
                if frac.shape[0] and np.any(pair_distances(cell, orbit, frac) < d_other):
                    continue
                frac = np.concatenate([frac, orbit])
                frac_radii = np.concatenate([frac_radii, np.full(mult, radius)])
                break
            else:
                ok = False
                break
        if not ok or frac.shape[0] == 0:
            stretch = min(stretch * 1.03, 2.0)
            continue
        z = np.repeat(orbit_species, [site_ops[c][3] for c in plan]).astype(np.int64)
        if exact_symmetry and _detected_number(cell, frac, z) != number:
            if fallback is None or frac.shape[0] < fallback[1].shape[0]:
                fallback = (cell, frac, z)
            continue  # accidental extra symmetry
        return cell, frac, z
    if fallback is not None:
        return fallback
    raise RuntimeError(f"could not generate a crystal for space group {number} "
                       f"after {max_attempts} attempts")
