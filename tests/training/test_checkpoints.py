"""Self-contained checkpoints: featurization and version travel with the weights."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from cft_pyg.cli import main
from cft_pyg.data import featurization_of
from cft_pyg.training import TrainConfig, fit, load_model, load_predictor, predict


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, object]:
    from cft_pyg.data import SyntheticCrystals

    root = tmp_path_factory.mktemp("ckpt")
    data = SyntheticCrystals(root / "data", num_crystals=48, seed=3, num_workers=0, log=False,
                             radius=6.0, max_neighbors=10)
    cfg = TrainConfig(model="cft", model_kwargs={"channels": 16, "heads": 2, "radius": 6.0},
                      epochs=1, batch_size=16, warmup_epochs=0.0, progress_bar=False,
                      accelerator="cpu", devices=1, output_dir=str(root / "run"))
    result = fit(cfg, data[:32], data[32:40], data[40:])
    return result.best_checkpoint, data


def test_checkpoint_records_featurization_and_version(run):
    import cft_pyg

    path, data = run
    module = load_model(path)
    assert module.featurization == featurization_of(data)
    assert module.hparams.featurization["radius"] == 6.0
    assert module.hparams.featurization["max_neighbors"] == 10
    assert module.hparams.library_version == cft_pyg.__version__


def test_moved_checkpoint_predicts_bit_identically(run, tmp_path, capsys):
    from pymatgen.core import Lattice, Structure

    path, _ = run
    cif = tmp_path / "nacl.cif"
    Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.6), ["Na", "Cl"],
                              [[0, 0, 0], [0.5, 0.5, 0.5]]).to(filename=str(cif))
    elsewhere = tmp_path / "moved" / "model.ckpt"  # no run folder, no config.yaml beside it
    elsewhere.parent.mkdir()
    shutil.copy(path, elsewhere)
    outputs = []
    for ckpt in (path, elsewhere):
        out = tmp_path / f"pred_{len(outputs)}.csv"
        assert main(["predict", str(ckpt), str(cif), "-o", str(out)]) == 0
        outputs.append(out.read_text().splitlines()[1].split(",")[1:])
    assert outputs[0] == outputs[1]
    assert "does not record" not in capsys.readouterr().err


def test_predictor_is_the_trained_model_without_lightning(run):
    """load_predictor rebuilds the LightningModule's model, buffers and hyper-parameters as a
    plain module: the same state and the same predictions, and Lightning is never imported."""
    import subprocess
    import sys

    path, data = run
    full, light = load_model(path), load_predictor(path)
    assert not light.training and light.featurization == full.featurization
    state = light.state_dict()
    assert state.keys() <= full.state_dict().keys()
    assert all(torch.equal(v, full.state_dict()[k]) for k, v in state.items())
    crystals = list(data[40:])
    assert predict(light, crystals).equals(predict(full, crystals))
    code = ("import sys; from cft_pyg.training import load_predictor, predict; "
            "from cft_pyg.data import SyntheticCrystals; "
            f"m = load_predictor({str(path)!r}); "
            f"d = SyntheticCrystals({str(data.root)!r}, num_crystals=48, seed=3, "
            "num_workers=0, log=False, radius=6.0, max_neighbors=10); "
            "predict(m, list(d[:4])); "
            "print('LIGHTNING', 'lightning' in sys.modules, 'torchmetrics' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "LIGHTNING False False" in out, out


def test_checkpoints_of_another_version_are_refused(run, tmp_path):
    path, _ = run
    payload = torch.load(path, map_location="cpu", weights_only=False)
    for version, message in ((None, "cft-pyg 0.1"), ("9.9.0", "incompatible")):
        payload["hyper_parameters"]["library_version"] = version
        bad = tmp_path / f"v{version}.ckpt"
        torch.save(payload, bad)
        for loader in (load_model, load_predictor):
            with pytest.raises(ValueError, match=message):
                loader(bad)
    payload["hyper_parameters"]["library_version"] = "0.4.0"  # CHECKPOINT_COMPATIBLE
    older = tmp_path / "v0.4.0.ckpt"
    torch.save(payload, older)
    assert load_predictor(older).hparams.library_version == "0.4.0"
    payload["hyper_parameters"]["model_kwargs"]["attention"] = False  # removed in 0.5
    torch.save(payload, older)
    for loader in (load_model, load_predictor):
        with pytest.raises(ValueError, match="attention"):
            loader(older)


def test_predictor_defaults_are_the_lightning_module_s():
    """A key missing from an older checkpoint takes the same default in both loaders."""
    import inspect

    from cft_pyg.training import CrystalPropertyModule, PropertyModel

    signature = inspect.signature(CrystalPropertyModule.__init__).parameters
    assert {k: signature[k].default for k in PropertyModel.DEFAULTS} == PropertyModel.DEFAULTS


class _Payload:
    """Stands for anything a tampered checkpoint could make ``pickle`` build or call."""


def test_checkpoints_that_would_run_code_are_refused(run, tmp_path):
    path, _ = run
    payload = torch.load(path, map_location="cpu", weights_only=False)
    payload["hyper_parameters"]["extra"] = _Payload()
    bad = tmp_path / "tampered.ckpt"
    torch.save(payload, bad)
    with pytest.raises(ValueError, match="not a readable cft-pyg checkpoint"):
        load_model(bad)
    assert load_model(path) is not None  # the untouched checkpoint still loads


@pytest.fixture(scope="module")
def list_run(tmp_path_factory):
    """A CFT trained from a plain list of ``Data`` featurized with non-default options."""
    import numpy as np

    from cft_pyg.data import Featurization, from_structure
    from cft_pyg.data.generator import generate_crystal

    rng = np.random.default_rng(5)
    f = Featurization(symprec=0.01, radius=6.0, max_neighbors=10)
    data = []
    for number in (1, 4, 14, 62, 76, 78, 152, 154, 194, 221) * 4:
        cell, frac, z = generate_crystal(int(number), rng, max_atoms=24)
        data.append(from_structure((cell, frac, z), f, y=float(rng.normal())))
    root = tmp_path_factory.mktemp("list")
    cfg = TrainConfig(model="cft", model_kwargs={"channels": 16, "heads": 2}, epochs=1,
                      batch_size=16, warmup_epochs=0.0, progress_bar=False, accelerator="cpu",
                      devices=1, output_dir=str(root / "run"))
    result = fit(cfg, data[:28], data[28:34], data[34:])
    return result.best_checkpoint, f


def test_model_trained_from_a_list_of_data_keeps_its_featurization(list_run, tmp_path, capsys):
    from pymatgen.core import Lattice, Structure

    from cft_pyg.cli import _featurization_for
    from cft_pyg.data import FeaturizationMismatchError, from_structure
    from cft_pyg.training import predict

    path, f = list_run
    module = load_model(path)
    assert module.featurization == f
    assert module.hparams.model_kwargs["radius"] == 6.0  # the model follows its data
    assert _featurization_for(module) == f  # what `cft-pyg predict` featurizes with
    nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.6), ["Na", "Cl"],
                                     [[0, 0, 0], [0.5, 0.5, 0.5]])
    cif = tmp_path / "nacl.cif"
    nacl.to(filename=str(cif))
    out = tmp_path / "pred.csv"
    assert main(["predict", str(path), str(cif), "-o", str(out)]) == 0
    assert "does not record" not in capsys.readouterr().err
    expected = predict(module, [from_structure(nacl, f)])["y_pred"].iloc[0]
    assert float(out.read_text().splitlines()[1].split(",")[-1]) == pytest.approx(expected)
    with pytest.raises(FeaturizationMismatchError, match="radius=6"):
        predict(module, [from_structure(nacl)])  # default radius 8: refused


def test_checkpoint_records_its_training_groups(run, tmp_path, capsys):
    path, data = run
    module = load_model(path)
    assert module.training_groups == sorted({int(d.space_group) for d in data[:32]})
    # descent from the command line: every crystal of an unseen group says so in the CSV
    from pymatgen.core import Lattice, Structure

    cif = tmp_path / "nacl.cif"
    Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.6), ["Na", "Cl"],
                              [[0, 0, 0], [0.5, 0.5, 0.5]]).to(filename=str(cif))
    out = tmp_path / "pred.csv"
    assert main(["predict", str(path), str(cif), "-o", str(out), "--descent", "unseen"]) == 0
    header, row = out.read_text().splitlines()[:2]
    assert "descent_index" in header and "descent_types" in header
    from cft_pyg.experimental.descent import descent_subgroups

    assert 225 not in module.training_groups
    expected = descent_subgroups(225, module.training_groups)  # I4/mmm (139), index 3
    assert {s.number for s in expected} == {139}
    values = dict(zip(header.split(","), row.split(",")))
    assert values["descent_index"] == "3" and values["descent_types"] == "139"
