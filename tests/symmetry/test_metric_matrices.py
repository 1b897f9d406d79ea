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
