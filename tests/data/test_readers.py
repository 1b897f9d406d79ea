"""Any structure in (cft_pyg.data.readers): every format and object gives the CIF Data."""

from __future__ import annotations

from pathlib import Path

import ase.io
import numpy as np
import pytest
import torch
from ase import Atoms
from pymatgen.core import Molecule, Structure
from pymatgen.io.ase import AseAtomsAdaptor

from cft_pyg.data import (
    Featurization,
    StructureError,
    from_cif,
    from_file,
    from_object,
    read_structure,
)
from cft_pyg.data.readers import STRUCTURE_FILE_PATTERNS, is_structure_file, structure_files

from ._helpers import LOW, NACL

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:spglib")


def _atoms(data) -> np.ndarray:
    """Rows ``(z, frac)`` in a canonical order (file writers may regroup the species)."""
    rows = np.column_stack([data.z.numpy(), data.frac_coords.double().numpy().round(4) % 1.0])
    return rows[np.lexsort(rows.T[::-1])]


def _same(a, b, what: str) -> None:
    assert int(a.space_group[0]) == int(b.space_group[0]), what
    assert sorted(a.z.tolist()) == sorted(b.z.tolist()), what
    assert torch.allclose(a.cell, b.cell, atol=1e-4), what
    np.testing.assert_allclose(_atoms(a), _atoms(b), atol=2e-4, err_msg=what)
    assert a.featurization == b.featurization, what


def _write_all(structure: Structure, root: Path) -> dict[str, Path]:
    """The structure in every format of the issue; a CIF in folders named ``*data_*``."""
    atoms = AseAtomsAdaptor.get_atoms(structure)
    paths: dict[str, Path] = {}
    for folder in ("raw_data_2024", "data_2024"):
        (root / folder).mkdir()
        paths[folder] = root / folder / "crystal.cif"
        structure.to(filename=str(paths[folder]))
    paths["POSCAR"] = root / "POSCAR"
    structure.to(filename=str(paths["POSCAR"]), fmt="poscar")
    paths["CONTCAR"] = root / "CONTCAR"  # no extension
    structure.to(filename=str(paths["CONTCAR"]), fmt="poscar")
    paths["vasp"] = root / "crystal.vasp"
    structure.to(filename=str(paths["vasp"]), fmt="poscar")
    paths["extxyz"] = root / "crystal.extxyz"
    ase.io.write(paths["extxyz"], atoms, format="extxyz")
    paths["xyz"] = root / "crystal.xyz"  # extended XYZ under the plain extension
    ase.io.write(paths["xyz"], atoms, format="extxyz")
    paths["txt-poscar"] = root / "structure.txt"  # format only from format=
    structure.to(filename=str(paths["txt-poscar"]), fmt="poscar")
    paths["dat-extxyz"] = root / "frame.dat"
    ase.io.write(paths["dat-extxyz"], atoms, format="extxyz")
    return paths


@pytest.mark.parametrize("structure", [NACL, LOW], ids=["NaCl", "triclinic"])
def test_every_route_gives_the_cif_data(structure: Structure, tmp_path: Path,
                                        monkeypatch) -> None:
    cif_text = structure.to(fmt="cif")
    ref = from_cif(cif_text)
    assert int(ref.space_group[0]) == (225 if structure is NACL else 1)
    paths = _write_all(structure, tmp_path)
    monkeypatch.chdir(tmp_path)
    routes = {
        "CIF text": from_file(cif_text),
        "CIF, relative path under data_2024/": from_file("data_2024/crystal.cif"),
        "CIF, relative path under raw_data_2024/": from_file("raw_data_2024/crystal.cif"),
        "CIF, absolute path": from_file(str(paths["raw_data_2024"])),
        "POSCAR": from_file(paths["POSCAR"]),
        "CONTCAR": from_file("CONTCAR"),
        "*.vasp": from_file(paths["vasp"]),
        "*.extxyz": from_file(paths["extxyz"]),
        "*.xyz with a lattice": from_file(paths["xyz"]),
        "format='poscar'": from_file(paths["txt-poscar"], format="poscar"),
        "format='vasp'": from_file(paths["txt-poscar"], format="vasp"),
        "format='extxyz' of a .dat": from_file(paths["dat-extxyz"], format="extxyz"),
        "POSCAR text": from_file(structure.to(fmt="poscar"), format="poscar"),
        "pymatgen Structure": from_object(structure),
        "ASE Atoms": from_object(AseAtomsAdaptor.get_atoms(structure)),
    }
    for what, data in routes.items():
        _same(data, ref, what)
    assert read_structure(paths["POSCAR"]).composition == structure.composition


