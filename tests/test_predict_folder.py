"""No silent drops: a folder given to ``predict`` reads every structure file, POSCAR/CONTCAR-
like names included (``MgO_POSCAR``), and lists each file it does not read."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cft_pyg.cli import main
from cft_pyg.data.readers import is_structure_file, other_files, structure_files

from .training import _helpers  # registers the test-tiny model


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    from cft_pyg.training import TrainConfig, fit

    root = tmp_path_factory.mktemp("folder")
    config = TrainConfig(model="test-tiny", epochs=1, batch_size=16, warmup_epochs=0.0,
                         progress_bar=False, accelerator="cpu", devices=1,
                         output_dir=str(root / "run"))
    return fit(config, _helpers.make_crystals(32), _helpers.make_crystals(8, 1)).best_checkpoint


def _folder(root: Path) -> Path:
    from pymatgen.core import Lattice, Structure

    folder = root / "structures"
    folder.mkdir()
    rocksalt = [[0, 0, 0], [0.5, 0.5, 0.5]]
    Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.21), ["Mg", "O"], rocksalt).to(
        filename=str(folder / "MgO_POSCAR"), fmt="poscar")
    Structure.from_spacegroup("F-43m", Lattice.cubic(5.65), ["Ga", "As"],
                              [[0, 0, 0], [0.25, 0.25, 0.25]]).to(
        filename=str(folder / "GaAs_POSCAR"), fmt="poscar")
    Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.43), ["Si"], [[0, 0, 0]]).to(
        filename=str(folder / "Si_CONTCAR"), fmt="poscar")
    Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], rocksalt).to(
        filename=str(folder / "nacl.cif"))
    (folder / "notes.txt").write_text("not a structure\n")
    return folder


def test_poscar_like_names_are_structure_files(tmp_path) -> None:
    for name in ("MgO_POSCAR", "POSCAR_relaxed", "si.poscar", "Si_CONTCAR", "POSCAR"):
        assert is_structure_file(name), name
    folder = _folder(tmp_path)
    assert [p.name for p in structure_files(folder)] == sorted(
        ["GaAs_POSCAR", "MgO_POSCAR", "Si_CONTCAR", "nacl.cif"])
    assert [p.name for p in other_files(folder)] == ["notes.txt"]


def test_predict_folder_reads_all_and_lists_the_rest(checkpoint, tmp_path, capsys) -> None:
    folder = _folder(tmp_path)
    out = tmp_path / "pred.csv"
    assert main(["predict", str(checkpoint), str(folder), "-o", str(out)]) == 0
    files = sorted(Path(f).name for f in pd.read_csv(out)["file"])
    assert files == sorted(["GaAs_POSCAR", "MgO_POSCAR", "Si_CONTCAR", "nacl.cif"])
    err = capsys.readouterr().err
    assert "not read" in err and "notes.txt" in err and "1 file(s)" in err


def test_python_predict_on_a_folder_warns_about_the_rest(checkpoint, tmp_path) -> None:
    from cft_pyg.training import load_model, predict

    folder = _folder(tmp_path)
    with pytest.warns(UserWarning, match="notes.txt"):
        frame = predict(load_model(checkpoint), str(folder))
    assert len(frame) == 4
