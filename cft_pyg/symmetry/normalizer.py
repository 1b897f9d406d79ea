"""The affine normalizer of a space group: the origin, axis and handedness choices it leaves open.

A crystal invariant under ``G`` has equally valid descriptions ``x -> A x + t`` for every
element ``(A, t)`` of the affine normalizer of ``G`` that keeps the lattice metric: another
origin (e.g. ``(1/2, 1/2, 1/2)`` in Pm-3m swaps the Cs and Cl sites of CsCl), another choice
of equivalent axes, and for polar groups a continuous shift along the polar axes.  The
standardization of :mod:`cft_pyg.data.standardization` picks one of them canonically.

Here: the elements with ``A`` an integer matrix with entries in {-1, 0, 1} that preserves a
given metric and ``t`` in twelfths, modulo ``G`` itself (one element per coset), and the
free (polar) axes.  ``metric_preserving_matrices(..., proper=True)`` keeps only ``det A = +1``
(a chiral crystal is then never replaced by its mirror image); with ``proper=False`` the
improper elements join, which for the 43 Sohncke groups outside the enantiomorphic pairs
add the mirror-image descriptions (for a group with an improper operation they only repeat
cosets).  For the 11 enantiomorphic pairs no improper element normalizes the group: the
inversion ``x -> -x`` maps the default setting of one member exactly onto the default
setting of the other (:data:`ENANTIOMORPHIC_PARTNER`, checked in the tests).
"""

from __future__ import annotations

import functools

import numpy as np

from .space_group import TRANSLATION_DENOMINATOR, SpaceGroup

__all__ = ["ENANTIOMORPHIC_PARTNER", "SOHNCKE_NUMBERS", "affine_normalizer", "free_axes",
           "metric_preserving_matrices", "mirror_image_number"]

ENANTIOMORPHIC_PARTNER: dict[int, int] = {
    a: b for pair in ((76, 78), (91, 95), (92, 96), (144, 145), (151, 153), (152, 154),
                      (169, 170), (171, 172), (178, 179), (180, 181), (212, 213))
    for a, b in (pair, pair[::-1])
}
"""The 11 enantiomorphic pairs of space-group types (P4_1/P4_3, ..., P4_332/P4_132), both
ways: the mirror image of a crystal of one member has the other member's type."""

SOHNCKE_NUMBERS: tuple[int, ...] = (
    1, 3, 4, 5, *range(16, 25), *range(75, 81), *range(89, 99), *range(143, 147),
    *range(149, 156), *range(168, 174), *range(177, 183), *range(195, 200),
    *range(207, 215))
"""The 65 Sohncke space-group types (only proper operations): the groups of chiral
crystals, whose mirror image is not obtained by a rotation."""


def mirror_image_number(number: int) -> int:
    """The space-group type of the mirror image of a crystal of type ``number``.

    Args:
        number: ITA space-group number.

    Returns:
        The enantiomorphic partner for the 22 members of the 11 enantiomorphic pairs,
        ``number`` itself otherwise.
    """
    return ENANTIOMORPHIC_PARTNER.get(int(number), int(number))


_ALL_UNIT = np.array(
    [np.array(m).reshape(3, 3) for m in np.ndindex(*(3,) * 9)], dtype=np.int64
) - 1  # all 3x3 matrices with entries in {-1, 0, 1}
_DET = np.rint(np.linalg.det(_ALL_UNIT)).astype(int)
_UNIT_MATRICES = _ALL_UNIT[_DET == 1]
_UNIMODULAR_MATRICES = _ALL_UNIT[np.abs(_DET) == 1]


def _metric_coefficients(mats: np.ndarray) -> np.ndarray:
    """``(m * 9, 9)`` float64 ``C`` with ``(C @ G.ravel()).reshape(m, 3, 3) = W^T G W``."""
    W = mats.astype(np.float64)
    return np.einsum("aji,akl->ailjk", W, W).reshape(-1, 9)


_UNIT_COEF = _metric_coefficients(_UNIT_MATRICES)
_UNIMODULAR_COEF = _metric_coefficients(_UNIMODULAR_MATRICES)
_UNIT_VECTORS = np.array(list(np.ndindex(3, 3, 3)), dtype=np.float64) - 1  # (27, 3)




