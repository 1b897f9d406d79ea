"""Symmetry-allowed tensor forms: Nye's table for the 32 point groups, exact projectors."""

from __future__ import annotations

import numpy as np
import pytest

from cft_pyg.symmetry import SpaceGroup, random_lattice
from cft_pyg.symmetry.tensors import (
    TENSOR_TYPES,
    TensorType,
    cartesian_rotations,
    from_voigt,
    independent_components,
    invariant_basis,
    invariant_projector,
    neumann_violation,
    reference_lattice,
    rotate_tensor,
    to_voigt,
)

ALL_NUMBERS = list(range(1, 231))

# Outside reference: J. F. Nye, *Physical Properties of Crystals* (Oxford, 1957/1985), the
# numbers of independent coefficients per crystal class of a symmetric second-rank tensor
# (permittivity, ch. I and IV), of the piezoelectric moduli (ch. VII) and of the elastic
# stiffnesses (ch. VIII), per point group (Hermann-Mauguin symbol):
# (dielectric, piezoelectric, elastic).
NYE = {
    "1": (6, 18, 21), "-1": (6, 0, 21),
    "2": (4, 8, 13), "m": (4, 10, 13), "2/m": (4, 0, 13),
    "222": (3, 3, 9), "mm2": (3, 5, 9), "mmm": (3, 0, 9),
    "4": (2, 4, 7), "-4": (2, 4, 7), "4/m": (2, 0, 7),
    "422": (2, 1, 6), "4mm": (2, 3, 6), "-42m": (2, 2, 6), "4/mmm": (2, 0, 6),
    "3": (2, 6, 7), "-3": (2, 0, 7),
    "32": (2, 2, 6), "3m": (2, 4, 6), "-3m": (2, 0, 6),
    "6": (2, 4, 5), "-6": (2, 2, 5), "6/m": (2, 0, 5),
    "622": (2, 1, 5), "6mm": (2, 3, 5), "-6m2": (2, 1, 5), "6/mmm": (2, 0, 5),
    "23": (1, 1, 3), "m-3": (1, 0, 3),
    "432": (1, 0, 3), "-43m": (1, 1, 3), "m-3m": (1, 0, 3),
}
# Optical activity (gyration tensor, an axial symmetric rank-2 tensor): Nye ch. XIV, it is
# possible in 15 classes; absent in the 11 centrosymmetric ones and in these 6.
NO_OPTICAL_ACTIVITY_ACENTRIC = {"4mm", "3m", "6mm", "-43m", "-6", "-6m2"}
KINDS = ("dielectric", "piezoelectric", "elastic")


def _point_group_of_hall(hall: int) -> str:
    return SpaceGroup.from_hall(hall).point_group


def test_nye_table_all_230_groups() -> None:
    assert len(NYE) == 32
    seen = set()
    for number in ALL_NUMBERS:
        group = SpaceGroup(number)
        counts = tuple(independent_components(kind, group) for kind in KINDS)
        assert counts == NYE[group.point_group], (number, group.point_group, counts)
        seen.add(group.point_group)
    assert seen == set(NYE)  # all 32 point groups met


@pytest.mark.parametrize("hall", range(1, 531, 7))
def test_nye_table_other_settings(hall: int) -> None:
    """The count is that of the point group in any setting (monoclinic axes, rhombohedral
    axes, origin choices ...)."""
    group = SpaceGroup.from_hall(hall)
    counts = tuple(independent_components(kind, group) for kind in KINDS)
    assert counts == NYE[group.point_group]


def test_optical_activity_axial_tensor() -> None:
    gyration = TensorType(2, ((1, 0),), axial=True, name="gyration")
    for number in ALL_NUMBERS:
        group = SpaceGroup(number)
        k = independent_components(gyration, group)
        expect_zero = group.has_inversion or group.point_group in NO_OPTICAL_ACTIVITY_ACENTRIC
        assert (k == 0) == expect_zero, (number, group.point_group, k)
    # the general rank-2 axial tensor of class 1 has 6 symmetric components
    assert independent_components(gyration, SpaceGroup(1)) == 6


def test_symmetric_dimensions() -> None:
    assert [TENSOR_TYPES[k].symmetric_dimension for k in KINDS] == [6, 18, 21]
    general = TensorType(3)  # no index symmetry: 27 components, none allowed with inversion
    assert general.symmetric_dimension == 27
    assert independent_components(general, SpaceGroup(1)) == 27
    assert independent_components(general, SpaceGroup(2)) == 0


@pytest.mark.parametrize("kind", KINDS)
def test_projector_idempotent_symmetric_reynolds(kind: str) -> None:
    """For every group, in the reference lattice and a random one: ``P`` symmetric and
    idempotent, of trace the exact count, equal to the Cartesian Reynolds average on tensors
    with the index symmetries, every basis tensor invariant under every operation."""
    t = TENSOR_TYPES[kind]
    S = t.symmetric_basis @ t.symmetric_basis.T  # projector on index-symmetric tensors
    rng = np.random.default_rng(0)
    for number in ALL_NUMBERS:
        group = SpaceGroup(number)
        for lattice in (reference_lattice(group), random_lattice(group, 40.0, rng)):
            P = invariant_projector(t, group, lattice)
            k = independent_components(t, group)
            np.testing.assert_allclose(P, P.T, atol=1e-12)
            np.testing.assert_allclose(P @ P, P, atol=1e-12)
            assert round(float(np.trace(P))) == k
            R = cartesian_rotations(group, lattice)
            np.testing.assert_allclose(np.einsum("gij,gkj->gik", R, R),
                                       np.broadcast_to(np.eye(3), R.shape), atol=1e-12)
            reynolds = np.mean([_kron(r, t.rank) for r in R], axis=0)
            np.testing.assert_allclose(S @ reynolds @ S, P, atol=1e-12)
            Q = invariant_basis(t, group, lattice)
            for column in Q.T:
                tensor = column.reshape((3,) * t.rank)
                assert neumann_violation(tensor, R) < 1e-12


