"""Training engine: exact resume, checkpoints with normalization, early stopping, guards,
and a short real run on MP-20 that must beat predicting the mean."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from cft_pyg.training import (
    CrystalPropertyModule,
    TrainConfig,
    evaluate,
    fit,
    load_model,
    predict,
    target_statistics,
)
from cft_pyg.training.data import build_splits

from ._helpers import make_crystals

TINY = {"model": "test-tiny", "batch_size": 16, "lr": 3e-3, "warmup_epochs": 1.0,
        "progress_bar": False, "accelerator": "cpu", "devices": 1}


@pytest.fixture(scope="module")
def crystals() -> tuple[list, list]:
    return make_crystals(96, seed=0), make_crystals(32, seed=1)


def _state(path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


def test_resume_reproduces_uninterrupted_run(tmp_path, crystals) -> None:
    train, val = crystals
    base = TrainConfig(epochs=4, patience=None, **TINY)
    straight = fit(base.replace(output_dir=str(tmp_path / "a")), train, val)
    first = fit(base.replace(output_dir=str(tmp_path / "b"), stop_after_epochs=2), train, val)
    assert first.epochs_run == 2
    half = _state(tmp_path / "b" / "checkpoints" / "last.ckpt")
    resumed = fit(base.replace(output_dir=str(tmp_path / "b"),
                               resume=str(tmp_path / "b" / "checkpoints" / "last.ckpt")),
                  train, val)
    assert resumed.epochs_run == 4

    a = _state(tmp_path / "a" / "checkpoints" / "last.ckpt")
    b = _state(tmp_path / "b" / "checkpoints" / "last.ckpt")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # the resumed half really trained (weights moved after the interruption)
    assert not torch.equal(half["model.emb.weight"], b["model.emb.weight"])
    ma = pd.read_csv(tmp_path / "a" / "metrics.csv")
    mb = pd.read_csv(tmp_path / "b" / "metrics.csv")
    assert list(ma["epoch"]) == list(mb["epoch"]) == [0, 1, 2, 3]
    assert ma["val_mae"].tolist() == mb["val_mae"].tolist()
    assert ma["train_loss"].tolist() == mb["train_loss"].tolist()
    assert straight.best_val_mae == resumed.best_val_mae
    # the learning-rate schedule: warm-up then cosine decay over the 4 epochs
    lr = ma["lr"].tolist()
    assert lr[1] > lr[0] and lr[1] > lr[2] > lr[3]


def test_checkpoint_holds_normalization_and_predicts(tmp_path, crystals) -> None:
    train, val = crystals
    res = fit(TrainConfig(epochs=2, output_dir=str(tmp_path), **TINY), train, val, val)
    ckpt = tmp_path / "checkpoints"
    assert (ckpt / "best.ckpt").is_file() and (ckpt / "last.ckpt").is_file()
    mean, std = target_statistics(train)
    model = load_model(res.best_checkpoint)
    assert isinstance(model, CrystalPropertyModule)
    assert float(model.target_mean) == pytest.approx(mean)
    assert float(model.target_std) == pytest.approx(std)
    assert model.hparams.model == "test-tiny"
    # predictions are in physical units: mapped back through the stored normalization
    df = predict(model, val)
    assert list(df["material_id"]) == [d.material_id for d in val]
    with torch.no_grad():
        from torch_geometric.data import Batch

        raw = model.model(Batch.from_data_list(val)).double()
    expected = raw * float(model.target_std) + float(model.target_mean)
    assert df["y_pred"].to_numpy() == pytest.approx(expected.numpy(), rel=1e-5, abs=1e-6)
    rep = evaluate(model, val)
    assert rep.overall["mae"] == pytest.approx(res.best_val_mae, rel=1e-5)
    for name in ("metrics.json", "per_space_group.csv", "per_crystal_system.csv",
                 "predictions.csv"):
        assert (tmp_path / f"test_{name}").is_file()
    assert (tmp_path / "config.yaml").is_file()
    assert set(pd.read_csv(tmp_path / "metrics.csv").columns) >= {"epoch", "train_loss",
                                                                   "val_mae", "lr"}


def test_early_stopping_on_val_mae(tmp_path, crystals) -> None:
    train, val = crystals
    cfg = TrainConfig(epochs=20, patience=2, output_dir=str(tmp_path),
                      **{**TINY, "model": "test-constant"})
    res = fit(cfg, train, val)
    # constant predictions: no improvement after epoch 0, stop after 1 + patience epochs
    assert res.epochs_run == 3


def test_fit_refuses_to_overwrite_a_run(tmp_path, crystals) -> None:
    train, val = crystals
    cfg = TrainConfig(epochs=1, output_dir=str(tmp_path), **TINY)
    fit(cfg, train, val)
    before = (tmp_path / "checkpoints" / "last.ckpt").read_bytes()
    with pytest.raises(FileExistsError, match="overwrite"):
        fit(cfg, train, val)
    assert (tmp_path / "checkpoints" / "last.ckpt").read_bytes() == before
    fit(cfg.replace(seed=1), train, val, overwrite=True)
    assert (tmp_path / "checkpoints" / "last.ckpt").read_bytes() != before


def test_load_model_rejects_bad_files(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.ckpt")
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable cft-pyg checkpoint"):
        load_model(bad)


@pytest.mark.slow
def test_short_mp20_run_beats_predicting_the_mean(tmp_path_factory, shared_data_dir) -> None:
    """CFT, a few hundred MP-20 crystals, 3 epochs: validation MAE < MAE of the train mean."""
    root = shared_data_dir / "mp_20"
    if not (root / "val.csv.gz").is_file():
        pytest.skip(f"MP-20 val split not found in {root}")
    out = tmp_path_factory.mktemp("mp20")
    cfg = TrainConfig(
        model="cft", model_kwargs={"channels": 32, "num_blocks": 1, "heads": 4},
        dataset="mp20", data_root=str(root), target="formation_energy_per_atom",
        dataset_kwargs={"split": "project-train", "max_rows": 250, "log": False,
                        "processed_root": str(out / "cache")},
        split="random", val_fraction=0.2, test_fraction=0.0,
        epochs=3, batch_size=32, lr=2e-3, warmup_epochs=0.5, patience=None,
        progress_bar=False, accelerator="cpu", devices=1, output_dir=str(out / "run"))
    splits = build_splits(cfg)
    assert len(splits.train) + len(splits.val) >= 240
    res = fit(cfg, splits.train, splits.val)
    overall = res.val_report.overall
    assert overall["mae"] == pytest.approx(res.best_val_mae, rel=1e-5)
    assert overall["mae"] < 0.9 * overall["mae_predict_mean"], overall


def test_warnings_for_single_crystal_splits_and_long_warmup(tmp_path, crystals) -> None:
    train, val = crystals
    cfg = TrainConfig(epochs=1, output_dir=str(tmp_path / "a"), **TINY)  # warm-up 1 >= 1 epoch
    with pytest.warns(UserWarning, match="warmup_epochs"):
        fit(cfg, train, val)
    cfg = TrainConfig(epochs=2, output_dir=str(tmp_path / "b"), **TINY)
    with pytest.warns(UserWarning, match="validation set holds a single crystal"):
        fit(cfg, train, val[:1])
    with pytest.warns(UserWarning, match="test set holds a single crystal"):
        fit(cfg, train, val, val[:1], overwrite=True)
