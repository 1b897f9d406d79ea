"""The proper affine normalizer of a space group: the origin and axis choices it leaves open.

A crystal invariant under ``G`` has equally valid descriptions ``x -> A x + t`` for every
element ``(A, t)`` of the affine normalizer of ``G`` that keeps the lattice metric: another
origin (e.g. ``(1/2, 1/2, 1/2)`` in Pm-3m swaps the Cs and Cl sites of CsCl), another choice
of equivalent axes, and for polar groups a continuous shift along the polar axes.  The
standardization of :mod:`cft_pyg.data.standardization` picks one of them canonically.

Here: the **proper** (``det A = +1``, so a chiral crystal is never replaced by its mirror
image) elements with ``A`` an integer matrix with entries in {-1, 0, 1} that preserves a
given metric and ``t`` in twelfths, modulo ``G`` itself (one element per coset), and the
free (polar) axes.
"""

from __future__ import annotations

import functools

import numpy as np

from .space_group import TRANSLATION_DENOMINATOR, SpaceGroup

__all__ = ["free_axes", "metric_preserving_matrices", "proper_normalizer"]

_UNIT_MATRICES = np.array(
    [np.array(m).reshape(3, 3) for m in np.ndindex(*(3,) * 9)], dtype=np.int64
) - 1  # all 3x3 matrices with entries in {-1, 0, 1}
_UNIT_MATRICES = _UNIT_MATRICES[np.rint(np.linalg.det(_UNIT_MATRICES)).astype(int) == 1]
_D = TRANSLATION_DENOMINATOR
_GRID_12 = np.array(list(np.ndindex(_D, _D, _D)), dtype=np.int64)  # t = k / 12


def _op_keys(rotations: np.ndarray, translations_12: np.ndarray) -> np.ndarray:
    """Integer key of each operation (rotation entries base 3, translation base 12)."""
    r = (rotations.reshape(*rotations.shape[:-2], 9) + 1) @ (3 ** np.arange(9))
    t = (translations_12 % _D) @ np.array([_D * _D, _D, 1])
    return r * _D**3 + t


def free_axes(group: SpaceGroup) -> list[int]:
    """Axes along which the origin may move continuously (the polar directions).

    Args:
        group: The space group in its setting.

    Returns:
        The axis indices ``k`` (0, 1, 2) fixed by every rotation of the group.
    """
    M = np.concatenate([np.eye(3, dtype=np.int64) - W for W in group.point_group_rotations])
    return [k for k in range(3) if np.all(M[:, k] == 0)]


def metric_preserving_matrices(lattice: np.ndarray, rtol: float = 1e-6) -> np.ndarray:
    """The integer matrices ``A`` (entries in {-1, 0, 1}, ``det A = +1``) that keep a metric.

    Args:
        lattice: ``(3, 3)`` lattice rows (Å); its metric is ``G = L L^T``.
        rtol: Tolerance relative to the largest entry of ``G``.

    Returns:
        ``(m, 3, 3)`` int64 matrices with ``A^T G A == G`` (the identity among them).
    """
    G = lattice @ lattice.T
    W = _UNIT_MATRICES.astype(np.float64)
    ok = np.abs(np.einsum("aji,jk,akl->ail", W, G, W) - G).max(axis=(1, 2))
    return _UNIT_MATRICES[ok <= rtol * np.abs(G).max()]


def proper_normalizer(
    group: SpaceGroup, matrices: np.ndarray
) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Proper affine-normalizer elements ``(A, t_12)`` of ``group``, one per coset of ``G``.

    ``A`` runs over ``matrices`` (e.g. :func:`metric_preserving_matrices`), ``t = t_12 / 12``
    over the twelfths with the components along :func:`free_axes` set to 0 (those are fixed
    by pinning an atom instead).  ``(A, t)`` is kept when ``x -> A x + t`` maps the set of
    operations onto itself (translations modulo 1, centrings included); of ``(A, t)`` and
    ``(A, t) o g`` (``g`` in ``G``), which give the same image of a ``G``-invariant crystal,
    one is kept.  Cached per Hall number and set of matrices.

    Args:
        group: The space group in its setting.
        matrices: ``(m, 3, 3)`` integer candidate matrices with ``det = +1``.

    Returns:
        ``((A (3, 3) int64, t_12 (3,) int64), ...)``.
    """
    return _normalizer_of(group.hall_number,
                          np.ascontiguousarray(matrices, dtype=np.int64).tobytes())


@functools.cache
def _normalizer_of(hall: int, metric_matrices: bytes) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    group = SpaceGroup.from_hall(hall)
    rot, tr12 = group.rotations, group.translations_12
    ref = np.sort(_op_keys(rot, tr12))
    free = free_axes(group)
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
