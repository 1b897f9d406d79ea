"""Tests of the batched symmetry-adapted Fourier encoding (issue: one layer for 230 groups)."""

from __future__ import annotations

import functools

import pytest
import torch

from cft_pyg import SpaceGroup, SymmetryAdaptedBasis
from cft_pyg.nn import PlainFourierFeatures, SymmetryAdaptedFourierEncoding
from cft_pyg.nn.reference_encodings import DenseRoutingEncoding, OrbitAveragingEncoding
from cft_pyg.testing import assert_batch_invariant

ALL_GROUPS = torch.arange(1, 231)
# triclinic; monoclinic with a glide (P2_1/c); cubic with centring (Fd-3m, F and d-glide);
# hexagonal with a screw (P6_3/mmc)
GRADCHECK_GROUPS = (1, 14, 227, 194)


STRATEGIES = ("grouped", "gathered")
# the grouped path over all 230 groups takes about 30 s: left out of the fast lane
STRATEGIES_SLOW_GROUPED = (pytest.param("grouped", marks=pytest.mark.slow), "gathered")


@functools.cache
def make_encoding(output: str = "frequency", strategy: str = "auto", cutoff: float = 5.0):
    return SymmetryAdaptedFourierEncoding(cutoff=cutoff, output=output, strategy=strategy)


@pytest.fixture(scope="module", params=STRATEGIES)
def encoding(request) -> SymmetryAdaptedFourierEncoding:
    return make_encoding("frequency", request.param)


@pytest.fixture(scope="module", params=STRATEGIES)
def orbit_encoding(request) -> SymmetryAdaptedFourierEncoding:
    return make_encoding("orbit", request.param)


