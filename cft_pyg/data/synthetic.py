"""Random symmetric crystals for all 230 space groups, labelled with a pair-potential energy.

:class:`SyntheticCrystals` is the built-in dataset of ``cft-pyg demo``: it needs no download
and covers **every** space group, which no real dataset does (MP-20 has 168 of the 230).

How a crystal of group ``n`` is made (everything in the default setting of
:class:`cft_pyg.SpaceGroup` ``(n)``, so no spglib call is needed and ``frac_coords`` are
already in the setting of the group's operations):

1. **Lattice.** A random metric tensor ``G0`` (lengths 0.8-1.25 relative, angles 75-105 deg)
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
5. **Label** ``y``: a Morse pair-potential energy per atom (eV/atom),
   :func:`morse_energy_per_atom`, with ``r0_ij = r_cov(i) + r_cov(j)`` (ASE covalent radii),
   ``D_ij = sqrt(D_i D_j)``, ``alpha = 1.6 / A`` and a cutoff of 6 A with the potential
   shifted to zero there.  It depends only on interatomic distances, so it is invariant to
   every isometry, to atom permutations and to the choice of (super)cell: an exact
   ``G``-invariant target.

A crystal is invariant under its generating group, and by default (``exact_symmetry``) a
crystal whose full symmetry is larger (spglib at ``symprec=1e-3`` A finds a supergroup, e.g.
a single atom in P1 is P-1) is re-drawn, so ``space_group`` is the crystal's true group.
Cost: about 33 ms of CPU per crystal (generation, label and graph); 2,000 crystals take
about 66 s of CPU, so about 35-40 s with the default 2 worker processes on 2 free cores.
Crystal ``i`` is generated from ``numpy.random.default_rng([seed, i])``, so the data do not
depend on the number of worker processes.  The groups are assigned by cycling through seeded
permutations of the requested groups, so every group appears once ``num_crystals`` reaches
their number (230 by default).
"""

from __future__ import annotations

import functools
import hashlib
import json
import multiprocessing as mp
import os
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import spglib
import torch
from torch_geometric.data import Data, InMemoryDataset
from tqdm.auto import tqdm

from ..home import get_home_dir
from ..home import get_home_dir as default_cache_dir  # noqa: F401  (former name)
from ..symmetry.distance import NEIGHBOR_CELL_SHIFTS, ZERO_SHIFT_INDEX
from ..symmetry.lattice import random_lattice, symmetric_metric
from ..symmetry.space_group import SpaceGroup
from .neighbors import nearest_neighbor_mask

__all__ = [
    "SyntheticCrystals",
    "generate_crystal",
    "morse_energy_per_atom",
    "random_lattice",
    "symmetric_metric",
    "SPECIES_POOL",
]

SPECIES_POOL: tuple[int, ...] = (3, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 19, 20, 22, 26, 29,
                                 30, 31, 38, 47, 50, 56)
"""Atomic numbers the generator draws species from (Li ... Ba, common in inorganic crystals)."""

# Morse well depths (eV) per element: rough bond-energy scale, stronger for covalent
# formers than for alkalis.  Only relative values matter for a learning target.
_WELL_DEPTH: dict[int, float] = {
    3: 0.55, 6: 1.60, 7: 1.20, 8: 1.10, 9: 0.80, 11: 0.45, 12: 0.60, 13: 0.85, 14: 1.30,
    15: 1.10, 16: 1.00, 17: 0.75, 19: 0.40, 20: 0.65, 22: 1.20, 26: 1.10, 29: 0.90, 30: 0.60,
    31: 0.80, 38: 0.60, 47: 0.70, 50: 0.85, 56: 0.65,
}
MORSE_STIFFNESS = 4.0
"""Dimensionless Morse stiffness ``alpha_ij * r0_ij`` (typical of real bonds: 3-6)."""
MORSE_CUTOFF = 6.0
"""Cutoff radius of the Morse sum in A (the potential is shifted to zero there)."""

_IDENTITY = np.eye(3, dtype=np.int64)


# --------------------------------------------------------------------------- Wyckoff
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


def _covalent_radii(z: np.ndarray) -> np.ndarray:
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
        radii = _covalent_radii(orbit_species)
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


# --------------------------------------------------------------------------- label
def _well_depth(z: np.ndarray) -> np.ndarray:
    return np.array([_WELL_DEPTH.get(int(a), 0.8) for a in z], dtype=np.float64)


