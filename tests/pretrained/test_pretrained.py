"""Shipped pretrained models: they load offline in a fresh process, predict from the command
line as from Python, and reproduce the test MAE of their model cards on the MP-20
project-test split."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from cft_pyg import pretrained
from cft_pyg.cli import main
from cft_pyg.pretrained.recipes import load_split, target_index
from studies.pretrained.build import bootstrap_mae

NAMES = ["mp20-formation-energy", "mp20-band-gap"]


@pytest.mark.parametrize("name", NAMES)
def test_shipped_files_and_card(name: str) -> None:
    assert name in pretrained.available()
    card = pretrained.model_card(name)
    assert card["name"] == name and card["recipe"] == pretrained.recipe(name).to_dict()
    assert card["data"]["n_train"] == 14475 and card["data"]["n_test"] == 1809
    low, high = card["test"]["mae_95ci"]
    assert low < card["test"]["mae"] < high
    assert card["test"]["mae"] < card["test"]["mae_predict_train_mean"] / 3
    weights = pretrained.MODELS_DIR / f"{name}.pt"
    assert weights.stat().st_size < 5_000_000  # small enough for the wheel


def test_unknown_and_missing_models(tmp_path: Path, capsys) -> None:
    with pytest.raises(KeyError, match="known: mp20-formation-energy"):
        pretrained.load("mp20-everything")
    with pytest.raises(FileNotFoundError, match=r"studies\.pretrained\.build"):
        pretrained.load("mp20-band-gap", models_dir=tmp_path)
    (tmp_path / "mp20-band-gap.pt").write_bytes(b"not a model")
    (tmp_path / "mp20-band-gap.json").write_text("{}")
    with pytest.raises(ValueError, match="not a readable cft-pyg pretrained model"):
        pretrained.load("mp20-band-gap", models_dir=tmp_path)
    cif = tmp_path / "x.cif"
    cif.write_text("data_x\n")
    assert main(["predict", "--pretrained", "nope", str(cif), "-o", str(tmp_path / "o.csv")]
                ) == 1
    assert "no pretrained model named 'nope'" in capsys.readouterr().err


OFFLINE = """
import socket, sys
def _refuse(*args, **kwargs):
    raise RuntimeError("network access attempted")
socket.socket.connect = _refuse
socket.create_connection = _refuse
from cft_pyg import pretrained
from cft_pyg.data import from_cif
from cft_pyg.training import predict
model = pretrained.load(sys.argv[1])
data = [from_cif(p, model.featurization) for p in sys.argv[2:]]
print(predict(model, data)["y_pred"].round(6).tolist())
"""


@pytest.mark.slow
def test_loads_offline_in_a_fresh_process_and_cli_agrees(shared_data_dir: Path,
                                                          tmp_path: Path) -> None:
    cifs = sorted((shared_data_dir / "cgcnn_sample" / "sample-regression").glob("*.cif"))[:3]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    out = subprocess.run([sys.executable, "-c", OFFLINE, "mp20-formation-energy",
                          *map(str, cifs)], capture_output=True, text=True, env=env,
                         timeout=300, check=True)
    from_python = json.loads(out.stdout.strip().splitlines()[-1])
    csv = tmp_path / "pred.csv"
    assert main(["predict", "--pretrained", "mp20-formation-energy", *map(str, cifs),
                 "-o", str(csv)]) == 0
    from_cli = pd.read_csv(csv)["prediction"].round(6).tolist()
    assert from_cli == pytest.approx(from_python, abs=1e-6)
    assert all(-5 < v < 3 for v in from_cli)  # formation energies in eV/atom


def test_cli_lists_the_models(capsys) -> None:
    assert main(["pretrained"]) == 0
    text = capsys.readouterr().out
    assert all(name in text for name in NAMES)
    assert main(["pretrained", "mp20-band-gap", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "mp20-band-gap"


@pytest.mark.slow
def test_test_mae_matches_the_model_cards(shared_data_dir: Path) -> None:
    """Featurize the MP-20 project-test split from the raw CSV, predict with the shipped
    weights, and compare with the cards (the same numbers up to float round-off)."""
    from cft_pyg.training import predict

    rec = pretrained.recipe(NAMES[0])
    test = load_split(rec, shared_data_dir / "mp_20", "test")
    for name in NAMES:
        card = pretrained.model_card(name)
        model = pretrained.load(name)
        assert model.hparams.target_index == target_index(pretrained.recipe(name))
        df = predict(model, test, batch_size=128)
        errors = (df["y_pred"] - df["y_true"]).to_numpy()
        assert len(df) == card["test"]["n"]
        assert abs(errors).mean() == pytest.approx(card["test"]["mae"], abs=2e-5)
        assert bootstrap_mae(errors) == pytest.approx(tuple(card["test"]["mae_95ci"]),
                                                      abs=2e-5)
        # the card's measured domain comes from the same predictions
        elemental = errors[[len(set(d.z.tolist())) == 1 for d in test]]
        assert len(elemental) == card["validity"]["elemental"]["n"]
        assert elemental.mean() == pytest.approx(
            card["validity"]["elemental"]["mean_signed_error"], abs=2e-5)
