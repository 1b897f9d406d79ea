"""The measured geometry (``Featurization(geometry='measured')``): the neighbour graph's
distances are the physical crystal's (checked against pymatgen's neighbour list), the same for
every description of a distorted crystal, continuous where the detected group changes, and
equal to the symmetrized graph for an exactly symmetric crystal."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from cft_pyg.data import Featurization, from_structure, measured_positions, standardize
from cft_pyg.data.generator import generate_crystal

MEASURED = Featurization(geometry="measured")


def _crystal(number: int, seed: int, shake: float = 0.0, primitive: bool = False
             ) -> Structure:
    """A random crystal of group ``number`` (default setting, or its primitive cell), each
    atom moved by ``shake`` Å in a random direction."""
    rng = np.random.default_rng(seed)
    cell, frac, z = generate_crystal(number, rng, max_atoms=24)
    s = Structure(Lattice(cell), z.tolist(), frac)
    if primitive:
        s = s.get_primitive_structure(tolerance=1e-4)
    if shake:
        step = rng.normal(size=(len(s), 3))
        step *= shake / np.linalg.norm(step, axis=1, keepdims=True)
        s = Structure(s.lattice, s.species, s.cart_coords + step, coords_are_cartesian=True)
    return s


def _distances(data) -> np.ndarray:
    return np.sort(data.edge_dist.numpy().astype(np.float64))


def _pymatgen_distances(s: Structure, radius: float) -> np.ndarray:
    _, _, _, d = s.get_neighbor_list(radius)
    return np.sort(d[d > 1e-8])


@pytest.mark.parametrize("number", [14, 62, 139, 166, 194, 225])
def test_exactly_symmetric_crystal_gives_the_symmetrized_graph(number: int) -> None:
    s = _crystal(number, seed=number)
    a, b = from_structure(s), from_structure(s, MEASURED)
    assert torch.equal(a.frac_coords, b.frac_coords) and a.space_group == b.space_group
    assert a.edge_dist.numel() == b.edge_dist.numel()
    assert np.abs(_distances(a) - _distances(b)).max() < 1e-4


@pytest.mark.parametrize(("number", "seed"), [(14, 98), (62, 434), (139, 973), (194, 2),
                                              (221, 4)])
def test_measured_distances_are_those_of_the_input(number: int, seed: int) -> None:
    """Every atom pair within the radius, against pymatgen's neighbour list of the distorted
    input itself (its primitive cell: the standardized cell holds each of its atoms
    ``len(std) / len(input)`` times); the symmetrized graph fails the same comparison."""
    s = _crystal(number, seed=seed, shake=0.03, primitive=True)
    f = MEASURED.replace(radius=4.0, max_neighbors=None)
    data = from_structure(s, f)
    assert int(data.space_group) == number  # still detected at symprec 0.1
    copies = data.z.numel() // len(s)
    assert data.z.numel() == copies * len(s)
    reference = np.repeat(_pymatgen_distances(s, 4.0), copies)
    ours = _distances(data)
    assert ours.shape == reference.shape
    assert np.abs(ours - reference).max() < 1e-4
    symmetrized = _distances(from_structure(s, f.replace(geometry="symmetrized")))
    assert symmetrized.shape != reference.shape or np.abs(symmetrized - reference).max() > 1e-3


def _descriptions(s: Structure, rng: np.random.Generator) -> dict[str, Structure]:
    """The same physical crystal, described in other ways."""
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.linalg.det(q))
    shift = rng.uniform(size=3)
    order = rng.permutation(len(s))
    return {
        "permuted": Structure(s.lattice, [s.species[i] for i in order], s.frac_coords[order]),
        "rotated": Structure(Lattice(s.lattice.matrix @ q.T), s.species, s.frac_coords),
        "origin": Structure(s.lattice, s.species, s.frac_coords + shift),
        "mirror": Structure(s.lattice, s.species, -s.frac_coords),
        "supercell 2x1x1": s.make_supercell([2, 1, 1], in_place=False),
        "primitive": s.get_primitive_structure(tolerance=1e-3),
        "other basis": Structure(Lattice(np.array([[1, 1, 0], [0, 1, 0], [0, 0, 1]])
                                         @ s.lattice.matrix),
                                 s.species, s.cart_coords, coords_are_cartesian=True),
    }


@pytest.mark.parametrize("number", [19, 70, 141, 167])
def test_measured_graph_is_the_same_for_every_description(number: int) -> None:
    """A distorted crystal (19: chiral P2_12_12_1; 70, 141, 167: centred): every description
    gives the same graph (atoms, distances) to float32 rounding."""
    s = _crystal(number, seed=number, shake=0.02)
    reference = from_structure(s, MEASURED)
    for name, other in _descriptions(s, np.random.default_rng(number)).items():
        data = from_structure(other, MEASURED)
        assert int(data.space_group) == int(reference.space_group), name
        assert data.z.numel() == reference.z.numel(), name
        d, r = _distances(data), _distances(reference)
        assert d.shape == r.shape, name
        assert np.abs(d - r).max() < 1e-4, name


@pytest.mark.parametrize("number", [62, 227])
def test_copies_of_an_atom_are_averaged_whatever_the_description(number: int) -> None:
    """An input cell that is only nearly a supercell of the detected lattice (a 2x1x1
    supercell whose two halves are distorted differently): the standardized cell cannot
    hold both copies of an atom, and their mean does not depend on the description (the
    nearest copy would: a description decides which copy sits at the site; this case was
    found on Carbon-24, where mirror images moved CGCNN's prediction on 5 of 250 crystals)."""
    exact = _crystal(number, seed=11)
    rng = np.random.default_rng(number)
    big = exact.make_supercell([2, 1, 1], in_place=False)
    step = rng.normal(size=(len(big), 3))
    step *= 0.02 / np.linalg.norm(step, axis=1, keepdims=True)
    s = Structure(big.lattice, big.species, big.cart_coords + step, coords_are_cartesian=True)
    reference = from_structure(s, MEASURED)
    assert int(reference.space_group) == number and reference.z.numel() < len(s)
    for name, other in _descriptions(s, np.random.default_rng(0)).items():
        data = from_structure(other, MEASURED)
        d, r = _distances(data), _distances(reference)
        assert d.shape == r.shape and np.abs(d - r).max() < 1e-4, name


def test_measured_graph_is_continuous_where_the_detected_group_changes() -> None:
    """A crystal 0.05 Å away from symmetry: its group at symprec 0.1 differs from the one at
    symprec 0.01, the symmetrized distances jump, the measured ones do not."""
    s = _crystal(139, seed=3, shake=0.05, primitive=True)
    loose, strict = Featurization(), Featurization(symprec=0.01)
    groups = (from_structure(s, loose).space_group, from_structure(s, strict).space_group)
    assert int(groups[0]) == 139 and int(groups[1]) != 139
    f = dict(radius=4.0, max_neighbors=None)
    measured = [_distances(from_structure(s, g.replace(geometry="measured", **f)))
                for g in (loose, strict)]
    symmetrized = [_distances(from_structure(s, g.replace(**f))) for g in (loose, strict)]
    # per atom: the cells differ in size with the group, the environments do not
    counts = [from_structure(s, g).z.numel() for g in (loose, strict)]
    per_atom = [np.repeat(m, counts[1 - k]) for k, m in enumerate(measured)]
    assert np.abs(np.sort(per_atom[0]) - np.sort(per_atom[1])).max() < 1e-4
    sym = [np.repeat(m, counts[1 - k]) for k, m in enumerate(symmetrized)]
    assert sym[0].shape != sym[1].shape or np.abs(np.sort(sym[0]) - np.sort(sym[1])).max() > 1e-3


def test_measured_positions_are_within_the_symmetrization_of_the_sites() -> None:
    s = _crystal(62, seed=5, shake=0.02)
    std = standardize(s)
    frac, lattice = measured_positions(std, s.lattice.matrix, s.frac_coords,
                                       np.array(s.atomic_numbers), tolerance=0.4)
    moved = np.linalg.norm((frac - std.frac_coords) @ lattice, axis=1)
    assert moved.max() < 0.1 and moved.max() > 1e-4
    # the input's own lattice, in the standard basis: same volume, same metric invariants
    assert abs(abs(np.linalg.det(lattice)) * len(s) - s.volume * len(std.numbers)) < 1e-6


def test_measured_geometry_is_refused_where_it_cannot_be_kept() -> None:
    from cft_pyg.data import from_standardized
    from cft_pyg.experimental.augmentation import augmentation_hooks, subgroup_data
    from cft_pyg.experimental.subgroups import t_subgroups

    with pytest.raises(ValueError, match="geometry must be one of"):
        Featurization(geometry="relaxed")
    s = _crystal(62, seed=1)
    with pytest.raises(ValueError, match="pass measured="):
        from_standardized(standardize(s), MEASURED)
    data = from_structure(s, MEASURED)
    sub = next(h for h in t_subgroups(62) if h.index > 1)
    with pytest.raises(ValueError, match="symmetrized crystal"):
        subgroup_data(data, sub)
    from cft_pyg.training import TrainConfig

    with pytest.raises(ValueError, match="measured geometry"):
        augmentation_hooks(0.5, featurization={"geometry": "measured"})
    TrainConfig(featurization={"geometry": "measured"}).validate()


def test_default_caches_keep_their_names() -> None:
    """The geometry option joins a cache's name only when it is not the default."""
    assert "geometry" not in Featurization().cache_dict()
    assert MEASURED.cache_dict()["geometry"] == "measured"
    assert Featurization.from_dict(Featurization().cache_dict()) == Featurization()


@pytest.mark.parametrize("model_name", ["cft", "cgcnn"])
def test_predictions_are_the_same_for_every_description_of_a_distorted_crystal(
        model_name: str) -> None:
    """End to end (untrained models, float32): with the measured geometry every description
    of four distorted crystals gives one prediction; the CFT reads the lattice minima, which
    do not depend on the cell either."""
    from torch_geometric.data import Batch

    from cft_pyg.nn import CGCNN, CrystalFourierTransformer
    from cft_pyg.testing import default_tolerance

    torch.manual_seed(0)
    model = (CrystalFourierTransformer(lattice="minima") if model_name == "cft"
             else CGCNN()).eval()
    crystals = [_crystal(n, seed=n, shake=0.02) for n in (19, 70, 141, 167)]
    variants = [_descriptions(s, np.random.default_rng(k)) for k, s in enumerate(crystals)]
    atol, rtol = default_tolerance(torch.float32)
    with torch.no_grad():
        base = model(Batch.from_data_list([from_structure(s, MEASURED) for s in crystals]))
        tol = atol + rtol * float(base.abs().max())
        for name in variants[0]:
            other = model(Batch.from_data_list([from_structure(v[name], MEASURED)
                                                for v in variants]))
            assert float((other - base).abs().max()) <= tol, name
