"""predict with structure files and pymatgen/ASE objects (cft_pyg.training.inputs)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import ase.io
import pytest
from pymatgen.core import Molecule
from pymatgen.io.ase import AseAtomsAdaptor

from cft_pyg.data import DEFAULT_FEATURIZATION, StructureError, from_cif, from_file
from cft_pyg.training import predict
from cft_pyg.training.inputs import as_crystals, featurization_for

from ..data._helpers import LOW, NACL

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:spglib")


@pytest.fixture(scope="module")
def model():
    from cft_pyg import pretrained

    return pretrained.load("mp20-formation-energy")


def test_predict_with_paths_and_objects_matches_data(model, tmp_path: Path) -> None:
    folder = tmp_path / "raw_data_2024"
    folder.mkdir()
    NACL.to(filename=str(folder / "POSCAR"), fmt="poscar")
    ase.io.write(folder / "low.extxyz", AseAtomsAdaptor.get_atoms(LOW), format="extxyz")
    LOW.to(filename=str(folder / "low.cif"))
    f = model.featurization
    reference = [from_cif(NACL.to(fmt="cif"), f), from_cif(folder / "low.cif", f)]
    expected = predict(model, reference)["y_pred"].tolist()

    mixed = [AseAtomsAdaptor.get_atoms(NACL), str(folder / "low.extxyz"), folder / "POSCAR",
             LOW, reference[1]]
    got = predict(model, mixed)
    assert got["y_pred"].tolist() == pytest.approx(
        [expected[0], expected[1], expected[0], expected[1], expected[1]], abs=1e-5)
    assert got["space_group"].tolist() == [225, 1, 225, 1, 1]
    assert predict(model, folder / "POSCAR")["y_pred"].tolist() == pytest.approx(
        expected[:1], abs=1e-5)
    assert predict(model, AseAtomsAdaptor.get_atoms(LOW))["y_pred"].tolist() == pytest.approx(
        expected[1:], abs=1e-5)
    # a folder: its structure files, by name (POSCAR, low.cif, low.extxyz)
    by_folder = predict(model, str(folder))["y_pred"].tolist()
    assert by_folder == pytest.approx([expected[0], expected[1], expected[1]], abs=1e-5)


def test_inputs_errors_and_pass_through(model, tmp_path: Path) -> None:
    data = [from_file(NACL.to(fmt="cif"), model.featurization)]
    assert as_crystals(data, model) is data  # Data lists and datasets are left alone
    water = Molecule(["O", "H", "H"], [[0, 0, 0], [0.76, 0.59, 0], [-0.76, 0.59, 0]])
    with pytest.raises(StructureError, match=r"input 1 \(Molecule\): .*molecule"):
        predict(model, [NACL, water])
    with pytest.raises(FileNotFoundError, match="data_2024"):
        predict(model, [str(tmp_path / "data_2024" / "x.cif")])


def test_featurization_for_falls_back_with_a_warning() -> None:
    recorded = SimpleNamespace(featurization=DEFAULT_FEATURIZATION.replace(radius=6.0))
    assert featurization_for(recorded) == recorded.featurization
    with pytest.warns(UserWarning, match="does not record"):
        assert featurization_for(SimpleNamespace(featurization=None)) == DEFAULT_FEATURIZATION
    messages: list[str] = []
    featurization_for(SimpleNamespace(featurization=None), warn=messages.append)
    assert len(messages) == 1 and "default featurization" in messages[0]
