"""The real symmetry-adapted basis: dimension, invariance, rank, orthonormality, pitfalls."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch

from cft_pyg import FrequencySet, SpaceGroup, SymmetryAdaptedBasis, ball_frequencies
from cft_pyg.symmetry import reference_metric
from cft_pyg.testing import assert_invariant, invariance_error

from .reference import DEN, gemmi_default_ops, gemmi_operations

ALL_NUMBERS = list(range(1, 231))
KNOWN_COUNTS_R5 = {
    1: 514,
    2: 257,
    14: 129,
    62: 73,
    139: 28,
    191: 37,
    166: 19,
    221: 26,
    225: 9,
    227: 7,
    230: 7,
    228: 4,
}


@functools.cache
def basis(number: int, cutoff: float = 5.0) -> SymmetryAdaptedBasis:
    """Freshly built basis (not the disk cache), shared by the tests of this module."""
    return SymmetryAdaptedBasis(number, cutoff)


def _points(n: int, seed: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    # outside the unit cell too: invariance must not rely on wrapping
    return (torch.rand(n, 3, generator=gen, dtype=torch.float64) * 4 - 2).to(dtype)


def character_formula(number: int, cutoff: float) -> float:
    """``(1/|G|) sum_g sum_{k: W_g^T k = k} exp(2 pi i k.w_g)`` with gemmi's operations."""
    W, t24 = gemmi_operations(gemmi_default_ops(number))
    freq = ball_frequencies(cutoff, reference_metric(number)).freq
    images = np.einsum("gji,nj->gni", W, freq)
    fixed = np.all(images == freq[None], axis=-1)  # (|G|, N)
    phases = np.exp(2j * np.pi * (t24 @ freq.T) / DEN)  # (|G|, N)
    total = (phases * fixed).sum() / len(W)
    assert abs(total.imag) < 1e-9
    return float(total.real)


@pytest.mark.parametrize("number", ALL_NUMBERS)
def test_num_functions_equals_character_formula(number: int) -> None:
    b = basis(number)
    expected = character_formula(number, 5.0)
    assert abs(expected - round(expected)) < 1e-9
    assert b.num_functions == round(expected) == b.num_orbits


@pytest.mark.parametrize(("number", "count"), sorted(KNOWN_COUNTS_R5.items()))
def test_known_counts(number: int, count: int) -> None:
    assert basis(number).num_functions == count


def test_frequency_counts_and_median() -> None:
    assert len(basis(1).frequencies) == 514
    assert len(basis(191).frequencies) == 418
    assert len(basis(166).frequencies) == 418
    sizes = [basis(n).num_functions for n in ALL_NUMBERS]
    assert 50 <= float(np.median(sizes)) <= 80  # math.md: median about 64


@pytest.mark.parametrize("number", ALL_NUMBERS)
def test_invariance_float64(number: int) -> None:
    """max_g |f(W_g x + w_g) - f(x)| <= 1e-10 for all functions, all operations, 256 points."""
    b = basis(number)
    x = _points(256, seed=number)
    out = b(x)
    assert out.shape == (256, b.num_functions) and out.dtype == torch.float64
    assert float(out.abs().max()) > 0.1  # not vacuously invariant
    assert_invariant(b, x, b.group, atol=1e-10)


@pytest.mark.parametrize("number", ALL_NUMBERS)
def test_invariance_float32(number: int) -> None:
    b = basis(number)
    x = _points(64, seed=1000 + number, dtype=torch.float32)
    assert b(x).dtype == torch.float32
    assert_invariant(b, x, b.group)  # project tolerance for float32
    # and float32 agrees with float64 to single precision
    torch.testing.assert_close(b(x).double(), b(x.double()), atol=5e-5, rtol=0)


def test_invariance_with_wrapping_and_hall_settings() -> None:
    for hall in (1, 81, 434, 459, 525, 530):
        b = SymmetryAdaptedBasis(SpaceGroup.from_hall(hall), 4.0)
        assert_invariant(b, _points(64, seed=hall), b.group, wrap=True)