def _by_columns(mats: np.ndarray) -> np.ndarray:
    """``(27, 27, 27)`` table: the index in ``mats`` of the matrix with columns
    ``_UNIT_VECTORS[a], [b], [c]``, or -1."""
    columns = (mats.transpose(0, 2, 1) + 1) @ np.array([9, 3, 1])  # (m, 3) vector indices
    table = np.full((27, 27, 27), -1, dtype=np.int64)
    table[columns[:, 0], columns[:, 1], columns[:, 2]] = np.arange(mats.shape[0])
    return table


_UNIT_TABLE = _by_columns(_UNIT_MATRICES)
_UNIMODULAR_TABLE = _by_columns(_UNIMODULAR_MATRICES)
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
    return list(_free_axes_of(group.hall_number))


@functools.cache
def _free_axes_of(hall: int) -> tuple[int, ...]:
    group = SpaceGroup.from_hall(hall)
    M = np.concatenate([np.eye(3, dtype=np.int64) - W for W in group.point_group_rotations])
    return tuple(k for k in range(3) if np.all(M[:, k] == 0))


def metric_preserving_matrices(lattice: np.ndarray, rtol: float = 1e-6, *,
                               proper: bool = True) -> np.ndarray:
    """The integer matrices ``A`` (entries in {-1, 0, 1}, ``det A = ±1``) that keep a metric.

    Args:
        lattice: ``(3, 3)`` lattice rows (Å); its metric is ``G = L L^T``.
        rtol: Tolerance relative to the largest entry of ``G``.
        proper: Only ``det A = +1`` (rotations); ``False`` adds the improper ones
            (``det A = -1``: rotoinversions, mirror images).

    Returns:
        ``(m, 3, 3)`` int64 matrices with ``A^T G A == G`` (the identity among them; ``-I``
        too when ``proper=False``).
    """
    G = lattice @ lattice.T
    mats = _UNIT_MATRICES if proper else _UNIMODULAR_MATRICES
    tol = rtol * np.abs(G).max()
    # a matrix keeps G only if each column a_i keeps its length, (W^T G W)_ii =
    # a_i^T G a_i = G_ii: a necessary test on the 27 possible columns (at twice the
    # tolerance, far above the rounding of either sum; ~10x faster than testing all the
    # matrices) leaves a few candidate matrices,
    # which the full test below decides as before
    norms = ((_UNIT_VECTORS @ G) * _UNIT_VECTORS).sum(axis=1)  # (27,)
    loose = 2 * tol + 1e-12 * np.abs(G).max()
    fits = [np.flatnonzero(np.abs(norms - G[i, i]) <= loose) for i in range(3)]
    table = _UNIT_TABLE if proper else _UNIMODULAR_TABLE
    found = table[np.ix_(*fits)].ravel()
    rows = np.sort(found[found >= 0])
    # (W^T G W)_il = sum_jk W_ji W_kl G_jk: one product of the precomputed integer
    # coefficients with the 9 entries of G (a three-operand einsum took ~11 ms per call;
    # the sums round differently only by ulps, far below rtol)
    coefficients = (_UNIT_COEF if proper else _UNIMODULAR_COEF).reshape(-1, 9, 9)[rows]
    product = (coefficients.reshape(-1, 9) @ G.reshape(9)).reshape(-1, 3, 3)
    ok = np.abs(product - G).max(axis=(1, 2))
    return mats[rows[ok <= tol]]


