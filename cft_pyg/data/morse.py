"""The label of the synthetic crystals: a Morse pair-potential energy per atom (eV/atom).

:func:`morse_energy_per_atom` uses ``r0_ij = r_cov(i) + r_cov(j)`` (ASE covalent radii),
``D_ij = sqrt(D_i D_j)``, ``alpha = 1.6 / A`` and a cutoff of 6 A with the potential
shifted to zero there.  It depends only on interatomic distances, so it is invariant to
every isometry, to atom permutations and to the choice of (super)cell: an exact
``G``-invariant target.
"""

from __future__ import annotations

import numpy as np
import torch

from .generator import covalent_radii

__all__ = ["MORSE_CUTOFF", "MORSE_STIFFNESS", "morse_energy_per_atom", "morse_sum"]

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


def _well_depth(z: np.ndarray) -> np.ndarray:
    return np.array([_WELL_DEPTH.get(int(a), 0.8) for a in z], dtype=np.float64)


def morse_sum(z: np.ndarray, src: np.ndarray, dst: np.ndarray, dist: np.ndarray,
               cutoff: float, stiffness: float) -> float:
    """Half the sum over directed edges (each pair twice) of the shifted Morse potential."""
    keep = dist <= cutoff
    src, dst, r = src[keep], dst[keep], dist[keep]
    radii = covalent_radii(z)
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
    return morse_sum(z_np, src, dst, dist.numpy(), cutoff, stiffness) / z_np.shape[0]
