"""The layers of the accuracy work: element features, normalized family tokens, pair
geometry (attention bias, gated messages).  Each is checked against an independent
reference (pymatgen, a naive loop) and with the shared invariance checker."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch_geometric.data import Batch

from cft_pyg.nn import CrystalFourierTransformer
from cft_pyg.nn.conv import GatedDistanceConv, envelope_weights
from cft_pyg.nn.elements import ELEMENT_DESCRIPTOR_NAMES, AtomEmbedding, element_descriptors
from cft_pyg.nn.encoding import is_hexagonal_family
from cft_pyg.nn.tokens import (
    CrystalPositionalEncoding,
    EncodingRMSNorm,
    FamilyLinear,
    make_encoding,
)
from cft_pyg.nn.transformer import DenseBatchIndex, MaskedSelfAttention, PairLayout, SizeBuckets
from cft_pyg.testing import assert_batch_invariant

from ._crystals import CRYSTALS, RADIUS, crystal, with_frac_coords

# ---------------------------------------------------------------- element descriptors


def test_descriptors_agree_with_pymatgen():
    from pymatgen.core.periodic_table import Element

    table = element_descriptors(torch.float64)
    assert table.shape == (119, len(ELEMENT_DESCRIPTOR_NAMES)) == (119, 44)
    assert torch.equal(table[0], torch.zeros(44, dtype=torch.float64))
    col = {name: i for i, name in enumerate(ELEMENT_DESCRIPTOR_NAMES)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        elements = [Element.from_Z(z) for z in range(1, 119)]
        for z, el in enumerate(elements, start=1):
            assert table[z, col[f"group_{el.group}"]] == 1.0
            assert table[z, col[f"period_{el.row}"]] == 1.0
            assert table[z, col[f"block_{el.block}"]] == 1.0
            assert float(table[z, 15:].sum()) == 3.0  # exactly one group, period, block
        # a standardized column is an increasing affine map of pymatgen's values
        known = [(el.X, z) for z, el in enumerate(elements, 1) if not math.isnan(el.X)]
        x = torch.tensor([v for v, _ in known], dtype=torch.float64)
        mine = table[[z for _, z in known], col["electronegativity"]]
        slope = (mine[1:] - mine[:-1]) / (x[1:] - x[:-1]).where(x[1:] != x[:-1], torch.nan)
        slope = slope[~torch.isnan(slope)]
        assert (slope > 0).all() and torch.allclose(slope, slope[0])
    # chemistry is visible: fluorine is the most electronegative element
    assert int(table[:, col["electronegativity"]].argmax()) == 9
    # transition metals have d electrons, noble gases none
    assert table[26, col["valence_d"]] > table[18, col["valence_d"]]


def test_atom_embedding_starts_from_the_descriptors():
    torch.manual_seed(0)
    emb = AtomEmbedding(16)
    assert torch.equal(emb.embedding.weight, torch.zeros_like(emb.embedding.weight))
    z = torch.tensor([1, 6, 8, 26, 79])
    expected = emb.linear(element_descriptors()[z])
    torch.testing.assert_close(emb(z), expected)
    assert "descriptors" in emb.state_dict()  # the checkpoint keeps the exact table
    plain = AtomEmbedding(16, descriptors=False)
    assert plain.linear is None and "descriptors" not in plain.state_dict()
    # gradients reach both the linear map and the per-element correction
    emb(z).sum().backward()
    assert emb.linear.weight.grad.abs().sum() > 0
    assert emb.embedding.weight.grad[z].abs().sum() > 0


# ---------------------------------------------------------------- positional tokens


def test_rms_norm_and_family_linear():
    torch.manual_seed(0)
    norm = EncodingRMSNorm(10)
    x = torch.randn(7, 10) * torch.logspace(-1, 2, 7)[:, None]
    out = norm(x)
    torch.testing.assert_close(out.square().mean(-1), torch.ones(7), atol=1e-4, rtol=0)
    layer = FamilyLinear(10, 4)
    hexagonal = torch.tensor([True, False, True, False, False, True, False])
    mixed = layer(x, hexagonal)
    torch.testing.assert_close(mixed[hexagonal], layer.hexagonal(x[hexagonal]))
    torch.testing.assert_close(mixed[~hexagonal], layer.other(x[~hexagonal]))
    torch.testing.assert_close(layer(x, torch.zeros(7, dtype=torch.bool)), layer.other(x))
    groups = torch.tensor([142, 143, 168, 194, 195, 1])
    assert is_hexagonal_family(groups).tolist() == [False, True, True, True, False, False]


@pytest.mark.parametrize("family_inputs", [True, False])
def test_positional_tokens_invariant(family_inputs):
    """Every operation of every test group (hexagonal ones included), float64, 1e-10."""
    torch.manual_seed(0)
    pe = CrystalPositionalEncoding(16, make_encoding("symmetry"), normalize=True,
                                   family_inputs=family_inputs).double()
    data = Batch.from_data_list([crystal(name, num_atoms=3, seed=i, dtype=torch.float64)
                                 for i, name in enumerate(CRYSTALS)])
    sg = data.space_group[data.batch]
    cell, natoms = data.cell.double(), data.natoms
    assert_batch_invariant(lambda x: pe(x, sg, cell, natoms, data.batch), data.frac_coords,
                           data.batch, data.space_group)


def test_tokens_balanced_at_initialisation():
    """Element and position count alike at initialisation (the landed model: ~10:1), and the
    position part varies between the atoms of a crystal."""
    data = Batch.from_data_list([crystal(name, num_atoms=6, seed=i)
                                 for i, name in enumerate(CRYSTALS)])
    torch.manual_seed(0)
    model = CrystalFourierTransformer(channels=64, heads=4)
    with torch.no_grad():
        batch = data.batch
        atom = model.atom_norm(model.atom_embedding(data.z))
        pos = model.pos_norm(model.positional(
            data.frac_coords, data.space_group[batch], data.cell, data.natoms, batch))
    ratio = atom.norm(dim=-1).mean() / pos.norm(dim=-1).mean()
    assert 0.8 < float(ratio) < 1.25
    varying = pos - torch.zeros_like(pos).index_add_(0, batch, pos)[batch] \
        / data.natoms[batch, None]
    assert float(varying.norm(dim=-1).mean()) > 0.3 * float(pos.norm(dim=-1).mean())


# ---------------------------------------------------------------- pair geometry


def _naive_dense_bias(batch, edge_index, values, num_graphs):
    sizes = torch.bincount(batch, minlength=num_graphs)
    length = int(sizes.max())
    ptr = torch.cumsum(sizes, 0) - sizes
    out = torch.zeros(num_graphs, values.shape[1], length, length, dtype=values.dtype)
    for (j, i), v in zip(edge_index.t().tolist(), values, strict=True):
        b = int(batch[i])
        out[b, :, i - int(ptr[b]), j - int(ptr[b])] += v
    return out


def test_pair_layout_matches_a_naive_loop():
    data = Batch.from_data_list([crystal(name, num_atoms=n, seed=n)
                                 for n, name in zip((2, 5, 3, 1), CRYSTALS, strict=False)])
    torch.manual_seed(0)
    values = torch.randn(data.edge_index.shape[1], 3, dtype=torch.float64)
    dense = DenseBatchIndex(data.batch, data.num_graphs)
    [got] = PairLayout(dense, data.edge_index).to_dense(values)
    ref = _naive_dense_bias(data.batch, data.edge_index, values, data.num_graphs)
    torch.testing.assert_close(got, ref, atol=1e-12, rtol=0)
    # attention with the bias is the same in one layout and in size buckets
    attn = MaskedSelfAttention(8, heads=2).double()
    x = torch.randn(data.num_nodes, 8, dtype=torch.float64)
    values = values[:, :2]
    one = attn(x, dense, PairLayout(dense, data.edge_index).to_dense(values))
    buckets = SizeBuckets(data.batch, data.num_graphs, 3)
    split = attn(x, buckets, PairLayout(buckets, data.edge_index).to_dense(values))
    torch.testing.assert_close(one, split, atol=1e-12, rtol=0)
    assert not torch.allclose(one, attn(x, dense))  # the bias does change the attention


def test_gated_conv_matches_a_naive_loop_and_sees_the_receiver():
    torch.manual_seed(0)
    data = crystal("Pnma", num_atoms=4, seed=3, dtype=torch.float64)
    conv = GatedDistanceConv(6, 5).double()
    x = torch.randn(4, 6, dtype=torch.float64)
    e = data.edge_index.shape[1]
    filt = torch.randn(e, 10, dtype=torch.float64)
    weight = envelope_weights(torch.rand(e, dtype=torch.float64), data.edge_index[1], 4)
    out = conv(x, data.edge_index, filt, weight)
    a, b, v = conv.lin_nodes(x).chunk(3, dim=-1)
    ref = torch.zeros(4, 5, dtype=torch.float64)
    for k, (j, i) in enumerate(data.edge_index.t().tolist()):
        gate = torch.sigmoid(a[i] + b[j] + filt[k, :5])
        ref[i] += weight[k] * gate * v[j] * filt[k, 5:]
    torch.testing.assert_close(out, conv.lin_out(ref), atol=1e-12, rtol=0)


def test_pair_geometry_model_invariant_and_uses_distances():
    """The full model (bias + gated messages) passes the shared checker under every
    operation of every test group, float64; and its prediction depends on the distances
    through the attention bias alone (pure Transformer with the bias)."""
    torch.manual_seed(0)
    model = CrystalFourierTransformer(channels=32, heads=4, radius=RADIUS).double().eval()
    data = Batch.from_data_list([crystal(name, num_atoms=3, seed=i, dtype=torch.float64)
                                 for i, name in enumerate(CRYSTALS)])
    assert_batch_invariant(lambda x: model(with_frac_coords(data, x)), data.frac_coords,
                           data.batch, data.space_group)
    torch.manual_seed(0)
    pure = CrystalFourierTransformer(channels=32, heads=4, local=False, encoding="none",
                                     lattice="none", radius=RADIUS).double().eval()
    with torch.no_grad():
        squeezed = data.clone()
        squeezed.edge_dist = data.edge_dist * 0.9
        assert not torch.allclose(pure(data), pure(squeezed))
