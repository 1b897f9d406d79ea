"""SpaceGroup: operations and descriptors against gemmi (an independent table)."""

from __future__ import annotations

from collections import Counter

import gemmi
import numpy as np
import pytest

from cft_pyg import SpaceGroup
from cft_pyg.symmetry import default_hall_number

from .reference import (
    gemmi_default_ops,
    gemmi_operations,
    operation_keys,
    operation_set,
    ours_operation_set,
)

ALL_NUMBERS = range(1, 231)
ALL_HALL = range(1, 531)


def test_default_settings_have_gemmi_operations() -> None:
    """The default setting of every number has exactly gemmi's default operations."""
    wrong = [
        n
        for n in ALL_NUMBERS
        if ours_operation_set(SpaceGroup(n))
        != operation_set(*gemmi_operations(gemmi_default_ops(n)))
    ]
    assert wrong == []


def test_every_hall_setting_matches_gemmi_hall_parser() -> None:
    """All 530 settings: same operations as gemmi's parse of the Hall symbol, same number."""
    wrong = []
    for hall in ALL_HALL:
        group = SpaceGroup.from_hall(hall)
        ops = gemmi.symops_from_hall(group.hall_symbol)
        ref = operation_set(*gemmi_operations(ops))
        if ref != ours_operation_set(group) or len(ref) != group.num_operations:
            wrong.append(hall)
        found = gemmi.find_spacegroup_by_ops(ops)
        if found is not None and found.number != group.number:
            wrong.append(hall)
    assert wrong == []


@pytest.mark.parametrize(("number", "hall"), [(1, 1), (14, 81), (166, 458), (227, 525), (230, 530)])
def test_default_hall_numbers(number: int, hall: int) -> None:
    assert default_hall_number(number) == hall
    assert SpaceGroup(number).hall_number == hall
    assert SpaceGroup(number) == SpaceGroup.from_hall(hall)


def test_default_hall_is_smallest_hall_of_its_number() -> None:
    numbers = [SpaceGroup.from_hall(h).number for h in ALL_HALL]
    assert sorted(set(numbers)) == list(ALL_NUMBERS)
    for n in ALL_NUMBERS:
        assert default_hall_number(n) == 1 + numbers.index(n)


def test_operations_are_exact_and_form_a_group() -> None:
    """Integer W with det +-1, translations in twelfths in [0, 12), closed under composition."""
    for n in (1, 14, 62, 148, 166, 194, 225, 227, 230):
        g = SpaceGroup(n)
        W, t = g.rotations, g.translations_12
        assert W.dtype == np.int64 and t.dtype == np.int64
        assert set(np.rint(np.abs(np.linalg.det(W))).astype(int).tolist()) == {1}
        assert t.min() >= 0 and t.max() < 12
        np.testing.assert_allclose(g.translations, t / 12.0)
        keys = operation_keys(W, 2 * t)
        assert np.unique(keys).size == keys.size
        WW = np.einsum("aij,bjk->abik", W, W).reshape(-1, 3, 3)
        tt = (np.einsum("aij,bj->abi", W, 2 * t) + 2 * t[:, None, :]).reshape(-1, 3)
        assert set(np.unique(operation_keys(WW, tt)).tolist()) == set(keys.tolist())


def test_fm3m_and_other_sizes() -> None:
    fm3m = SpaceGroup(225)
    assert fm3m.num_operations == len(fm3m) == 192
    assert fm3m.point_group_order == 48
    assert fm3m.centring == "F"
    assert fm3m.hermann_mauguin == "Fm-3m"
    assert fm3m.point_group == "m-3m"
    assert fm3m.crystal_system == fm3m.crystal_family == "cubic"
    assert fm3m.has_inversion
    assert fm3m.centring_translations.shape == (4, 3)
    assert SpaceGroup(1).num_operations == 1
    assert SpaceGroup(14).num_operations == 4 and SpaceGroup(14).hermann_mauguin == "P2_1/c"
    r3m = SpaceGroup(166)
    assert r3m.centring == "R" and r3m.num_operations == 36 and r3m.point_group_order == 12
    assert r3m.crystal_system == "trigonal" and r3m.crystal_family == "hexagonal"
    assert r3m.is_hexagonal_family and not SpaceGroup(142).is_hexagonal_family
    assert SpaceGroup(229).centring == "I" and SpaceGroup(229).num_operations == 96
    assert SpaceGroup(38).centring == "A"
    assert not SpaceGroup(4).has_inversion


def test_descriptors_agree_with_gemmi_for_all_groups() -> None:
    for n in ALL_NUMBERS:
        g = SpaceGroup(n)
        ops = gemmi_default_ops(n)
        assert g.has_inversion == ops.is_centrosymmetric(), n
        assert g.point_group_order == len(ops.sym_ops), n
        assert g.num_operations == len(ops.sym_ops) * len(ops.cen_ops), n
        assert g.centring == gemmi.find_spacegroup_by_number(n).hm[0], n
        assert len(g.centring_translations) == len(ops.cen_ops), n


def test_counts_over_all_230_groups() -> None:
    groups = [SpaceGroup(n) for n in ALL_NUMBERS]
    assert sum(g.has_inversion for g in groups) == 92
    assert Counter(g.crystal_system for g in groups) == {
        "triclinic": 2,
        "monoclinic": 13,
        "orthorhombic": 59,
        "tetragonal": 68,
        "trigonal": 25,
        "hexagonal": 27,
        "cubic": 36,
    }
    assert Counter(g.crystal_family for g in groups)["hexagonal"] == 52
    assert sum(g.is_hexagonal_family for g in groups) == 52
    # 32 crystallographic point groups, orders dividing 48 (cubic) or 24 (hexagonal)
    assert len({g.point_group for g in groups}) == 32
    assert {g.point_group_order for g in groups} == {1, 2, 3, 4, 6, 8, 12, 16, 24, 48}
    # lattice letters of the 230 standard symbols
    assert Counter(g.centring for g in groups) == {
        "P": 149,
        "I": 38,
        "C": 16,
        "F": 16,
        "R": 7,
        "A": 4,
    }


def test_apply_images_and_shape_check() -> None:
    g = SpaceGroup(14)
    x = np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
    images = g.apply(x)
    assert images.shape == (4, 2, 3)
    np.testing.assert_allclose(
        images, np.einsum("gij,nj->gni", g.rotations, x) + g.translations[:, None, :]
    )
    with pytest.raises(ValueError, match=r"shape \(n, 3\)"):
        g.apply(np.zeros((2, 2)))


@pytest.mark.parametrize("number", [0, 231, -1, 1000])
def test_bad_group_number(number: int) -> None:
    with pytest.raises(ValueError, match=r"space-group number must be in 1\.\.230"):
        SpaceGroup(number)


@pytest.mark.parametrize("number", [1.0, "14", True, None])
def test_non_integer_group_number(number: object) -> None:
    with pytest.raises(ValueError, match="space-group number must be an integer"):
        SpaceGroup(number)  # type: ignore[arg-type]


@pytest.mark.parametrize("hall", [0, 531, -3])
def test_bad_hall_number(hall: int) -> None:
    with pytest.raises(ValueError, match=r"Hall number must be in 1\.\.530"):
        SpaceGroup.from_hall(hall)


def test_non_integer_hall_number() -> None:
    with pytest.raises(ValueError, match="Hall number must be an integer"):
        SpaceGroup.from_hall(2.5)  # type: ignore[arg-type]
