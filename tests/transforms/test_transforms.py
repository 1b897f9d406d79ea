"""cft_pyg.transforms on PyG Data in fairchem v1's AtomsToGraphs conventions: the same crystal
and the same encoding as from_structure, and an encoding invariant under re-descriptions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from torch_geometric.data import Data

from cft_pyg.data import StructureError, from_structure
from cft_pyg.data.generator import generate_crystal
from cft_pyg.nn import SymmetryAdaptedFourierEncoding
from cft_pyg.transforms import AddSymmetryAdaptedPE, StandardizeCrystal
from cft_pyg.transforms.standardize import cell_of_data


def _atoms(number: int, seed: int) -> Atoms:
    cell, frac, z = generate_crystal(number, np.random.default_rng([seed, number]), max_atoms=24)
    return Atoms(numbers=z, scaled_positions=frac, cell=cell, pbc=True)


def _fairchem_data(atoms: Atoms) -> Data:
    """Data as fairchem v1's ``AtomsToGraphs.convert`` builds it (float32 tensors)."""
    n = len(atoms)
    return Data(
        cell=torch.Tensor(np.array(atoms.get_cell(complete=True))).view(1, 3, 3),
        pos=torch.Tensor(atoms.get_positions()),
        atomic_numbers=torch.Tensor(atoms.get_atomic_numbers()),
        natoms=n,
        tags=torch.zeros(n, dtype=torch.long),
        fixed=torch.zeros(n),
        force=torch.zeros(n, 3),
        y=torch.tensor([-1.5]),
        sid=7,
    )


@pytest.fixture(scope="module")
def encoding() -> SymmetryAdaptedFourierEncoding:
    return SymmetryAdaptedFourierEncoding(5.0, "orbit")


@pytest.mark.parametrize("number", [2, 14, 62, 166, 227])
def test_standardize_equals_from_structure(number: int) -> None:
    atoms = _atoms(number, 0)
    data = _fairchem_data(atoms)
    out = StandardizeCrystal()(data.clone())
    ref = from_structure(cell_of_data(data))  # the same (float32-rounded) input
    for key in ("z", "frac_coords", "pos", "cell", "space_group", "natoms",
                "transformation_matrix", "origin_shift", "edge_index", "cell_offsets",
                "edge_dist"):
        assert torch.equal(out[key], ref[key]), key
    assert out.featurization == ref.featurization
    # graph-level fields carried, per-atom fields of the input dropped
    assert out.sid == 7 and torch.equal(out.y, data.y)
    assert "force" not in out and "tags" not in out and "atomic_numbers" not in out
    # and the same crystal as from the float64 ASE input, to float32 rounding (a near-tie
    # of equivalent origins may pick another description: compared as sets of atoms)
    full = from_structure(atoms)
    assert int(full.space_group) == int(out.space_group)
    assert torch.equal(full.natoms, out.natoms)
    assert torch.allclose(full.cell, out.cell, atol=1e-4)


@pytest.mark.parametrize("number", [14, 166, 227])
def test_pe_equals_encoding_of_from_structure(number: int, encoding) -> None:
    data = _fairchem_data(_atoms(number, 1))
    out = AddSymmetryAdaptedPE(5.0, "orbit")(data.clone())
    ref = from_structure(cell_of_data(data))
    expected = encoding(ref.frac_coords.double(),
                        ref.space_group.expand(ref.frac_coords.shape[0])).float()
    assert torch.equal(out.symmetry_pe, expected)
    assert out.symmetry_pe.shape == (int(ref.natoms), encoding.out_dim)


def test_pe_invariant_under_redescription(encoding) -> None:
    """Permuted atoms, a shifted origin and a rotated frame give the same encoding rows."""
    atoms = _atoms(62, 2)
    pe = AddSymmetryAdaptedPE(5.0, "orbit")
    base = pe(_fairchem_data(atoms)).symmetry_pe.double()
    other = atoms.copy()
    rng = np.random.default_rng(3)
    other = other[rng.permutation(len(other))]
    other.translate(other.cell.cartesian_positions([0.31, 0.17, 0.62]))
    other.wrap()
    other.rotate(37.0, (1.0, 2.0, 0.5), rotate_cell=True)
    moved = pe(_fairchem_data(other)).symmetry_pe.double()
    assert base.shape == moved.shape

    def rows(x: torch.Tensor) -> np.ndarray:
        a = np.round(x.numpy(), 4)
        return a[np.lexsort(a.T[::-1])]
    assert np.allclose(rows(base), rows(moved), atol=2e-4)


def test_attr_name_none_concatenates_to_x(encoding) -> None:
    data = StandardizeCrystal()(_fairchem_data(_atoms(14, 4)))
    data.x = torch.ones(data.num_nodes, 2)
    out = AddSymmetryAdaptedPE(5.0, "frequency", attr_name=None)(data)
    assert out.x.shape == (data.num_nodes, 2 + 2 * encoding.num_slots)
    assert torch.equal(out.x[:, :2], torch.ones(data.num_nodes, 2))


def test_as_transform_of_a_dataset(encoding) -> None:
    """As ``transform`` of a plain list dataset through PyG's Compose and a DataLoader."""
    from torch_geometric.loader import DataLoader
    from torch_geometric.transforms import Compose

    items = [_fairchem_data(_atoms(n, 5)) for n in (2, 225)]
    t = Compose([StandardizeCrystal(), AddSymmetryAdaptedPE(5.0)])
    batch = next(iter(DataLoader([t(d) for d in items], batch_size=2)))
    assert batch.symmetry_pe.shape[0] == batch.num_nodes
    assert batch.num_graphs == 2


def test_refusals() -> None:
    data = _fairchem_data(_atoms(14, 6))
    with pytest.raises(ValueError, match="standardized"):
        AddSymmetryAdaptedPE(standardize=False)(data)
    del data.atomic_numbers
    with pytest.raises(StructureError, match="atomic_numbers"):
        StandardizeCrystal()(data)
    bad = _fairchem_data(_atoms(14, 6))
    bad.atomic_numbers = bad.atomic_numbers + 0.5
    with pytest.raises(StructureError, match="integers"):
        StandardizeCrystal()(bad)
    with pytest.raises(ValueError, match="output"):
        AddSymmetryAdaptedPE(output="dense")
