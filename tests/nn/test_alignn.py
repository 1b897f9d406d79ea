"""ALIGNN adapter around the optional ``alignn`` package's pure-torch model."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch

from cft_pyg.nn.alignn import alignn_available, line_graph
from cft_pyg.testing import assert_invariant

from ._crystals import CRYSTALS, crystal, with_frac_coords

needs_alignn = pytest.mark.skipif(
    not alignn_available(),
    reason="optional `alignn` package not installed (pip install -c constraints.txt "
    "'cft-pyg[alignn]')",
)



def test_line_graph_matches_brute_force():
    gen = torch.Generator().manual_seed(0)
    edge_index = torch.randint(0, 6, (2, 30), generator=gen)
    lengths = torch.rand(30, generator=gen) * 4
    for cutoff in (None, 2.5):
        got = line_graph(edge_index, 6, lengths, cutoff)
        src, dst = edge_index.tolist()
        ok = [e for e in range(30) if cutoff is None or lengths[e] <= cutoff]
        expected = sorted((a, b) for a in ok for b in ok if dst[a] == src[b])
        assert sorted(map(tuple, got.t().tolist())) == expected


def test_line_graph_needs_lengths_for_cutoff():
    with pytest.raises(ValueError, match="edge_length"):
        line_graph(torch.zeros(2, 1, dtype=torch.long), 1, None, 3.0)


@needs_alignn
def test_published_size_and_forward_backward():
    from cft_pyg.nn import ALIGNN

    torch.manual_seed(0)
    model = ALIGNN()
    assert 3.9e6 < model.num_parameters() < 4.2e6  # published ALIGNN: about 4.0 M
    data = Batch.from_data_list(
        [crystal(n, num_atoms=k, seed=k) for n, k in [("P6_3/mmc", 2), ("Pnma", 3)]]
    )
    out = model(data)
    assert out.shape == (2,)
    out.sum().backward()
    # the last layer's edge update feeds nothing, so some parameters get no gradient
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert len(grads) > 0.8 * len(list(model.parameters()))
    assert all(torch.isfinite(g).all() for g in grads)
    assert model.model.atom_embedding.layer[0].weight.grad.abs().sum() > 0
    small = ALIGNN(alignn_layers=1, gcn_layers=1, hidden_features=32, out_channels=2)
    assert small(data).shape == (2, 2)


@needs_alignn
def test_invariant_and_batch_independent():
    """Bond lengths and angles only: ALIGNN is invariant under the crystal's group too."""
    from cft_pyg.nn import ALIGNN

    torch.manual_seed(0)
    model = ALIGNN(alignn_layers=1, gcn_layers=1, hidden_features=32).double().eval()
    c = crystal("R-3m", num_atoms=3, seed=2, dtype=torch.float64)
    assert_invariant(lambda x: model(with_frac_coords(c, x)), c.frac_coords, CRYSTALS["R-3m"][0])
    other = crystal("Fm-3m", num_atoms=4, seed=1, dtype=torch.float64)
    with torch.no_grad():
        together = model(Batch.from_data_list([other, c]))
        alone = model(Batch.from_data_list([c]))
    torch.testing.assert_close(together[1:], alone, atol=1e-10, rtol=0)
