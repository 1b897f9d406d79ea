"""Translationengleiche subgroups of all 230 groups: closed, contained, identified as spglib
identifies them, mapped exactly onto the default setting of their type; known cases of the
International Tables (Vol. A, the maximal t-subgroups listed for each group)."""

from __future__ import annotations

import numpy as np
import pytest
import spglib

from cft_pyg.experimental.subgroups import maximal_subgroups, t_subgroups
from cft_pyg.symmetry import SpaceGroup, random_lattice

ALL = range(1, 231)


def _keys(rotations: np.ndarray, translations_12: np.ndarray) -> np.ndarray:
    r = (rotations.reshape(-1, 9) + 1) @ (3 ** np.arange(9))
    t = (translations_12 % 12) @ np.array([144, 12, 1])
    return r * 1728 + t


@pytest.mark.parametrize("number", ALL)
def test_subgroups_are_closed_contained_and_identified(number):
    group = SpaceGroup(number)
    g_keys = set(_keys(group.rotations, group.translations_12).tolist())
    subs = t_subgroups(number)
    assert subs[0].number == number and subs[0].index == 1
    rng = np.random.default_rng(1000 + number)
    for s in subs:
        keys = _keys(s.rotations, s.translations_12)
        assert set(keys.tolist()) <= g_keys                      # contained in G
        # closed under composition, modulo the lattice
        R = np.einsum("aij,bjk->abik", s.rotations, s.rotations).reshape(-1, 3, 3)
        T = (np.einsum("aij,bj->abi", s.rotations, s.translations_12)
             + s.translations_12[:, None, :]).reshape(-1, 3)
        assert set(_keys(R, T).tolist()) <= set(keys.tolist())
        # translationengleiche: every centring translation of G, index = point-group ratio
        assert s.index * s.point_group_order == group.point_group_order
        assert len(s.rotations) * s.index == group.num_operations
        # the type agrees with spglib on the subgroup's own operations (another lattice)
        found = spglib.get_spacegroup_type_from_symmetry(
            s.rotations.astype(np.intc), s.translations,
            lattice=random_lattice(group, 80.0, rng), symprec=1e-5)
        assert found is not None and int(found.number) == s.number
        # x_H = P x + p maps the operations onto those of SpaceGroup(number), all of them
        P, p = s.transformation_matrix, s.origin_shift
        W = np.einsum("ij,ajk,kl->ail", P, s.rotations, np.linalg.inv(P))
        w = (s.translations @ P.T + p - np.einsum("aij,j->ai", W, p)) * 12
        assert np.abs(W - np.rint(W)).max() < 1e-9 and np.abs(w - np.rint(w)).max() < 1e-6
        target = SpaceGroup(s.number)
        mapped = set(_keys(np.rint(W).astype(np.int64), np.rint(w).astype(np.int64)).tolist())
        assert mapped <= set(_keys(target.rotations, target.translations_12).tolist())
        assert len(s.rotations) / abs(np.linalg.det(P)) == pytest.approx(target.num_operations)


def _index_two(number: int) -> list[int]:
    return sorted(s.number for s in t_subgroups(number) if s.index == 2)


def test_known_subgroups_from_the_international_tables():
    assert _index_two(14) == [2, 4, 7]                         # P2_1/c: P-1, P2_1, Pc
    assert _index_two(123) == [47, 65, 83, 89, 99, 111, 115]   # P4/mmm
    assert _index_two(221) == [200, 207, 215]                  # Pm-3m: Pm-3, P432, P-43m
    assert _index_two(225) == [202, 209, 216]                  # Fm-3m
    assert _index_two(227) == [203, 210, 216]                  # Fd-3m: Fd-3, F4_132, F-43m
    # maximal t-subgroups of Pm-3m: three conjugate P4/mmm (index 3), four R-3m (index 4)
    maximal = maximal_subgroups(221)
    assert sorted(s.number for s in maximal) == [123, 123, 123, 166, 166, 166, 166,
                                                 200, 207, 215]
    assert len({s.conjugacy_class for s in maximal if s.number == 123}) == 1
    assert len({s.conjugacy_class for s in maximal if s.number == 166}) == 1
    # m-3m has 98 subgroups in 33 conjugacy classes; 1 has only itself
    subs = t_subgroups(221)
    assert len(subs) == 98 and len({s.conjugacy_class for s in subs}) == 33
    assert [s.number for s in t_subgroups(1)] == [1]
    # P6_3/mmc: P-31c, P-3m1, P6_3/m, P6_322, P6_3mc, P-6m2, P-62c; three Cmcm of index 3
    assert _index_two(194) == [163, 164, 176, 182, 186, 187, 190]
    cmcm = [s for s in t_subgroups(194) if s.number == 63]
    assert len(cmcm) == 3 and {s.index for s in cmcm} == {3}
    assert len({s.conjugacy_class for s in cmcm}) == 1


def test_conjugate_subgroups_share_a_type_and_order():
    for number in (123, 139, 191, 221, 229):
        classes: dict[int, set[tuple[int, int]]] = {}
        for s in t_subgroups(number):
            classes.setdefault(s.conjugacy_class, set()).add((s.number, s.index))
        assert all(len(v) == 1 for v in classes.values())
