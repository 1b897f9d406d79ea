"""The canonical origin of a standardized crystal: among the descriptions that the affine
normalizer of its group makes equivalent, the one whose sorted ``(Z, x, y, z)`` key (on a
1e-4 grid) is smallest, so that every description of a crystal stores the same coordinates.
Used by :func:`cft_pyg.data.standardization.standardize`.
"""

from __future__ import annotations

import numpy as np

from ..symmetry.normalizer import affine_normalizer, free_axes, metric_preserving_matrices
from ..symmetry.space_group import SpaceGroup


def _wrap(frac: np.ndarray) -> np.ndarray:
    """Wrap to [0, 1) in float64, snapping values within 1e-12 of an integer to it."""
    out = frac - np.floor(frac)
    out[(out < 1e-12) | (out > 1 - 1e-12)] = 0.0
    return out

_KEY_SNAP = 10**8
"""Coordinates are first snapped to this grid (far coarser than float noise, far finer than
any published coordinate), so that the key's rounding to 1e-4 is decided by integers."""


_KEY_BATCH = 1 << 20
"""Atoms (over all candidate descriptions) whose keys :func:`_canonical_origin` computes at
once."""


def _canonical_key(frac: np.ndarray, numbers: np.ndarray) -> tuple[int, ...]:
    """Sorted rows ``(Z, x, y, z)`` with coordinates on a 1e-4 grid.

    The rounding to 1e-4 is done on integers, half up, after snapping to 1e-8: a coordinate
    given to five decimals ending in 5 (0.08545, common in published structures) lies exactly
    on a rounding boundary, where rounding the float directly is decided by float noise and
    two descriptions of one crystal could get different keys (found on mp-2488, P2_13).
    """
    snapped = np.rint(frac * _KEY_SNAP).astype(np.int64)
    step = _KEY_SNAP // 10_000
    q = ((snapped + step // 2) // step) % 10_000
    rows = np.concatenate([numbers[:, None], q], axis=1)
    return tuple(rows[np.lexsort(rows.T[::-1])].ravel().tolist())


def _canonical_origin(
    frac: np.ndarray, numbers: np.ndarray, lattice: np.ndarray, group: SpaceGroup,
    *, proper: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """The normalizer element ``(A, t)`` giving the smallest canonical key.

    Returns ``A`` (3, 3) int and ``t`` (3,) float such that ``A x + t`` is the chosen
    description.  Candidates: the affine-normalizer elements of the group that preserve
    the metric (only ``det A = +1`` when ``proper``), combined, for polar groups, with
    pinning an atom of the rarest species (smallest Z on ties) to 0 along the free axes.
    Of candidates with equal keys the first (normalizer order, then anchor order) is taken.
    """
    elements = affine_normalizer(group, metric_preserving_matrices(lattice, proper=proper))
    free = free_axes(group)
    species, count = np.unique(numbers, return_counts=True)
    anchor_species = species[np.lexsort((species, count))[0]]
    anchors = np.flatnonzero(numbers == anchor_species) if free else np.array([-1])
    moved = np.stack([frac @ A.T + t12 / 12.0 for A, t12 in elements])  # (E, n, 3)
    pins = np.zeros((len(elements), anchors.shape[0], 3))  # (E, K, 3)
    if free:
        pins[:, :, free] = -moved[:, anchors][:, :, free]
    # all candidates' keys at once, by chunks of elements (memory); the smallest key, the
    # first of equal ones (lexsort is stable, column 0 decides first; a later chunk wins
    # only with a strictly smaller key)
    chunk = max(1, _KEY_BATCH // max(1, anchors.shape[0] * frac.shape[0]))
    best_key: tuple[int, ...] | None = None
    best_at = (0, 0)
    for start in range(0, len(elements), chunk):
        part = moved[start : start + chunk, None]  # (c, 1, n, 3)
        candidates = part + pins[start : start + chunk, :, None, :] if free else part
        keys = _canonical_keys(_wrap(candidates.reshape(-1, *frac.shape)), numbers)
        first = int(np.lexsort(keys.T[::-1])[0])
        key = tuple(keys[first].tolist())
        if best_key is None or key < best_key:
            best_key = key
            best_at = divmod(first, anchors.shape[0])
            best_at = (best_at[0] + start, best_at[1])
    e, k = best_at
    A, t = elements[e][0], elements[e][1] / 12.0
    if free:
        t = t + pins[e, k]
    return A, t


def _canonical_keys(frac: np.ndarray, numbers: np.ndarray) -> np.ndarray:
    """:func:`_canonical_key` of many descriptions at once: ``(C, n, 3)`` coordinates of
    the same atoms -> ``(C, 4 n)`` int64, row ``c`` equal to the key of ``frac[c]``."""
    snapped = np.rint(frac * _KEY_SNAP).astype(np.int64)
    step = _KEY_SNAP // 10_000
    q = ((snapped + step // 2) // step) % 10_000  # (C, n, 3)
    c, n = q.shape[:2]
    rows = np.concatenate([np.broadcast_to(numbers[None, :, None], (c, n, 1)), q], axis=2)
    flat = rows.reshape(c * n, 4)
    which = np.repeat(np.arange(c), n)
    # each description's rows sorted by (Z, x, y, z), descriptions kept apart
    order = np.lexsort((flat[:, 3], flat[:, 2], flat[:, 1], flat[:, 0], which))
    return flat[order].reshape(c, 4 * n)


# ---------------------------------------------------------------------------- standardization