def test_p1_is_the_standard_real_fourier_basis() -> None:
    """P1: sqrt2 cos(2 pi k.x), sqrt2 sin(2 pi k.x) for exactly one k of each pair +-k."""
    b = basis(1)
    x = _points(600, seed=7)
    F = b(x).numpy()
    freq = ball_frequencies(5.0).freq
    half = freq[[tuple(k) > tuple(-v for v in k) for k in freq.tolist()]]
    assert len(half) == 257
    arg = 2 * np.pi * x.numpy() @ half.T
    ref = np.sqrt(2) * np.concatenate([np.cos(arg), np.sin(arg)], axis=1)  # (600, 514)
    # match each basis function to one reference column, up to the sign of sin(-k)
    corr = F.T @ ref / len(x)
    match = np.abs(corr).argmax(axis=1)
    assert sorted(match.tolist()) == list(range(514))
    sign = np.sign(corr[np.arange(514), match])
    np.testing.assert_allclose(F, ref[:, match] * sign, atol=1e-12, rtol=0)
    cos_part = match < 257
    assert np.all(sign[cos_part] == 1)  # cos(-k.x) = cos(k.x): never a sign flip


@pytest.mark.parametrize("number", ALL_NUMBERS)
def test_full_rank_and_orthonormal(number: int) -> None:
    """Orthonormal for the cell mean (exact on an 11^3 grid: |k1 +- k2|_inf <= 10 < 11), and
    full rank at random points (a dependent function would give a singular value ~1e-14)."""
    b = basis(number)
    axis = torch.arange(11, dtype=torch.float64) / 11
    grid = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    assert int(np.abs(b.frequencies.freq).max()) <= 5
    F = b(grid)
    gram = F.T @ F / len(grid)
    torch.testing.assert_close(
        gram, torch.eye(b.num_functions, dtype=torch.float64), atol=1e-12, rtol=0
    )
    y = _points(2 * b.num_functions + 64, seed=5000 + number)
    sv = torch.linalg.svdvals(b(y) / math.sqrt(len(y)))
    assert float(sv.min()) > 1e-2, float(sv.min())


def test_coefficient_matrix_matches_evaluation() -> None:
    for number in (1, 14, 166, 227):
        b = basis(number)
        x = _points(32, seed=number)
        B = b.coefficient_matrix()  # (M, N)
        K = torch.from_numpy(b.frequencies.freq.astype(np.float64))
        plane = torch.exp(2j * torch.pi * (x @ K.T))  # (32, N)
        torch.testing.assert_close((plane @ B.T).real, b(x), atol=1e-12, rtol=0)


# ------------------------------------------------------------------ pitfalls
def reynolds_functions(
    group: SpaceGroup, cutoff: float, *, phase_sign: int = 1, transpose: bool = True
):
    """Local reimplementation: averages of plane waves over the group.

    ``e_k(x) = sum_g exp(s 2 pi i k.w_g) exp(2 pi i (M_g k).x)`` with ``M_g = W_g^T``
    and ``s = +1`` is the Reynolds average of ``exp(2 pi i k.x)`` and invariant; the
    deliberate mistakes are ``s = -1`` (phase sign) and ``M_g = W_g`` (no transpose).
    Returns a function of ``(n, 3)`` float64 coordinates giving Re and Im of all ``e_k``.
    """
    K = torch.from_numpy(ball_frequencies(cutoff, reference_metric(group.number)).freq).double()
    W = torch.from_numpy(group.rotations.copy()).double()
    w = torch.from_numpy(group.translations)
    Mk = torch.einsum("gji,kj->gki" if transpose else "gij,kj->gki", W, K)  # (|G|, nk, 3)
    phase = phase_sign * (w @ K.T)  # (|G|, nk) in turns

    def fn(x: torch.Tensor) -> torch.Tensor:
        arg = torch.einsum("ni,gki->ngk", x, Mk) + phase[None]
        val = torch.exp(2j * torch.pi * arg).sum(1)
        return torch.cat([val.real, val.imag], dim=1)

    return fn


