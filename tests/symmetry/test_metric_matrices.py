"""metric_preserving_matrices (a product with precomputed coefficients) selects exactly the
matrices of the direct definition A^T G A = G (three-operand einsum), on lattices of every
crystal family, exact and strained."""

from __future__ import annotations

import numpy as np
import pytest

from cft_pyg.symmetry import normalizer
from cft_pyg.symmetry.lattice import random_lattice
from cft_pyg.symmetry.space_group import SpaceGroup


def _direct(lattice: np.ndarray, rtol: float, proper: bool) -> np.ndarray:
    G = lattice @ lattice.T
    mats = normalizer._UNIT_MATRICES if proper else normalizer._UNIMODULAR_MATRICES
    W = mats.astype(np.float64)
    ok = np.abs(np.einsum("aji,jk,akl->ail", W, G, W) - G).max(axis=(1, 2))
    return mats[ok <= rtol * np.abs(G).max()]


@pytest.mark.parametrize("number", [1, 2, 10, 47, 99, 123, 148, 166, 191, 221, 225, 229])
def test_same_matrices_as_the_definition(number: int) -> None:
    rng = np.random.default_rng(number)
    for _ in range(3):
        lattice = np.asarray(random_lattice(SpaceGroup(number), 150.0, rng), dtype=np.float64)
        for strain in (0.0, 1e-7, 1e-3):
            strained = lattice @ (np.eye(3) + strain * rng.standard_normal((3, 3)))
            for proper in (True, False):
                got = normalizer.metric_preserving_matrices(strained, proper=proper)
                assert np.array_equal(got, _direct(strained, 1e-6, proper))
                assert any(np.array_equal(a, np.eye(3)) for a in got)


def _normalizer_direct(hall: int, matrices: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The affine normalizer elements by the definition: sorted operation keys equal."""
    from cft_pyg.symmetry.space_group import SpaceGroup as Group

    group = Group.from_hall(hall)
    rot, tr12 = group.rotations, group.translations_12
    ref = np.sort(normalizer._op_keys(rot, tr12))
    free = normalizer.free_axes(group)
    grid = normalizer._GRID_12[np.all(normalizer._GRID_12[:, free] == 0, axis=1)] \
        if free else normalizer._GRID_12
    out = []
    for A in matrices:
        rot_new = A @ rot @ np.rint(np.linalg.inv(A)).astype(np.int64)
        if not np.array_equal(np.unique(normalizer._op_keys(rot_new, 0 * tr12)),
                              np.unique(normalizer._op_keys(rot, 0 * tr12))):
            continue
        shift = np.einsum("gij,tj->tgi", np.eye(3, dtype=np.int64) - rot_new, grid)
        keys = np.sort(normalizer._op_keys(rot_new[None], (tr12 @ A.T)[None] + shift), axis=1)
        out.extend((A, t) for t in grid[np.all(keys == ref[None], axis=1)])
    cosets: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for A, t in out:
        cosets.setdefault(int(normalizer._op_keys(A @ rot, tr12 @ A.T + t).min()), (A, t))
    return list(cosets.values())


@pytest.mark.parametrize("number", [1, 2, 14, 62, 75, 123, 148, 166, 186, 194, 221, 227])
def test_affine_normalizer_same_as_the_definition(number: int) -> None:
    """The pruned search (operation by operation) finds the elements of the definition, in
    the same order, for the largest candidate sets (cubic and hexagonal, improper too)."""
    group = SpaceGroup(number)
    hexagonal = np.array([[4.0, 0, 0], [-2.0, 2.0 * np.sqrt(3), 0], [0, 0, 6.0]])
    for lattice in (np.eye(3) * 5.0, hexagonal):
        mats = normalizer.metric_preserving_matrices(lattice, proper=False)
        got = normalizer.affine_normalizer(group, mats)
        expected = _normalizer_direct(group.hall_number, mats)
        assert len(got) == len(expected)
        for (a1, t1), (a2, t2) in zip(got, expected):
            assert np.array_equal(a1, a2) and np.array_equal(t1, t2)
