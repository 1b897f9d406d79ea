"""The backbone interface is what every model of the registry implements."""

from __future__ import annotations

import pytest
import torch

from cft_pyg.nn import Backbone
from cft_pyg.nn.alignn import alignn_available
from cft_pyg.nn.aviary import aviary_available
from cft_pyg.nn.chgnet import chgnet_available
from cft_pyg.nn.matgl import matgl_available
from cft_pyg.training import available_models, build_model

from . import _external

SMALL = {"cft": {"channels": 16, "num_blocks": 1, "heads": 2},
         "cft-trunk": {"channels": 16, "num_blocks": 1, "heads": 2},
         "wyckoff": {"channels": 16, "num_layers": 1, "heads": 2},
         "composition": {"channels": 16, "num_layers": 1, "heads": 2},
         "cft-transformer": {"channels": 16, "num_blocks": 1, "heads": 2},
         "transformer-plain": {"channels": 16, "num_blocks": 1, "heads": 2},
         "cft-published": {"channels": 16, "num_blocks": 1, "heads": 2, "encoder_hidden": 8,
                           "encoder_initial": 8, "encoder_blocks": 1, "head_hidden": (8, 8)},
         "cgcnn": {"atom_fea_len": 16, "n_conv": 1, "h_fea_len": 16},
         "alignn": {"alignn_layers": 1, "gcn_layers": 1, "hidden_features": 16,
                    "embedding_features": 16},
         "m3gnet": {"nblocks": 1, "units": 16},
         "megnet": {"nblocks": 1},
         "tensornet": {"nblocks": 1, "units": 16},
         "chgnet": {"head_hidden": (8,)},
         "chgnet-frozen": {"head_hidden": (8,)},
         "wrenformer": {"d_model": 16, "n_attn_layers": 1, "n_attn_heads": 2,
                        "trunk_hidden": (16,), "out_hidden": (16, 8)}}
EXTRAS = {"alignn": alignn_available, "m3gnet": matgl_available, "megnet": matgl_available,
          "tensornet": matgl_available, "chgnet": chgnet_available,
          "chgnet-frozen": chgnet_available, "wrenformer": aviary_available}


def test_every_builtin_name_is_covered() -> None:
    builtin = [n for n in available_models() if not n.startswith("test-")]
    assert set(builtin) <= set(SMALL), f"add {sorted(set(builtin) - set(SMALL))} here"


@pytest.mark.parametrize("name", sorted(SMALL))
def test_registry_model_is_a_backbone(name: str) -> None:
    if name in EXTRAS and not EXTRAS[name]():
        pytest.skip(f"the optional package of {name!r} is not installed")
    torch.manual_seed(0)
    model = build_model(name, **SMALL[name]).eval()
    assert isinstance(model, Backbone)
    data = _external.batch()
    with torch.no_grad():
        features = model.crystal_features(data)
        out = model(data)
    assert features.shape == (data.num_graphs, model.feature_dim)
    assert out.shape == (data.num_graphs,)
    assert torch.isfinite(features).all() and torch.isfinite(out).all()
