"""from_structure: exact symmetry on real MP-20 crystals, re-descriptions, bad inputs."""

from __future__ import annotations

import io
from pathlib import Path

import ase.io
import numpy as np
import pandas as pd
import pytest
import spglib
import torch
from ase import Atoms
from pymatgen.core import DummySpecies, Lattice, Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer
from torch_geometric.loader import DataLoader

import cft_pyg.data.standardization as standardization_module
from cft_pyg import SpaceGroup
from cft_pyg.data import (
    StructureError,
    compare_standardized,
    from_cif,
    from_structure,
    parse_cif,
    standardize,
    std_to_input_frac,
    symmetrize_frac_coords,
)
from cft_pyg.symmetry import default_hall_number

from ._helpers import rejection_reason as _reason

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:spglib")

NACL = Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])



@pytest.fixture(scope="module")
def mp20_rows(shared_data_dir: Path) -> pd.DataFrame:
    df = pd.read_csv(shared_data_dir / "mp_20" / "test.csv.gz")
    return df.sample(100, random_state=7)


@pytest.fixture(scope="module")
def mp20_structures(mp20_rows: pd.DataFrame) -> list[Structure]:
    return [parse_cif(c) for c in mp20_rows.cif]


@pytest.fixture(scope="module")
def mp20_data(mp20_structures: list[Structure]) -> list:
    return [from_structure(s, neighbor_graph=False) for s in mp20_structures]


def _max_symmetry_error(frac: np.ndarray, z: np.ndarray, group: SpaceGroup) -> float:
    """Largest fractional distance from an image of an atom to the nearest same-type atom."""
    images = group.apply(frac)  # (g, n, 3)
    diff = images[:, :, None, :] - frac[None, None, :, :]
    diff -= np.round(diff)
    dist = np.abs(diff).max(axis=-1)
    dist[:, z[:, None] != z[None, :]] = np.inf
    return float(dist.min(axis=-1).max())


# ---------------------------------------------------------------------------- exact symmetry
def test_every_operation_maps_the_atoms_onto_themselves(mp20_data: list) -> None:
    """The core promise: coordinates are in the setting of SpaceGroup(n), exactly symmetric."""
    groups = set()
    worst = 0.0
    for data in mp20_data:
        n = int(data.space_group[0])
        group = SpaceGroup(n)
        assert group.hall_number == default_hall_number(n)
        frac = data.frac_coords.double().numpy()
        worst = max(worst, _max_symmetry_error(frac, data.z.numpy(), group))
        groups.add(n)
    assert worst < 1e-6, worst
    assert len(groups) >= 30  # the sample covers many groups


def test_float64_standardization_is_exact_to_1e_12(mp20_structures: list[Structure]) -> None:
    for s in mp20_structures[:30]:
        std = standardize(s)
        assert _max_symmetry_error(std.frac_coords, std.numbers, std.space_group) < 1e-12
        W = std.space_group.point_group_rotations.astype(float)
        G = std.lattice @ std.lattice.T
        assert np.allclose(np.einsum("gji,jk,gkl->gil", W, G, W), G, rtol=0, atol=1e-10)


def test_detected_groups_agree_with_materials_project(
    mp20_rows: pd.DataFrame, mp20_data: list
) -> None:
    detected = [int(data.space_group[0]) for data in mp20_data]
    agree = np.mean(np.array(detected) == mp20_rows["spacegroup.number"].to_numpy())
    assert agree >= 0.9, agree


def test_symmetrize_rejects_a_structure_that_is_not_symmetric() -> None:
    frac = np.array([[0.1, 0.2, 0.3]])
    with pytest.raises(StructureError, match="symmetrization failed") as info:
        symmetrize_frac_coords(frac, np.array([11]), np.eye(3) * 5, SpaceGroup(221), 0.01)
    assert info.value.reason == "symmetry_failed"


def test_symmetrize_projects_noisy_coordinates() -> None:
    rng = np.random.default_rng(0)
    std = standardize(NACL)
    noisy = std.frac_coords + rng.normal(scale=1e-4, size=std.frac_coords.shape)
    sym = symmetrize_frac_coords(noisy, std.numbers, std.lattice, std.space_group, 0.01)
    assert _max_symmetry_error(sym % 1.0, std.numbers, std.space_group) < 1e-12


