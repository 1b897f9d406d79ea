"""End-to-end tests of the Crystal Fourier Transformer: invariance, batching, ablations."""

from __future__ import annotations

import math

import pytest
import torch
from torch_geometric.data import Batch

from cft_pyg.nn import CrystalFourierTransformer, LatticeFeatures, PlainPETransformer
from cft_pyg.nn.transformer import DenseBatchIndex
from cft_pyg.testing import assert_batch_invariant, assert_invariant

from ._crystals import CRYSTALS, RADIUS, crystal, make_data, with_frac_coords


def small_cft(dtype: torch.dtype = torch.float32, **kwargs) -> CrystalFourierTransformer:
    torch.manual_seed(0)
    options = dict(channels=32, num_blocks=2, heads=4, radius=RADIUS)
    options.update(kwargs)
    return CrystalFourierTransformer(**options).to(dtype).eval()


@pytest.fixture(scope="module")
def model32() -> CrystalFourierTransformer:
    return small_cft(torch.float32)


@pytest.fixture(scope="module")
def model64() -> CrystalFourierTransformer:
    return small_cft(torch.float64)


def predict(model, data):
    with torch.no_grad():
        return model(Batch.from_data_list([data]) if not isinstance(data, Batch) else data)


# ---------------------------------------------------------------- space-group invariance


@pytest.mark.parametrize("name", list(CRYSTALS))
def test_prediction_invariant_under_every_operation_float32(model32, name):
    """Apply each operation of the group to the atoms, rebuild the periodic graph,
    predict: the prediction is unchanged to 1e-5 relative (the shared checker)."""
    data = crystal(name, num_atoms=4, seed=1)
    number = CRYSTALS[name][0]
    assert_invariant(lambda x: model32(with_frac_coords(data, x)), data.frac_coords, number)


def test_prediction_invariant_float64_whole_batch(model64):
    """All test groups in one batch, every operation of every crystal's own group,
    float64: exact to 1e-10 absolute."""
    data = Batch.from_data_list(
        [crystal(name, num_atoms=3, seed=i, dtype=torch.float64) for i, name in enumerate(CRYSTALS)]
    )
    err = assert_batch_invariant(
        lambda x: model64(with_frac_coords(data, x)), data.frac_coords, data.batch,
        data.space_group,
    )
    assert err < 1e-10


def test_batch_checker_runs_every_operation(model32):
    """Float32 batch version, with wrapped images (what ``cft_pyg.data`` produces)."""
    names = ["P6_3/mmc", "Fm-3m", "P2_1/c", "R-3m"]
    data = Batch.from_data_list([crystal(n, num_atoms=5, seed=7) for n in names])
    assert_batch_invariant(
        lambda x: model32(with_frac_coords(data, x)), data.frac_coords, data.batch,
        data.space_group, wrap=True,
    )


def test_plain_encoding_is_not_invariant():
    """The checker does fail on a model that is not invariant: the standard-PE baseline."""
    model = PlainPETransformer(channels=32, num_blocks=1, heads=4).eval()
    data = crystal("P2_1/c", num_atoms=4, seed=3)
    with pytest.raises(AssertionError, match="not invariant"):
        assert_invariant(lambda x: model(with_frac_coords(data, x)), data.frac_coords, 14)


def test_symmetric_crystal_rewritten_by_any_operation(model64):
    """A full orbit of P6_3/mmc is mapped onto itself by every operation (atoms reordered):
    the prediction of the rewritten, shuffled crystal equals the original."""
    from cft_pyg import SpaceGroup

    group = SpaceGroup(194)
    seed_x = torch.tensor([[0.31, 0.12, 0.07]], dtype=torch.float64)
    orbit = torch.as_tensor(group.apply(seed_x.numpy()).reshape(-1, 3))
    orbit = torch.unique(torch.round((orbit - torch.floor(orbit)) * 1e9) / 1e9, dim=0)
    assert orbit.shape[0] == group.num_operations  # general position: |orbit| = |G|
    z = torch.full((orbit.shape[0],), 14)
    cell = crystal("P6_3/mmc").cell[0].double()
    ref = predict(model64, make_data(z, orbit, cell, 194))
    gen = torch.Generator().manual_seed(0)
    for op in range(group.num_operations):
        W = torch.as_tensor(group.rotations[op].copy(), dtype=torch.float64)
        w = torch.as_tensor(group.translations[op], dtype=torch.float64)
        moved = (orbit @ W.T + w)[torch.randperm(len(orbit), generator=gen)]
        out = predict(model64, make_data(z, moved, cell, 194))
        torch.testing.assert_close(out, ref, atol=1e-10, rtol=0)


