"""The measured domain: fit records its training crystals' cell sizes and elements, and
predict warns once (not once per crystal) for crystals outside them."""

from __future__ import annotations

import warnings

import torch
from torch_geometric.data import Data

from cft_pyg.training import TrainConfig, fit, load_model, predict
from cft_pyg.training.domain import domain_of, outside

from ._helpers import make_crystals


def _crystal(z: list[int], i: int = 0) -> Data:
    k = len(z)
    return Data(z=torch.tensor(z), frac_coords=torch.rand(k, 3), space_group=torch.tensor([1]),
                natoms=torch.tensor([k]), y=torch.tensor([0.5]), material_id=f"x-{i}",
                num_nodes=k)


def test_domain_of_and_outside() -> None:
    train = [_crystal([1, 8]), _crystal([1, 1, 1, 6])]
    domain = domain_of(train)
    assert domain == {"max_atoms": 4, "elements": [1, 6, 8]}
    found = outside(domain, [_crystal([1, 6]), _crystal([6] * 9), _crystal([79, 1]),
                             _crystal([79] * 5)])
    assert found["too_large"] == [1, 3] and found["largest"] == 9
    assert found["new_elements"] == [2, 3] and found["elements"] == [79]


def test_predict_warns_once_outside_the_domain(tmp_path) -> None:
    train, val = make_crystals(48, seed=0), make_crystals(16, seed=1)
    config = TrainConfig(model="test-tiny", epochs=1, batch_size=16, warmup_epochs=0.0,
                         progress_bar=False, accelerator="cpu", devices=1,
                         output_dir=str(tmp_path / "run"))
    model = load_model(fit(config, train, val).best_checkpoint)
    domain = model.hparams["domain"]
    assert domain == domain_of(train) and domain["max_atoms"] <= 5
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        predict(model, val)
    assert not [w for w in caught if "measured domain" in str(w.message)]
    strange = [_crystal([3] * 40, i) for i in range(5)] + [_crystal([92, 3], 9)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = predict(model, val + strange)
    assert len(frame) == len(val) + len(strange)
    found = [str(w.message) for w in caught if "measured domain" in str(w.message)]
    assert len(found) == 1, found
    assert found[0].startswith(f"6 of {len(val) + 6} crystal(s)")
    assert "5 with more atoms per cell" in found[0] and "(40 > " in found[0]
    assert "1 with elements absent" in found[0] and "U" in found[0]
