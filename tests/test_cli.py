"""The ``cft-pyg`` command: every subcommand, bad arguments, unreadable inputs, no overwrite.

Most tests call :func:`cft_pyg.cli.main` in-process with a tiny registered model and dataset
(``tests/training/_helpers.py``); two run the installed entry point in a subprocess.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from cft_pyg.cli import main

from .training import _helpers  # noqa: F401  (registers 'test-tiny' and 'test-crystals')

TRAIN = ["--model", "test-tiny", "--dataset", "test-crystals", "--batch-size", "16",
         "--accelerator", "cpu", "--devices", "1", "--no-progress"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A finished tiny training run (config file + flag overrides)."""
    root = tmp_path_factory.mktemp("cli")
    cfg = root / "run.yaml"
    cfg.write_text("epochs: 5\nlr: 0.003\nwarmup_epochs: 0.5\npatience: 0\n"
                   "dataset_kwargs: {num: 120}\n")
    out = root / "run"
    rc = main(["train", "--config", str(cfg), "--epochs", "2", "--output-dir", str(out), *TRAIN])
    assert rc == 0
    return out


def _cif_folder(root: Path) -> Path:
    from pymatgen.core import Lattice, Structure

    folder = root / "cifs"
    folder.mkdir()
    nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"],
                                     [[0, 0, 0], [0.5, 0.5, 0.5]])
    si = Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.43), ["Si"], [[0, 0, 0]])
    nacl.to(filename=str(folder / "nacl.cif"))
    si.to(filename=str(folder / "si.cif"))
    (folder / "notes.txt").write_text("not a CIF, ignored in folders\n")
    return folder


# ------------------------------------------------------------------------------- train
def test_train_writes_run_and_flags_override_config(run_dir: Path, capsys) -> None:
    used = (run_dir / "config.yaml").read_text()
    assert "epochs: 2" in used and "lr: 0.003" in used  # flag beats file; file beats default
    metrics = pd.read_csv(run_dir / "metrics.csv")
    assert metrics["epoch"].tolist() == [0, 1]
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    assert (run_dir / "test_per_space_group.csv").is_file()


def test_train_refuses_existing_run_without_overwrite(run_dir: Path, capsys) -> None:
    ckpt = run_dir / "checkpoints" / "best.ckpt"
    before = ckpt.read_bytes()
    rc = main(["train", "--epochs", "1", "--output-dir", str(run_dir), *TRAIN])
    err = capsys.readouterr().err
    assert rc == 1
    assert "already holds a run" in err and "--overwrite" in err
    assert ckpt.read_bytes() == before


