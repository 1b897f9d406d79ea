"""Translationengleiche subgroups of the 230 space groups, with their standard settings.

A *translationengleiche* (t-) subgroup ``H`` of a space group ``G`` keeps every translation of
``G`` and only some of its point operations.  It is fixed by a subgroup ``Q`` of the point
group ``P`` of ``G`` (the distinct rotation parts): ``H = {(W, w) in G : W in Q}`` (with the
centring translations of ``G``).  ``P`` has order at most 48, so its subgroups are found by
closure (at most 98, for ``m-3m``).

A crystal with group ``G`` is exactly ``H``-invariant for every such ``H``, so its description
in the standard setting of ``H`` is an exact input for the ``H``-encoding, and because every
operation of ``G`` only permutes the atoms of a ``G``-symmetric crystal, a permutation-invariant
model fed that description is still ``G``-invariant.

Each :class:`Subgroup` carries

* its type, from ``spglib.get_spacegroup_type_from_symmetry`` on its own operations;
* the map to the default setting of that type, ``x_H = P x_G + p`` (spglib's convention,
  found by ``spglib.get_symmetry_dataset`` on a crystal of one general orbit of ``H`` and
  **checked exactly**: ``(P W P^-1, P w + p - P W P^-1 p)`` is an operation of
  ``SpaceGroup(number)`` for every operation ``(W, w)`` of ``H``, and the counts agree);
* its conjugacy class in ``G``: ``H`` and ``g H g^-1`` (``g`` in ``G``) are the t-subgroups of
  the point groups ``Q`` and ``W Q W^-1``, so the classes are those of ``Q`` under ``P``.

Conventions: ``G`` in the default ITA setting of its number (``SpaceGroup(n)``); ``P`` and ``p``
act on column vectors of fractional coordinates; the identity subgroup ``H = G`` is listed too
(index 1).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import spglib

from ..symmetry.lattice import random_lattice
from ..symmetry.space_group import TRANSLATION_DENOMINATOR, SpaceGroup, default_hall_number

__all__ = ["Subgroup", "maximal_subgroups", "point_subgroups", "t_subgroups"]

_D = TRANSLATION_DENOMINATOR


def _key(matrix: np.ndarray) -> tuple[int, ...]:
    return tuple(int(v) for v in np.asarray(matrix).ravel())


def point_subgroups(rotations: np.ndarray) -> list[frozenset[tuple[int, ...]]]:
    """Every subgroup of a finite group of integer 3x3 matrices, found by closure.

    The group's multiplication table is built once; a subgroup is a bit mask over the
    elements, and every subgroup is the closure of a smaller subgroup and one more element
    (starting from the trivial group), so the search visits each subgroup once per element.

    Args:
        rotations: ``(|P|, 3, 3)`` the distinct elements of the group.

    Returns:
        The subgroups as frozensets of row-major matrix keys, by decreasing order, then by
        their sorted keys (a fixed order).
    """
    return list(_point_subgroups(tuple(sorted(_key(m) for m in np.asarray(rotations)))))


@functools.cache
def _point_subgroups(keys: tuple[tuple[int, ...], ...]) -> tuple[frozenset[tuple[int, ...]], ...]:
    mats = np.array(keys, dtype=np.int64).reshape(-1, 3, 3)
    index = {k: i for i, k in enumerate(keys)}
    n = len(keys)
    table = [[index[_key(mats[i] @ mats[j])] for j in range(n)] for i in range(n)]
    identity = index[_key(np.eye(3, dtype=np.int64))]

    def closure(mask: int, g: int) -> int:
        members = [i for i in range(n) if mask >> i & 1]
        new = [g]
        mask |= 1 << g
        members.append(g)
        while new:  # products of a new element with every member, both orders
            found = []
            for a in new:
                for b in members:
                    for c in (table[a][b], table[b][a]):
                        if not mask >> c & 1:
                            mask |= 1 << c
                            found.append(c)
            members.extend(found)
            new = found
        return mask

    trivial = 1 << identity
    seen = {trivial}
    frontier = [trivial]
    while frontier:
        nxt = []
        for mask in frontier:
            for g in range(n):
                if not mask >> g & 1:
                    joined = closure(mask, g)
                    if joined not in seen:
                        seen.add(joined)
                        nxt.append(joined)
        frontier = nxt
    subs = [frozenset(keys[i] for i in range(n) if m >> i & 1) for m in seen]
    return tuple(sorted(subs, key=lambda s: (-len(s), sorted(s))))


@dataclass(frozen=True, eq=False)
class Subgroup:
    """A t-subgroup ``H`` of ``SpaceGroup(parent)``, in the parent's setting.

    Attributes:
        parent: ITA number of ``G`` (default setting).
        number: ITA number of the type of ``H``.
        index: ``[G : H] = |P| / |Q|``.
        rotations: ``(n, 3, 3)`` int64 rotation parts of the operations of ``H`` (in ``G``'s
            basis, centring translations as separate operations, as in :class:`SpaceGroup`).
        translations_12: ``(n, 3)`` int64 ``12 w`` in ``[0, 12)``.
        transformation_matrix: ``(3, 3)`` float64 ``P`` with ``x_H = P x_G + p``.
        origin_shift: ``(3,)`` float64 ``p``.
        conjugacy_class: index of the class of ``H`` under conjugation by ``G`` among the
            classes of the t-subgroups of ``G`` (in the order of :func:`t_subgroups`).
        position: index of ``H`` in :func:`t_subgroups` of ``G``.
    """

    parent: int
    number: int
    index: int
    rotations: np.ndarray
    translations_12: np.ndarray
    transformation_matrix: np.ndarray
    origin_shift: np.ndarray
    conjugacy_class: int
    position: int

    @property
    def translations(self) -> np.ndarray:
        """``(n, 3)`` float64 translations ``w`` in ``[0, 1)`` (parent's setting)."""
        return self.translations_12 / _D

    @property
    def group(self) -> SpaceGroup:
        """``SpaceGroup(number)``: ``H`` in the default setting of its type."""
        return SpaceGroup(self.number)

    @property
    def point_group_order(self) -> int:
        return int(np.unique(self.rotations, axis=0).shape[0])

    def to_subgroup_setting(self, frac_coords: np.ndarray) -> np.ndarray:
        """``x_H = P x_G + p`` for ``(n, 3)`` fractional coordinates of the parent's setting."""
        x = np.asarray(frac_coords, dtype=np.float64)
        return x @ self.transformation_matrix.T + self.origin_shift

    def __repr__(self) -> str:
        return (f"Subgroup({self.parent} > {self.number} '{self.group.hermann_mauguin}', "
                f"index={self.index}, class={self.conjugacy_class})")


def _general_orbits(rotations: np.ndarray, translations: np.ndarray,
                    rng: np.random.Generator, count: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """``count`` general orbits of the operations, one species each, wrapped and
    de-duplicated: ``(frac (m, 3), species (m,))``.  Several species, because one orbit can
    have more symmetry than the operations (two points always have an inversion centre)."""
    frac: list[np.ndarray] = []
    species: list[int] = []
    for s in range(count):
        x = rng.uniform(0.05, 0.95, size=3)
        images = np.einsum("gij,j->gi", rotations, x) + translations
        images -= np.floor(images)
        unique: list[np.ndarray] = []
        for y in images:
            if not any(np.abs((y - u + 0.5) % 1.0 - 0.5).max() < 1e-6 for u in unique):
                unique.append(y)
        frac.extend(unique)
        species.extend([s + 1] * len(unique))
    return np.array(frac), np.array(species, dtype=np.intc)


def _conjugated_in(group: SpaceGroup, rotations: np.ndarray, translations: np.ndarray,
                   P: np.ndarray, p: np.ndarray) -> bool:
    """Whether every ``(P W P^-1, P w + p - P W P^-1 p)`` is an operation of ``group``."""
    P_inv = np.linalg.inv(P)
    ops = {(_key(r), _key(t)) for r, t in zip(group.rotations, group.translations_12)}
    for W, w in zip(rotations, translations):
        W2 = P @ W @ P_inv
        W2_int = np.rint(W2)
        if np.abs(W2 - W2_int).max() > 1e-9:
            return False
        w2 = (P @ w + p - W2_int @ p) * _D
        w2_int = np.rint(w2)
        if np.abs(w2 - w2_int).max() > 1e-6:
            return False
        if (_key(W2_int.astype(np.int64)), _key(w2_int.astype(np.int64) % _D)) not in ops:
            return False
    return True


def _identify(parent: SpaceGroup, rotations: np.ndarray, translations_12: np.ndarray
              ) -> tuple[int, np.ndarray, np.ndarray]:
    """Type number of ``H`` and the map ``(P, p)`` to the default setting of that type."""
    translations = translations_12 / _D
    rng = np.random.default_rng(parent.number)
    lattice = random_lattice(parent, 100.0, rng)
    spg_type = spglib.get_spacegroup_type_from_symmetry(
        rotations.astype(np.intc), translations, lattice=lattice, symprec=1e-5)
    if spg_type is None:  # pragma: no cover - checked on all 230 groups
        raise ValueError(f"spglib cannot identify a subgroup of {parent.number}")
    number = int(spg_type.number)
    hall = default_hall_number(number)
    target = SpaceGroup(number)
    for _ in range(5):  # a general orbit whose symmetry is exactly H (almost surely)
        cell = (lattice, *_general_orbits(rotations, translations, rng))
        dataset = spglib.get_symmetry_dataset(cell, symprec=1e-5, hall_number=hall)
        if dataset is None or int(dataset.number) != number:
            continue
        P = np.array(dataset.transformation_matrix, dtype=np.float64)
        p = np.array(dataset.origin_shift, dtype=np.float64)
        P = np.rint(P * _D) / _D
        p = np.rint(p * 2 * _D) / (2 * _D)
        det = abs(np.linalg.det(P))
        if (_conjugated_in(target, rotations, translations, P, p)
                and abs(len(rotations) / det - target.num_operations) < 1e-6):
            return number, P, p
    raise ValueError(  # pragma: no cover - checked on all 230 groups
        f"no exact map of a subgroup of type {number} of {parent.number} to its setting")


@functools.cache
def t_subgroups(number: int) -> tuple[Subgroup, ...]:
    """Every translationengleiche subgroup of ``SpaceGroup(number)``, itself included.

    Args:
        number: ITA number 1-230 (default setting).

    Returns:
        The subgroups by increasing index (``[0]`` is ``G`` itself), each with its type, its
        exact map to the default setting of its type and its conjugacy class.

    Example:
        >>> [s.number for s in t_subgroups(14)]   # P2_1/c: itself, P2_1, Pc, P-1, P1
        [14, 4, 7, 2, 1]
    """
    group = SpaceGroup(number)
    point = list(group.point_group_rotations)
    subs = point_subgroups(group.point_group_rotations)
    # conjugacy classes of point subgroups under the point group
    class_of: dict[frozenset, int] = {}
    for sub in subs:
        if sub in class_of:
            continue
        label = len(set(class_of.values()))
        mats = [np.array(k, dtype=np.int64).reshape(3, 3) for k in sub]
        for W in point:
            W_inv = np.rint(np.linalg.inv(W)).astype(np.int64)
            class_of.setdefault(frozenset(_key(W @ m @ W_inv) for m in mats), label)
    order = len(point)
    keys = np.array([_key(r) for r in group.rotations])
    out = []
    for position, sub in enumerate(subs):
        mask = np.array([tuple(k) in sub for k in keys.tolist()])
        rotations = group.rotations[mask].copy()
        translations_12 = group.translations_12[mask].copy()
        h, P, p = _identify(group, rotations, translations_12)
        for a in (rotations, translations_12, P, p):
            a.setflags(write=False)
        out.append(Subgroup(parent=number, number=h, index=order // len(sub),
                            rotations=rotations, translations_12=translations_12,
                            transformation_matrix=P, origin_shift=p,
                            conjugacy_class=class_of[sub], position=position))
    return tuple(out)


def maximal_subgroups(number: int) -> tuple[Subgroup, ...]:
    """The maximal t-subgroups of ``SpaceGroup(number)`` (proper, contained in no other
    proper t-subgroup)."""
    subs = t_subgroups(number)
    point = [frozenset(map(_key, np.unique(s.rotations, axis=0))) for s in subs]
    return tuple(s for i, s in enumerate(subs) if i > 0 and not any(
        j > 0 and point[i] < point[j] for j in range(len(subs))))
