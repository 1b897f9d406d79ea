"""Tests of the synthetic all-230-group dataset (cft_pyg.data.synthetic, .generator, .morse)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cft_pyg import SpaceGroup
from cft_pyg.data.generator import _detected_number, generate_crystal, pair_distances
from cft_pyg.data.morse import morse_energy_per_atom
from cft_pyg.data.neighbors import radius_graph_pbc
from cft_pyg.data.synthetic import SyntheticCrystals, assign_space_groups


@pytest.fixture(scope="module")
def all_groups(tmp_path_factory: pytest.TempPathFactory) -> SyntheticCrystals:
    """One crystal of every space group (230 crystals, generated once for the module)."""
    root = tmp_path_factory.mktemp("synthetic")
    return SyntheticCrystals(root, num_crystals=230, seed=3, log=False)


def _atom_map(group: SpaceGroup, frac: np.ndarray, tol: float = 2e-5) -> np.ndarray:
    """For each operation and atom, the atom its image lands on (-1 where none)."""
    images = group.apply(frac)  # (ops, n, 3)
    diff = images[:, :, None, :] - frac[None, None, :, :]
    diff -= np.rint(diff)
    match = np.max(np.abs(diff), axis=-1) < tol  # (ops, n, n)
    return np.where(match.any(-1), match.argmax(-1), -1)


def test_every_group_appears(all_groups: SyntheticCrystals) -> None:
    groups = all_groups._data.space_group.numpy()
    assert sorted(groups.tolist()) == list(range(1, 231))
    counts = np.bincount(assign_space_groups(1000, 0), minlength=231)[1:]
    assert counts.min() >= 4 and counts.max() <= 5


def test_crystals_are_invariant_and_well_formed(all_groups: SyntheticCrystals) -> None:
    for data in all_groups:
        number = int(data.space_group)
        group = SpaceGroup(number)
        frac = data.frac_coords.double().numpy()
        cell = data.cell[0].double().numpy()
        z = data.z.numpy()
        assert frac.min() >= 0.0 and frac.max() < 1.0
        assert data.natoms.item() == z.shape[0] == frac.shape[0] <= 4 * 48
        # the generating group is the crystal's full space group (no accidental extra symmetry)
        assert _detected_number(cell, frac, z) == number
        torch.testing.assert_close(data.pos, (data.frac_coords.double() @ data.cell[0].double())
                                   .float())
        metric = cell @ cell.T
        for W in group.rotations:
            np.testing.assert_allclose(W.T @ metric @ W, metric, atol=1e-4 * metric.max())
        mapping = _atom_map(group, frac)
        assert (mapping >= 0).all(), f"group {number}: an image is not an atom"
        assert (z[mapping] == z[None, :]).all(), f"group {number}: species not preserved"
        for g in range(mapping.shape[0]):  # each operation permutes the atoms
            assert np.unique(mapping[g]).shape[0] == z.shape[0]
        assert pair_distances(cell, frac).min() >= 1.5 - 1e-4


def test_labels_equal_direct_energy(all_groups: SyntheticCrystals) -> None:
    for data in all_groups[::20]:
        energy = morse_energy_per_atom(data.cell[0].double(), data.frac_coords.double(), data.z)
        assert data.y.item() == pytest.approx(energy, rel=1e-5, abs=1e-5)
    ys = all_groups._data.y
    assert torch.isfinite(ys).all() and ys.std() > 0.1


def test_graph_equals_neighbour_search(all_groups: SyntheticCrystals) -> None:
    """The stored graph is the 12-nearest-neighbour graph within 8 A, tied shells kept whole.

    Edges are compared through their lengths per centre (equal lengths are interchangeable).
    """
    for data in all_groups[::23]:
        _, _, dist = radius_graph_pbc(data.pos.double(), data.cell.double(), radius=8.0,
                                      max_neighbors=12)
        src, dst = data.edge_index
        vec = data.pos[src].double() + data.cell_offsets.double() @ data.cell[0].double() \
            - data.pos[dst].double()
        torch.testing.assert_close(vec.norm(dim=1).float(), data.edge_dist, atol=1e-4, rtol=0)
        assert data.edge_dist.max() <= 8.0 + 1e-4
        assert data.edge_index.shape[1] == dist.shape[0]
        order = torch.argsort(data.edge_dist.double() + 100.0 * dst.double(), stable=True)
        expected = torch.sort(dist + 100.0 * torch.sort(dst).values.double()).values
        torch.testing.assert_close(data.edge_dist.double()[order] + 100.0 * dst.double()[order],
                                   expected, atol=1e-4, rtol=0)
        degree = torch.bincount(dst, minlength=data.num_nodes)
        for centre in torch.nonzero(degree > 12).flatten():  # only shells tied with the 12th
            d = data.edge_dist[dst == centre]
            assert (d[12:] - d[11]).abs().max() <= 1e-4


@pytest.mark.parametrize("number", [1, 14, 148, 194, 225])
def test_label_is_invariant(number: int) -> None:
    rng = np.random.default_rng(number)
    cell, frac, z = generate_crystal(number, rng)
    energy = morse_energy_per_atom(cell, frac, z)
    group = SpaceGroup(number)
    # a group operation applied to all atoms
    g = int(rng.integers(group.num_operations))
    moved = group.apply(frac)[g] % 1.0
    assert morse_energy_per_atom(cell, moved, z) == pytest.approx(energy, abs=1e-9)
    # a permutation of the atoms
    perm = rng.permutation(z.shape[0])
    assert morse_energy_per_atom(cell, frac[perm], z[perm]) == pytest.approx(energy, abs=1e-9)
    # a 2x1x1 supercell and a sheared supercell (same energy per atom)
    super_frac = np.concatenate([frac, frac + np.array([1.0, 0.0, 0.0])]) / [2.0, 1.0, 1.0]
    super_cell = np.diag([2.0, 1.0, 1.0]) @ cell
    assert morse_energy_per_atom(super_cell, super_frac, np.concatenate([z, z])) == \
        pytest.approx(energy, abs=1e-9)
    shear = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float64)
    assert morse_energy_per_atom(shear @ cell, frac @ np.linalg.inv(shear), z) == \
        pytest.approx(energy, abs=1e-9)
    # a rotation of the Cartesian frame
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    assert morse_energy_per_atom(cell @ q.T, frac, z) == pytest.approx(energy, abs=1e-9)
    # and the energy does change when the structure changes
    squeezed = morse_energy_per_atom(0.9 * cell, frac, z)
    assert abs(squeezed - energy) > 1e-3


def test_same_seed_identical_other_seed_different(tmp_path) -> None:
    kw = {"num_crystals": 12, "log": False}
    a = SyntheticCrystals(tmp_path / "a", seed=5, num_workers=0, **kw)
    b = SyntheticCrystals(tmp_path / "b", seed=5, num_workers=2, **kw)
    c = SyntheticCrystals(tmp_path / "c", seed=6, num_workers=0, **kw)
    for key in ("z", "frac_coords", "cell", "y", "edge_index", "space_group"):
        assert torch.equal(a._data[key], b._data[key]), key
    assert not torch.equal(a._data.y, c._data.y)


def test_cache_reused_and_invalidated(tmp_path) -> None:
    first = SyntheticCrystals(tmp_path, num_crystals=12, seed=1, num_workers=0, log=False)
    assert first.generation_seconds is not None
    again = SyntheticCrystals(tmp_path, num_crystals=12, seed=1, num_workers=0, log=False)
    assert again.generation_seconds is None  # loaded from disk
    assert torch.equal(first._data.frac_coords, again._data.frac_coords)
    changed = SyntheticCrystals(tmp_path, num_crystals=12, seed=1, max_neighbors=6,
                                num_workers=0, log=False)
    assert changed.generation_seconds is not None
    assert changed.processed_dir != first.processed_dir
    assert torch.bincount(changed[0].edge_index[1]).min() == 6  # 6 nearest (+ tied shells)
    assert changed[0].edge_index.shape[1] < first[0].edge_index.shape[1]
    restricted = SyntheticCrystals(tmp_path, num_crystals=12, seed=1, space_groups=[225, 2],
                                   num_workers=0, log=False)
    assert set(restricted._data.space_group.tolist()) == {2, 225}


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        SyntheticCrystals(num_crystals=0)
    with pytest.raises(ValueError):
        SyntheticCrystals(num_crystals=5, space_groups=[0])
    with pytest.raises(ValueError, match="smallest orbit"):
        generate_crystal(230, np.random.default_rng(0), max_atoms=8)
