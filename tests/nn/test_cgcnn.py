"""CGCNN baseline: shapes, gradients, published sizes, invariances it has by construction."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch

from cft_pyg.nn import CGCNN, GaussianExpansion
from cft_pyg.testing import assert_invariant

from ._crystals import CRYSTALS, crystal, make_data, with_frac_coords


def batch3(dtype=torch.float32) -> Batch:
    return Batch.from_data_list(
        [crystal(n, num_atoms=k, seed=k, dtype=dtype) for n, k in
         [("P6_3/mmc", 2), ("Fm-3m", 4), ("C2/c", 5)]]
    )


def test_gaussian_expansion_matches_cgcnn():
    rbf = GaussianExpansion(0.0, 8.0, 0.2)
    assert rbf.num_features == 41
    d = torch.tensor([0.0, 1.3, 8.0])
    out = rbf(d)
    centres = torch.arange(41) * 0.2
    torch.testing.assert_close(out, torch.exp(-((d[:, None] - centres) ** 2) / 0.04))


def test_published_sizes():
    model = CGCNN()
    assert len(model.convs) == 3
    assert model.embedding.channels == 64 and model.conv_to_fc.out_features == 128
    assert model.convs[0].dim == 41 and model.convs[0].batch_norm is not None
    assert 70_000 < model.num_parameters() < 100_000


@pytest.mark.parametrize("out_channels", [1, 2])
def test_forward_backward(out_channels):
    torch.manual_seed(0)
    model = CGCNN(out_channels=out_channels).train()
    data = batch3()
    out = model(data)
    assert out.shape == ((3,) if out_channels == 1 else (3, out_channels))
    out.square().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert float(model.embedding.linear.weight.grad.abs().sum()) > 0


def test_eval_independent_of_batch_and_invariant():
    """In eval mode (batch norm frozen) a crystal's prediction does not depend on the
    batch, and, built on distances only, CGCNN is invariant under the crystal's group."""
    torch.manual_seed(0)
    model = CGCNN().double().eval()
    data = batch3(torch.float64)
    with torch.no_grad():
        together = model(data)
        alone = torch.cat([model(Batch.from_data_list([c])) for c in data.to_data_list()])
    torch.testing.assert_close(together, alone, atol=1e-10, rtol=0)
    c = crystal("P2_1/c", num_atoms=4, seed=3, dtype=torch.float64)
    assert_invariant(lambda x: model(with_frac_coords(c, x)), c.frac_coords, CRYSTALS["P2_1/c"][0])
    perm = torch.tensor([2, 0, 3, 1])
    permuted = make_data(c.z[perm], c.frac_coords[perm], c.cell[0], 14)
    with torch.no_grad():
        torch.testing.assert_close(model(Batch.from_data_list([permuted])),
                                   model(Batch.from_data_list([c])), atol=1e-10, rtol=0)


def test_distances_recomputed_without_edge_dist():
    torch.manual_seed(0)
    model = CGCNN().eval()
    data = batch3()
    with torch.no_grad():
        ref = model(data)
        del data.edge_dist
        torch.testing.assert_close(model(data), ref, atol=1e-5, rtol=1e-5)
