"""The shipped model for unrelaxed prototype candidates (``nrel-unrelaxed-energy``): its recipe
is the CFT of the unrelaxed study on the generalized recipe machinery, it loads and predicts
NREL POSCARs from Python and from the command line, and its card states its screen metrics,
its training compositions (computed from the raw files, checked by count and digest), its
domain and where it fails."""

from __future__ import annotations

import gzip
import importlib.util
import json
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from cft_pyg import pretrained
from cft_pyg.cli import main
from cft_pyg.pretrained.recipes import DATASET_TARGETS, PROJECT_PARTS, load_split
from cft_pyg.pretrained.screens import formula_type
from cft_pyg.pretrained.validity import ids_digest, source_of, trained_on
from cft_pyg.training import predict

NAME = "nrel-unrelaxed-energy"
REPO = Path(__file__).resolve().parents[2]


def _study_models() -> dict:
    sys.path.insert(0, str(REPO))
    spec = importlib.util.spec_from_file_location("unrelaxed_run_for_recipe",
                                                  REPO / "studies" / "unrelaxed" / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module.MODELS


def test_recipe_is_the_cft_of_the_unrelaxed_study() -> None:
    from studies.kit.catalog import model_entry

    rec = pretrained.recipe(NAME)
    study = _study_models()["cft"]
    # the study's CFT: the kit's 'cft' sizes with the default (symmetry-adapted) encoding;
    # the recipe names that default, and reuses the sizes of the trunk preset
    assert rec.model == study.model == model_entry("cft").model == "cft"
    assert rec.model_kwargs == {**study.kwargs, "encoding": "symmetry"}
    assert rec.model_kwargs == {**model_entry("cft").kwargs, "encoding": "symmetry"}
    mp20 = pretrained.recipe("mp20-formation-energy")
    assert rec.model_kwargs == {**mp20.model_kwargs, "encoding": "symmetry"}
    assert (rec.epochs, rec.lr, rec.warmup_epochs) == (mp20.epochs, mp20.lr, mp20.warmup_epochs)
    assert rec.dataset == "nrel-hypothetical" and rec.dataset_options == {"input": "unrelaxed"}
    assert rec.splits == PROJECT_PARTS and rec.target in DATASET_TARGETS[rec.dataset]
    card = pretrained.model_card(NAME)
    assert card["recipe"] == rec.to_dict()
    summary = json.loads((REPO / "studies/unrelaxed/results/summary.json").read_text())
    row = next(r for r in summary["rows"] if (r["input"], r["model"]) == ("unrelaxed", "cft"))
    assert card["parameters"] == row["parameters"]  # the same network


def test_recipe_machinery_is_general() -> None:
    with pytest.raises(ValueError, match="splits must name"):
        replace(pretrained.recipe(NAME), splits={"train": "a", "test": "b"})
    with pytest.raises(ValueError, match="split must be one of"):
        load_split(pretrained.recipe(NAME), "unused", "project-test")
    with pytest.raises(KeyError, match="no pretrained source"):
        source_of(replace(pretrained.recipe(NAME), dataset="perov5"))
    nrel, mp20 = trained_on(NAME), trained_on("mp20-band-gap")
    assert nrel["dataset"] == "nrel_hypothetical" and nrel["part"] == "project-train"
    assert "test" not in nrel["overlapping_parts"] and "project-all" in nrel["overlapping_parts"]
    assert mp20["dataset"] == "mp_20" and "test" in mp20["overlapping_parts"]
    with pytest.raises(ValueError, match="not trained on a composition split"):
        pretrained.training_compositions("mp20-band-gap", "unused")
    assert [formula_type(c) for c in ("K1Zn1Bi1", "Na1Al1Sb4", "Cd1As2", "Sr1As4", "Ba1Sb1")
            ] == ["ABX", "ABX4", "AX2", "AX4", "AX"]


def test_card_states_screen_metrics_domain_and_failures() -> None:
    assert NAME in pretrained.available()
    card = pretrained.model_card(NAME)
    data, test, validity = card["data"], card["test"], card["validity"]
    assert data["n_train"] + data["n_train_skipped"] == data["n_train_ids"]
    assert data["n_train_compositions"] == 121 and len(data["train_compositions_sha256"]) == 64
    screen = test["screen"]
    assert screen["n_candidates"] == test["n"] == data["n_test"]
    assert screen["n_compositions"] == 15 and screen["mae"] == pytest.approx(test["mae"])
    low, high = screen["relative_mae_95ci"]
    assert low < screen["relative_mae"] < high
    assert screen["relative_mae"] < screen["one_value_per_composition"]["relative_mae"]
    assert 0 < screen["spearman"] <= 1 and 0 <= screen["hit_rate"] <= 1
    # worst compositions: sorted, the first above the average
    worst = [w["relative_mae"] for w in validity["worst_compositions"]]
    assert worst == sorted(worst, reverse=True) and worst[0] > screen["relative_mae"]
    # the symmetry-change split covers every test candidate and reproduces the plain MAE
    rows = validity["by_symmetry_change"]
    assert {r["space_group_on_relaxation"] for r in rows} == {"kept", "changes"}
    assert sum(r["n"] for r in rows) == test["n"] == validity["symmetry_change"]["n"]
    assert sum(r["n"] * r["mae"] for r in rows) / test["n"] == pytest.approx(test["mae"],
                                                                              abs=1e-6)
    domain = validity["training_domain"]
    assert domain["n_crystals"] == data["n_train"] and domain["max_atoms"] >= 1
    assert {15, 33, 51, 83} <= set(domain["elements"])  # P, As, Sb, Bi
    assert validity["chemistry"]["anions"] == ["P", "As", "Sb", "Bi"]
    text = " ".join(validity["failure_cases"])
    assert "pnictides only" in text and "Wyckoff model" in text and "tie" in text
    assert "space group changes on relaxation" in text and "relaxed structures" in text
    assert validity["study"]["rows"]["wyckoff"]["relative_mae"] > 0
    machine = card["machine"]
    assert machine["build_cpu_seconds"] > 0 and "loadavg_at_start" in machine
    assert (pretrained.MODELS_DIR / f"{NAME}.pt").stat().st_size < 5_000_000


def test_cli_prints_the_card_readably(capsys) -> None:
    assert main(["pretrained"]) == 0
    listing = capsys.readouterr().out
    assert NAME in listing and "energy above the ground state" in listing
    assert main(["pretrained", NAME]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"{NAME}: ")
    for part in ("screen", "Spearman within a composition", "worst test compositions",
                 "by space group on relaxation", "where it fails", "pnictides only"):
        assert part in text, part
    assert len(text.splitlines()) < 80


def test_predict_warns_outside_the_training_chemistry() -> None:
    from pymatgen.core import Lattice, Structure

    model = pretrained.load(NAME)
    salt = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"],
                                     [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.warns(UserWarning, match=r"outside the model's measured domain.*Cl"):
        predict(model, [salt])


# ---------------------------------------------------------------------------- with the data
def _test_poscars(root: Path, folder: Path, count: int = 3) -> tuple[list[Path], list[float]]:
    """POSCAR files of the first candidates of the first test composition, and their DFT
    energies (eV/atom)."""
    from cft_pyg.data.nrel import nrel_table

    table = nrel_table(root / "energies.csv.gz", "project-test")
    rows = table[table["composition"] == table["composition"].iloc[0]].head(count)
    with gzip.open(root / "unrelaxed.json.gz", "rt") as f:
        texts = json.load(f)
    files = []
    for entry_id in rows["id"]:
        path = folder / f"POSCAR_{entry_id}"
        path.write_text(texts[entry_id])
        files.append(path)
    return files, rows["energy_per_atom"].tolist()


def test_loads_and_predicts_nrel_poscars_from_python_and_the_cli(shared_data_dir: Path,
                                                                  tmp_path: Path) -> None:
    files, energies = _test_poscars(shared_data_dir / "nrel_hypothetical", tmp_path)
    model = pretrained.load(NAME)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # in its domain: no warning
        from_python = predict(model, [str(f) for f in files])["y_pred"].tolist()
    csv = tmp_path / "pred.csv"
    assert main(["predict", "--pretrained", NAME, *map(str, files), "-o", str(csv)]) == 0
    from_cli = pd.read_csv(csv)["prediction"].tolist()
    assert from_cli == pytest.approx(from_python, abs=1e-5)
    # DFT total energies of these pnictides: about -4.6 to -1.4 eV/atom; the card's test MAE
    # is ~0.07, so a few candidates stay well within 0.5 of their DFT value
    assert all(abs(p - e) < 0.5 for p, e in zip(from_python, energies, strict=True))


def test_training_ids_and_compositions_are_computed_and_checked(shared_data_dir: Path,
                                                                tmp_path: Path) -> None:
    from cft_pyg.data import NRELHypothetical
    from cft_pyg.data.nrel import nrel_table

    root = shared_data_dir / "nrel_hypothetical"
    card = pretrained.model_card(NAME)
    ids = pretrained.training_ids(NAME, root)
    compositions = pretrained.training_compositions(NAME, root)
    assert len(ids) == card["data"]["n_train_ids"]
    assert ids_digest(ids) == card["data"]["train_ids_sha256"]
    assert len(compositions) == 121
    assert ids_digest(compositions) == card["data"]["train_compositions_sha256"]
    test = nrel_table(root / "energies.csv.gz", "project-test")
    assert not set(test["composition"]) & set(compositions)
    assert not set(test["id"]) & set(ids)
    other = {**card, "data": {**card["data"], "train_compositions_sha256": "0" * 64}}
    with pytest.raises(ValueError, match="not the dataset it was trained on"):
        pretrained.training_compositions(NAME, root, card=other)
    with pytest.raises(FileNotFoundError, match=r"energies\.csv"):
        pretrained.training_ids(NAME, shared_data_dir)
    # predict warns on the part holding the training candidates, not on the test part
    model = pretrained.load(NAME)
    kw = {"processed_root": tmp_path, "max_rows": 2, "num_workers": 0, "log": False}
    with pytest.warns(UserWarning, match="contains the training crystals.*project-test"):
        predict(model, NRELHypothetical(root, split="project-train", **kw))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        predict(model, NRELHypothetical(root, split="project-test", **kw))


@pytest.mark.slow  # ~60 s: featurizes the 831 test candidates from the raw files
def test_test_metrics_match_the_card(shared_data_dir: Path) -> None:
    """The shipped weights reproduce the card's plain MAE and screen metrics on the test
    compositions, featurized from the raw files."""
    from cft_pyg.training.screening import screen_report

    rec = pretrained.recipe(NAME)
    card = pretrained.model_card(NAME)
    model = pretrained.load(NAME)
    test = load_split(rec, shared_data_dir / "nrel_hypothetical", "test",
                      featurization=model.featurization)
    frame = predict(model, test, batch_size=128)
    table = test.table()
    frame["composition"] = frame["material_id"].map(dict(zip(table["id"], table["composition"],
                                                             strict=True)))
    report = screen_report(frame)
    screen = card["test"]["screen"]
    assert len(frame) == card["test"]["n"] == screen["n_candidates"]
    assert report.mae == pytest.approx(card["test"]["mae"], abs=2e-5)
    assert report.relative_mae == pytest.approx(screen["relative_mae"], abs=2e-5)
    assert report.spearman == pytest.approx(screen["spearman"], abs=1e-3)
    assert report.hit_rate == pytest.approx(screen["hit_rate"])
    assert report.n_compositions == screen["n_compositions"] == 15


@pytest.mark.slow  # ~25 s: processes 3 x 48 candidates and trains one step
@pytest.mark.filterwarnings("ignore:.*measured domain:UserWarning")
def test_builder_writes_weights_and_card(shared_data_dir: Path, tmp_path: Path) -> None:
    from studies.pretrained.build import build

    card = build(NAME, shared_data_dir / "nrel_hypothetical", tmp_path / "out", epochs=1,
                 max_rows=48)
    assert (tmp_path / "out" / f"{NAME}.pt").is_file()
    assert json.loads((tmp_path / "out" / f"{NAME}.json").read_text()) == card
    assert card["recipe_overrides"] == {"epochs": 1, "max_rows": 48}
    assert card["test"]["screen"]["n_candidates"] == card["data"]["n_test"] == 48
    shipped = pretrained.model_card(NAME)["data"]
    for key in ("n_train_ids", "train_ids_sha256", "train_compositions_sha256"):
        assert card["data"][key] == shipped[key]  # from the raw files, not the sample
    assert card["validity"]["failure_cases"] and card["validity"]["training_domain"]
    model = pretrained.load(NAME, models_dir=tmp_path / "out")
    assert model.hparams.model_kwargs["encoding"] == "symmetry"
