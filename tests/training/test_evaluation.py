"""Evaluation tables, schedule, sampler, normalization and config: small hand-checkable cases."""

from __future__ import annotations

import itertools
import json
import math

import pandas as pd
import pytest
import torch

from cft_pyg.training import (
    ConfigError,
    EpochSeededSampler,
    TrainConfig,
    evaluation_report,
    format_table,
    load_config_file,
    target_statistics,
    warmup_cosine_factor,
)

from ._helpers import make_crystals


@pytest.fixture
def predictions() -> pd.DataFrame:
    # groups 1 and 2 are triclinic, 225 cubic.
    return pd.DataFrame({
        "material_id": ["a", "b", "c", "d", "e", "f"],
        "space_group": [1, 1, 2, 225, 225, 225],
        "y_true": [1.0, 2.0, 3.0, 0.0, 0.0, 0.0],
        "y_pred": [1.5, 1.0, 3.0, 3.0, -3.0, 0.0],
    })


def test_per_space_group_table_by_hand(predictions: pd.DataFrame) -> None:
    rep = evaluation_report(predictions, reference_value=1.0)
    # abs errors: 0.5, 1, 0 | 3, 3, 0  -> overall 7.5 / 6
    assert rep.overall["n"] == 6
    assert rep.overall["mae"] == pytest.approx(7.5 / 6)
    assert rep.overall["rmse"] == pytest.approx(math.sqrt((0.25 + 1 + 0 + 9 + 9 + 0) / 6))
    assert rep.overall["n_space_groups"] == 3
    # predicting 1.0 for y = 1, 2, 3, 0, 0, 0: errors 0, 1, 2, 1, 1, 1
    assert rep.overall["mae_predict_mean"] == pytest.approx(1.0)

    sg = rep.per_space_group.set_index("space_group")
    assert list(sg.index) == [1, 2, 225]
    assert sg.loc[1, "n"] == 2 and sg.loc[1, "mae"] == pytest.approx(0.75)
    assert sg.loc[2, "n"] == 1 and sg.loc[2, "mae"] == pytest.approx(0.0)
    assert sg.loc[225, "n"] == 3 and sg.loc[225, "mae"] == pytest.approx(2.0)
    assert sg.loc[225, "rmse"] == pytest.approx(math.sqrt(6.0))
    assert sg.loc[225, "symbol"] == "Fm-3m"
    assert sg.loc[1, "crystal_system"] == "triclinic"
    assert sg.loc[225, "crystal_system"] == "cubic"

    cs = rep.per_crystal_system.set_index("crystal_system")
    assert list(cs.index) == ["triclinic", "cubic"]  # ITA order, absent systems left out
    assert cs.loc["triclinic", "n"] == 3 and cs.loc["triclinic", "n_groups"] == 2
    assert cs.loc["triclinic", "mae"] == pytest.approx(0.5)
    assert cs.loc["cubic", "mae"] == pytest.approx(2.0)
    assert list(rep.predictions["abs_error"]) == pytest.approx([0.5, 1, 0, 3, 3, 0])

    text = format_table(rep.per_space_group)
    assert "Fm-3m" in text and "2.0000" in text


def test_report_files_and_no_overwrite(predictions: pd.DataFrame, tmp_path) -> None:
    rep = evaluation_report(predictions)
    paths = rep.write(tmp_path, prefix="test_")
    assert [p.name for p in paths] == ["test_predictions.csv", "test_per_space_group.csv",
                                       "test_per_crystal_system.csv", "test_metrics.json"]
    data = json.loads((tmp_path / "test_metrics.json").read_text())
    assert data["overall"]["mae"] == pytest.approx(1.25)
    assert {r["space_group"] for r in data["per_space_group"]} == {1, 2, 225}
    assert pd.read_csv(tmp_path / "test_per_space_group.csv")["n"].tolist() == [2, 1, 3]
    before = (tmp_path / "test_metrics.json").read_bytes()
    with pytest.raises(FileExistsError):
        evaluation_report(predictions.iloc[:2]).write(tmp_path, prefix="test_")
    assert (tmp_path / "test_metrics.json").read_bytes() == before
    evaluation_report(predictions.iloc[:2]).write(tmp_path, prefix="test_", overwrite=True)
    assert json.loads((tmp_path / "test_metrics.json").read_text())["overall"]["n"] == 2