# ---------------------------------------------------------------- permutations, batches, frame


def test_permutation_invariance(model64):
    data = crystal("C2/c", num_atoms=6, seed=4, dtype=torch.float64)
    ref = predict(model64, data)
    for seed in range(3):
        perm = torch.randperm(6, generator=torch.Generator().manual_seed(seed))
        permuted = make_data(data.z[perm], data.frac_coords[perm], data.cell[0], 15)
        torch.testing.assert_close(predict(model64, permuted), ref, atol=1e-10, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_prediction_independent_of_batch_content(dtype):
    model = small_cft(dtype)
    target = crystal("I4_1/amd", num_atoms=3, seed=5, dtype=dtype)
    alone = predict(model, target)
    others = [crystal(n, num_atoms=k, seed=k, dtype=dtype) for n, k in
              [("Fm-3m", 7), ("P-1", 2), ("R-3m", 9)]]
    for position in range(len(others) + 1):
        items = [*others[:position], target, *others[position:]]
        out = predict(model, Batch.from_data_list(items))
        tol = 1e-10 if dtype == torch.float64 else 1e-6 + 1e-5 * float(alone.abs().max())
        assert float((out[position] - alone[0]).abs()) <= tol


def test_rotation_of_cartesian_frame(model64):
    """Unlike the published model (raw 3x3 lattice), rotating the Cartesian frame does
    not change the prediction: lattice features come from the metric tensor only."""
    data = crystal("P-1", num_atoms=4, seed=6, dtype=torch.float64)
    ref = predict(model64, data)
    q, _ = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64,
                                       generator=torch.Generator().manual_seed(0)))
    rotated = make_data(data.z, data.frac_coords, data.cell[0] @ q.T, 2)
    torch.testing.assert_close(predict(model64, rotated), ref, atol=1e-10, rtol=0)


# ---------------------------------------------------------------- shapes, switches, training


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"local": False},
        {"encoding": "plain"},
        {"encoding": "none"},
        {"lattice": "none"},
        {"out_channels": 3},
    ],
    ids=["hybrid", "pure-transformer", "plain-pe", "no-pe", "no-lattice", "3-targets"],
)
def test_forward_backward_shapes(options):
    model = small_cft(**options).train()
    data = Batch.from_data_list([crystal(n, num_atoms=3, seed=i) for i, n in
                                 enumerate(["P6_3/mmc", "Ia-3d", "Pnma"])])
    out = model(data)
    expected = (3,) if options.get("out_channels", 1) == 1 else (3, options["out_channels"])
    assert out.shape == expected
    out.square().sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads)


def test_pure_transformer_needs_no_graph():
    model = small_cft(local=False, pair_bias=False)
    data = crystal("Fm-3m", num_atoms=3)
    del data.edge_index, data.edge_dist, data.cell_offsets
    assert predict(model, data).shape == (1,)
    with pytest.raises(ValueError, match="neighbour graph"):
        predict(small_cft(local=False), data)  # the pair bias needs the graph


def test_local_branch_uses_the_graph(model64):
    """Cutting the neighbour graph at a smaller radius changes the hybrid's prediction."""
    data = crystal("Pnma", num_atoms=4, seed=2, dtype=torch.float64)
    short = make_data(data.z, data.frac_coords, data.cell[0], 62, radius=3.0)
    assert not torch.allclose(predict(model64, data), predict(model64, short))


def test_no_space_group_one_hot():
    """The group reaches the model only through the encoding (zero-shot): no parameter
    has a per-group axis, so an unseen group gets no untrained embedding."""
    model = CrystalFourierTransformer()
    assert all(230 not in p.shape and 231 not in p.shape for p in model.parameters())
    assert 5e5 < model.num_parameters() < 2e6


