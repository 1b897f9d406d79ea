"""CIF reading (cft_pyg.data.cif): text or path in, malformed input rejected with a reason."""

from __future__ import annotations

from pathlib import Path

from cft_pyg.data import from_cif, parse_cif

from ._helpers import rejection_reason as _reason

NACL_CIF = """data_NaCl
_cell_length_a 5.64
_cell_length_b 5.64
_cell_length_c 5.64
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'P 1'
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
Na1 Na 0 0 0 1
Cl1 Cl 0.5 0.5 0.5 1
"""


def test_malformed_cif() -> None:
    assert _reason(from_cif, "data_broken\n_cell_length_a 3.0\nloop_\n_atom_site_label\n") == (
        "malformed_cif"
    )
    assert _reason(from_cif, "this is not a cif\nat all") == "malformed_cif"
    assert _reason(parse_cif, NACL_CIF, index=1) == "malformed_cif"


def test_missing_path_is_file_not_found() -> None:
    """A path is never parsed as CIF text: a missing file names the path."""
    import pytest

    for path in ("/nonexistent/file.cif", "raw_data_2024/NaCl.cif", "data_2024/NaCl.cif"):
        with pytest.raises(FileNotFoundError, match=f"not found: {path}"):
            from_cif(path)
    with pytest.raises(FileNotFoundError, match="data_x"):
        parse_cif(Path("data_x"))  # os.PathLike: always a path


def test_text_and_path_give_the_same_crystal(tmp_path: Path) -> None:
    path = tmp_path / "nacl.cif"
    path.write_text(NACL_CIF)
    assert len(parse_cif(path)) == len(parse_cif(NACL_CIF)) == 2
    a, b = from_cif(NACL_CIF), from_cif(str(path))
    assert int(a.space_group[0]) == int(b.space_group[0]) == 221
    assert a.z.tolist() == b.z.tolist()


def test_paths_with_data_in_folder_names(tmp_path: Path, monkeypatch) -> None:
    """``data_`` in a path (even at its start) does not make it CIF text."""
    from cft_pyg.data.cif import is_cif_text

    for folder in ("raw_data_2024", "data_2024"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "NaCl.cif").write_text(NACL_CIF)
    monkeypatch.chdir(tmp_path)
    ref = from_cif(NACL_CIF)
    for source in ("raw_data_2024/NaCl.cif", "data_2024/NaCl.cif",
                   str(tmp_path / "raw_data_2024" / "NaCl.cif"), Path("data_2024/NaCl.cif")):
        d = from_cif(source)
        assert d.z.tolist() == ref.z.tolist() and int(d.space_group[0]) == 221
    assert is_cif_text(NACL_CIF) and is_cif_text("  data_x _cell_length_a 5")
    assert not is_cif_text("data_2024/NaCl.cif") and not is_cif_text("raw_data_x")


def test_coincident_atoms_get_the_overlap_message() -> None:
    """pymatgen merges coincident sites and fails opaquely; the library names the overlap."""
    doubled = NACL_CIF.replace("Na1 Na 0 0 0 1\n", "Na1 Na 0 0 0 1\nNa2 Na 0 0 0 1\n")
    assert _reason(from_cif, doubled) == "overlapping_atoms"
    import pytest

    from cft_pyg.data import StructureError

    with pytest.raises(StructureError, match=r"overlapping atoms: .* same position \(0.0, 0.0"):
        parse_cif(doubled)
    # a partially occupied site is not an overlap: it parses (disorder is refused later)
    half = NACL_CIF.replace("Na1 Na 0 0 0 1\n", "Na1 Na 0 0 0 0.5\n")
    assert len(parse_cif(half)) == 2
