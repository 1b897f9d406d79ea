"""The published-architecture CFT (``cft-published``): invariance, sizes, no geometry but the
encoding, and its encoder as the module that pretraining trains."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch

from cft_pyg.nn import PublishedCFT, PublishedPositionalEncoding, pretrain_encoding
from cft_pyg.nn.published import PublishedResidualBlock
from cft_pyg.testing import assert_batch_invariant, assert_invariant
from cft_pyg.training import build_model

from ._crystals import CRYSTALS, crystal, make_data, with_frac_coords

SMALL = dict(channels=32, num_blocks=2, heads=4, encoder_hidden=32, encoder_initial=64,
             encoder_blocks=2, head_hidden=(64, 32))


def small(dtype: torch.dtype = torch.float32, **kwargs) -> PublishedCFT:
    torch.manual_seed(0)
    return PublishedCFT(**{**SMALL, **kwargs}).to(dtype).eval()


def without_graph(data):
    for key in ("edge_index", "edge_dist", "cell_offsets", "pos"):
        if key in data:
            del data[key]
    return data


def predict(model, data):
    with torch.no_grad():
        return model(data if isinstance(data, Batch) else Batch.from_data_list([data]))


@pytest.fixture(scope="module")
def model32() -> PublishedCFT:
    return small(torch.float32)


@pytest.fixture(scope="module")
def model64() -> PublishedCFT:
    return small(torch.float64)


@pytest.mark.parametrize("name", list(CRYSTALS))
def test_invariant_under_every_operation_float32(model32, name):
    data = without_graph(crystal(name, num_atoms=4, seed=1))
    assert_invariant(lambda x: model32(with_frac_coords(data, x)), data.frac_coords,
                     CRYSTALS[name][0], wrap=True)


def test_invariant_float64_whole_batch(model64):
    """Every operation of every crystal's own group, all groups in one batch: 1e-10."""
    data = Batch.from_data_list([crystal(n, num_atoms=3, seed=i, dtype=torch.float64)
                                 for i, n in enumerate(CRYSTALS)])
    err = assert_batch_invariant(lambda x: model64(with_frac_coords(data, x)),
                                 data.frac_coords, data.batch, data.space_group)
    assert err < 1e-10


def test_plain_encoding_fails_the_checker():
    """The checker can fail: the paper's "Transformer, plain PE" column is not invariant."""
    model = small(encoding="plain")
    data = crystal("P2_1/c", num_atoms=4, seed=3)
    with pytest.raises(AssertionError, match="not invariant"):
        assert_invariant(lambda x: model(with_frac_coords(data, x)), data.frac_coords, 14)


def test_permutations_rotations_and_batch_composition(model64):
    data = crystal("C2/c", num_atoms=6, seed=4, dtype=torch.float64)
    ref = predict(model64, data)
    perm = torch.randperm(6, generator=torch.Generator().manual_seed(0))
    permuted = make_data(data.z[perm], data.frac_coords[perm], data.cell[0], 15)
    torch.testing.assert_close(predict(model64, permuted), ref, atol=1e-10, rtol=0)
    q, _ = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64,
                                       generator=torch.Generator().manual_seed(1)))
    q[:, 0] = -q[:, 0] if torch.det(q) > 0 else q[:, 0]  # a rotoinversion of the frame
    rotated = make_data(data.z, data.frac_coords, data.cell[0] @ q.T, 15)
    torch.testing.assert_close(predict(model64, rotated), ref, atol=1e-10, rtol=0)
    others = [crystal(n, num_atoms=k, seed=k, dtype=torch.float64)
              for n, k in [("Fm-3m", 7), ("P-1", 2), ("R-3m", 9)]]
    for position in range(len(others) + 1):
        out = predict(model64, Batch.from_data_list([*others[:position], data,
                                                     *others[position:]]))
        assert float((out[position] - ref[0]).abs()) <= 1e-10


def test_reads_no_geometry_but_the_encoding():
    """No neighbour graph is needed, and moving an atom changes the prediction only
    through the encoding: with encoding='none' the prediction ignores positions."""
    data = without_graph(crystal("Pnma", num_atoms=4, seed=2))
    model = small()
    assert model.featurization_requirements()["radius"] is None
    assert predict(model, data).shape == (1,)
    blind = small(encoding="none")
    moved = with_frac_coords(data, data.frac_coords + torch.tensor([0.13, 0.0, 0.27]))
    torch.testing.assert_close(predict(blind, moved), predict(blind, data))
    assert not torch.allclose(predict(model, moved), predict(model, data))


def test_published_sizes_and_no_group_one_hot():
    """Defaults are the released checkpoint's sizes (width 128, 6 blocks, FFN 512, head
    2048-256, encoder 512/256 with 3 residual blocks per branch); no parameter has a
    per-group axis."""
    model = build_model("cft-published")
    assert isinstance(model, PublishedCFT) and len(model.blocks) == 6
    assert model.blocks[0].ffn[0].out_features == 512
    assert [m.out_features for m in model.head if isinstance(m, torch.nn.Linear)] == [
        2048, 256, 1]
    pe = model.positional
    assert isinstance(pe, PublishedPositionalEncoding)
    assert pe.first.other.out_features == 512
    assert sum(isinstance(m, PublishedResidualBlock) for m in pe.pos_mlp) == 3
    assert all(230 not in p.shape and 231 not in p.shape for p in model.parameters())
    assert 4e6 < model.num_parameters() < 6e6


def test_forward_backward_and_bad_arguments():
    model = small().train()
    data = Batch.from_data_list([without_graph(crystal(n, num_atoms=3, seed=i))
                                 for i, n in enumerate(["P6_3/mmc", "Ia-3d", "Pnma"])])
    out = model(data)
    assert out.shape == (3,)
    out.square().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all()
               for p in model.parameters() if p.requires_grad)
    with pytest.raises(ValueError, match="two widths"):
        PublishedCFT(head_hidden=(64,))
    with pytest.raises(ValueError, match="encoding, the lattice or both"):
        PublishedCFT(encoding="none", lattice="none")
    with pytest.raises(TypeError):
        PublishedCFT(local=True)  # the published model has no local branch


def test_its_encoder_is_what_pretraining_trains():
    model = small()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    history = pretrain_encoding(model, [1, 14, 194, 225], pairs_per_group=16, epochs=3,
                                batch_size=16, lr=3e-3)
    assert history[-1] < history[0]
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(k.startswith("positional.") for k in changed)
