"""Models by name: every built-in name builds the right model and predicts per crystal."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from torch_geometric.data import Batch

from cft_pyg.training import available_models, build_model, register_model

SMALL = {"cft": {"channels": 16, "num_blocks": 1, "heads": 2},
         "cft-trunk": {"channels": 16, "num_blocks": 1, "heads": 2},
         "cft-transformer": {"channels": 16, "num_blocks": 1, "heads": 2},
         "transformer-plain": {"channels": 16, "num_blocks": 1, "heads": 2},
         "cgcnn": {"atom_fea_len": 16, "n_conv": 1, "h_fea_len": 16},
         "alignn": {"alignn_layers": 1, "gcn_layers": 1, "hidden_features": 16,
                    "embedding_features": 16}}


@pytest.fixture(scope="module")
def batch() -> Batch:
    from pymatgen.core import Lattice, Structure

    from cft_pyg.data import from_structure

    nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"],
                                     [[0, 0, 0], [0.5, 0.5, 0.5]])
    tio2 = Structure.from_spacegroup("P4_2/mnm", Lattice.tetragonal(4.59, 2.96), ["Ti", "O"],
                                     [[0, 0, 0], [0.305, 0.305, 0]])
    return Batch.from_data_list([from_structure(nacl), from_structure(tio2)])


@pytest.mark.parametrize("name", ["cft-trunk", "cft", "cft-transformer", "transformer-plain",
                                  "cgcnn", "alignn"])
def test_builtin_models_predict_one_value_per_crystal(name: str, batch: Batch) -> None:
    if name == "alignn" and importlib.util.find_spec("alignn") is None:
        pytest.skip("the optional 'alignn' extra is not installed")
    torch.manual_seed(0)
    model = build_model(name, **SMALL[name]).eval()
    with torch.no_grad():
        out = model(batch)
    assert out.shape == (2,)
    assert torch.isfinite(out).all()
    if name.startswith(("cft", "transformer")):
        assert model.local is (name in ("cft", "cft-trunk"))
        assert model.encoding_kind == {"transformer-plain": "plain",
                                       "cft-trunk": "none"}.get(name, "symmetry")


def test_unknown_names_and_custom_models() -> None:
    assert {"cft", "cft-transformer", "transformer-plain", "cgcnn", "alignn"} <= set(
        available_models())
    with pytest.raises(KeyError, match="unknown model 'nope'"):
        build_model("nope")
    with pytest.raises(ValueError, match="already registered"):
        register_model("cft", torch.nn.Linear)
    register_model("test-linear", lambda **kw: torch.nn.Linear(2, 1, **kw), overwrite=True)
    assert isinstance(build_model("test-linear", bias=False), torch.nn.Linear)


def test_the_default_is_the_recommended_trunk_and_the_paper_cft_one_flag_away() -> None:
    """``cft-pyg train`` without ``--model`` trains ``cft-trunk``: the CFT trunk without a
    positional encoding at the sizes of the shipped models; ``--model cft`` is the paper's CFT
    with the symmetry-adapted encoding."""
    from cft_pyg.nn import CrystalFourierTransformer, SymmetryAdaptedFourierEncoding
    from cft_pyg.pretrained import recipe
    from cft_pyg.training import TrainConfig
    from cft_pyg.training.registry import model_presets

    assert TrainConfig().model == "cft-trunk"
    trunk, paper = build_model("cft-trunk"), build_model("cft")
    assert isinstance(trunk, CrystalFourierTransformer) and trunk.encoding is None
    assert isinstance(paper.encoding, SymmetryAdaptedFourierEncoding)
    shipped = recipe("mp20-formation-energy")
    assert {**model_presets(shipped.model), **shipped.model_kwargs} == model_presets("cft-trunk")
    assert sum(p.numel() for p in trunk.parameters()) < sum(p.numel() for p in paper.parameters())