@pytest.mark.parametrize("number", [1, 14, 76, 143, 144, 166, 169, 212])
def test_reynolds_reference_is_invariant_and_spans_the_basis(number: int) -> None:
    group = SpaceGroup(number)
    fn = reynolds_functions(group, 2.5)
    x = _points(32, seed=number)
    assert_invariant(fn, x, group)
    # same span as the package's basis (math.md: rank test), at random points
    b = SymmetryAdaptedBasis(group, 2.5)
    y = _points(3 * b.num_functions + 32, seed=number + 1)
    R, B = fn(y), b(y)
    rank = torch.linalg.matrix_rank
    assert int(rank(B)) == b.num_functions
    assert int(rank(R)) == b.num_functions
    assert int(rank(torch.cat([R, B], dim=1))) == b.num_functions


@pytest.mark.parametrize("number", [76, 144, 169, 212])
def test_wrong_phase_sign_is_caught(number: int) -> None:
    """A flipped phase sign (screw axes 4_1, 3_1, 6_1, 4_3) breaks invariance."""
    group = SpaceGroup(number)
    fn = reynolds_functions(group, 2.5, phase_sign=-1)
    x = _points(32, seed=number)
    err, _ = invariance_error(fn, x, group)
    assert err > 0.1
    with pytest.raises(AssertionError, match="not invariant"):
        assert_invariant(fn, x, group)


@pytest.mark.parametrize("number", [143, 168, 191])
def test_wrong_transpose_is_caught(number: int) -> None:
    """``W k`` instead of ``W^T k`` breaks invariance in hexagonal cells (W not orthogonal)."""
    group = SpaceGroup(number)
    fn = reynolds_functions(group, 2.5, transpose=False)
    x = _points(32, seed=number)
    with pytest.raises(AssertionError, match="not invariant"):
        assert_invariant(fn, x, group)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("coords", "message"),
    [
        (torch.zeros(4, 2, dtype=torch.float64), r"shape \(n, 3\)"),
        (torch.zeros(3, dtype=torch.float64), r"shape \(n, 3\)"),
        (torch.zeros(2, 4, 3, dtype=torch.float64), r"shape \(n, 3\)"),
        (torch.tensor([[0.1, float("nan"), 0.2]], dtype=torch.float64), "NaN or infinite"),
        (torch.tensor([[0.1, float("inf"), 0.2]]), "NaN or infinite"),
        (torch.zeros(2, 3, dtype=torch.long), "float32 or float64"),
    ],
)
def test_bad_coordinates(coords: torch.Tensor, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        basis(14)(coords)


@pytest.mark.parametrize("cutoff", [0.0, -2.0, float("nan"), float("inf")])
def test_bad_cutoff(cutoff: float) -> None:
    with pytest.raises(ValueError, match="cutoff must be a positive"):
        SymmetryAdaptedBasis(14, cutoff)


@pytest.mark.parametrize("number", [0, 231])
def test_bad_group(number: int) -> None:
    with pytest.raises(ValueError, match=r"space-group number must be in 1\.\.230"):
        SymmetryAdaptedBasis(number, 5.0)


def test_unclosed_frequency_set() -> None:
    axis = np.arange(-5, 6)
    cube = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    cube = cube[np.any(cube != 0, axis=1)]
    with pytest.raises(ValueError, match="not closed under the point group"):
        SymmetryAdaptedBasis(143, None, frequencies=FrequencySet(cube, metric="hexagonal"))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu() -> None:
    b = SymmetryAdaptedBasis(227, 5.0)
    x = _points(128, seed=3)
    torch.testing.assert_close(b.to("cuda")(x.cuda()).cpu(), b(x), atol=1e-12, rtol=0)
    assert_invariant(b, x.cuda().float(), b.group)