# ---------------------------------------------------------------------------- conventions
def test_fields_follow_the_conventions(mp20_rows: pd.DataFrame) -> None:
    row = mp20_rows.iloc[0]
    data = from_cif(row.cif, y=row.band_gap, material_id=row.material_id)
    n = int(data.natoms[0])
    assert data.z.dtype == torch.long and data.z.shape == (n,)
    assert data.frac_coords.dtype == torch.float32 and data.frac_coords.shape == (n, 3)
    assert (data.frac_coords >= 0).all() and (data.frac_coords < 1).all()
    assert data.cell.shape == (1, 3, 3) and data.cell.dtype == torch.float32
    assert torch.allclose(data.pos, data.frac_coords @ data.cell[0], atol=1e-5)
    assert data.space_group.shape == (1,) and data.space_group.dtype == torch.long
    assert data.natoms.dtype == torch.long
    assert data.transformation_matrix.shape == (1, 3, 3)
    assert data.transformation_matrix.dtype == torch.float64
    assert data.origin_shift.shape == (1, 3) and data.origin_shift.dtype == torch.float64
    assert data.edge_index.dtype == torch.long and data.edge_index.shape[0] == 2
    assert data.cell_offsets.dtype == torch.long and data.cell_offsets.shape[1] == 3
    assert data.edge_dist.dtype == torch.float32
    j, i = data.edge_index
    vec = (
        data.pos[j].double()
        + data.cell_offsets.double() @ data.cell[0].double()
        - data.pos[i].double()
    )
    assert torch.allclose(vec.norm(dim=1), data.edge_dist.double(), atol=1e-5)
    assert (data.edge_dist <= 8.0 + 1e-5).all()
    degree = torch.bincount(i, minlength=n)
    for centre in torch.nonzero(degree > 12).flatten():  # only shells tied with the 12th
        d = data.edge_dist[i == centre]
        assert (d[12:] - d[11]).abs().max() <= 1e-4
    assert data.y.shape == (1,) and data.y.dtype == torch.float32
    assert data.material_id == row.material_id
    multi = from_structure(NACL, y=[1.0, 2.0, 3.0], radius=5.0, max_neighbors=None)
    assert multi.y.shape == (1, 3)
    bare = from_structure(NACL, neighbor_graph=False)
    assert "edge_index" not in bare and "y" not in bare


def test_batches_with_the_pyg_dataloader(mp20_structures: list[Structure]) -> None:
    items = [from_structure(s, y=float(k)) for k, s in enumerate(mp20_structures[:6])]
    batch = next(iter(DataLoader(items, batch_size=6)))
    assert batch.cell.shape == (6, 3, 3)
    assert batch.space_group.shape == (6,)
    assert batch.transformation_matrix.shape == (6, 3, 3)
    assert int(batch.natoms.sum()) == batch.num_nodes
    assert batch.space_group[batch.batch].shape == (batch.num_nodes,)
    j, i = batch.edge_index
    assert torch.equal(batch.batch[j], batch.batch[i])  # no edges across crystals
    vec = batch.pos[j] + torch.einsum(
        "ei,eij->ej", batch.cell_offsets.float(), batch.cell[batch.batch[i]]
    ) - batch.pos[i]
    assert torch.allclose(vec.norm(dim=1), batch.edge_dist, atol=1e-4)


def test_transformation_maps_back_to_the_input(mp20_structures: list[Structure]) -> None:
    for s in mp20_structures[:15]:
        std = standardize(s)
        back = std_to_input_frac(std.frac_coords, std.transformation_matrix, std.origin_shift)
        diff = back[:, None, :] - s.frac_coords[None, :, :]
        diff -= np.round(diff)
        dist = np.linalg.norm(diff @ s.lattice.matrix, axis=-1)
        dist[std.numbers[:, None] != np.array(s.atomic_numbers)[None, :]] = np.inf
        assert dist.min(axis=1).max() < 0.05  # within symprec-level idealization
        lattice_back = std.std_rotation_matrix.T @ std.lattice.T @ std.transformation_matrix
        assert np.allclose(lattice_back.T, s.lattice.matrix, atol=0.05)


