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


# ------------------------------------------------------ fresh pairs, parts, resume, names

GROUPS = [1, 14, 194, 225]


def test_fresh_pairs_every_epoch_and_a_curve_against_pairs_seen(tmp_path):
    result = run_pretraining(tmp_path / "a.pt", KWARGS, groups=GROUPS, pairs_per_group=8,
                             epochs=3, seed=0, threads=1)
    assert [p["pairs_seen"] for p in result.curve] == [32, 64, 96] == [
        32 * (i + 1) for i in range(3)]
    assert result.pairs_seen == 96 and result.complete and result.threads == 1
    assert set(result.heldout_mae_by_system) == {"triclinic", "monoclinic", "hexagonal",
                                                 "cubic"}
    from cft_pyg.nn.pretrain import synthetic_pairs

    first, second = synthetic_pairs(GROUPS, 8, (0, 0)), synthetic_pairs(GROUPS, 8, (0, 1))
    assert not torch.equal(first[0], second[0])  # epoch 1 draws other pairs than epoch 0
    same = run_pretraining(tmp_path / "b.pt", KWARGS, groups=GROUPS, pairs_per_group=8,
                           epochs=3, seed=0, threads=1, fresh_pairs=False)
    assert same.train_mse != result.train_mse


def test_parts_resume_bit_for_bit(tmp_path):
    """A run stopped after each epoch (time_limit) and resumed in new calls ends with the same
    weights, history and held-out error as one uninterrupted run."""
    whole = run_pretraining(tmp_path / "whole.pt", KWARGS, groups=GROUPS, pairs_per_group=8,
                            epochs=3, seed=2, threads=1)
    part = tmp_path / "part.pt"
    first = run_pretraining(part, KWARGS, groups=GROUPS, pairs_per_group=8, epochs=3, seed=2,
                            threads=1, time_limit=0.0)
    assert not first.complete and len(first.train_mse) == 1
    with pytest.raises(ValueError, match="unfinished pretraining"):
        load_pretrained_encoding(CrystalFourierTransformer(**KWARGS), part)
    with pytest.raises(FileExistsError, match="resume"):
        run_pretraining(part, KWARGS, groups=GROUPS, pairs_per_group=8, epochs=3, seed=2)
    with pytest.raises(ValueError, match="other settings"):
        run_pretraining(part, KWARGS, groups=GROUPS, pairs_per_group=8, epochs=4, seed=2,
                        resume=True)
    while not (r := run_pretraining(part, KWARGS, groups=GROUPS, pairs_per_group=8, epochs=3,
                                    seed=2, threads=1, time_limit=0.0, resume=True)).complete:
        pass
    assert r.train_mse == whole.train_mse and r.heldout_mae == whole.heldout_mae
    a, b = torch.load(part, weights_only=True), torch.load(tmp_path / "whole.pt",
                                                           weights_only=True)
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    assert "trainer" not in a  # the optimizer state is dropped once complete


def test_published_encoder_pretrains_and_kinds_are_checked(tmp_path):
    from cft_pyg.nn import PublishedCFT

    small = {"channels": 16, "encoder_hidden": 16, "encoder_initial": 32, "encoder_blocks": 1}
    path = tmp_path / "pub.pt"
    result = run_pretraining(path, {**small, "heads": 2}, model="cft-published", groups=GROUPS,
                             pairs_per_group=4, epochs=1, threads=1)
    assert result.model == "cft-published" and "heads" not in result.model_kwargs
    load_pretrained_encoding(PublishedCFT(**small, heads=2, num_blocks=1), path)
    with pytest.raises(ValueError, match="PublishedPositionalEncoding"):
        load_pretrained_encoding(CrystalFourierTransformer(channels=16, heads=2), path)


def test_names_resolve_to_shipped_encoders(tmp_path, monkeypatch):
    from cft_pyg.training import pretraining
    from cft_pyg.training.config import TrainConfig

    with pytest.raises(FileNotFoundError, match="neither a file nor the name"):
        pretraining.resolve_encoding("no-such-encoder")
    shipped = tmp_path / "encoders"
    shipped.mkdir()
    run_pretraining(shipped / "tiny.pt", KWARGS, groups=GROUPS, pairs_per_group=4, epochs=1,
                    threads=1)
    monkeypatch.setattr(pretraining, "SHIPPED_ENCODINGS_DIR", shipped)
    assert pretraining.shipped_encodings() == ["tiny"]
    assert pretraining.resolve_encoding("tiny") == shipped / "tiny.pt"
    load_pretrained_encoding(CrystalFourierTransformer(**KWARGS), "tiny")
    assert TrainConfig(pretrained_encoding="tiny").pretrained_encoding == "tiny"
    monkeypatch.chdir(tmp_path)
    assert TrainConfig(pretrained_encoding="other").pretrained_encoding == str(
        tmp_path / "other")  # not a name: a path, made absolute
