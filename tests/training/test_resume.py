"""Resuming and loading safely: corrupt or incompatible checkpoints are refused in one line
(with a non-zero exit status on the command line), a resumed run must be the same run (model,
data, target, featurization, version), and a copied run folder resumes into itself."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
import torch

from cft_pyg.cli import main
from cft_pyg.training import TrainConfig, fit
from cft_pyg.training.checkpoints import check_resume, read_checkpoint

from ._helpers import make_crystals

TINY = {"model": "test-tiny", "batch_size": 16, "lr": 3e-3, "warmup_epochs": 1.0,
        "progress_bar": False, "accelerator": "cpu", "devices": 1, "patience": None,
        "dataset": "test-crystals"}
CLI = ["--model", "test-tiny", "--dataset", "test-crystals", "--batch-size", "16",
       "--accelerator", "cpu", "--devices", "1", "--no-progress", "--patience", "0",
       "--warmup-epochs", "0.5"]


@pytest.fixture(scope="module")
def crystals() -> tuple[list, list]:
    return make_crystals(64, seed=0), make_crystals(16, seed=1)


@pytest.fixture(scope="module")
def half_run(tmp_path_factory, crystals) -> tuple[TrainConfig, Path]:
    """A run of 4 epochs interrupted after 2 (its folder must not be changed by tests)."""
    train, val = crystals
    out = tmp_path_factory.mktemp("resume") / "run"
    config = TrainConfig(epochs=4, output_dir=str(out), **TINY)
    fit(config.replace(stop_after_epochs=2), train, val)
    return config, out


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err and "weights_only" not in err
    return err


def test_corrupt_checkpoint_is_one_line_and_nonzero(tmp_path, capsys) -> None:
    from pymatgen.core import Lattice, Structure

    cif = tmp_path / "nacl.cif"
    Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.6), ["Na", "Cl"],
                              [[0, 0, 0], [0.5, 0.5, 0.5]]).to(filename=str(cif))
    for name, content in (("garbage.ckpt", b"not a checkpoint at all"),
                          ("truncated.ckpt", b"PK\x03\x04" + bytes(64)),
                          ("empty.ckpt", b"")):
        bad = tmp_path / name
        bad.write_bytes(content)
        rc = main(["train", "--epochs", "2", "--output-dir", str(tmp_path / "run"),
                   "--resume", str(bad), *CLI])
        assert rc == 1
        assert "not a readable cft-pyg checkpoint" in _one_line_error(capsys)
        rc = main(["predict", str(bad), str(cif), "-o", str(tmp_path / "p.csv")])
        assert rc == 1
        assert "not a readable cft-pyg checkpoint" in _one_line_error(capsys)


def test_checkpoint_that_would_build_objects_never_advises_unsafe_loading(tmp_path,
                                                                          capsys) -> None:
    bad = tmp_path / "object.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"x": Path("anything")}}, bad)
    with pytest.raises(ValueError, match="other than tensors") as info:
        read_checkpoint(bad)
    assert "weights_only" not in str(info.value) and "\n" not in str(info.value)


def test_resume_with_fewer_epochs_than_done_is_refused(half_run, crystals, capsys) -> None:
    config, out = half_run
    last = out / "checkpoints" / "last.ckpt"
    with pytest.raises(ValueError, match="already run 2 epochs"):
        check_resume(last, config.replace(epochs=1), None)
    with pytest.raises(ValueError, match="already run 2 epochs"):
        fit(config.replace(epochs=1, resume=str(last)), *crystals)


@pytest.mark.parametrize("change, side", [
    ({"target": "band_gap"}, "target"),
    ({"dataset": "mp20"}, "dataset"),
    ({"target_index": 1}, "target_index"),
    ({"model": "test-constant"}, "model"),
])
def test_resume_of_another_run_is_refused_naming_both_sides(half_run, crystals, change,
                                                           side) -> None:
    config, out = half_run
    last = out / "checkpoints" / "last.ckpt"
    changed = config.replace(**change)
    theirs, ours = getattr(config, side), getattr(changed, side)
    with pytest.raises(ValueError, match="cannot resume") as info:
        check_resume(last, changed, None)
    assert repr(theirs) in str(info.value) and repr(ours) in str(info.value)


def test_resume_on_other_data_is_refused(half_run, crystals) -> None:
    config, out = half_run
    other = make_crystals(64, seed=7)
    with pytest.raises(ValueError, match="training-target mean/std"):
        fit(config.replace(resume=str(out / "checkpoints" / "last.ckpt"),
                           output_dir=str(out.parent / "other")), other, crystals[1])
    assert not (out.parent / "other").exists()


def test_resume_of_another_version_is_refused(half_run, tmp_path, capsys) -> None:
    _, out = half_run
    payload = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu",
                         weights_only=True)
    payload["hyper_parameters"]["library_version"] = "0.2.1"
    bad = tmp_path / "old.ckpt"
    torch.save(payload, bad)
    rc = main(["train", "--epochs", "4", "--output-dir", str(tmp_path / "run"),
               "--resume", str(bad), *CLI])
    assert rc == 1
    err = _one_line_error(capsys)
    assert "0.2.1" in err and "incompatible" in err


@pytest.mark.parametrize("model", ["test-tiny", "test-constant"])
def test_copied_run_folder_resumes_into_itself(crystals, tmp_path, model) -> None:
    """A finished run copied elsewhere and resumed (nothing left to train), and a model that
    never improves after its first epoch: the best checkpoint and score come from before the
    copy, and must be found in the copy."""
    out, copy = tmp_path / "run", tmp_path / "copy"
    config = TrainConfig(epochs=3, output_dir=str(out), **{**TINY, "model": model})
    first = fit(config, *crystals)
    shutil.copytree(out, copy)
    shutil.rmtree(out)  # the original is gone: nothing may point there
    for epochs in (3, 4):
        result = fit(config.replace(output_dir=str(copy), epochs=epochs,
                                    resume=str(copy / "checkpoints" / "last.ckpt")), *crystals)
        assert result.best_checkpoint == copy / "checkpoints" / "best.ckpt"
        assert result.best_checkpoint.is_file()
        assert math.isfinite(result.best_val_mae)
        if epochs == 3 or model == "test-constant":
            assert result.best_val_mae == pytest.approx(first.best_val_mae)
    saved = torch.load(copy / "checkpoints" / "last.ckpt", map_location="cpu",
                       weights_only=True)
    state = next(v for k, v in saved["callbacks"].items() if k.startswith("ModelCheckpoint"))
    assert Path(state["best_model_path"]).parent == (copy / "checkpoints").resolve()
    assert str(out) + "/" not in str(state)