def test_report_needs_columns() -> None:
    with pytest.raises(ValueError, match="y_true"):
        evaluation_report(pd.DataFrame({"space_group": [1], "y_pred": [0.0]}))


def test_warmup_cosine_schedule() -> None:
    warm, total = 4, 20
    f = [warmup_cosine_factor(s, warm, total) for s in range(total)]
    assert f[:4] == pytest.approx([0.2, 0.4, 0.6, 0.8])  # linear warm-up
    assert f[4] == pytest.approx(1.0)  # peak
    assert all(a >= b for a, b in itertools.pairwise(f[4:]))  # cosine decreasing
    assert warmup_cosine_factor(total, warm, total) == pytest.approx(0.0)
    assert warmup_cosine_factor(total, warm, total, min_ratio=0.1) == pytest.approx(0.1)
    assert warmup_cosine_factor(12, warm, total) == pytest.approx(0.5)  # half-way down


def test_epoch_seeded_sampler() -> None:
    s = EpochSeededSampler(50, seed=3)
    e0 = list(s)
    assert sorted(e0) == list(range(50)) and len(s) == 50
    assert list(s) == e0  # same epoch, same order
    s.set_epoch(1)
    e1 = list(s)
    assert e1 != e0 and sorted(e1) == list(range(50))
    fresh = EpochSeededSampler(50, seed=3)
    fresh.set_epoch(1)
    assert list(fresh) == e1  # depends on (seed, epoch) only: what resume needs
    assert list(EpochSeededSampler(50, seed=4)) != e0


def test_target_statistics() -> None:
    data = make_crystals(30, seed=1)
    ys = torch.tensor([float(d.y) for d in data], dtype=torch.float64)
    mean, std = target_statistics(data)
    assert mean == pytest.approx(float(ys.mean()))
    assert std == pytest.approx(float(ys.std(unbiased=False)))
    for d in data:
        d.y = torch.tensor([2.0])
    assert target_statistics(data) == (pytest.approx(2.0), 1.0)  # degenerate std -> 1
    data[0].y = torch.tensor([float("nan")])
    with pytest.raises(ValueError, match="NaN"):
        target_statistics(data)


def test_config_validation_and_files(tmp_path) -> None:
    with pytest.raises(ConfigError, match="epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(ConfigError, match="split"):
        TrainConfig(split="nope")
    with pytest.raises(ConfigError, match="holdout_groups"):
        TrainConfig(split="holdout")
    with pytest.raises(ConfigError, match="231"):
        TrainConfig(split="holdout", holdout_groups=[2, 231])
    with pytest.raises(ConfigError, match="unknown config option"):
        TrainConfig.from_dict({"epoch": 3})

    (tmp_path / "a.yaml").write_text("epochs: 7\nmodel-kwargs: {channels: 8}\n")
    assert load_config_file(tmp_path / "a.yaml") == {"epochs": 7, "model_kwargs": {"channels": 8}}
    (tmp_path / "a.json").write_text('{"lr": 0.01}')
    assert TrainConfig.from_dict(load_config_file(tmp_path / "a.json")).lr == 0.01
    (tmp_path / "bad.json").write_text("{lr: ")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_config_file(tmp_path / "bad.json")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config_file(tmp_path / "list.yaml")
    with pytest.raises(ConfigError, match="not found"):
        load_config_file(tmp_path / "missing.yaml")


def test_config_types_are_coerced_and_checked(tmp_path) -> None:
    """YAML 1.1 reads ``1e-3`` as a string: it must still work; fractional epochs must not."""
    (tmp_path / "run.yaml").write_text("lr: 1e-3\nbatch_size: '32'\nweight_decay: 0\n")
    cfg = TrainConfig.from_dict(load_config_file(tmp_path / "run.yaml"))
    assert cfg.lr == 1e-3 and isinstance(cfg.lr, float)
    assert cfg.batch_size == 32 and isinstance(cfg.batch_size, int)
    assert isinstance(cfg.weight_decay, float)
    (tmp_path / "bad.yaml").write_text("epochs: 2.5\n")
    with pytest.raises(ConfigError, match=r"epochs: .*fractional part \(got 2.5\)"):
        TrainConfig.from_dict(load_config_file(tmp_path / "bad.yaml"))
    with pytest.raises(ConfigError, match=r"lr: .*valid number"):
        TrainConfig(lr="fast")
    with pytest.raises(ConfigError, match=r"unknown config option.*known: model"):
        TrainConfig.from_dict({"learning_rate": 1e-3})