def test_few_steps_lower_the_loss():
    model = small_cft().train()
    data = Batch.from_data_list([crystal(n, num_atoms=3, seed=i) for i, n in
                                 enumerate(["P6_3/mmc", "Ia-3d", "Pnma", "P-1"])])
    target = torch.tensor([1.0, -0.5, 0.3, 2.0])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        opt.zero_grad()
        loss = (model(data) - target).square().mean()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.1 * losses[0]


def test_bad_arguments():
    with pytest.raises(ValueError, match="encoding"):
        CrystalFourierTransformer(encoding="spherical")
    with pytest.raises(TypeError, match="attention"):  # removed in 0.5: no study used it
        CrystalFourierTransformer(attention=False)
    with pytest.raises(ValueError, match="divide"):
        CrystalFourierTransformer(channels=30, heads=8)
    with pytest.raises(TypeError, match="fixes"):
        PlainPETransformer(local=True)


# ---------------------------------------------------------------- building blocks


def test_lattice_features_values_and_frame_invariance():
    cell = torch.diag(torch.tensor([2.0, 3.0, 4.0], dtype=torch.float64)).unsqueeze(0)
    feats = LatticeFeatures()(cell, torch.tensor([3]))
    # log a, log b, log c, three right angles, log(V/N) = log 8, (V/N)^(1/3) / 4 = 0.5
    expected = [math.log(2.0), math.log(3.0), math.log(4.0), 0.0, 0.0, 0.0, math.log(8.0), 0.5]
    torch.testing.assert_close(feats[0], torch.tensor(expected, dtype=torch.float64))
    q, _ = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64))
    torch.testing.assert_close(LatticeFeatures()(cell @ q.T, torch.tensor([3])), feats)


def test_dense_batch_index_round_trip():
    batch = torch.tensor([0, 0, 0, 2, 2, 3])
    index = DenseBatchIndex(batch, num_graphs=4)
    x = torch.arange(12.0).view(6, 2)
    dense = index.to_dense(x)
    assert dense.shape == (4, 3, 2)
    assert index.mask.tolist() == [[True] * 3, [False] * 3, [True, True, False],
                                   [True, False, False]]
    torch.testing.assert_close(index.to_flat(dense), x)


# ---------------------------------------------------------------- orbit-distance pretraining


def test_orbit_distance_properties():
    from cft_pyg import SpaceGroup
    from cft_pyg.nn import orbit_distance

    gen = torch.Generator().manual_seed(0)
    group = SpaceGroup(14)
    cell = crystal("P2_1/c").cell[0].double()
    x1 = torch.rand(16, 3, generator=gen, dtype=torch.float64)
    x2 = torch.rand(16, 3, generator=gen, dtype=torch.float64)
    d = orbit_distance(x1, x2, cell, group)
    # invariant under any operation applied to either point, and symmetric
    for op in range(group.num_operations):
        W = torch.as_tensor(group.rotations[op].copy(), dtype=torch.float64)
        w = torch.as_tensor(group.translations[op], dtype=torch.float64)
        torch.testing.assert_close(orbit_distance(x1, x2 @ W.T + w, cell, group), d)
        torch.testing.assert_close(orbit_distance(x1 @ W.T + w + 3.0, x2, cell, group), d)
    torch.testing.assert_close(orbit_distance(x2, x1, cell, group), d)
    # zero on the orbit; in P1 the plain minimum-image distance, never above it in P2_1/c
    W0 = torch.as_tensor(group.rotations[1].copy(), dtype=torch.float64)
    on_orbit = x1 @ W0.T + torch.as_tensor(group.translations[1])
    assert orbit_distance(x1, on_orbit, cell, group).abs().max() < 1e-12
    p1 = orbit_distance(x1, x2, cell, 1)
    shifts = torch.cartesian_prod(*[torch.arange(-2.0, 3.0, dtype=torch.float64)] * 3)
    brute = ((x2 - x1)[:, None, :] + shifts) @ cell
    brute = brute.norm(dim=-1).amin(1)
    torch.testing.assert_close(p1, brute)
    assert (d <= p1 + 1e-12).all() and (d < p1 - 1e-3).any()


