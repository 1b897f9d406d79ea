"""The backbone interface: every built-in model maps a batch to invariant crystal features,
and its prediction is its head applied to them."""

import pytest
import torch
from torch_geometric.data import Batch

from cft_pyg.nn import CGCNN, Backbone, CrystalFourierTransformer, PublishedCFT

from ._crystals import CRYSTALS, crystal


def batch_of() -> Batch:
    return Batch.from_data_list([crystal(name, 3 + i, seed=i) for i, name in enumerate(CRYSTALS)])


@pytest.mark.parametrize(
    "factory, head",
    [
        (lambda: CrystalFourierTransformer(channels=32, num_blocks=1, heads=2), "head"),
        (lambda: PublishedCFT(channels=32, num_blocks=1, heads=2, encoder_hidden=16,
                              encoder_initial=16, encoder_blocks=1, head_hidden=(16, 8)),
         "head"),
        (lambda: CGCNN(atom_fea_len=16, h_fea_len=24), "fc_out"),
    ],
)
def test_builtin_models_are_backbones(factory, head):
    torch.manual_seed(0)
    model = factory().eval()
    assert isinstance(model, Backbone)
    batch = batch_of()
    features = model.crystal_features(batch)
    assert features.shape == (batch.num_graphs, model.feature_dim)
    expected = getattr(model, head)(features).squeeze(-1)
    torch.testing.assert_close(model(batch), expected)


def test_plain_module_is_not_a_backbone():
    assert not isinstance(torch.nn.Linear(2, 2), Backbone)
