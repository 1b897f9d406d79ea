"""The orbit distance (NumPy and torch inputs) and group-compatible random lattices."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cft_pyg import SpaceGroup
from cft_pyg.symmetry import NEIGHBOR_CELL_SHIFTS, orbit_distance, random_lattice
from cft_pyg.symmetry.distance import ZERO_SHIFT_INDEX


def test_neighbor_cell_shifts() -> None:
    assert NEIGHBOR_CELL_SHIFTS.shape == (27, 3)
    assert len({tuple(r) for r in NEIGHBOR_CELL_SHIFTS.tolist()}) == 27
    assert not NEIGHBOR_CELL_SHIFTS[ZERO_SHIFT_INDEX].any()


def test_orbit_distance_is_zero_for_images_and_symmetric() -> None:
    g = SpaceGroup(227)
    cell = 5.4 * np.eye(3)
    rng = np.random.default_rng(0)
    x = rng.random((20, 3))
    images = g.apply(x)[rng.integers(0, g.num_operations, 20), np.arange(20)]
    images += rng.integers(-2, 3, size=(20, 3))
    np.testing.assert_allclose(orbit_distance(x, images, cell, g), 0.0, atol=1e-9)
    y = rng.random((20, 3))
    d = orbit_distance(x, y, cell, g)
    assert isinstance(d, np.ndarray) and d.dtype == np.float64
    np.testing.assert_allclose(d, orbit_distance(y, x, cell, g), atol=1e-9)
    # never more than the plain periodic distance (the identity is one of the images)
    plain = orbit_distance(x, y, cell, SpaceGroup(1))
    assert np.all(d <= plain + 1e-12) and np.any(d < plain - 1e-6)
    # torch input gives the same numbers as a tensor of the input's dtype
    t = orbit_distance(torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(cell), 227)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float64
    np.testing.assert_allclose(t.numpy(), d, rtol=0, atol=1e-12)


def test_orbit_distance_input_checks() -> None:
    with pytest.raises(ValueError, match="same shape"):
        orbit_distance(np.zeros((2, 3)), np.zeros((3, 3)), np.eye(3), 1)
    with pytest.raises(ValueError, match="cell"):
        orbit_distance(np.zeros((2, 3)), np.zeros((2, 3)), np.eye(2), 1)


def test_random_lattice_metric_is_invariant() -> None:
    rng = np.random.default_rng(0)
    for number in range(1, 231):
        group = SpaceGroup(number)
        cell = random_lattice(group, 100.0, rng)
        metric = cell @ cell.T
        assert np.linalg.det(cell) == pytest.approx(100.0)
        for W in group.point_group_rotations:
            np.testing.assert_allclose(W.T @ metric @ W, metric, atol=1e-9)