def test_train_resume_continues(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "resumed"
    shutil.copytree(run_dir, out)
    rc = main(["train", "--epochs", "3", "--lr", "0.003", "--warmup-epochs", "0.5",
               "--dataset-kwargs", '{"num": 120}', "--output-dir", str(out),
               "--resume", str(out / "checkpoints" / "last.ckpt"), *TRAIN])
    assert rc == 0
    assert pd.read_csv(out / "metrics.csv")["epoch"].tolist() == [0, 1, 2]


def test_train_holdout_split_is_zero_shot(tmp_path: Path, capsys) -> None:
    from cft_pyg.data.splits import centrosymmetric_groups

    out = tmp_path / "holdout"
    assert main(["train", "--epochs", "1", "--split", "holdout-centrosymmetric",
                 "--output-dir", str(out), *TRAIN]) == 0
    assert "zero-shot MAE" in capsys.readouterr().out
    centro = set(centrosymmetric_groups())
    held = set(pd.read_csv(out / "zeroshot_per_space_group.csv")["space_group"])
    assert held and held <= centro
    for part in ("val", "test"):
        assert not set(pd.read_csv(out / f"{part}_predictions.csv")["space_group"]) & centro


@pytest.mark.parametrize(("argv", "message"), [
    ([], "COMMAND"),
    (["fly"], "invalid choice"),
    (["train", "--epochs", "0"], "epochs must be >= 1"),
    (["train", "--epochs", "2.5"], "Input should be a valid integer"),
    (["train", "--task", "guess"], "invalid choice"),
    (["train", "--task", "classification", "--loss", "mse"], "loss of a classification"),
    (["train", "--model-kwargs", "{channels: 3"], "not valid JSON"),
    (["train", "--model-kwargs", "[1, 2]"], "JSON object"),
    (["train", "--split", "sideways"], "invalid choice"),
    (["train", "--lr", "-1"], "lr must be > 0"),
    (["train", "--model", "no-such-model"], "unknown model 'no-such-model'"),
    (["train", "--dataset", "no-such-data"], "unknown dataset 'no-such-data'"),
    (["train", "--split", "holdout"], "holdout_groups"),
    (["predict"], "required"),
    (["predict", "x.ckpt"], "at least one structure file"),
])
def test_bad_arguments(argv: list[str], message: str, tmp_path: Path, capsys) -> None:
    if argv[:1] == ["train"]:
        argv = [*argv, "--output-dir", str(tmp_path / "out")]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_bad_config_files(tmp_path: Path, capsys) -> None:
    out = ["--output-dir", str(tmp_path / "out")]
    assert main(["train", "--config", str(tmp_path / "missing.yaml"), *out]) == 2
    assert "config file not found" in capsys.readouterr().err
    (tmp_path / "typo.yaml").write_text("epoch: 3\n")
    assert main(["train", "--config", str(tmp_path / "typo.yaml"), *out]) == 2
    assert "unknown config option(s): epoch" in capsys.readouterr().err
    (tmp_path / "broken.json").write_text('{"epochs": ')
    assert main(["train", "--config", str(tmp_path / "broken.json"), *out]) == 2
    assert "cannot parse config file" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------- evaluate
def test_evaluate_tables_and_no_overwrite(run_dir: Path, tmp_path: Path, capsys) -> None:
    ckpt = run_dir / "checkpoints" / "best.ckpt"
    out = tmp_path / "eval"
    assert main(["evaluate", str(ckpt), "--output-dir", str(out)]) == 0
    text = capsys.readouterr().out
    assert "MAE" in text and "crystal_system" in text
    metrics = json.loads((out / "metrics.json").read_text())
    test_metrics = json.loads((run_dir / "test_metrics.json").read_text())
    # same crystals as the run's own test evaluation (split rebuilt from its config.yaml)
    assert metrics["overall"]["n"] == test_metrics["overall"]["n"]
    assert metrics["overall"]["mae"] == pytest.approx(test_metrics["overall"]["mae"])
    per_sg = pd.read_csv(out / "per_space_group.csv")
    assert per_sg["n"].sum() == metrics["overall"]["n"]

    before = (out / "metrics.json").read_bytes()
    assert main(["evaluate", str(ckpt), "--output-dir", str(out), "--part", "val"]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "metrics.json").read_bytes() == before
    assert main(["evaluate", str(ckpt), "--output-dir", str(out), "--part", "val",
                 "--overwrite"]) == 0
    assert (out / "metrics.json").read_bytes() != before

    assert main(["evaluate", str(ckpt), "--output-dir", str(tmp_path / "z"),
                 "--part", "zeroshot"]) == 1
    assert "zeroshot" in capsys.readouterr().err


def test_evaluate_as_the_readme_writes_it(run_dir: Path, tmp_path: Path, capsys) -> None:
    """``cft-pyg evaluate <run>/checkpoints/best.ckpt --part test``: no --output-dir, the
    tables go to ``<run>/evaluation_test``."""
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    assert main(["evaluate", str(run / "checkpoints" / "best.ckpt"), "--part", "test"]) == 0
    assert "tables written to" in capsys.readouterr().out
    assert (run / "evaluation_test" / "metrics.json").is_file()


def test_evaluate_unreadable_checkpoint(tmp_path: Path, capsys) -> None:
    assert main(["evaluate", str(tmp_path / "none.ckpt"), "--dataset", "test-crystals",
                 "--output-dir", str(tmp_path / "e")]) == 1
    assert "checkpoint not found" in capsys.readouterr().err
    bad = tmp_path / "bad.ckpt"
    bad.write_text("garbage")
    assert main(["evaluate", str(bad), "--dataset", "test-crystals",
                 "--output-dir", str(tmp_path / "e")]) == 1
    assert "not a readable cft-pyg checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "e").exists()


# ----------------------------------------------------------------------------- predict
def test_predict_cif_files_and_folders(run_dir: Path, tmp_path: Path, capsys) -> None:
    folder = _cif_folder(tmp_path)
    ckpt = str(run_dir / "checkpoints" / "best.ckpt")
    out = tmp_path / "pred.csv"
    assert main(["predict", ckpt, str(folder), str(folder / "nacl.cif"), "-o", str(out)]) == 0
    df = pd.read_csv(out)
    assert list(df.columns) == ["file", "space_group", "natoms", "prediction"]
    assert [Path(f).name for f in df["file"]] == ["nacl.cif", "si.cif", "nacl.cif"]
    assert df["space_group"].tolist() == [225, 227, 225]
    assert df["prediction"].notna().all()
    assert df["prediction"][0] == pytest.approx(df["prediction"][2])

    before = out.read_bytes()
    assert main(["predict", ckpt, str(folder), "-o", str(out)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert main(["predict", ckpt, str(folder / "si.cif"), "-o", str(out), "--overwrite"]) == 0
    assert len(pd.read_csv(out)) == 1


def test_predict_any_structure_file(run_dir: Path, tmp_path: Path, capsys) -> None:
    """POSCAR, CONTCAR (no extension) and extended XYZ predict as the same crystal's CIF."""
    import ase.io
    from pymatgen.core import Molecule, Structure
    from pymatgen.io.ase import AseAtomsAdaptor

    folder = _cif_folder(tmp_path)
    Structure.from_file(folder / "nacl.cif").to(filename=str(folder / "POSCAR"), fmt="poscar")
    Structure.from_file(folder / "nacl.cif").to(filename=str(tmp_path / "CONTCAR"),
                                                fmt="poscar")
    si = AseAtomsAdaptor.get_atoms(Structure.from_file(folder / "si.cif"))
    ase.io.write(folder / "si.extxyz", si, format="extxyz")
    ckpt = str(run_dir / "checkpoints" / "best.ckpt")
    out = tmp_path / "pred.csv"
    assert main(["predict", ckpt, str(folder), str(tmp_path / "CONTCAR"), "-o", str(out)]) == 0
    df = pd.read_csv(out)
    assert [Path(f).name for f in df["file"]] == ["POSCAR", "nacl.cif", "si.cif", "si.extxyz",
                                                  "CONTCAR"]
    assert df["space_group"].tolist() == [225, 225, 227, 227, 225]
    p = df["prediction"]
    assert p[0] == pytest.approx(p[1]) and p[4] == pytest.approx(p[1])
    assert p[2] == pytest.approx(p[3])

    water = tmp_path / "water.xyz"  # no lattice: refused, named, nothing written
    Molecule(["O", "H", "H"], [[0, 0, 0], [0.76, 0.59, 0], [-0.76, 0.59, 0]]).to(
        filename=str(water))
    assert main(["predict", ckpt, str(water), "-o", str(tmp_path / "p2.csv")]) == 1
    err = capsys.readouterr().err
    assert "1 of 1 structure file(s) could not be read" in err
    assert "water.xyz" in err and "not a periodic crystal" in err
    assert not (tmp_path / "p2.csv").exists()


def test_predict_unreadable_inputs(run_dir: Path, tmp_path: Path, capsys) -> None:
    folder = _cif_folder(tmp_path)
    (folder / "broken.cif").write_text("data_x\n_cell_length_a 3\nthis is not a CIF\n")
    ckpt = str(run_dir / "checkpoints" / "best.ckpt")
    out = tmp_path / "pred.csv"
    assert main(["predict", ckpt, str(folder), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "broken.cif" in err and "nothing written" in err
    assert not out.exists()
    assert main(["predict", ckpt, str(folder), "-o", str(out), "--skip-invalid"]) == 0
    assert "broken.cif" in capsys.readouterr().err
    assert len(pd.read_csv(out)) == 2

    assert main(["predict", ckpt, str(tmp_path / "nope.cif"), "-o", str(tmp_path / "p2.csv")]) \
        == 1
    assert "input not found" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["predict", ckpt, str(empty), "-o", str(tmp_path / "p2.csv")]) == 1
    assert "no structure files in folder" in capsys.readouterr().err
    assert main(["predict", str(folder / "nacl.cif"), str(folder), "-o",
                 str(tmp_path / "p2.csv")]) == 1
    assert "not a readable cft-pyg checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "p2.csv").exists()


# -------------------------------------------------------------------------------- demo
@pytest.mark.slow
def test_demo_quick(tmp_path: Path, capsys) -> None:
    out = tmp_path / "demo"
    rc = main(["demo", "--quick", "--output-dir", str(out), "--no-progress",
               "--data-root", str(tmp_path / "cache")])
    assert rc == 0
    text = capsys.readouterr().out
    assert "zero-shot" in text and "GB-gap" in text and "random split" in text
    # the count printed is of the groups present, never more than their crystals
    present = re.search(r"the (\d+) centrosymmetric groups present \((\d+) crystals", text)
    assert present is not None and 0 < int(present[1]) <= min(int(present[2]), 92)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_centrosymmetric_groups_held_out"] == 92
    for key in ("random_split_test_mae", "gb_gap"):
        assert summary[key] >= 0
    assert summary["centrosymmetric_test_mae"]["zero_shot_model"] > 0
    for name in ("parity.png", "mae_per_crystal_system.png", "learning_curves.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the zero-shot model never saw a centrosymmetric group
    zs = pd.read_csv(out / "runs" / "zeroshot" / "val_predictions.csv")
    from cft_pyg.data.splits import centrosymmetric_groups

    assert not set(zs["space_group"]) & set(centrosymmetric_groups())

    before = (out / "summary.json").read_bytes()
    assert main(["demo", "--quick", "--output-dir", str(out)]) == 1
    assert "not empty" in capsys.readouterr().err
    assert (out / "summary.json").read_bytes() == before


def test_demo_bad_options(tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "demo.yaml"
    cfg.write_text("epoch: 3\n")
    out = tmp_path / "demo"
    assert main(["demo", "--config", str(cfg), "--output-dir", str(out)]) == 2
    assert "unknown demo option(s) epoch" in capsys.readouterr().err
    assert main(["demo", "--num-crystals", "0", "--output-dir", str(out)]) == 2
    assert "num_crystals must be >= 20" in capsys.readouterr().err
    assert main(["demo", "--epochs", "two", "--output-dir", str(out)]) == 2
    assert "valid integer" in capsys.readouterr().err
    assert main(["demo", "--preset", "huge", "--output-dir", str(out)]) == 2
    assert "invalid choice" in capsys.readouterr().err
    assert not out.exists()


# ------------------------------------------------------------------------- entry point
def test_help_lists_commands(capsys) -> None:
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for sub in ("train", "evaluate", "predict", "demo"):
        assert sub in text
    assert main(["train", "--help"]) == 0
    assert "--config" in capsys.readouterr().out


def test_entry_point_subprocess(tmp_path: Path) -> None:
    """The installed ``cft-pyg`` script: clear message and status 1, no traceback."""
    exe = Path(sys.executable).with_name("cft-pyg")
    cmd = [str(exe)] if exe.is_file() else [sys.executable, "-m", "cft_pyg.cli"]
    bad = subprocess.run([*cmd, "predict", str(tmp_path / "none.ckpt"), str(tmp_path),
                          "-o", str(tmp_path / "p.csv")], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 1
    assert "cft-pyg predict: error:" in bad.stderr
    assert "no structure files in folder" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert not (tmp_path / "p.csv").exists()


def test_version_flag(capsys) -> None:
    import cft_pyg

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"cft-pyg {cft_pyg.__version__}"


def test_help_imports_nothing_heavy() -> None:
    """``cft-pyg --help`` builds its parser without torch, PyG or Lightning (fast start)."""
    code = ("import sys; from cft_pyg.cli import build_parser; build_parser(); "
            "heavy = [m for m in ('torch', 'torch_geometric', 'lightning', 'pymatgen') "
            "if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "", f"imported at --help: {out}"
    import cft_pyg

    assert "cft_pyg.symmetry" in cft_pyg.__doc__ and "cft_pyg.training" in cft_pyg.__doc__
    assert cft_pyg.SpaceGroup(225).number == 225  # the lazy top-level names still resolve


# ----------------------------------------------------------------------------- threads
def test_threads_are_resolved_recorded_and_applied(tmp_path: Path, capsys) -> None:
    import os

    import torch
    import yaml

    from cft_pyg.training.threads import auto_threads

    before = torch.get_num_threads()
    try:
        out = tmp_path / "auto"
        assert main(["train", "--epochs", "1", "--dataset-kwargs", '{"num": 60}',
                     "--output-dir", str(out), *TRAIN]) == 0
        assert "(the idle cores; --threads N sets it)" in capsys.readouterr().out
        recorded = yaml.safe_load((out / "config.yaml").read_text())["threads"]
        assert isinstance(recorded, int) and 1 <= recorded <= len(os.sched_getaffinity(0))
        assert auto_threads() >= 1
        out = tmp_path / "one"
        assert main(["train", "--epochs", "1", "--threads", "1", "--dataset-kwargs",
                     '{"num": 60}', "--output-dir", str(out), *TRAIN]) == 0
        assert yaml.safe_load((out / "config.yaml").read_text())["threads"] == 1
        assert torch.get_num_threads() == 1
        assert main(["train", "--threads", "0", "--output-dir", str(tmp_path / "x")]) == 2
        assert "threads must be >= 1" in capsys.readouterr().err
        assert main(["predict", "x.ckpt", "a.cif", "--threads", "0"]) == 2
    finally:
        torch.set_num_threads(before)


# --------------------------------------------------------------------------- data root
def test_wrong_data_root_lists_the_files_and_never_downloads(tmp_path: Path, capsys,
                                                              monkeypatch) -> None:
    import cft_pyg.data.cdvae as cdvae

    def no_network(*args, **kwargs):
        raise AssertionError("tried to download without --download")

    monkeypatch.setattr(cdvae, "download_url", no_network)
    empty = tmp_path / "not_mp20"
    empty.mkdir()
    rc = main(["train", "--dataset", "mp20", "--data-root", str(empty), "--epochs", "1",
               "--output-dir", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "val.csv(.gz), test.csv(.gz)" in err and str(empty) in err and "--download" in err


@pytest.mark.slow
def test_cache_dir_keeps_processed_data_out_of_the_data_folder(tmp_path: Path) -> None:
    from pymatgen.core import Lattice, Structure

    data = tmp_path / "cifs"
    data.mkdir()
    rows = []
    for i in range(12):
        s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.0 + 0.1 * i), ["Na", "Cl"],
                                      [[0, 0, 0], [0.5, 0.5, 0.5]])
        s.to(filename=str(data / f"c{i}.cif"))
        rows.append(f"c{i},{0.1 * i}")
    (data / "id_prop.csv").write_text("\n".join(rows) + "\n")
    before = sorted(p.name for p in data.iterdir())
    cache = tmp_path / "cache"
    assert main(["train", "--dataset", "cif-folder", "--data-root", str(data), "--cache-dir",
                 str(cache), "--model", "test-tiny", "--epochs", "1", "--batch-size", "4",
                 "--accelerator", "cpu", "--devices", "1", "--no-progress",
                 "--output-dir", str(tmp_path / "run")]) == 0
    assert sorted(p.name for p in data.iterdir()) == before  # nothing written beside the data
    assert any((cache / "processed").iterdir())
