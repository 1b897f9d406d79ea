"""The proper affine normalizer, checked against the operations themselves (brute force)."""

from __future__ import annotations

import numpy as np
import pytest

from cft_pyg import SpaceGroup
from cft_pyg.symmetry.normalizer import (
    affine_normalizer,
    free_axes,
    metric_preserving_matrices,
)


def _op_set(rot: np.ndarray, tr12: np.ndarray) -> set[tuple[int, ...]]:
    return {(*W.ravel().tolist(), *(t % 12).tolist()) for W, t in zip(rot, tr12, strict=True)}


def _normalizes(group: SpaceGroup, A: np.ndarray, t12: np.ndarray) -> bool:
    """Oracle: (A, t) g (A, t)^-1 is an operation of the group for every g."""
    A_inv = np.rint(np.linalg.inv(A)).astype(np.int64)
    rot = A @ group.rotations @ A_inv
    tr = group.translations_12 @ A.T + t12 - np.einsum("gij,j->gi", rot, t12)
    return _op_set(rot, tr) == _op_set(group.rotations, group.translations_12)


@pytest.mark.parametrize("number", [1, 2, 14, 62, 99, 166, 194, 221, 225, 227, 229])
def test_every_element_normalizes_the_group(number: int) -> None:
    group = SpaceGroup(number)
    lattice = np.eye(3) if number not in (166, 194) else np.array(
        [[1.0, 0, 0], [-0.5, np.sqrt(3) / 2, 0], [0, 0, 1.6]])
    elements = affine_normalizer(group, metric_preserving_matrices(lattice))
    assert elements, "the identity is always an element"
    for A, t12 in elements:
        assert round(np.linalg.det(A)) == 1
        assert not np.any(t12[free_axes(group)]), "free axes are pinned, not shifted"
        assert _normalizes(group, A, t12)
    # one element stands for the coset of the group itself (the identity's)
    ops = _op_set(group.rotations, group.translations_12)
    assert sum((*A.ravel().tolist(), *(t12 % 12).tolist()) in ops for A, t12 in elements) == 1


def test_known_origin_choices() -> None:
    # Pm-3m: the body centre (1/2, 1/2, 1/2) is the one other origin (swaps Cs and Cl in CsCl)
    cubic = metric_preserving_matrices(np.eye(3))
    pm3m = affine_normalizer(SpaceGroup(221), cubic)
    assert len(pm3m) == 2
    assert sorted(tuple(t.tolist()) for _, t in pm3m) == [(0, 0, 0), (6, 6, 6)]
    # Im-3m: the body centre is a lattice translation already, so only one coset
    assert len(affine_normalizer(SpaceGroup(229), cubic)) == 1
    # P1 in a generic cell: only the identity (the origin is free along every axis)
    triclinic = np.array([[4.0, 0, 0], [0.7, 5.1, 0], [0.4, 0.9, 6.3]])
    assert len(metric_preserving_matrices(triclinic)) == 1
    assert len(affine_normalizer(SpaceGroup(1), metric_preserving_matrices(triclinic))) == 1


def test_free_axes_are_the_polar_directions() -> None:
    assert free_axes(SpaceGroup(1)) == [0, 1, 2]
    assert free_axes(SpaceGroup(2)) == []
    assert free_axes(SpaceGroup(4)) == [1]  # P2_1, b-unique
    assert free_axes(SpaceGroup(99)) == [2]  # P4mm
    assert free_axes(SpaceGroup(225)) == []


def test_metric_preserving_matrices_of_a_cube_are_its_rotations() -> None:
    mats = metric_preserving_matrices(3.0 * np.eye(3))
    assert len(mats) == 24  # the proper rotations of the cube
    for A in mats:
        np.testing.assert_array_equal(A.T @ A, np.eye(3, dtype=np.int64))
