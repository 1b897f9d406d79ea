"""Mirror images: a crystal and its mirror image give one standardized crystal and one
prediction (canonical handedness, the default), in every Sohncke group and for both members
of every enantiomorphic pair; ``canonical_handedness=False`` keeps them apart."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

from cft_pyg import SpaceGroup
from cft_pyg.data import from_structure, standardize
from cft_pyg.data.generator import generate_crystal
from cft_pyg.data.standardization import _wrap
from cft_pyg.symmetry.normalizer import (
    ENANTIOMORPHIC_PARTNER,
    SOHNCKE_NUMBERS,
    affine_normalizer,
    metric_preserving_matrices,
    mirror_image_number,
)
from cft_pyg.testing import default_tolerance


def _op_set(rot: np.ndarray, tr12: np.ndarray) -> set[tuple[int, ...]]:
    return {(*W.ravel().tolist(), *(t % 12).tolist()) for W, t in zip(rot, tr12, strict=True)}


def _key(std) -> np.ndarray:
    q = np.rint(_wrap(std.frac_coords) * 1e6).astype(np.int64) % 1_000_000
    rows = np.concatenate([std.numbers[:, None], q], axis=1)
    return rows[np.lexsort(rows.T[::-1])]


def _same(a, b) -> bool:
    return (a.number == b.number and a.frac_coords.shape == b.frac_coords.shape
            and np.allclose(a.lattice, b.lattice, atol=1e-8)
            and np.array_equal(_key(a), _key(b)))


def _mirrors(cell: np.ndarray, frac: np.ndarray, z: np.ndarray):
    """The two constructions of the mirror image: negated fractional coordinates, and the
    Cartesian frame reflected by diag(1, 1, -1)."""
    return (cell, -frac, z), (cell @ np.diag([1.0, 1.0, -1.0]), frac, z)


def test_sohncke_groups_are_those_without_improper_operations() -> None:
    proper_only = tuple(n for n in range(1, 231) if all(
        round(np.linalg.det(W)) == 1 for W in SpaceGroup(n).point_group_rotations))
    assert proper_only == SOHNCKE_NUMBERS
    assert len(SOHNCKE_NUMBERS) == 65
    assert len(ENANTIOMORPHIC_PARTNER) == 22
    assert set(ENANTIOMORPHIC_PARTNER) <= set(SOHNCKE_NUMBERS)


@pytest.mark.parametrize("number", SOHNCKE_NUMBERS)
def test_inversion_maps_each_default_setting_onto_its_mirror_type(number: int) -> None:
    """x -> -x conjugates (W, w) into (W, -w): for the 22 members of the enantiomorphic pairs
    this is exactly the operation set of the partner's default setting (the identity
    inside the pair, checked against the operations); for the other Sohncke groups some
    improper element normalizes the group, so the mirror image stays in the group."""
    group = SpaceGroup(number)
    mirrored = _op_set(group.rotations, -group.translations_12)
    partner = SpaceGroup(mirror_image_number(number))
    if number in ENANTIOMORPHIC_PARTNER:
        assert partner.number != number
        assert mirrored == _op_set(partner.rotations, partner.translations_12)
        assert mirrored != _op_set(group.rotations, group.translations_12)
    # improper normalizer elements exist exactly outside the pairs (generic compatible cell)
    rng = np.random.default_rng(number)
    from cft_pyg.symmetry.lattice import random_lattice

    lattice = random_lattice(number, 100.0, rng)
    elements = affine_normalizer(group, metric_preserving_matrices(lattice, proper=False))
    improper = [A for A, _ in elements if round(np.linalg.det(A)) == -1]
    assert bool(improper) == (number not in ENANTIOMORPHIC_PARTNER)


def _crystal(number: int, seed: int):
    """A synthetic crystal whose detected group is ``number`` itself (re-drawn otherwise)."""
    for k in range(20):
        cell, frac, z = generate_crystal(number, np.random.default_rng(seed + 1000 * k),
                                         max_atoms=64)
        if standardize((cell, frac, z), canonical_handedness=False).number == number:
            return cell, frac, z
    raise AssertionError(f"no crystal of exactly group {number}")


@pytest.mark.parametrize("number", SOHNCKE_NUMBERS)
def test_mirror_images_standardize_to_one_crystal(number: int) -> None:
    cell, frac, z = _crystal(number, 100 + number)
    ref = standardize((cell, frac, z))
    assert ref.number == min(number, ENANTIOMORPHIC_PARTNER.get(number, number))
    if number in ENANTIOMORPHIC_PARTNER:  # no improper normalizer element inside a pair
        assert ref.mirrored == (number > ENANTIOMORPHIC_PARTNER[number])
    for image in _mirrors(cell, frac, z):
        other = standardize(image)
        assert _same(ref, other), number
        assert other.mirrored != ref.mirrored  # one of the two is the input's mirror image
        # the Cartesian map from the input to the standardized crystal is a rotoinversion
        # exactly for the mirrored one
        R = other.std_rotation_matrix
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-8)
        assert np.sign(np.linalg.det(R)) == (-1 if other.mirrored else 1)


@pytest.mark.parametrize("pair", sorted({tuple(sorted(p)) for p in ENANTIOMORPHIC_PARTNER.items()}))
def test_both_members_of_every_enantiomorphic_pair(pair: tuple[int, int]) -> None:
    first, second = pair
    for number in pair:
        cell, frac, z = _crystal(number, 7 * number)
        ref = standardize((cell, frac, z))
        assert ref.number == first and ref.mirrored == (number == second)
        for image in _mirrors(cell, frac, z):
            assert _same(ref, standardize(image))
        # keeping the handedness keeps the detected types apart
        kept = [standardize(x, canonical_handedness=False).number
                for x in ((cell, frac, z), *_mirrors(cell, frac, z))]
        assert kept == [number, ENANTIOMORPHIC_PARTNER[number], ENANTIOMORPHIC_PARTNER[number]]


def test_non_sohncke_groups_agree_with_their_mirror_images() -> None:
    """Achiral crystals (a group with an improper operation): the mirror image is a rotated
    copy, so it standardizes to the same crystal in either mode (sampled groups)."""
    for number in (2, 6, 9, 14, 31, 62, 82, 122, 160, 186, 187, 216, 220, 225, 227):
        cell, frac, z = _crystal(number, number)
        ref = standardize((cell, frac, z))
        for image in _mirrors(cell, frac, z):
            assert _same(ref, standardize(image)), number


@pytest.fixture(scope="module")
def sohncke_batches():
    """Data of one synthetic crystal per Sohncke group and of its two mirror images, with
    and without canonical handedness."""
    out: dict[bool, list[list]] = {True: [[], [], []], False: [[], [], []]}
    for number in SOHNCKE_NUMBERS:
        cell, frac, z = _crystal(number, 100 + number)
        for flag in (True, False):
            for k, x in enumerate(((cell, frac, z), *_mirrors(cell, frac, z))):
                out[flag][k].append(from_structure(x, canonical_handedness=flag))
    return {flag: [Batch.from_data_list(d) for d in lists] for flag, lists in out.items()}


@pytest.mark.parametrize("model_name", [pytest.param("cft", marks=pytest.mark.slow), "cgcnn"])
def test_predictions_agree_with_mirror_images_in_every_sohncke_group(sohncke_batches,
                                                                     model_name) -> None:
    from cft_pyg.nn import CGCNN, CrystalFourierTransformer

    torch.manual_seed(0)
    model = (CrystalFourierTransformer() if model_name == "cft" else CGCNN()).eval()
    atol, rtol = default_tolerance(torch.float32)
    with torch.no_grad():
        base, *images = (model(b) for b in sohncke_batches[True])
        tol = atol + rtol * float(base.abs().max())
        for image in images:
            err = (image - base).abs()
            assert float(err.max()) <= tol, f"{int((err > tol).sum())} crystals differ"
        if model_name == "cft":
            # the check can fail: keeping the handedness, the CFT's encoding (the complex
            # conjugate for a mirror image) changes the prediction of chiral crystals
            kept, *kept_images = (model(b) for b in sohncke_batches[False])
            assert max(float((k - kept).abs().max()) for k in kept_images) > 100 * tol
