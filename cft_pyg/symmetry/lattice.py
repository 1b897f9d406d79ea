"""Lattices compatible with a space group: metrics invariant under its point group."""

from __future__ import annotations

import numpy as np

from .space_group import SpaceGroup

__all__ = ["random_lattice", "symmetric_metric"]


def symmetric_metric(group: SpaceGroup, metric: np.ndarray) -> np.ndarray:
    """Average a metric tensor over the point group: ``mean_W W^T G W``.

    Args:
        group: The space group (its setting defines the basis).
        metric: ``(3, 3)`` symmetric positive-definite metric ``G = L L^T``.

    Returns:
        ``(3, 3)`` metric with ``W^T G W == G`` for every rotation ``W`` of ``group``.
    """
    rot = group.point_group_rotations.astype(np.float64)
    sym = np.einsum("gji,jk,gkl->il", rot, metric, rot) / rot.shape[0]
    return 0.5 * (sym + sym.T)


def random_lattice(group: SpaceGroup | int, volume: float,
                   rng: np.random.Generator) -> np.ndarray:
    """A random lattice compatible with ``group`` (its metric is invariant), of given volume.

    A random metric tensor ``G0`` (lengths 0.8-1.25 relative, angles 75-105 deg) is averaged
    over the point group (:func:`symmetric_metric`): the result has exactly the Bravais type
    the group needs in its setting (``a = b, gamma = 120`` for the hexagonal family, ``beta``
    free for b-unique monoclinic, ...).  It is scaled to ``volume``; the rows come from the
    Cholesky factor (``a`` along ``x``, ``b`` in the ``xy`` plane).

    Args:
        group: Space group (or its number) in its setting.
        volume: Cell volume in A^3.
        rng: Random generator.

    Returns:
        ``(3, 3)`` float64 lattice vectors as rows (A), lower-triangular.
    """
    if not isinstance(group, SpaceGroup):
        group = SpaceGroup(int(group))
    lengths = rng.uniform(0.8, 1.25, size=3)
    angles = np.deg2rad(rng.uniform(75.0, 105.0, size=3))
    ca, cb, cg = np.cos(angles)
    g0 = np.array([
        [lengths[0] ** 2, lengths[0] * lengths[1] * cg, lengths[0] * lengths[2] * cb],
        [lengths[0] * lengths[1] * cg, lengths[1] ** 2, lengths[1] * lengths[2] * ca],
        [lengths[0] * lengths[2] * cb, lengths[1] * lengths[2] * ca, lengths[2] ** 2],
    ])
    if np.linalg.eigvalsh(g0).min() <= 1e-3:  # angles that do not close: use orthogonal axes
        g0 = np.diag(lengths**2)
    g = symmetric_metric(group, g0)
    g *= (volume / np.sqrt(np.linalg.det(g))) ** (2.0 / 3.0)
    return np.linalg.cholesky(g)
