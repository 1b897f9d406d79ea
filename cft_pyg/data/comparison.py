"""Comparison of two standardized crystals up to atom order (``identical``/``origin``/...)."""

from __future__ import annotations

import numpy as np
from torch_geometric.data import Data

from .standardization import StandardizedCrystal

__all__ = ["compare_standardized"]


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
        equivalent origin; see :mod:`cft_pyg.data.standardization`);
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