def _morse_sum(z: np.ndarray, src: np.ndarray, dst: np.ndarray, dist: np.ndarray,
               cutoff: float, stiffness: float) -> float:
    """Half the sum over directed edges (each pair twice) of the shifted Morse potential."""
    keep = dist <= cutoff
    src, dst, r = src[keep], dst[keep], dist[keep]
    radii = _covalent_radii(z)
    depth = _well_depth(z)
    r0 = radii[src] + radii[dst]
    alpha = stiffness / r0
    d = np.sqrt(depth[src] * depth[dst])
    phi = d * ((1.0 - np.exp(-alpha * (r - r0))) ** 2 - 1.0)
    phi_cut = d * ((1.0 - np.exp(-alpha * (cutoff - r0))) ** 2 - 1.0)
    return float(0.5 * np.sum(phi - phi_cut))


def morse_energy_per_atom(
    cell: np.ndarray | torch.Tensor,
    frac_coords: np.ndarray | torch.Tensor,
    z: np.ndarray | torch.Tensor,
    *,
    cutoff: float = MORSE_CUTOFF,
    stiffness: float = MORSE_STIFFNESS,
) -> float:
    """Morse pair-potential energy per atom (eV/atom) of a periodic crystal.

    ``E = (1 / N) * sum_{i<j, images, r_ij <= cutoff} [phi_ij(r_ij) - phi_ij(cutoff)]`` with
    ``phi_ij(r) = D_ij ((1 - exp(-alpha_ij (r - r0_ij)))^2 - 1)``, ``r0_ij`` the sum of the
    ASE covalent radii, ``alpha_ij = stiffness / r0_ij`` and ``D_ij = sqrt(D_i D_j)``.  The
    shift makes the potential continuous at the cutoff, so atoms exactly at the cutoff do not
    matter.  Neighbours come from :func:`cft_pyg.data.neighbors.radius_graph_pbc` (float64,
    all pairs within ``cutoff``).

    Args:
        cell: ``(3, 3)`` or ``(1, 3, 3)`` lattice vectors as rows (A).
        frac_coords: ``(n, 3)`` fractional coordinates.
        z: ``(n,)`` atomic numbers.
        cutoff: Cutoff radius in A.
        stiffness: Dimensionless ``alpha_ij * r0_ij``.

    Returns:
        The energy per atom in eV.
    """
    from .neighbors import radius_graph_pbc

    cell_t = torch.as_tensor(np.asarray(cell, dtype=np.float64)).reshape(3, 3)
    frac_t = torch.as_tensor(np.asarray(frac_coords, dtype=np.float64)).reshape(-1, 3)
    z_np = np.asarray(z, dtype=np.int64).reshape(-1)
    if z_np.shape[0] == 0 or z_np.shape[0] != frac_t.shape[0]:
        raise ValueError(f"need one atomic number per atom and at least one atom, got "
                         f"{z_np.shape[0]} numbers for {frac_t.shape[0]} atoms")
    edge_index, _, dist = radius_graph_pbc(frac_t @ cell_t, cell_t, radius=cutoff,
                                           max_neighbors=None)
    src, dst = edge_index.numpy()
    return _morse_sum(z_np, src, dst, dist.numpy(), cutoff, stiffness) / z_np.shape[0]


# --------------------------------------------------------------------------- dataset
def _record_chunk(args: tuple[list[tuple[int, int]], int, dict]) -> list[dict]:
    """Generate a chunk of crystals with labels and neighbour graphs (one batched search).

    The neighbour search runs once, for all crystals of the chunk, with radius
    ``max(radius, MORSE_CUTOFF)`` and no neighbour cap; the Morse sum uses the edges within
    ``MORSE_CUTOFF`` and the graph the first ``max_neighbors`` edges per centre (edges come
    sorted by centre, then distance, with the same tie rule as ``radius_graph_pbc``), within
    ``radius``.
    """
    from .neighbors import radius_graph_pbc

    jobs, seed, options = args
    crystals = []
    for index, number in jobs:
        cell, frac, z = generate_crystal(number, np.random.default_rng([seed, index]),
                                         **options["generator"])
        frac32 = frac.astype(np.float32)
        frac32[frac32 >= 1.0] = 0.0
        cell32 = cell.astype(np.float32)
        crystals.append((index, number, cell32, frac32, z))
    cells = torch.as_tensor(np.stack([c[2] for c in crystals]).astype(np.float64))
    counts = torch.tensor([c[4].shape[0] for c in crystals])
    crystal_of = torch.repeat_interleave(torch.arange(len(crystals)), counts)
    frac_all = torch.as_tensor(np.concatenate([c[3] for c in crystals]).astype(np.float64))
    pos = torch.einsum("ni,nij->nj", frac_all, cells[crystal_of])
    radius, max_neighbors = options["radius"], options["max_neighbors"]
    edge_index, offsets, dist = radius_graph_pbc(
        pos, cells, natoms=counts, radius=max(radius, MORSE_CUTOFF), max_neighbors=None)
    src, dst = edge_index.numpy()
    offsets_np, dist_np = offsets.numpy(), dist.numpy()
    first = np.concatenate([[0], np.cumsum(counts.numpy())])
    edge_crystal = crystal_of.numpy()[dst]
    edge_ptr = np.searchsorted(edge_crystal, np.arange(len(crystals) + 1))
    pos_np = pos.numpy()
    records = []
    for c, (index, number, cell32, frac32, z) in enumerate(crystals):
        lo, hi = edge_ptr[c], edge_ptr[c + 1]
        s, d = src[lo:hi] - first[c], dst[lo:hi] - first[c]
        r, off = dist_np[lo:hi], offsets_np[lo:hi]
        energy = _morse_sum(z, s, d, r, MORSE_CUTOFF, MORSE_STIFFNESS) / z.shape[0]
        keep = r <= radius
        if max_neighbors is not None:  # edges within radius stay sorted by centre, distance
            kept = np.flatnonzero(keep)
            capped = nearest_neighbor_mask(
                torch.from_numpy(d[kept]), torch.from_numpy(r[kept]), max_neighbors
            ).numpy()
            keep[kept[~capped]] = False
        records.append({
            "index": index, "number": number, "cell": cell32, "frac": frac32, "z": z,
            "pos": pos_np[first[c]:first[c + 1]].astype(np.float32), "y": energy,
            "edge_index": np.stack([s[keep], d[keep]]), "cell_offsets": off[keep],
            "edge_dist": r[keep].astype(np.float32),
        })
    return records


