"""The shipped models' training crystals (computed from the raw files, checked against the
cards), the warning on dataset parts that hold them, and the measured domain on the cards."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest

from cft_pyg import pretrained
from cft_pyg.data import MP20, project_split
from cft_pyg.pretrained.validity import ids_digest, trained_on
from cft_pyg.training import predict

NAMES = ["mp20-formation-energy", "mp20-band-gap"]


def test_training_ids_are_computed_and_checked(shared_data_dir: Path) -> None:
    root = shared_data_dir / "mp_20"
    card = pretrained.model_card(NAMES[0])
    train = pretrained.training_ids(NAMES[0], root)
    assert len(train) == card["data"]["n_train"] == 14475
    assert ids_digest(train) == card["data"]["train_ids_sha256"]
    assert ids_digest(list(reversed(train))) == ids_digest(train)
    ids = pd.concat([pd.read_csv(root / f"{s}.csv.gz", usecols=["material_id"])
                     for s in ("val", "test")])["material_id"].tolist()
    assert not set(train) & set(project_split(ids)["project-test"])
    # the trap the warning is for: CDVAE's own test file is mostly training crystals
    head = pd.read_csv(root / "test.csv.gz", nrows=20)["material_id"]
    assert head.isin(set(train)).sum() == 18
    other = {**card, "data": {**card["data"], "train_ids_sha256": "0" * 64}}
    with pytest.raises(ValueError, match="not the dataset it was trained on"):
        pretrained.training_ids(NAMES[0], root, card=other)
    with pytest.raises(FileNotFoundError, match=r"val\.csv"):
        pretrained.training_ids(NAMES[0], shared_data_dir)


def test_predict_warns_on_parts_holding_training_crystals(shared_data_dir: Path,
                                                          tmp_path: Path) -> None:
    model = pretrained.load(NAMES[0])
    assert model.trained_on == trained_on(NAMES[0])
    kw = {"processed_root": tmp_path, "max_rows": 3, "num_workers": 0, "log": False,
          "target": ["formation_energy_per_atom", "band_gap"]}
    for split in ("test", "val", "project-train"):
        part = MP20(shared_data_dir / "mp_20", split=split, **kw)
        with pytest.warns(UserWarning, match="contains the training crystals"):
            predict(model, part)
    held_out = MP20(shared_data_dir / "mp_20", split="project-test", **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        predict(model, held_out)


@pytest.mark.parametrize("name", NAMES)
def test_cards_state_their_domain_and_failures(name: str) -> None:
    card = pretrained.model_card(name)
    validity = card["validity"]
    assert "CONTAIN the training crystals" in card["data"]["split"]
    assert sum(r["n"] for r in validity["by_elements"]) == card["test"]["n"]
    assert sum(r["n"] for r in validity["by_crystal_system"]) == card["test"]["n"]
    mae = sum(r["n"] * r["mae"] for r in validity["by_atoms"]) / card["test"]["n"]
    assert mae == pytest.approx(card["test"]["mae"], abs=2e-5)
    assert validity["elemental"]["n"] > 0 and len(validity["failure_cases"]) >= 2
    carbon = validity["carbon_polymorphs"]
    if pretrained.recipe(name).target == "formation_energy_per_atom":
        assert carbon["n"] == 406 and -1 <= carbon["pearson_r"] <= 1
    else:
        assert carbon is None