def _all_group_batch(atoms_per_group: int, dtype: torch.dtype, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(230 * atoms_per_group, 3, generator=gen, dtype=dtype)
    batch = torch.arange(230).repeat_interleave(atoms_per_group)
    return x, batch, ALL_GROUPS[batch]


def test_out_dim_is_shared_by_all_groups(encoding, orbit_encoding):
    assert encoding.out_dim == 2 * 514
    assert orbit_encoding.out_dim == 514
    x = torch.rand(5, 3)
    for group in (1, 143, 194, 225):
        sg = torch.full((5,), group)
        assert encoding(x, sg).shape == (5, 1028)
        assert orbit_encoding(x, sg).shape == (5, 514)


@pytest.mark.parametrize("output", ["frequency", "orbit"])
@pytest.mark.parametrize("strategy", STRATEGIES_SLOW_GROUPED)
def test_invariant_every_operation_every_group_float64(output, strategy):
    enc = make_encoding(output, strategy)
    x, batch, sg = _all_group_batch(6, torch.float64)
    err = assert_batch_invariant(lambda y: enc(y, sg), x, batch, ALL_GROUPS)
    assert err <= 1e-10


def test_strategies_agree_and_auto_picks_by_size():
    grouped = make_encoding("frequency", "grouped")
    gathered = make_encoding("frequency", "gathered")
    auto = make_encoding()
    x, _, sg = _all_group_batch(8, torch.float64, seed=5)
    reference = grouped(x, sg)
    assert (gathered(x, sg) - reference).abs().max() <= 1e-12
    assert (auto(x, sg) - reference).abs().max() <= 1e-12
    with pytest.raises(ValueError, match="strategy"):
        SymmetryAdaptedFourierEncoding(5.0, strategy="dense")  # type: ignore[arg-type]


@pytest.mark.parametrize("strategy", STRATEGIES_SLOW_GROUPED)
def test_invariant_every_operation_every_group_float32(strategy):
    encoding = make_encoding("frequency", strategy)
    x, batch, sg = _all_group_batch(6, torch.float32, seed=1)
    assert_batch_invariant(lambda y: encoding(y, sg), x, batch, ALL_GROUPS, rtol=1e-5)


def test_invariance_checker_catches_a_non_invariant_encoding():
    plain = PlainFourierFeatures(5.0)
    x, batch, sg = _all_group_batch(2, torch.float64)
    with pytest.raises(AssertionError, match="not invariant"):
        assert_batch_invariant(lambda y: plain(y, sg), x, batch, ALL_GROUPS)


def test_scatter_dense_and_naive_agree_on_all_groups(encoding):
    x, _, sg = _all_group_batch(4, torch.float64, seed=2)
    scatter_out = encoding(x, sg)
    dense_out = DenseRoutingEncoding(5.0, cache=False)(x, sg)
    naive_out = OrbitAveragingEncoding(5.0)(x, sg)
    assert (scatter_out - dense_out).abs().max() <= 1e-10
    assert (scatter_out - naive_out).abs().max() <= 1e-10
    assert scatter_out.abs().max() > 0.1  # not trivially zero


def test_p1_encoding_is_the_plain_fourier_features(encoding):
    x = torch.rand(50, 3, dtype=torch.float64)
    sg = torch.ones(50, dtype=torch.long)
    assert torch.allclose(encoding(x, sg), PlainFourierFeatures(5.0)(x, sg), atol=1e-12)


def test_orbit_output_is_the_symmetry_adapted_basis(orbit_encoding):
    x = torch.rand(20, 3, dtype=torch.float64)
    for group in (1, 2, 14, 62, 143, 166, 191, 194, 225, 227, 230):
        basis = SymmetryAdaptedBasis(group, 5.0)
        out = orbit_encoding(x, torch.full((20,), group))
        f = basis.num_functions
        assert torch.allclose(out[:, :f], basis(x), atol=1e-12)
        assert out[:, f:].abs().max() == 0 if out.shape[1] > f else True


def test_absent_and_unused_slots_are_zero(encoding):
    x = torch.rand(10, 3, dtype=torch.float64)
    # hexagonal groups fill the 418 slots of their smaller ball only
    out = encoding(x, torch.full((10,), 194)).view(10, -1, 2)
    assert out[:, 418:].abs().max() == 0
    assert out[:, :418].abs().max() > 0
    # F-centring forbids frequencies with mixed parity (e.g. k = (1, 0, 0))
    basis = SymmetryAdaptedBasis(225, 5.0)
    slot = int(basis.frequencies.index_of(torch.tensor([1, 0, 0]).numpy()))
    out = encoding(x, torch.full((10,), 225)).view(10, -1, 2)
    assert out[:, slot].abs().max() == 0


def test_mixed_batch_equals_each_crystal_alone(encoding):
    gen = torch.Generator().manual_seed(3)
    groups = torch.randperm(230, generator=gen)[:60] + 1  # 60 different groups
    sizes = torch.randint(1, 9, (60,), generator=gen)
    sg = groups.repeat_interleave(sizes)
    x = torch.rand(int(sizes.sum()), 3, generator=gen, dtype=torch.float64)
    together = encoding(x, sg)
    start = 0
    for size in sizes.tolist():
        alone = encoding(x[start : start + size], sg[start : start + size])
        # equal up to float rounding (BLAS blocking may differ with the batch size)
        assert (together[start : start + size] - alone).abs().max() <= 1e-13
        start += size


@pytest.mark.parametrize("group", GRADCHECK_GROUPS)
@pytest.mark.parametrize("output", ["frequency", "orbit"])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_gradcheck(group, output, strategy):
    enc = make_encoding(output, strategy, 3.0)
    x = torch.rand(3, 3, dtype=torch.float64, requires_grad=True)
    sg = torch.full((3,), group)
    assert torch.autograd.gradcheck(lambda y: enc(y, sg), (x,))


def test_gradient_of_a_mixed_batch_matches_the_grouped_path():
    # the gathered path's hand-written phasor backward against autograd through the grouped
    # path, on a batch that mixes both frequency metrics and many groups
    x = torch.rand(60, 3, dtype=torch.float64)
    sg = torch.tensor([1, 2, 14, 62, 143, 166, 194, 225, 227, 230] * 6)
    weights = torch.randn(60, make_encoding("frequency", "gathered", 3.0).out_dim,
                          dtype=torch.float64)
    grads = {}
    for strategy in ("gathered", "grouped"):
        xi = x.clone().requires_grad_(True)
        (make_encoding("frequency", strategy, 3.0)(xi, sg) * weights).sum().backward()
        grads[strategy] = xi.grad
    assert (grads["gathered"] - grads["grouped"]).abs().max() <= 1e-9


@pytest.mark.parametrize("strategy", ["gathered", "grouped"])
def test_second_derivatives(strategy):
    # a force-style loss differentiates the coordinate gradient again; the gathered path's
    # hand-written phasor backward must be differentiable itself
    enc = make_encoding("frequency", strategy, 3.0)
    x = torch.rand(4, 3, dtype=torch.float64, requires_grad=True)
    sg = torch.tensor([14, 166, 227, 1])
    assert torch.autograd.gradgradcheck(lambda y: enc(y, sg), (x,))


def test_force_style_loss_agrees_between_paths():
    x = torch.rand(8, 3, dtype=torch.float64)
    sg = torch.tensor([2, 14, 62, 143, 166, 194, 225, 227])
    w = torch.randn(make_encoding("frequency", "gathered", 3.0).out_dim, dtype=torch.float64)
    grads = {}
    for strategy in ("gathered", "grouped"):
        enc = make_encoding("frequency", strategy, 3.0)
        xi = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad((enc(xi, sg) * w).sum(), xi, create_graph=True)
        (g * g).sum().backward()
        grads[strategy] = xi.grad
    assert (grads["gathered"] - grads["grouped"]).abs().max() <= 1e-8


def test_float_cast_keeps_exact_tables():
    enc = SymmetryAdaptedFourierEncoding(cutoff=3.0).float()
    assert enc.cos_table.dtype == torch.float64
    assert enc.slot_coef.dtype == torch.float64
    x = torch.rand(4, 3, dtype=torch.float64)
    ref = DenseRoutingEncoding(3.0)(x, torch.full((4,), 227))
    assert (enc(x, torch.full((4,), 227)) - ref).abs().max() <= 1e-12


@pytest.mark.parametrize(
    ("coords", "groups", "message"),
    [
        (torch.rand(4, 3), torch.tensor([1, 2, 0, 3]), "1..230"),
        (torch.rand(4, 3), torch.tensor([1, 2, 231, 3]), "1..230"),
        (torch.rand(4, 3), torch.tensor([1, 2, 3]), "entries"),
        (torch.rand(4, 3), torch.tensor([1.0, 2.0, 3.0, 4.0]), "integer"),
        (torch.tensor([[0.1, 0.2, float("nan")]] * 4), torch.ones(4, dtype=torch.long), "NaN"),
        (torch.tensor([[0.1, 0.2, float("inf")]] * 4), torch.ones(4, dtype=torch.long), "NaN"),
        (torch.ones(4, 3, dtype=torch.long), torch.ones(4, dtype=torch.long), "float"),
        (torch.rand(4, 2), torch.ones(4, dtype=torch.long), r"\(n, 3\)"),
        (torch.rand(4, 3), torch.ones(4, 1, dtype=torch.long), "shape"),
    ],
)
def test_bad_input_raises_clear_errors(encoding, coords, groups, message):
    with pytest.raises(ValueError, match=message):
        encoding(coords, groups)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="output"):
        SymmetryAdaptedFourierEncoding(cutoff=3.0, output="dense")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cutoff"):
        SymmetryAdaptedFourierEncoding(cutoff=-1.0)


def test_state_moves_with_the_module(encoding):
    names = {name for name, _ in encoding.named_buffers()}
    assert {"cos_table", "node_orbit", "rot_coef", "slot_gather"} <= names
    assert SpaceGroup(1).num_operations == 1  # sanity of the import


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device; none present")
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_cuda_matches_cpu(strategy):
    enc = SymmetryAdaptedFourierEncoding(cutoff=5.0, strategy=strategy)
    x, batch, sg = _all_group_batch(4, torch.float64, seed=4)
    cpu = enc(x, sg)
    gpu_enc = enc.to("cuda")
    gpu = gpu_enc(x.cuda(), sg.cuda())
    assert gpu.device.type == "cuda"
    assert (gpu.cpu() - cpu).abs().max() <= 1e-10
    assert_batch_invariant(lambda y: gpu_enc(y, sg.cuda()), x.cuda(), batch, ALL_GROUPS)
