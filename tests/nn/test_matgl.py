"""matgl's M3GNet, MEGNet and TensorNet as models of the library (optional ``matgl`` extra)."""

from __future__ import annotations

import sys

import pytest
import torch

from cft_pyg.nn import Backbone
from cft_pyg.nn.matgl import matgl_available
from cft_pyg.training import build_model

from . import _external

needs_matgl = pytest.mark.skipif(
    not matgl_available(),
    reason="optional `matgl` package not installed (pip install -c constraints.txt "
    "'cft-pyg[matgl]')",
)

SMALL = {"m3gnet": {"nblocks": 1, "units": 16, "dim_node_embedding": 16,
                    "dim_edge_embedding": 16},
         "megnet": {"nblocks": 1, "dim_node_embedding": 8, "dim_edge_embedding": 16,
                    "hidden_layer_sizes_input": (16, 8), "hidden_layer_sizes_conv": (16, 8),
                    "hidden_layer_sizes_output": (8,)},
         "tensornet": {"nblocks": 1, "units": 16, "num_rbf": 8}}
NAMES = tuple(SMALL)


@needs_matgl
@pytest.mark.parametrize("name", NAMES)
def test_matgl_models_are_backbones(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, **SMALL[name]).eval()
    assert isinstance(model, Backbone)
    data = _external.batch()
    features = model.crystal_features(data)
    assert features.shape == (data.num_graphs, model.feature_dim)
    out = model(data)
    assert out.shape == (data.num_graphs,)
    torch.testing.assert_close(out, model.head_module(features).reshape(-1))


@needs_matgl
@pytest.mark.parametrize("name", NAMES)
def test_adapter_feeds_matgl_as_its_own_training_loop_does(name: str) -> None:
    """Same prediction as matgl's ModelLightningModule on graphs from matgl's converter and
    matgl's collate function."""
    from matgl.ext.pymatgen import Structure2Graph
    from matgl.graph.data import collate_fn_graph
    from matgl.utils.training import ModelLightningModule

    torch.manual_seed(0)
    model = build_model(name, **SMALL[name]).eval()
    found = _external.structures()
    names = ("nacl", "tio2", "zno")
    converter = Structure2Graph(tuple(model.model.element_types), cutoff=model.cutoff)
    items = []
    for n in names:
        g, lat, state = converter.get_graph(found[n])
        items.append((g, lat, torch.as_tensor(state), {"y": 0.0}))
    g, lat, state, _ = collate_fn_graph(items)
    with torch.no_grad():
        reference = ModelLightningModule(model=model.model)(g=g, lat=lat, state_attr=state)
        ours = model(_external.batch(names))
    torch.testing.assert_close(ours, reference.reshape(-1), atol=1e-5, rtol=1e-4)


@needs_matgl
@pytest.mark.parametrize("name", NAMES)
def test_matgl_models_are_invariant(name: str) -> None:
    """Rotating the crystal and permuting its atoms leave the prediction unchanged (float32,
    atol 1e-5)."""
    from scipy.spatial.transform import Rotation

    torch.manual_seed(0)
    model = build_model(name, **SMALL[name], cache_size=0).eval()
    data = _external.batch(("tio2",))
    rot = torch.tensor(Rotation.random(random_state=1).as_matrix(), dtype=data.pos.dtype)
    perm = torch.randperm(data.num_nodes)
    moved = data.clone()
    moved.pos, moved.z = (data.pos @ rot.T)[perm], data.z[perm]
    moved.cell = data.cell @ rot.T
    with torch.no_grad():
        torch.testing.assert_close(model(moved), model(data), atol=1e-5, rtol=1e-4)


@needs_matgl
def test_graph_cache_reuses_conversions() -> None:
    model = build_model("megnet", **SMALL["megnet"], cache_size=2).eval()
    data = _external.batch(("nacl", "tio2", "zno"))
    with torch.no_grad():
        first = model(data)
        assert len(model._graphs) == 2
        torch.testing.assert_close(model(data), first)


@needs_matgl
@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_trains_and_predicts_through_the_cli(name: str, tmp_path) -> None:
    _external.train_and_predict(name, SMALL[name], tmp_path)


def test_missing_extra_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matgl", None)
    with pytest.raises(ImportError, match=r"cft-pyg\[matgl\]"):
        build_model("m3gnet")
