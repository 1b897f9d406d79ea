"""The shortcuts of the standardization decide exactly as the full computations they skip:
the pruned atom matching of the symmetrization (:func:`_match_within`), the cheap overlap
test of the validation (:func:`_clearly_apart`), the canonical origin from all candidates'
keys at once, and the cached per-setting constants."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cft_pyg.data import StructureError, canonical_origin, standardization, validate_cell
from cft_pyg.data.generator import generate_crystal
from cft_pyg.data.neighbors import radius_graph_pbc
from cft_pyg.data.standardization import _match_within, _periodic_match
from cft_pyg.data.validation import _clearly_apart, _reduced_lattice
from cft_pyg.symmetry.space_group import SpaceGroup

NUMBERS = [1, 2, 9, 15, 33, 62, 88, 122, 142, 148, 161, 166, 186, 194, 198, 206, 220, 225,
           227, 230]


def _full(images: np.ndarray, x: np.ndarray, z: np.ndarray, lattice: np.ndarray) -> tuple:
    return _periodic_match(images, x, z, lattice)  # no tolerance: every atom compared


@pytest.mark.parametrize("number", NUMBERS)
def test_pruned_matching_is_the_full_matching(number: int) -> None:
    """Exact and perturbed crystals (the measured positions the symmetrization starts from):
    the same atoms, lattice shifts and mismatches, or ``None`` where the full matching would
    fail the tolerance."""
    rng = np.random.default_rng(number)
    group = SpaceGroup(number)
    for noise in (0.0, 0.02, 0.2):
        lattice, frac, z = generate_crystal(number, rng)
        x = frac + rng.normal(scale=noise, size=frac.shape) @ np.linalg.inv(lattice)
        images = group.apply(x)
        full = _full(images, x, z, lattice)
        for tolerance in (0.4, 0.05):
            pruned = _match_within(images, x, z, lattice, tolerance)
            if float(full[2].max()) > tolerance:
                assert pruned is None
                continue
            assert pruned is not None
            for a, b in zip(pruned, full):
                assert np.array_equal(a, b)
            for a, b in zip(_periodic_match(images, x, z, lattice, tolerance), full):
                assert np.array_equal(a, b)


def _overlaps(lattice: np.ndarray, frac: np.ndarray, d: float) -> bool:
    edges, _, _ = radius_graph_pbc(torch.from_numpy(frac @ lattice),
                                   torch.from_numpy(_reduced_lattice(lattice)), radius=d,
                                   max_neighbors=1)
    return bool(edges.shape[1])


def test_clearly_apart_never_hides_an_overlap() -> None:
    """Random cells (skewed ones too) with atoms placed near the threshold: wherever the
    cheap test says "apart", the full neighbour search finds no pair within it."""
    rng = np.random.default_rng(0)
    decided = 0
    for trial in range(300):
        lattice = np.diag(rng.uniform(2.0, 8.0, 3)) + rng.normal(scale=1.5, size=(3, 3))
        if abs(np.linalg.det(lattice)) < 1.0:
            continue
        frac = rng.random((int(rng.integers(1, 30)), 3))
        if trial % 3 == 0:  # a pair at about the threshold, across the cell boundary
            partner = frac[0] + rng.normal(size=3) * 0.5 / np.linalg.norm(lattice, axis=1)
            frac = np.vstack([frac, partner - np.round(partner) + [1.0, 0.0, 0.0]])
        d = float(rng.uniform(0.3, 1.5))
        reduced = _reduced_lattice(lattice)
        if _clearly_apart(frac @ lattice, reduced, d):
            decided += 1
            assert not _overlaps(lattice, frac, d)
    assert decided > 50


def test_validation_rejects_what_it_rejected() -> None:
    """A crystal with one atom moved next to another is rejected with the same reason
    and message; the untouched crystal passes."""
    rng = np.random.default_rng(3)
    lattice, frac, z = generate_crystal(225, rng)
    validate_cell(lattice, frac, z, min_distance=0.5)
    moved = frac.copy()
    moved[1] = moved[0] + np.array([0.3, 0.0, 0.0]) @ np.linalg.inv(lattice)
    with pytest.raises(StructureError) as info:
        validate_cell(lattice, moved, z, min_distance=0.5)
    assert info.value.reason == "overlapping_atoms"
    assert "0.3 Å apart" in str(info.value)


@pytest.mark.parametrize("hall", [1, 81, 458, 525, 530])
def test_cached_point_group(hall: int) -> None:
    group = SpaceGroup.from_hall(hall)
    rotations = group.point_group_rotations
    assert np.array_equal(rotations, np.unique(group.rotations, axis=0))
    assert not rotations.flags.writeable
    assert group.point_group_rotations is rotations


def _canonical_origin_loop(frac: np.ndarray, numbers: np.ndarray, lattice: np.ndarray,
                           group: SpaceGroup, proper: bool) -> tuple[np.ndarray, np.ndarray]:
    """The canonical origin by the definition: one key per candidate, the first smallest."""
    from cft_pyg.symmetry.normalizer import (
        affine_normalizer,
        free_axes,
        metric_preserving_matrices,
    )

    elements = affine_normalizer(group, metric_preserving_matrices(lattice, proper=proper))
    free = free_axes(group)
    species, count = np.unique(numbers, return_counts=True)
    anchor_species = species[np.lexsort((species, count))[0]]
    anchors = np.flatnonzero(numbers == anchor_species) if free else np.array([-1])
    best, best_at = None, None
    for A, t12 in elements:
        moved = frac @ A.T + t12 / 12.0
        for k in anchors:
            t, x = t12 / 12.0, moved
            if k >= 0:
                pin = np.zeros(3)
                pin[free] = -moved[k, free]
                x, t = moved + pin, t + pin
            key = canonical_origin._canonical_key(standardization._wrap(x), numbers)
            if best is None or key < best:
                best, best_at = key, (A, t)
    return best_at


@pytest.mark.parametrize("batch", [1 << 20, 7])
@pytest.mark.parametrize("number", [1, 3, 8, 26, 47, 77, 99, 143, 146, 160, 168, 186, 191,
                                    198, 221, 225])
def test_canonical_origin_is_the_first_smallest_key(number: int, batch: int,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """All candidates' keys computed at once (and by small chunks) pick the element and
    shift of the one-key-at-a-time definition, bit for bit, proper and improper."""
    monkeypatch.setattr(canonical_origin, "_KEY_BATCH", batch)
    rng = np.random.default_rng(number)
    group = SpaceGroup(number)
    for _ in range(2):
        lattice, frac, z = generate_crystal(number, rng)
        for proper in (True, False):
            A, t = standardization._canonical_origin(frac, z, lattice, group, proper=proper)
            A0, t0 = _canonical_origin_loop(frac, z, lattice, group, proper)
            assert np.array_equal(A, A0) and np.array_equal(t, t0)