def test_ase_tuple_and_cif_file_inputs_agree(tmp_path: Path, mp20_rows: pd.DataFrame) -> None:
    cif = mp20_rows.iloc[3].cif
    s = parse_cif(cif)
    atoms = Atoms(numbers=s.atomic_numbers, cell=s.lattice.matrix, scaled_positions=s.frac_coords,
                  pbc=True)
    path = tmp_path / "x.cif"
    path.write_text(cif)
    ref = from_structure(s)
    for other in (
        from_structure(atoms),
        from_structure((s.lattice.matrix, s.frac_coords, s.atomic_numbers)),
        from_cif(path),
        from_cif(str(path)),
    ):
        assert compare_standardized(ref, other) == "identical"
        assert torch.equal(ref.edge_index, other.edge_index)


# ---------------------------------------------------------------------------- re-descriptions
def _triplet(s: Structure) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return s.lattice.matrix, s.frac_coords, np.array(s.atomic_numbers)


def _random_rotation(rng: np.random.Generator, max_angle: float) -> np.ndarray:
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    angle = rng.uniform(-max_angle, max_angle)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def _redescribe(s: Structure, kind: str, rng: np.random.Generator) -> object | None:
    lattice, frac, z = _triplet(s)
    if kind == "permute":
        p = rng.permutation(len(z))
        return lattice, frac[p], z[p]
    if kind == "operation":
        sym = spglib.get_symmetry((lattice, frac, z), symprec=0.01)
        k = int(rng.integers(len(sym["rotations"])))
        return lattice, frac @ sym["rotations"][k].T + sym["translations"][k], z
    if kind == "primitive":
        return SpacegroupAnalyzer(s, symprec=0.01).get_primitive_standard_structure()
    if kind == "conventional":
        return SpacegroupAnalyzer(s, symprec=0.01).get_conventional_standard_structure()
    if kind == "supercell":
        return s.copy().make_supercell([[1, 1, 0], [-1, 1, 0], [0, 0, 1]])
    if kind == "hall":
        number = SpacegroupAnalyzer(s, symprec=0.01).get_space_group_number()
        others = [
            h for h in range(1, 531)
            if spglib.get_spacegroup_type(h).number == number and h != default_hall_number(number)
        ]
        if not others:
            return None
        hall = int(rng.choice(others))
        ds = spglib.get_symmetry_dataset((lattice, frac, z), symprec=0.01, hall_number=hall)
        assert ds.hall_number == hall
        return ds.std_lattice, ds.std_positions, ds.std_types
    if kind == "rotate":
        return lattice @ _random_rotation(rng, 0.2).T, frac, z
    if kind == "origin":
        return lattice, frac + rng.random(3), z
    raise AssertionError(kind)


def _distance_fingerprint(data) -> np.ndarray:
    """Sorted (type pair, distance) list: invariant under every isometry and re-ordering."""
    j, i = data.edge_index
    zz = torch.stack([data.z[i], data.z[j]], 1).sort(dim=1).values.double()
    keys = torch.cat([zz * 1000, data.edge_dist.double()[:, None]], 1).numpy()
    return keys[np.lexsort(keys.T[::-1])]


KINDS = [
    "permute", "operation", "primitive", "conventional", "supercell", "hall", "rotate", "origin"
]


