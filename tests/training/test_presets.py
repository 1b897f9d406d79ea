"""One preset mechanism (train, demo, experiments) and command-line flags generated from the
settings definitions."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from cft_pyg.cli import _layered, build_parser, config_options
from cft_pyg.demo import DemoSettings
from cft_pyg.training import TrainConfig
from cft_pyg.training.presets import Presets, UnknownPresetError
from studies.ablation import AblationSettings
from studies.compare import CompareSettings


@pytest.mark.parametrize("cls", [TrainConfig, DemoSettings, CompareSettings, AblationSettings])
def test_every_settings_class_uses_the_one_mechanism(cls) -> None:
    assert issubclass(cls, Presets)
    assert cls.preset_names()[0] == "default"
    with pytest.raises(UnknownPresetError, match="known: default"):
        cls.preset_values("no-such-preset")


def test_presets_layer_under_changes() -> None:
    quick = TrainConfig.from_preset("quick")
    assert quick.epochs == 3 and quick.model_kwargs["channels"] == 16
    assert TrainConfig.from_preset("quick", epochs=5).epochs == 5
    assert TrainConfig.from_preset() == TrainConfig()
    # presets are copies: changing one built object does not change the preset
    quick.model_kwargs["channels"] = 99
    assert TrainConfig.from_preset("quick").model_kwargs["channels"] == 16
    demo = DemoSettings.from_preset("quick")
    assert demo.num_crystals == 120 and DemoSettings().num_crystals == 2000
    compare = CompareSettings.from_preset("quick", n_train=10)
    assert compare.label == "quick" and compare.n_train == 10 and compare.epochs == 2
    ablation = AblationSettings.from_preset("full", carbon_root="c", mp20_root="m")
    assert ablation.label == "full" and ablation.seeds == (0, 1, 2)


@pytest.mark.parametrize(("command", "cls"), [("train", TrainConfig), ("demo", DemoSettings)])
def test_flags_are_generated_from_every_field(command: str, cls) -> None:
    sub = build_parser()._subparsers._group_actions[0].choices[command]
    flags = {s for a in sub._actions for s in a.option_strings}
    for name, *names in config_options(cls):
        assert set(names) <= flags, name
        field = next(f for f in dataclasses.fields(cls) if f.name == name)
        if str(field.type) == "bool":
            assert "--no-" + names[0][2:] in flags


def test_layering_preset_then_file_then_flags(tmp_path: Path) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text("epochs: 7\nlr: 1e-3\nbatch_size: 8\n")
    args = build_parser().parse_args(["train", "--preset", "quick", "--config", str(cfg),
                                      "--batch-size", "4"])
    values = _layered(TrainConfig, args)
    config = TrainConfig.from_dict(values)
    assert config.epochs == 7            # file over preset
    assert config.batch_size == 4        # flag over file
    assert config.lr == pytest.approx(1e-3)
    assert config.model_kwargs["channels"] == 16   # from the preset