def test_featurization_is_applied_identically(tmp_path: Path) -> None:
    f = Featurization(symprec=0.01, radius=6.0, max_neighbors=10)
    paths = _write_all(NACL, tmp_path)
    ref = from_cif(paths["data_2024"], f)
    for data in (from_file(paths["POSCAR"], f), from_file(paths["extxyz"], f),
                 from_object(AseAtomsAdaptor.get_atoms(NACL), f), from_object(NACL, f),
                 from_file(paths["POSCAR"], radius=6.0, max_neighbors=10, symprec=0.01)):
        _same(data, ref, "featurized")
        assert torch.equal(data.edge_index, ref.edge_index)
    d = from_file(paths["CONTCAR"], y=1.5, material_id="nacl")
    assert d.material_id == "nacl" and d.y.tolist() == [1.5]


def test_molecules_are_refused_clearly(tmp_path: Path) -> None:
    water = Molecule(["O", "H", "H"], [[0, 0, 0], [0.76, 0.59, 0], [-0.76, 0.59, 0]])
    with pytest.raises(StructureError, match=r"is a molecule .*H2 O1") as err:
        from_object(water)
    assert err.value.reason == "unsupported_input"
    xyz = tmp_path / "water.xyz"  # plain XYZ: no lattice
    water.to(filename=str(xyz))
    for source in (lambda: from_file(xyz), lambda: from_object(ase.io.read(xyz))):
        with pytest.raises(StructureError, match="not a periodic crystal") as err:
            source()
        assert err.value.reason == "unsupported_input"
    slab = Atoms("Cu", positions=[[0, 0, 0]], cell=np.eye(3) * 3.0, pbc=[True, True, False])
    with pytest.raises(StructureError, match=r"pbc=\[True, True, False\]"):
        from_object(slab)
    with pytest.raises(StructureError, match="unsupported input type"):
        from_object({"not": "a structure"})


def test_unreadable_files_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"not found: .*data_2024/POSCAR"):
        from_file(tmp_path / "data_2024" / "POSCAR")
    with pytest.raises(IsADirectoryError, match="folder"):
        from_file(tmp_path)
    bad = tmp_path / "POSCAR"
    bad.write_text("not a poscar\n1.0\nfoo bar\n")
    with pytest.raises(StructureError, match=r"cannot read .*POSCAR") as err:
        from_file(bad)
    assert err.value.reason == "malformed_file"
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n")
    with pytest.raises(StructureError, match="give format=") as err:
        from_file(notes)
    assert err.value.reason == "malformed_file"
    with pytest.raises(StructureError, match="needs format="):
        from_file("3\nnot a cif\n")
    # the CIF route keeps its own clear errors
    site = "  Na  Na0  1  0.00000000  0.00000000  0.00000000  1\n"
    doubled = NACL.to(fmt="cif").replace(site, site + site.replace("Na0", "Na9"))
    assert doubled != NACL.to(fmt="cif")
    cif = tmp_path / "doubled.cif"
    cif.write_text(doubled)
    with pytest.raises(StructureError, match="overlapping atoms") as err:
        from_file(cif)
    assert err.value.reason == "overlapping_atoms"


def test_folder_listing(tmp_path: Path) -> None:
    paths = _write_all(NACL, tmp_path)
    (tmp_path / "notes.txt").write_text("ignored\n")
    (tmp_path / "atom_init.json").write_text("{}\n")
    names = [p.name for p in structure_files(tmp_path)]
    assert names == sorted(["CONTCAR", "POSCAR", "crystal.vasp", "crystal.extxyz",
                            "crystal.xyz"])
    assert all(is_structure_file(p) for p in paths.values() if p.suffix not in (".txt", ".dat"))
    assert is_structure_file("POSCAR_relaxed") and is_structure_file("x.CIF")
    assert not is_structure_file("notes.txt") and "*.cif" in STRUCTURE_FILE_PATTERNS