@pytest.mark.parametrize("kind", KINDS)
def test_redescriptions_give_the_same_standardized_crystal(
    kind: str, mp20_structures: list[Structure]
) -> None:
    """Same group and cell always; same atoms up to order, with the canonical origin.

    The distance fingerprint (an isometry invariant) must agree for every crystal; the
    standardized atoms must agree up to order (0.01 Å, near-ties of pseudo-symmetric
    crystals allowed) for at least 10 of 12 crystals (measured on 500 MP-20 crystals:
    ~95% are identical to 1e-4 Å even for a composite re-description).
    """
    rng = np.random.default_rng(KINDS.index(kind))
    outcomes = []
    for s in mp20_structures:
        if len(outcomes) == 12:
            break
        other = _redescribe(s, kind, rng)
        if other is None:
            continue
        if kind == "hall":
            # spglib's standard cell in another setting is *idealized* by spglib, which
            # moves atoms by up to the input's asymmetry; compare it with the same crystal
            # idealized by spglib in the default setting (same atom set, two descriptions)
            lattice, frac, z = _triplet(s)
            ds = spglib.get_symmetry_dataset((lattice, frac, z), symprec=0.01)
            s = (ds.std_lattice, ds.std_positions, ds.std_types)
        a = from_structure(s, radius=4.0, max_neighbors=None)
        b = from_structure(other, radius=4.0, max_neighbors=None)
        assert int(a.space_group[0]) == int(b.space_group[0])
        assert torch.allclose(a.cell, b.cell, atol=1e-4), (a.cell, b.cell)
        fa, fb = _distance_fingerprint(a), _distance_fingerprint(b)
        assert fa.shape == fb.shape and np.allclose(fa, fb, atol=1e-4)
        outcomes.append(compare_standardized(a, b, tol=1e-2))
    assert len(outcomes) == 12
    assert outcomes.count("identical") >= 10, (kind, outcomes)


def test_canonical_origin_removes_the_origin_ambiguity(mp20_structures: list[Structure]) -> None:
    """spglib alone often picks another equivalent origin; canonical_origin fixes it."""
    rng = np.random.default_rng(11)
    spglib_choice, canonical = [], []
    for s in mp20_structures[:20]:
        lattice, frac, z = _triplet(s)
        shifted = (lattice, frac + rng.random(3), z)
        for flag, out in ((False, spglib_choice), (True, canonical)):
            a = standardize(s, canonical_origin=flag, canonical_handedness=flag)
            b = standardize(shifted, canonical_origin=flag, canonical_handedness=flag)
            out.append(compare_standardized(a, b, tol=1e-2))
    assert spglib_choice.count("origin") >= 5, spglib_choice  # the problem is real
    assert canonical.count("identical") >= 18, canonical
    # the canonical description is still exactly symmetric and maps back to the input
    for s in mp20_structures[:10]:
        std = standardize(s)
        assert _max_symmetry_error(std.frac_coords, std.numbers, std.space_group) < 1e-12


# ---------------------------------------------------------------------------- bad inputs
def test_disorder() -> None:
    s = Structure(Lattice.cubic(3.6), [{"Fe": 0.5, "Ni": 0.5}], [[0, 0, 0]])
    assert _reason(from_structure, s) == "disorder"
    vacancy = Structure(Lattice.cubic(3.6), [{"Fe": 0.9}], [[0, 0, 0]])
    assert _reason(from_structure, vacancy) == "disorder"
    cif = NACL.to(fmt="cif").replace("Na0  1  0.00000000  0.00000000  0.00000000  1",
                                     "Na0  1  0.00000000  0.00000000  0.00000000  0.5")
    assert "0.5" in cif
    assert _reason(from_cif, cif) == "disorder"
    atoms = ase.io.read(io.StringIO(cif), format="cif")  # ASE keeps occupancies in info
    assert _reason(from_structure, atoms) == "disorder"


def test_zero_atoms() -> None:
    assert _reason(from_structure, (np.eye(3) * 4, np.zeros((0, 3)), [])) == "no_atoms"
    assert _reason(from_structure, Structure(Lattice.cubic(4.0), [], [])) == "no_atoms"


def test_overlapping_atoms() -> None:
    s = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.02, 0, 0]])
    assert _reason(from_structure, s) == "overlapping_atoms"
    # an atom overlaps itself through a periodic image across the cell boundary
    s2 = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0.99, 0, 0], [0.01, 0, 0]])
    assert _reason(from_structure, s2) == "overlapping_atoms"
    short = (np.diag([0.3, 4.0, 4.0]), [[0, 0, 0]], [11])
    assert _reason(from_structure, short) == "overlapping_atoms"
    # skewed basis of a fine lattice is not mistaken for an overlap
    skewed = (np.array([[4.0, 0, 0], [4000.0, 4.0, 0], [0, 0, 4.0]]), [[0.1, 0.2, 0.3]], [11])
    assert int(from_structure(skewed, neighbor_graph=False).space_group[0]) == 221


