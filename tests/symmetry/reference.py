"""Independent references for the symmetry tests: gemmi's operations and absences.

Nothing here imports the code under test's math: operations come from gemmi (Hall-symbol
parser and its own space-group table), so comparing against them is a real check.
"""

from __future__ import annotations

import functools

import gemmi
import numpy as np

DEN = gemmi.Op.DEN  # gemmi stores rotations and translations as multiples of 1/24


def gemmi_operations(ops: gemmi.GroupOps) -> tuple[np.ndarray, np.ndarray]:
    """All operations (centring included) as ``(n, 3, 3)`` int ``W`` and ``(n, 3)`` ``24 w``.

    Translations are reduced to ``[0, 24)``.
    """
    rot, tran = [], []
    for op in ops:
        rot.append(np.array(op.rot, dtype=np.int64))
        tran.append(np.array(op.tran, dtype=np.int64))
    rot_a = np.stack(rot)
    if np.any(rot_a % DEN):
        raise AssertionError("gemmi rotation is not integer")
    return rot_a // DEN, np.stack(tran) % DEN


def operation_set(rotations: np.ndarray, translations_24: np.ndarray) -> set[tuple[int, ...]]:
    """Operations as a set of hashable tuples ``(W entries..., 24 w mod 24 ...)``."""
    rot = np.asarray(rotations, dtype=np.int64).reshape(-1, 9)
    tr = np.asarray(translations_24, dtype=np.int64) % DEN
    return {tuple(r) + tuple(t) for r, t in zip(rot.tolist(), tr.tolist(), strict=True)}


def operation_keys(rotations: np.ndarray, translations_24: np.ndarray) -> np.ndarray:
    """Vectorized integer key of each operation (entries of W are in {-1, 0, 1})."""
    rot = np.asarray(rotations, dtype=np.int64).reshape(-1, 9)
    if np.any(np.abs(rot) > 1):
        raise AssertionError("rotation entries outside {-1, 0, 1}")
    tr = np.asarray(translations_24, dtype=np.int64).reshape(-1, 3) % DEN
    key = np.zeros(rot.shape[0], dtype=np.int64)
    for col in range(9):
        key = key * 3 + rot[:, col] + 1
    for col in range(3):
        key = key * DEN + tr[:, col]
    return key


def ours_operation_set(group) -> set[tuple[int, ...]]:
    """Operation set of a :class:`cft_pyg.SpaceGroup` in gemmi's 1/24 units."""
    return operation_set(group.rotations, 2 * np.asarray(group.translations_12))


@functools.cache
def gemmi_default_ops(number: int) -> gemmi.GroupOps:
    """gemmi's operations of its default setting of space group ``number``."""
    return gemmi.find_spacegroup_by_number(number).operations()


def gemmi_absent(ops: gemmi.GroupOps, freq: np.ndarray) -> np.ndarray:
    """``(N,)`` bool: gemmi's systematic absences of the integer frequencies ``freq``."""
    return np.array([ops.is_systematically_absent(k) for k in np.asarray(freq).tolist()])
