"""Non-negative targets through a softplus output: chosen per target, never negative."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.loader import DataLoader

from cft_pyg.training import CrystalPropertyModule, TrainConfig, fit
from cft_pyg.training.config import NON_NEGATIVE_TARGETS

from . import _helpers


@pytest.mark.parametrize(("target", "output"), [
    ("band_gap", "softplus"), ("e_above_hull", "softplus"), ("ind_gap", "softplus"),
    ("formation_energy_per_atom", "linear"), ("energy_per_atom", "linear"),
    ("heat_ref", "linear"), (None, "linear"),
])
def test_auto_output_follows_the_target(target: str | None, output: str) -> None:
    assert TrainConfig(target=target).resolved_output == output
    assert TrainConfig(target=target, output="linear").resolved_output == "linear"
    assert TrainConfig(target="heat_ref", output="softplus").resolved_output == "softplus"
    assert TrainConfig(task="classification").resolved_output == "linear"
    assert ("band_gap" in NON_NEGATIVE_TARGETS) and ("formation_energy_per_atom"
                                                     not in NON_NEGATIVE_TARGETS)


def test_softplus_output_is_never_negative_and_linear_can_be() -> None:
    batch = next(iter(DataLoader(_helpers.make_crystals(64, seed=3), batch_size=64)))
    linear = CrystalPropertyModule(model="test-tiny", target_mean=-2.0, target_std=3.0)
    soft = CrystalPropertyModule(model="test-tiny", target_mean=-2.0, target_std=3.0,
                                 output="softplus")
    soft.model.load_state_dict(linear.model.state_dict())
    linear.eval()
    soft.eval()
    with torch.no_grad():
        y_lin, y_soft = linear(batch), soft(batch)
    assert (y_lin < 0).any()  # the same weights predict negative values through 'linear'
    assert (y_soft > 0).all()
    assert torch.allclose(y_soft, torch.nn.functional.softplus(y_lin))
    with pytest.raises(ValueError, match="output must be one of"):
        CrystalPropertyModule(model="test-tiny", output="relu")


def test_fit_records_the_output_and_predictions_stay_non_negative(tmp_path) -> None:
    data = _helpers.make_crystals(120, seed=5)
    for d in data:  # a gap-like target: zero for half of the crystals
        d.y = torch.clamp(d.y - 1.2, min=0.0)
    cfg = TrainConfig(model="test-tiny", output="softplus", epochs=2, batch_size=16,
                      warmup_epochs=0.5, patience=0, accelerator="cpu", devices=1,
                      progress_bar=False, output_dir=str(tmp_path / "run"))
    result = fit(cfg, data[:90], data[90:105], data[105:])
    assert result.module.hparams.output == "softplus"
    module = result.module.eval()
    batch = next(iter(DataLoader(data, batch_size=len(data))))
    with torch.no_grad():
        assert (module(batch) > 0).all()