@pytest.mark.parametrize(
    "cell",
    [
        (np.eye(3) * 4, [[np.nan, 0, 0]], [11]),
        (np.eye(3) * 4, [[np.inf, 0, 0]], [11]),
        (np.diag([4.0, 4.0, np.inf]), [[0, 0, 0]], [11]),
        (np.diag([4.0, np.nan, 4.0]), [[0, 0, 0]], [11]),
        (np.eye(3) * 1e300, [[0, 0, 0]], [11]),
    ],
)
def test_non_finite_is_rejected_before_spglib(cell) -> None:
    # spglib would crash this process on these; reaching the assertion proves the guard
    assert _reason(from_structure, cell) == "non_finite"


def test_non_finite_ase_atoms() -> None:
    atoms = Atoms("Na", positions=[[np.nan, 0, 0]], cell=np.eye(3) * 4, pbc=True)
    assert _reason(from_structure, atoms) == "non_finite"


def test_degenerate_lattice() -> None:
    coplanar = np.array([[4.0, 0, 0], [0, 4.0, 0], [4.0, 4.0, 0]])
    assert _reason(from_structure, (coplanar, [[0, 0, 0]], [11])) == "degenerate_lattice"
    zero = np.array([[4.0, 0, 0], [0, 4.0, 0], [0, 0, 0]])
    assert _reason(from_structure, (zero, [[0, 0, 0]], [11])) == "degenerate_lattice"
    flat = np.array([[4.0, 0, 0], [0, 4.0, 0], [2.0, 2.0, 1e-9]])
    assert _reason(from_structure, (flat, [[0, 0, 0]], [11])) == "degenerate_lattice"


def test_unknown_elements() -> None:
    assert _reason(from_structure, (np.eye(3) * 4, [[0, 0, 0]], [0])) == "unknown_element"
    assert _reason(from_structure, (np.eye(3) * 4, [[0, 0, 0]], [200])) == "unknown_element"
    assert _reason(from_structure, (np.eye(3) * 4, [[0, 0, 0]], [1.5])) == "unknown_element"
    dummy = Structure(Lattice.cubic(4.0), [DummySpecies("X")], [[0, 0, 0]])
    assert _reason(from_structure, dummy) == "unknown_element"
    atoms = Atoms(numbers=[0], positions=[[0, 0, 0]], cell=np.eye(3) * 4, pbc=True)
    assert _reason(from_structure, atoms) == "unknown_element"


def test_unsupported_inputs() -> None:
    assert _reason(from_structure, "NaCl") == "unsupported_input"
    molecule = Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]], cell=np.eye(3) * 10, pbc=False)
    assert _reason(from_structure, molecule) == "unsupported_input"
    assert _reason(from_structure, (np.eye(3), [[0, 0]], [1])) == "bad_shape"
    assert _reason(from_structure, (np.eye(3) * 4, [[0, 0, 0]], [1, 1])) == "bad_shape"


def test_symmetry_detection_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(standardization_module.spglib, "get_symmetry_dataset", lambda *a, **k: None)
    assert _reason(from_structure, NACL) == "symmetry_failed"

    def boom(*args, **kwargs):
        raise spglib.SpglibError("forced failure")

    monkeypatch.setattr(standardization_module.spglib, "get_symmetry_dataset", boom)
    assert _reason(from_structure, NACL) == "symmetry_failed"


def test_expected_space_group() -> None:
    assert int(from_structure(NACL, expected_space_group=221).space_group[0]) == 221
    assert _reason(from_structure, NACL, expected_space_group=225) == "space_group_mismatch"
    rock_salt = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"],
                                          [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert int(from_structure(rock_salt, expected_space_group=225).space_group[0]) == 225
