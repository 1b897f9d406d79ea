"""Orbit-distance pretraining as a pipeline step: run, save, reload, train from it, CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cft_pyg.cli import main
from cft_pyg.nn import CrystalFourierTransformer
from cft_pyg.training.pretraining import (
    load_pretrained_encoding,
    orbit_distance_errors,
    run_pretraining,
)

KWARGS = {"channels": 16, "heads": 2}


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> tuple[Path, object]:
    path = tmp_path_factory.mktemp("pre") / "pe.pt"
    result = run_pretraining(path, KWARGS, groups=[1, 2, 14, 62, 166, 194, 225],
                             pairs_per_group=16, epochs=4, seed=0)
    return path, result


def test_pretraining_learns_and_reports(pretrained):
    path, result = pretrained
    assert path.is_file() and result.path == str(path.resolve())
    assert result.train_mse[-1] < result.train_mse[0]
    assert result.heldout_pairs == 7 * 32 and result.heldout_mae > 0
    torch.manual_seed(1)
    fresh = CrystalFourierTransformer(**KWARGS)
    untrained, _, _ = orbit_distance_errors(fresh, [1, 2, 14, 62, 166, 194, 225],
                                            seed=10_000)
    assert result.heldout_mae < untrained  # better than an untrained encoding on new pairs


def test_saved_encoding_reloads_exactly(pretrained):
    path, result = pretrained
    torch.manual_seed(5)
    model = CrystalFourierTransformer(**KWARGS)
    stored = load_pretrained_encoding(model, path)
    assert stored["heldout_mae"] == result.heldout_mae
    payload = torch.load(path, weights_only=True)
    for name, value in model.positional.state_dict().items():
        assert torch.equal(value, payload["state_dict"][name]), name
    mae, _, _ = orbit_distance_errors(model, [1, 2, 14, 62, 166, 194, 225], seed=10_000)
    assert mae == pytest.approx(result.heldout_mae, rel=1e-6)


def test_mismatched_model_and_bad_files(pretrained, tmp_path):
    path, _ = pretrained
    with pytest.raises(ValueError, match="does not fit this model"):
        load_pretrained_encoding(CrystalFourierTransformer(channels=32, heads=2), path)
    with pytest.raises(ValueError, match="no positional encoding"):
        from cft_pyg.nn import CGCNN

        load_pretrained_encoding(CGCNN(), path)
    bogus = tmp_path / "bogus.pt"
    torch.save({"hello": 1}, bogus)
    with pytest.raises(ValueError, match="not a cft-pyg pretrained encoding"):
        load_pretrained_encoding(CrystalFourierTransformer(**KWARGS), bogus)
    with pytest.raises(FileNotFoundError):
        load_pretrained_encoding(CrystalFourierTransformer(**KWARGS), tmp_path / "missing.pt")
    with pytest.raises(FileExistsError):
        run_pretraining(path, KWARGS, groups=[1], pairs_per_group=2, epochs=1)


def test_cli_pretrain_then_train_from_it(tmp_path, capsys):
    pe = tmp_path / "pe.pt"
    rc = main(["pretrain", str(pe), "--model-kwargs", '{"channels": 16, "heads": 2}',
               "--pairs-per-group", "2", "--epochs", "1"])
    out = capsys.readouterr().out
    assert rc == 0 and pe.is_file()
    assert "held-out pairs" in out and "0.102" in out
    run = tmp_path / "run"
    rc = main(["train", "--model", "cft", "--model-kwargs", '{"channels": 16, "heads": 2}',
               "--pretrained-encoding", str(pe), "--dataset", "synthetic",
               "--data-root", str(tmp_path / "synthetic"), "--dataset-kwargs",
               '{"num_crystals": 40, "num_workers": 0}', "--epochs", "1", "--batch-size", "16",
               "--accelerator", "cpu", "--devices", "1", "--no-progress",
               "--output-dir", str(run)])
    assert rc == 0 and (run / "checkpoints" / "last.ckpt").is_file()
    rc = main(["train", "--model", "cft", "--model-kwargs", '{"channels": 32, "heads": 2}',
               "--pretrained-encoding", str(pe), "--dataset", "synthetic",
               "--data-root", str(tmp_path / "synthetic"), "--dataset-kwargs",
               '{"num_crystals": 40, "num_workers": 0}', "--epochs", "1", "--accelerator", "cpu",
               "--no-progress", "--output-dir", str(tmp_path / "run2")])
    assert rc == 1 and "does not fit this model" in capsys.readouterr().err