def affine_normalizer(
    group: SpaceGroup, matrices: np.ndarray
) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Affine-normalizer elements ``(A, t_12)`` of ``group`` with ``A`` in ``matrices``, one
    per coset of ``G``.

    ``A`` runs over ``matrices`` (e.g. :func:`metric_preserving_matrices`), ``t = t_12 / 12``
    over the twelfths with the components along :func:`free_axes` set to 0 (those are fixed
    by pinning an atom instead).  ``(A, t)`` is kept when ``x -> A x + t`` maps the set of
    operations onto itself (translations modulo 1, centrings included); of ``(A, t)`` and
    ``(A, t) o g`` (``g`` in ``G``), which give the same image of a ``G``-invariant crystal,
    one is kept.  Cached per Hall number and set of matrices.

    Args:
        group: The space group in its setting.
        matrices: ``(m, 3, 3)`` integer candidate matrices with ``det = ±1`` (e.g. the
            proper or all metric-preserving ones).

    Returns:
        ``((A (3, 3) int64, t_12 (3,) int64), ...)``.
    """
    return _normalizer_of(group.hall_number,
                          np.ascontiguousarray(matrices, dtype=np.int64).tobytes())


_ONE_AT_A_TIME = 2
"""Operations that :func:`_normalizer_of` tests one at a time before the rest at once."""


@functools.cache
def _normalizer_of(hall: int, metric_matrices: bytes) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    group = SpaceGroup.from_hall(hall)
    rot, tr12 = group.rotations, group.translations_12
    ref = np.sort(_op_keys(rot, tr12))
    free = free_axes(group)
    grid = _GRID_12[np.all(_GRID_12[:, free] == 0, axis=1)] if free else _GRID_12
    out = []
    rot_ref = np.unique(_op_keys(rot, np.zeros_like(tr12)))
    weights = np.array([_D * _D, _D, 1])
    matrices = np.frombuffer(metric_matrices, dtype=np.int64).reshape(-1, 3, 3)
    if not matrices.shape[0]:
        return ()
    # the rotation parts conjugated by every candidate A at once (exact integers)
    inverses = np.rint(np.linalg.inv(matrices)).astype(np.int64)
    conjugated = matrices[:, None] @ rot[None] @ inverses[:, None]  # (m, g, 3, 3)
    conjugated_keys = _op_keys(conjugated, np.zeros_like(tr12)[None])  # (m, g)
    for A, rot_new, rot_keys in zip(matrices, conjugated, conjugated_keys):
        if not np.array_equal(np.unique(rot_keys), rot_ref):
            continue
        # w' = A w + (I - W') t  (all in twelfths): keep the grid translations t for which
        # every conjugated operation is an operation of the group.  Conjugation maps
        # distinct operations (modulo lattice translations) to distinct ones, so this is
        # the equality of the sorted operation keys with the group's, at a fraction of the
        # cost.  Most t fail on the first few operations: those are tested one at a time,
        # the rest (exact integers either way) all at once on the few t left.
        base = tr12 @ A.T  # (g, 3)
        shift = np.eye(3, dtype=np.int64) - rot_new  # (g, 3, 3)
        candidates = grid
        # operations that move t first (pure translations do not depend on t)
        ops = np.argsort(~np.any(shift.reshape(-1, 9) != 0, axis=1), kind="stable")
        for g in ops[:_ONE_AT_A_TIME]:
            w = base[g] + candidates @ shift[g].T  # (t, 3)
            keys = rot_keys[g] + (w % _D) @ weights
            at = np.minimum(np.searchsorted(ref, keys), ref.shape[0] - 1)
            candidates = candidates[ref[at] == keys]
            if not candidates.shape[0]:
                break
        rest = ops[_ONE_AT_A_TIME:]
        if candidates.shape[0] and rest.shape[0]:
            w = base[rest][None] + np.einsum("tj,gij->tgi", candidates, shift[rest])
            keys = rot_keys[rest][None] + (w % _D) @ weights  # (t, rest)
            at = np.minimum(np.searchsorted(ref, keys), ref.shape[0] - 1)
            candidates = candidates[np.all(ref[at] == keys, axis=1)]
        if candidates.shape[0]:
            # (A, t) and (A, t) o g give the same image of a G-invariant crystal: the coset
            # (A, t) G is identified by its smallest key
            coset_keys = _op_keys((A @ rot)[None], base[None] + candidates[:, None]).min(axis=1)
            out.extend((A, t, int(key)) for t, key in zip(candidates, coset_keys))
    # keep one element per coset, the first found
    cosets: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for A, t, coset in out:
        cosets.setdefault(coset, (A, t))
    return tuple(cosets.values())
