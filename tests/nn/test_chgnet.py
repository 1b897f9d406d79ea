"""CHGNet's pretrained representation under the library's heads (optional ``chgnet`` extra)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from cft_pyg.nn import Backbone
from cft_pyg.nn.chgnet import chgnet_available

from . import _external

needs_chgnet = pytest.mark.skipif(
    not chgnet_available(),
    reason="optional `chgnet` package not installed (pip install -c constraints.txt "
    "'cft-pyg[chgnet]')",
)


@pytest.fixture(scope="module")
def backbone():
    from cft_pyg.nn import CHGNetBackbone

    return CHGNetBackbone().eval()


@needs_chgnet
def test_features_are_chgnets_own(backbone) -> None:
    """The backbone's features are what CHGNet's own predict_structure returns."""
    assert isinstance(backbone, Backbone) and backbone.feature_dim == 64
    names = ("nacl", "tio2", "zno")
    with torch.no_grad():
        ours = backbone.crystal_features(_external.batch(names))
        energies = backbone.energy_per_atom(_external.batch(names))
    found = _external.structures()
    for i, name in enumerate(names):
        ref = backbone.model.predict_structure(found[name], task="e", return_crystal_feas=True)
        torch.testing.assert_close(ours[i], torch.as_tensor(ref["crystal_fea"]), atol=1e-5,
                                   rtol=1e-4)
        assert energies[i].item() == pytest.approx(float(ref["e"]), abs=1e-4)


@needs_chgnet
def test_chgnet_features_are_invariant(backbone) -> None:
    """Rotation and permutation of the atoms (float32, atol 1e-5)."""
    from scipy.spatial.transform import Rotation

    data = _external.batch(("tio2",))
    rot = torch.tensor(Rotation.random(random_state=2).as_matrix(), dtype=data.pos.dtype)
    perm = torch.randperm(data.num_nodes, generator=torch.Generator().manual_seed(0))
    moved = data.clone()
    moved.pos, moved.z, moved.cell = (data.pos @ rot.T)[perm], data.z[perm], data.cell @ rot.T
    with torch.no_grad():
        torch.testing.assert_close(backbone.crystal_features(moved),
                                   backbone.crystal_features(data), atol=1e-5, rtol=1e-4)


def _backbone_state(module) -> dict[str, torch.Tensor]:
    return {k: v for k, v in module.model.backbone.state_dict().items()}


@needs_chgnet
@pytest.mark.slow
@pytest.mark.parametrize("name", ["chgnet-frozen", "chgnet"])
def test_trains_predicts_and_round_trips_through_the_cli(name: str, tmp_path, backbone,
                                                         monkeypatch) -> None:
    """One epoch through ``cft-pyg train``, ``cft-pyg predict`` from the checkpoint: a frozen
    CHGNet keeps its pretrained weights, a fine-tuned one changes them; the checkpoint
    restores the same predictions and refuses to load without the extra."""
    from torch_geometric.data import Batch

    from cft_pyg.data import CIFFolder
    from cft_pyg.training import load_model

    df = _external.train_and_predict(name, {"head_hidden": [16]}, tmp_path)
    ckpt = tmp_path / "run" / "checkpoints" / "best.ckpt"
    module = load_model(ckpt)
    pretrained = backbone.state_dict()
    trained = _backbone_state(module)
    same = [torch.equal(trained[k], v) for k, v in pretrained.items()]
    if name == "chgnet-frozen":
        assert all(same)
    else:
        assert not all(same)
    data = list(CIFFolder(str(tmp_path / "data" / "cifs")))
    with torch.no_grad():
        again = module(Batch.from_data_list(data))
    by_name = {Path(p).stem: v for p, v in zip(df["file"], df["prediction"])}
    assert sorted(by_name) == sorted(d.material_id for d in data)
    for d, v in zip(data, again):
        assert v.item() == pytest.approx(by_name[d.material_id], rel=1e-4, abs=1e-5)
    monkeypatch.setitem(sys.modules, "chgnet", None)
    monkeypatch.setitem(sys.modules, "chgnet.model", None)
    with pytest.raises(ImportError, match=r"cft-pyg\[chgnet\]"):
        load_model(ckpt)


def test_missing_extra_says_how_to_install(monkeypatch) -> None:
    from cft_pyg.training import build_model

    monkeypatch.setitem(sys.modules, "chgnet", None)
    monkeypatch.setitem(sys.modules, "chgnet.model", None)
    with pytest.raises(ImportError, match=r"cft-pyg\[chgnet\]"):
        build_model("chgnet-frozen")