def test_symmetric_coordinates() -> None:
    group = SpaceGroup(160)
    t = TENSOR_TYPES["piezoelectric"]
    Pm = invariant_projector(t, group, coordinates="symmetric")
    assert Pm.shape == (18, 18)
    np.testing.assert_allclose(Pm @ Pm, Pm, atol=1e-12)
    np.testing.assert_allclose(t.symmetric_basis @ Pm @ t.symmetric_basis.T,
                               invariant_projector(t, group), atol=1e-12)


def test_default_settings_frame_does_not_depend_on_metric() -> None:
    """In the Cholesky frame of a default setting the Cartesian point group, hence the
    projector, is the same for every compatible lattice (what lets a model cache one
    projector per space-group number)."""
    rng = np.random.default_rng(1)
    for number in ALL_NUMBERS:
        group = SpaceGroup(number)
        R0 = cartesian_rotations(group, reference_lattice(group))
        R1 = cartesian_rotations(group, random_lattice(group, 30.0, rng))
        np.testing.assert_allclose(R0, R1, atol=1e-12)


def test_lattice_must_be_compatible() -> None:
    skew = np.array([[1.0, 0, 0], [0.2, 1.1, 0], [0.1, 0.3, 1.3]])
    with pytest.raises(ValueError, match="not invariant"):
        invariant_basis("elastic", SpaceGroup(221), skew)
    with pytest.raises(ValueError, match="unknown tensor type"):
        invariant_basis("magnetic", SpaceGroup(221))
    with pytest.raises(ValueError, match="integer"):
        independent_components("dielectric", np.eye(3)[None] * 0.5)


def test_textbook_forms() -> None:
    """Cubic elastic tensor: C11 = C22 = C33, C12 = C13 = C23, C44 = C55 = C66, the rest 0;
    hexagonal: C66 = (C11 - C12) / 2; mm2 piezo: only e15, e24, e31, e32, e33."""
    rng = np.random.default_rng(2)
    C = from_voigt(_random_sym(rng, 6), 4)
    cubic = to_voigt((invariant_projector("elastic", SpaceGroup(225))
                      @ C.reshape(-1)).reshape(3, 3, 3, 3), 4)
    d = np.diag(cubic)
    np.testing.assert_allclose(d[:3], d[0], rtol=1e-12)
    np.testing.assert_allclose(d[3:], d[3], rtol=1e-12)
    np.testing.assert_allclose([cubic[0, 1], cubic[0, 2], cubic[1, 2]], cubic[0, 1], rtol=1e-12)
    hexa = to_voigt((invariant_projector("elastic", SpaceGroup(194))
                     @ C.reshape(-1)).reshape(3, 3, 3, 3), 4)
    np.testing.assert_allclose(hexa[5, 5], 0.5 * (hexa[0, 0] - hexa[0, 1]), rtol=1e-12)
    e = rng.normal(size=(3, 3, 3))
    e = 0.5 * (e + e.transpose(0, 2, 1))
    mm2 = to_voigt((invariant_projector("piezoelectric", SpaceGroup(25))
                    @ e.reshape(-1)).reshape(3, 3, 3), 3)
    allowed = np.zeros((3, 6), dtype=bool)
    allowed[0, 4] = allowed[1, 3] = allowed[2, 0] = allowed[2, 1] = allowed[2, 2] = True
    assert np.abs(mm2[~allowed]).max() < 1e-12
    assert np.abs(mm2[allowed]).min() > 1e-6


def test_voigt_round_trip_and_rotation() -> None:
    rng = np.random.default_rng(3)
    C = from_voigt(_random_sym(rng, 6), 4)
    np.testing.assert_array_equal(from_voigt(to_voigt(C, 4), 4), C)
    e = rng.normal(size=(5, 3, 6))
    np.testing.assert_array_equal(to_voigt(from_voigt(e, 3), 3), e)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    np.testing.assert_allclose(rotate_tensor(rotate_tensor(C, q), q.T), C, atol=1e-12)
    # odd rank: inversion flips a polar tensor, leaves an axial one
    E = from_voigt(e[0], 3)
    np.testing.assert_allclose(rotate_tensor(E, -np.eye(3)), -E, atol=1e-15)
    np.testing.assert_allclose(rotate_tensor(E, -np.eye(3), axial=True), E, atol=1e-15)


def _random_sym(rng: np.random.Generator, n: int) -> np.ndarray:
    a = rng.normal(size=(n, n))
    return a + a.T


def _kron(r: np.ndarray, n: int) -> np.ndarray:
    out = r
    for _ in range(n - 1):
        out = np.kron(out, r)
    return out
