"""The published code's group one-hot (a study-only subclass of the published CFT)."""

from __future__ import annotations

import torch
from torch_geometric.data import Batch

from cft_pyg.testing import assert_invariant
from cft_pyg.training import build_model
from studies.kit.onehot import NAME, PublishedCFTGroupOneHot, register
from tests.nn._crystals import crystal, with_frac_coords
from tests.nn.test_published import SMALL, predict, without_graph


def test_group_one_hot_is_invariant_and_leaves_unseen_groups_untrained():
    """The one-hot keeps every invariance, gives each group a learned row in both branches,
    and a group absent from a batch gets no gradient: its row stays at its initialization
    (what a zero-shot model then uses)."""
    register()
    torch.manual_seed(0)
    model = build_model(NAME, **SMALL).eval()
    assert isinstance(model, PublishedCFTGroupOneHot)
    pe = model.positional
    assert pe.group_pos.weight.shape == (230, SMALL["encoder_initial"])
    assert pe.group_lat.weight.shape == (230, SMALL["encoder_hidden"])
    data = without_graph(crystal("C2/c", num_atoms=4, seed=5))
    assert_invariant(lambda x: model(with_frac_coords(data, x)), data.frac_coords, 15,
                     wrap=True)
    before = predict(model, data)
    with torch.no_grad():  # the rows of the crystal's group are read
        pe.group_pos.weight[14].zero_()
    assert not torch.allclose(predict(model, data), before)
    model.train()
    batch = Batch.from_data_list([without_graph(crystal(n, num_atoms=3, seed=i))
                                  for i, n in enumerate(["P2_1/c", "Pnma"])])
    model(batch).square().sum().backward()
    for rows in (pe.group_pos, pe.group_lat):
        seen = torch.zeros(230, dtype=torch.bool)
        seen[batch.space_group - 1] = True
        norms = rows.weight.grad.norm(dim=1)
        assert (norms[seen] > 0).all() and (norms[~seen] == 0).all()
    # the library's published CFT has no per-group parameter
    assert not hasattr(build_model("cft-published", **SMALL).positional, "group_pos")
