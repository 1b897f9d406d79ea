"""aviary's Wrenformer as a library model (optional ``aviary`` extra, ``aviary-models``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from cft_pyg.nn import Backbone
from cft_pyg.nn.aviary import aviary_available
from cft_pyg.training import build_model

from . import _external

needs_aviary = pytest.mark.skipif(
    not aviary_available(),
    reason="optional `aviary-models` package not installed (pip install -c constraints.txt "
    "'cft-pyg[aviary]')",
)

SMALL = {"d_model": 16, "n_attn_layers": 1, "n_attn_heads": 2, "trunk_hidden": [16],
         "out_hidden": [16, 8]}


@needs_aviary
def test_inputs_are_aviarys_own() -> None:
    """Labels from pymatgen's (formerly aviary's) spglib labeller, features from aviary's
    own function, and the prediction is aviary's own forward on aviary's padded batch."""
    from aviary.wrenformer.data import collate_batch, wyckoff_embedding_from_protostructure_label

    torch.manual_seed(0)
    model = build_model("wrenformer", **SMALL).eval()
    assert isinstance(model, Backbone) and model.feature_dim == 16
    data = _external.batch(("nacl", "tio2", "zno"))
    labels = model.labels(data)
    assert labels[0] == "AB_cF8_225_a_b:Cl-Na"
    assert labels[1].startswith("A2B_tP6_136_") and labels[1].endswith(":O-Ti")
    feats = tuple(wyckoff_embedding_from_protostructure_label(s) for s in labels)
    (padded, mask, counts), _, _ = collate_batch(feats, torch.zeros(3), labels)
    with torch.no_grad():
        ours = model(data)
        theirs = model.model(padded, mask, counts)[0].reshape(-1)
    assert ours.shape == (3,)
    torch.testing.assert_close(ours, theirs)


@needs_aviary
def test_transform_label_is_used_and_coordinates_are_not() -> None:
    """:class:`AddProtostructure` stores the label once; a crystal on the same Wyckoff
    positions with another cell (a strained copy) is the same input."""
    from torch_geometric.data import Batch

    from cft_pyg.data import from_structure
    from cft_pyg.nn.aviary import AddProtostructure

    torch.manual_seed(0)
    model = build_model("wrenformer", **SMALL).eval()
    nacl = _external.structures()["nacl"]
    strained = nacl.copy()
    strained.scale_lattice(nacl.volume * 1.7)
    items = [AddProtostructure()(from_structure(s)) for s in (nacl, strained)]
    assert items[0].protostructure == items[1].protostructure == "AB_cF8_225_a_b:Cl-Na"
    batch = Batch.from_data_list(items)
    assert batch.protostructure == [items[0].protostructure] * 2
    with torch.no_grad():
        out = model(batch)
    assert out[0] == out[1]
    assert len(model._labels) == 0  # the stored labels were read, nothing recomputed


@needs_aviary
def test_trains_predicts_and_round_trips_through_the_cli(tmp_path, monkeypatch) -> None:
    """One epoch of ``cft-pyg train`` and ``cft-pyg predict`` on a handful of crystals; the
    checkpoint restores the same predictions and refuses to load without the extra."""
    from torch_geometric.data import Batch

    from cft_pyg.data import CIFFolder
    from cft_pyg.training import load_model

    df = _external.train_and_predict("wrenformer", SMALL, tmp_path)
    ckpt = tmp_path / "run" / "checkpoints" / "best.ckpt"
    module = load_model(ckpt)
    data = list(CIFFolder(str(tmp_path / "data" / "cifs")))
    with torch.no_grad():
        again = module(Batch.from_data_list(data))
    by_name = {Path(p).stem: v for p, v in zip(df["file"], df["prediction"], strict=True)}
    assert sorted(by_name) == sorted(d.material_id for d in data)
    for d, v in zip(data, again, strict=True):
        assert v.item() == pytest.approx(by_name[d.material_id], rel=1e-4, abs=1e-5)
    monkeypatch.setitem(sys.modules, "aviary", None)
    with pytest.raises(ImportError, match=r"cft-pyg\[aviary\]"):
        load_model(ckpt)


def test_missing_extra_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "aviary", None)
    with pytest.raises(ImportError, match=r"cft-pyg\[aviary\]"):
        build_model("wrenformer")