def _worker_init() -> None:
    torch.set_num_threads(1)


def _record_to_data(rec: dict, seed: int) -> Data:
    n = rec["z"].shape[0]
    return Data(
        z=torch.as_tensor(rec["z"], dtype=torch.long),
        frac_coords=torch.as_tensor(rec["frac"]),
        pos=torch.as_tensor(rec["pos"]),
        cell=torch.as_tensor(rec["cell"]).unsqueeze(0),
        space_group=torch.tensor([rec["number"]], dtype=torch.long),
        natoms=torch.tensor([n], dtype=torch.long),
        edge_index=torch.as_tensor(rec["edge_index"], dtype=torch.long),
        cell_offsets=torch.as_tensor(rec["cell_offsets"], dtype=torch.long),
        edge_dist=torch.as_tensor(rec["edge_dist"]),
        y=torch.tensor([rec["y"]], dtype=torch.float32),
        transformation_matrix=torch.eye(3, dtype=torch.float64).unsqueeze(0),
        origin_shift=torch.zeros(1, 3, dtype=torch.float64),
        material_id=f"synthetic-s{seed}-{rec['index']}",
        num_nodes=n,
    )


def assign_space_groups(num_crystals: int, seed: int,
                        space_groups: Sequence[int] | None = None) -> np.ndarray:
    """Group of each crystal: consecutive seeded permutations of ``space_groups``.

    Args:
        num_crystals: How many crystals.
        seed: Random seed.
        space_groups: The groups to cover (default all 230).

    Returns:
        ``(num_crystals,)`` int64; every group appears once ``num_crystals >=
        len(space_groups)``, and counts differ by at most one between groups.
    """
    groups = np.arange(1, 231) if space_groups is None else np.asarray(space_groups, np.int64)
    rng = np.random.default_rng([seed, 2**31 - 1])
    reps = -(-num_crystals // len(groups)) if num_crystals else 0
    return np.concatenate([rng.permutation(groups) for _ in range(reps)]
                          or [np.zeros(0, np.int64)])[:num_crystals].astype(np.int64)


class SyntheticCrystals(InMemoryDataset):
    """Random symmetric crystals of all 230 space groups with a Morse energy label.

    See the module docstring for how crystals are made.  Each item is a crystal ``Data`` with
    the fields of ``docs/conventions.md`` (``z``, ``frac_coords`` in the default setting of
    ``SpaceGroup(space_group)``, ``pos``, ``cell``, ``space_group``, ``natoms``, the neighbour
    graph ``edge_index``/``cell_offsets``/``edge_dist``, identity ``transformation_matrix``,
    zero ``origin_shift``, ``material_id`` ``'synthetic-s<seed>-<i>'``) and ``y`` ``(1,)`` the
    Morse energy per atom (eV/atom).

    The processed data are cached in ``<root>/processed/<key>/data.pt`` where ``key`` hashes
    every option that changes the data, so changed options re-generate and unchanged ones
    load from disk.  ``generation_seconds`` holds the wall time of the generation (``None``
    when loaded from the cache).

    Args:
        root: Cache folder; default ``get_home_dir() / 'synthetic'`` (``$CFT_PYG_HOME``).
        num_crystals: Number of crystals.
        seed: Random seed (same seed and options give identical data).
        space_groups: Groups to cover (default all 230), cycled in seeded random order.
        max_atoms: Maximum atoms per conventional cell.
        max_orbits: Maximum number of Wyckoff orbits per crystal.
        min_distance: Minimum interatomic distance (A).
        exact_symmetry: Re-draw crystals with accidental extra symmetry (see
            :func:`generate_crystal`).
        radius: Neighbour-graph cutoff (A).
        max_neighbors: Neighbour-graph maximum neighbours per atom (``None``: all).
        num_workers: Worker processes (default ``min(2, cpu_count)``; 0 runs in-process).
        transform, pre_transform, pre_filter: As in PyG.
        force_reload: Re-generate even if a cache exists.
        log: Show progress bars and messages.
    """

    VERSION = 3  # 3: neighbour cap keeps tied shells

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        num_crystals: int = 2000,
        seed: int = 0,
        *,
        space_groups: Sequence[int] | None = None,
        max_atoms: int = 48,
        max_orbits: int = 4,
        min_distance: float = 1.5,
        exact_symmetry: bool = True,
        radius: float = 8.0,
        max_neighbors: int | None = 12,
        num_workers: int | None = None,
        transform: Callable | None = None,
        pre_transform: Callable | None = None,
        pre_filter: Callable | None = None,
        force_reload: bool = False,
        log: bool = True,
    ) -> None:
        if num_crystals < 1:
            raise ValueError(f"num_crystals must be >= 1, got {num_crystals}")
        if space_groups is not None:
            space_groups = sorted({int(g) for g in space_groups})
            for g in space_groups:
                SpaceGroup(g)  # validates 1..230
        self.num_crystals = int(num_crystals)
        self.seed = int(seed)
        self.space_groups = space_groups
        self.options = {
            "generator": {"max_atoms": int(max_atoms), "max_orbits": int(max_orbits),
                          "min_distance": float(min_distance),
                          "exact_symmetry": bool(exact_symmetry)},
            "radius": float(radius),
            "max_neighbors": None if max_neighbors is None else int(max_neighbors),
        }
        self.num_workers = min(2, os.cpu_count() or 1) if num_workers is None else num_workers
        self.generation_seconds: float | None = None
        root = get_home_dir() / "synthetic" if root is None else Path(root)
        super().__init__(str(root), transform, pre_transform, pre_filter,
                         force_reload=force_reload, log=log)
        self.load(self.processed_paths[0])

    @property
    def cache_key(self) -> str:
        """Hash of every option that changes the generated data."""
        payload = json.dumps({"v": self.VERSION, "n": self.num_crystals, "seed": self.seed,
                              "groups": self.space_groups, "options": self.options},
                             sort_keys=True)
        return hashlib.sha1(payload.encode()).hexdigest()[:12]

    @property
    def raw_file_names(self) -> list[str]:
        return []

    @property
    def processed_dir(self) -> str:
        return os.path.join(self.root, "processed", f"n{self.num_crystals}_s{self.seed}_"
                            f"{self.cache_key}")

    @property
    def processed_file_names(self) -> list[str]:
        return ["data.pt"]

    def process(self) -> None:
        start = time.perf_counter()
        numbers = assign_space_groups(self.num_crystals, self.seed, self.space_groups)
        jobs = [(i, int(n)) for i, n in enumerate(numbers)]
        chunk = 20
        tasks = [(jobs[k:k + chunk], self.seed, self.options) for k in range(0, len(jobs), chunk)]
        bar = tqdm(total=len(jobs), desc="SyntheticCrystals", unit="crystal",
                   disable=not self.log)
        records: list[dict] = []
        if self.num_workers > 0 and len(tasks) > 1:
            method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
            with mp.get_context(method).Pool(self.num_workers, initializer=_worker_init) as pool:
                for out in pool.imap_unordered(_record_chunk, tasks):
                    records.extend(out)
                    bar.update(len(out))
        else:
            threads = torch.get_num_threads()
            torch.set_num_threads(1)  # many tiny tensor ops: threads only add overhead
            try:
                for task in tasks:
                    out = _record_chunk(task)
                    records.extend(out)
                    bar.update(len(out))
            finally:
                torch.set_num_threads(threads)
        bar.close()
        records.sort(key=lambda r: r["index"])
        data_list = [_record_to_data(r, self.seed) for r in records]
        if self.pre_filter is not None:
            data_list = [d for d in data_list if self.pre_filter(d)]
        if self.pre_transform is not None:
            data_list = [self.pre_transform(d) for d in data_list]
        self.save(data_list, self.processed_paths[0])
        self.generation_seconds = time.perf_counter() - start
        if self.log:
            print(f"SyntheticCrystals: generated {len(data_list)} crystals in "
                  f"{self.generation_seconds:.1f} s ({self.num_workers} workers)")