def test_pretrain_encoding_learns_orbit_distance():
    from cft_pyg.nn import pretrain_encoding
    from cft_pyg.nn.pretrain import encoding_distance, synthetic_pairs

    groups = [2, 14, 194, 225]
    x1, x2, cell, sg, target = synthetic_pairs(groups, 64, seed=99)  # never trained on
    x1, x2, cell, target = (t.float() for t in (x1, x2, cell, target))

    def heldout_mae() -> float:
        with torch.no_grad():
            return float((encoding_distance(model.positional, x1, x2, cell, sg) - target)
                         .abs().mean())

    model = small_cft().train()
    before = heldout_mae()
    history = pretrain_encoding(model, groups=groups, pairs_per_group=64, epochs=6,
                                batch_size=64, lr=3e-3)  # fresh pairs every epoch
    assert len(history) == 6 and history[-1] < 0.8 * history[0]
    assert heldout_mae() < 0.85 * before  # on pairs it never saw
    # still exactly invariant after pretraining (only the MLPs on top of the basis moved)
    data = crystal("P6_3/mmc", num_atoms=3, seed=9)
    model.eval()
    assert_invariant(lambda x: model(with_frac_coords(data, x)), data.frac_coords, 194)
    with pytest.raises(ValueError, match="no positional encoding"):
        pretrain_encoding(small_cft(encoding="none", lattice="none"), groups=[1], epochs=1)


# ---------------------------------------------------------------- real crystals


@pytest.mark.slow
def test_invariant_on_real_mp20_crystals(shared_data_dir, model32):
    """Real MP-20 crystals through ``cft_pyg.data.from_structure`` (standardized, any
    setting problems would show here): every operation of the detected group leaves the
    prediction unchanged.  The published code was not invariant on real inputs at all."""
    pd = pytest.importorskip("pandas")
    from pymatgen.core import Structure

    from cft_pyg.data import from_structure

    frame = pd.read_csv(shared_data_dir / "mp_20" / "val.csv.gz", nrows=40)
    seen: dict[int, object] = {}
    for cif in frame["cif"]:
        data = from_structure(Structure.from_str(cif, fmt="cif"), radius=RADIUS,
                              max_neighbors=None)
        seen.setdefault(int(data.space_group), data)
    # Pc (glide), C2/m, Pnma, I4/mcm, R32 (hexagonal axes), P6_3/mmc, Fm-3m, Fd-3m (origin 1)
    wanted = [7, 12, 62, 140, 155, 194, 225, 227]
    chosen = [seen[g] for g in wanted if g in seen]
    assert len(chosen) >= 6, sorted(seen)
    batch = Batch.from_data_list(chosen)
    assert_batch_invariant(
        lambda x: model32(with_frac_coords(batch, x)), batch.frac_coords, batch.batch,
        batch.space_group,
    )


def test_size_buckets_give_the_same_attention():
    from cft_pyg.nn.transformer import MaskedSelfAttention, SizeBuckets

    torch.manual_seed(0)
    sizes = torch.tensor([3, 1, 7, 2, 2, 9, 4])
    batch = torch.repeat_interleave(torch.arange(7), sizes)
    x = torch.randn(int(sizes.sum()), 16, dtype=torch.float64)
    attn = MaskedSelfAttention(16, heads=4).double()
    ref = attn(x, DenseBatchIndex(batch, 7))
    for k in (1, 2, 3, 7, 20):
        buckets = SizeBuckets(batch, 7, k)
        assert sum(a.numel() for a, _ in buckets.buckets) == x.shape[0]
        torch.testing.assert_close(attn(x, buckets), ref, atol=1e-12, rtol=0)
    model1 = small_cft(torch.float64, attention_buckets=1)
    model4 = small_cft(torch.float64, attention_buckets=4)
    data = Batch.from_data_list([crystal(n, num_atoms=k, seed=k, dtype=torch.float64) for n, k in
                                 [("Fm-3m", 7), ("P-1", 2), ("R-3m", 9), ("Pnma", 1), ("C2/c", 3)]])
    torch.testing.assert_close(predict(model4, data), predict(model1, data), atol=1e-12, rtol=0)
