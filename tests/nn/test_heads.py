"""Heads on backbones: the scalar head, and a backbone + head model, frozen or trained."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch

from cft_pyg.nn import CGCNN, Backbone, BackboneModel, ScalarHead

from ._crystals import CRYSTALS, crystal


def batch_of(seed: int = 0) -> Batch:
    return Batch.from_data_list([crystal(name, 3 + i, seed=seed + i)
                                 for i, name in enumerate(CRYSTALS)])


def test_scalar_head_shapes_and_bad_widths() -> None:
    f = torch.randn(5, 12)
    assert ScalarHead(12)(f).shape == (5,)
    assert ScalarHead(12, hidden=(), out_channels=3)(f).shape == (5, 3)
    with pytest.raises(ValueError, match="widths must be positive"):
        ScalarHead(12, hidden=(0,))


def test_backbone_model_is_a_backbone_and_refuses_other_modules() -> None:
    model = BackboneModel(CGCNN(atom_fea_len=16, h_fea_len=24), ScalarHead(24))
    assert isinstance(model, Backbone) and model.feature_dim == 24
    data = batch_of()
    torch.testing.assert_close(model(data), model.head(model.crystal_features(data)))
    with pytest.raises(TypeError, match="is not a backbone"):
        BackboneModel(torch.nn.Linear(2, 2), ScalarHead(2))


def _train(model: torch.nn.Module, steps: int = 3) -> None:
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2,
                            weight_decay=0.1)
    model.train()
    for step in range(steps):
        data = batch_of(step)
        loss = (model(data) - 1.0).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


@pytest.mark.parametrize("cache", [0, 64])
def test_frozen_backbone_keeps_its_weights_through_training(cache: int) -> None:
    torch.manual_seed(0)
    backbone = CGCNN(atom_fea_len=16, h_fea_len=24)
    backbone.train()  # frozen: put back in eval mode, so batch norm statistics stay too
    model = BackboneModel(backbone, ScalarHead(24), freeze_backbone=True,
                          feature_cache_size=cache)
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    head_before = {k: v.clone() for k, v in model.head.state_dict().items()}
    _train(model)
    assert not model.backbone.training and model.head.training
    for k, v in model.backbone.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert any(not torch.equal(v, head_before[k]) for k, v in model.head.state_dict().items())
    assert model.num_parameters() == sum(p.numel() for p in model.head.parameters())


def test_trained_backbone_changes() -> None:
    torch.manual_seed(0)
    model = BackboneModel(CGCNN(atom_fea_len=16, h_fea_len=24), ScalarHead(24))
    before = {k: v.clone() for k, v in model.backbone.named_parameters()}
    _train(model)
    assert any(not torch.equal(v, before[k]) for k, v in model.backbone.named_parameters())


def test_feature_cache_gives_the_backbone_features() -> None:
    torch.manual_seed(0)
    backbone = CGCNN(atom_fea_len=16, h_fea_len=24).eval()
    cached = BackboneModel(backbone, ScalarHead(24), freeze_backbone=True,
                           feature_cache_size=4)  # smaller than the batch: evictions
    data = batch_of()
    with torch.no_grad():
        expected = backbone.crystal_features(data)
        # computed in smaller batches: float32 sums in another order (rtol 1e-5)
        torch.testing.assert_close(cached.crystal_features(data), expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(cached.crystal_features(data), expected, rtol=1e-5, atol=1e-5)
    assert len(cached._features) == 4
