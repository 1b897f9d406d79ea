"""radius_graph_pbc against pymatgen's neighbour list, on MP-20 and constructed cells."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from pymatgen.core import Lattice, Structure

from cft_pyg.data import num_images, radius_graph_pbc
from cft_pyg.data.neighbors import nearest_neighbor_mask

BOUNDARY = 1e-6  # pairs this close to the cutoff are ignored in set comparisons (rounding)



@pytest.fixture(scope="module")
def mp20_structures(shared_data_dir: Path) -> list[Structure]:
    """40 seeded MP-20 test rows plus the rows with the shortest face distance."""
    df = pd.read_csv(shared_data_dir / "mp_20" / "test.csv.gz")
    rows = df.sample(40, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        structures = [Structure.from_str(c, fmt="cif") for c in rows.cif]
        # cells with short lattice vectors (many images): the smallest 'a' among 400 rows
        extra = [Structure.from_str(c, fmt="cif") for c in df.cif.iloc[:400]]
    extra.sort(key=lambda s: min(s.lattice.abc))
    return structures + extra[:5]


def _ours(s: Structure, radius: float, max_neighbors: int | None = None, **kw) -> tuple:
    pos = torch.tensor(s.cart_coords, dtype=torch.float64)
    cell = torch.tensor(s.lattice.matrix, dtype=torch.float64)
    return radius_graph_pbc(pos, cell, radius=radius, max_neighbors=max_neighbors, **kw)


def _edge_dict(centre, neighbour, offsets, dist, radius: float) -> dict:
    return {
        (int(i), int(j), tuple(int(t) for t in o)): float(d)
        for i, j, o, d in zip(centre, neighbour, offsets, dist, strict=True)
        if abs(float(d) - radius) > BOUNDARY
    }


def _assert_same_as_pymatgen(s: Structure, radius: float) -> int:
    edge_index, offsets, dist = _ours(s, radius)
    c, nb, img, pdist = s.get_neighbor_list(radius)
    ours = _edge_dict(edge_index[1], edge_index[0], offsets, dist, radius)
    theirs = _edge_dict(c, nb, np.rint(img).astype(int), pdist, radius)
    assert ours.keys() == theirs.keys(), (
        f"{s.composition}: {len(ours.keys() - theirs.keys())} extra, "
        f"{len(theirs.keys() - ours.keys())} missing pairs"
    )
    err = max((abs(ours[k] - theirs[k]) for k in ours), default=0.0)
    assert err < 1e-6, err
    return len(ours)


def test_mp20_equals_pymatgen(mp20_structures: list[Structure]) -> None:
    total = sum(_assert_same_as_pymatgen(s, 8.0) for s in mp20_structures)
    assert total > 10_000  # the comparison covered real graphs


def test_mp20_sample_has_cells_needing_many_images(mp20_structures: list[Structure]) -> None:
    counts = [
        int(num_images(torch.tensor(s.lattice.matrix)[None], 8.0).max())
        for s in mp20_structures
    ]
    assert max(counts) >= 4, counts


@pytest.mark.parametrize(
    "lattice",
    [
        np.diag([1.1, 9.0, 9.0]),  # chain: 8 images each way along a
        np.diag([0.9, 1.0, 1.2]),  # tiny cell: ~10^3 images
        [[3.0, 0.0, 0.0], [2.9, 0.4, 0.0], [0.3, 0.2, 2.0]],  # very skewed, thin
        Lattice.hexagonal(2.2, 30.0).matrix,  # slab-like, short in-plane vectors
        Lattice.from_parameters(4.0, 5.0, 6.0, 100.0, 120.0, 75.0).matrix,  # triclinic
    ],
)
def test_extreme_cells_equal_pymatgen(lattice: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    n = 1 if np.linalg.det(np.asarray(lattice)) < 5 else 3
    frac = rng.random((n, 3))
    s = Structure(lattice, ["Si", "O", "Mg"][:n], frac)
    assert _assert_same_as_pymatgen(s, 6.0) > 0


def test_batched_equals_per_crystal(mp20_structures: list[Structure]) -> None:
    structures = mp20_structures[:12]
    pos = torch.cat([torch.tensor(s.cart_coords) for s in structures])
    cell = torch.stack([torch.tensor(s.lattice.matrix) for s in structures])
    natoms = torch.tensor([len(s) for s in structures])
    batch = torch.repeat_interleave(torch.arange(len(structures)), natoms)
    for kwargs in ({"batch": batch}, {"natoms": natoms}):
        ei, off, dist = radius_graph_pbc(pos, cell, radius=8.0, max_neighbors=12, **kwargs)
        start = 0
        for k, s in enumerate(structures):
            e1, o1, d1 = _ours(s, 8.0, 12)
            mask = batch[ei[1]] == k
            assert torch.equal(ei[:, mask] - start, e1)
            assert torch.equal(off[mask], o1)
            assert torch.allclose(dist[mask], d1, atol=1e-12)
            start += len(s)


def test_chunking_does_not_change_the_result(mp20_structures: list[Structure]) -> None:
    s = max(mp20_structures, key=len)
    full = _ours(s, 8.0, 12)
    chunked = _ours(s, 8.0, 12, max_candidates=50)
    for a, b in zip(full, chunked, strict=True):
        assert torch.equal(a, b)


def test_unwrapped_positions_and_edge_vector_convention() -> None:
    rng = np.random.default_rng(3)
    lattice = torch.tensor(Lattice.from_parameters(4.1, 4.7, 5.3, 80, 95, 110).matrix)
    frac = torch.tensor(rng.random((5, 3)))
    shifts = torch.tensor(rng.integers(-3, 4, size=(5, 3)), dtype=torch.float64)
    pos = frac @ lattice
    pos_far = (frac + shifts) @ lattice
    ei, off, dist = radius_graph_pbc(pos, lattice, radius=7.0, max_neighbors=None)
    ei2, off2, dist2 = radius_graph_pbc(pos_far, lattice, radius=7.0, max_neighbors=None)
    assert torch.equal(ei, ei2) and torch.allclose(dist, dist2, atol=1e-10)
    for p, o, e, d in ((pos, off, ei, dist), (pos_far, off2, ei2, dist2)):
        vec = p[e[0]] + o.double() @ lattice - p[e[1]]
        assert torch.allclose(vec.norm(dim=1), d, atol=1e-10)
    # offsets of the shifted copy differ exactly by the shifts
    expected = off + (shifts[ei[1]] - shifts[ei[0]]).long()
    assert torch.equal(off2, expected)


def test_self_pair_excluded_own_images_included() -> None:
    lattice = torch.eye(3, dtype=torch.float64) * 3.0
    pos = torch.zeros(1, 3, dtype=torch.float64)
    ei, off, dist = radius_graph_pbc(pos, lattice, radius=3.0 + 1e-9, max_neighbors=None)
    assert ei.shape[1] == 6  # the six face neighbours, not the atom itself
    assert (off.abs().sum(dim=1) == 1).all()
    assert torch.allclose(dist, torch.full((6,), 3.0, dtype=torch.float64))


def test_strict_cap_is_nearest_k_with_documented_ties(mp20_structures: list[Structure]) -> None:
    for s in mp20_structures[:15]:
        ei_all, off_all, d_all = _ours(s, 8.0, None)
        ei, off, dist = _ours(s, 8.0, 12, strict_cap=True)
        c, _, _, pdist = s.get_neighbor_list(8.0)
        for i in range(len(s)):
            mine = dist[ei[1] == i]
            assert mine.numel() == min(12, int((ei_all[1] == i).sum()))
            assert torch.all(mine[1:] >= mine[:-1])  # sorted by distance
            ref = np.sort(pdist[c == i])[: mine.numel()]  # CGCNN: 12 smallest of pymatgen's
            assert np.allclose(mine.numpy(), ref, atol=1e-6)
            # tie rule: among equal distances, smaller j then lexicographic offset first
            sel = ei_all[1] == i
            keys = sorted(
                zip(
                    d_all[sel].tolist(),
                    ei_all[0, sel].tolist(),
                    map(tuple, off_all[sel].tolist()),
                    strict=True,
                )
            )[:12]
            got = list(
                zip(
                    dist[ei[1] == i].tolist(),
                    ei[0, ei[1] == i].tolist(),
                    map(tuple, off[ei[1] == i].tolist()),
                    strict=True,
                )
            )
            assert [k[1:] for k in keys] == [g[1:] for g in got]


def test_default_cap_keeps_whole_shells(mp20_structures: list[Structure]) -> None:
    """Default rule: the 12 nearest plus every neighbour tied (1e-4 Å) with the 12th."""
    grew = 0
    for s in mp20_structures[:20]:
        ei_all, _, d_all = _ours(s, 8.0, None)
        ei, _, dist = _ours(s, 8.0, 12)
        for i in range(len(s)):
            every = torch.sort(d_all[ei_all[1] == i]).values
            mine = dist[ei[1] == i]
            if every.numel() <= 12:
                assert mine.numel() == every.numel()
                continue
            expected = int((every <= every[11] + 1e-4).sum())
            assert mine.numel() == expected
            assert torch.equal(mine, every[:expected])
            grew += expected > 12
    assert grew > 0  # real crystals do have shells straddling the 12th neighbour


def test_default_graph_is_invariant_under_atom_permutation() -> None:
    """A shell of 8 equal distances cut at 4 by the strict cap depends on atom order."""
    s = Structure(Lattice.cubic(3.0), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    s.make_supercell([2, 1, 1])  # each Cs: 8 Cl at 2.598 Å, 4 images of each Cl atom
    cell = torch.tensor(s.lattice.matrix, dtype=torch.float64)
    for strict, invariant in ((False, True), (True, False)):
        edge_sets = []
        for perm in (np.arange(len(s)), np.arange(len(s))[::-1].copy()):
            pos = torch.tensor(s.cart_coords[perm], dtype=torch.float64)
            ei, off, _ = radius_graph_pbc(pos, cell, radius=5.0, max_neighbors=4,
                                          strict_cap=strict)
            # edges named by the original atom indices (same positions, same offsets)
            edge_sets.append(sorted(
                (int(perm[int(c)]), int(perm[int(j)]), tuple(o.tolist()))
                for j, c, o in zip(ei[0], ei[1], off, strict=True)
            ))
        assert (edge_sets[0] == edge_sets[1]) == invariant
    pos = torch.tensor(s.cart_coords, dtype=torch.float64)
    ei, _, _ = radius_graph_pbc(pos, cell, radius=5.0, max_neighbors=4)
    assert ei.shape[1] == 4 * 8  # every atom keeps its whole shell of 8 (ties)


def test_nearest_neighbor_mask_rules() -> None:
    centre = torch.tensor([0, 0, 0, 0, 1, 1])
    dist = torch.tensor([1.0, 2.0, 2.0 + 5e-5, 2.1, 3.0, 3.0], dtype=torch.float64)
    assert nearest_neighbor_mask(centre, dist, 2).tolist() == [1, 1, 1, 0, 1, 1]
    assert nearest_neighbor_mask(centre, dist, 2, strict_cap=True).tolist() == [1, 1, 0, 0, 1, 1]
    assert nearest_neighbor_mask(centre, dist, 1).tolist() == [1, 0, 0, 0, 1, 1]
    assert nearest_neighbor_mask(centre, dist, 2, tie_tolerance=0.0).tolist() == [
        1, 1, 0, 0, 1, 1]
    with pytest.raises(ValueError, match="max_neighbors"):
        nearest_neighbor_mask(centre, dist, 0)
    with pytest.raises(ValueError, match="tie_tolerance"):
        nearest_neighbor_mask(centre, dist, 2, tie_tolerance=-1.0)


def test_float32_close_to_float64(mp20_structures: list[Structure]) -> None:
    s = mp20_structures[0]
    ei, off, d = _ours(s, 6.0)
    pos = torch.tensor(s.cart_coords, dtype=torch.float32)
    cell = torch.tensor(s.lattice.matrix, dtype=torch.float32)
    ei32, off32, d32 = radius_graph_pbc(pos, cell, radius=6.0, max_neighbors=None)
    assert d32.dtype == torch.float32
    a = _edge_dict(ei[1], ei[0], off, d, 6.0)
    b = _edge_dict(ei32[1], ei32[0], off32, d32, 6.0)
    common = a.keys() & b.keys()
    assert len(common) >= 0.99 * len(a)
    assert max(abs(a[k] - b[k]) for k in common) < 1e-4


def test_empty_and_invalid_inputs() -> None:
    cell = torch.eye(3, dtype=torch.float64)[None]
    ei, off, d = radius_graph_pbc(torch.zeros(0, 3, dtype=torch.float64), cell[:0], natoms=[])
    assert ei.shape == (2, 0) and off.shape == (0, 3) and d.shape == (0,)
    pos = torch.zeros(2, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="singular"):
        radius_graph_pbc(pos, torch.zeros(1, 3, 3, dtype=torch.float64), radius=1.0)
    with pytest.raises(ValueError, match="non-finite"):
        radius_graph_pbc(pos, cell * float("inf"), radius=1.0)
    with pytest.raises(ValueError, match="radius"):
        radius_graph_pbc(pos, cell, radius=0.0)
    with pytest.raises(ValueError, match="natoms"):
        radius_graph_pbc(pos, cell, natoms=torch.tensor([3]), radius=1.0)
    with pytest.raises(ValueError, match="sorted"):
        radius_graph_pbc(pos, cell.repeat(2, 1, 1), batch=torch.tensor([1, 0]), radius=1.0)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none visible)")
def test_cuda_matches_cpu(mp20_structures: list[Structure]) -> None:
    structures = mp20_structures[:10]
    pos = torch.cat([torch.tensor(s.cart_coords) for s in structures])
    cell = torch.stack([torch.tensor(s.lattice.matrix) for s in structures])
    natoms = torch.tensor([len(s) for s in structures])
    cpu = radius_graph_pbc(pos, cell, natoms=natoms, radius=8.0, max_neighbors=12)
    gpu = radius_graph_pbc(pos.cuda(), cell.cuda(), natoms=natoms.cuda(), radius=8.0)
    assert torch.equal(cpu[0], gpu[0].cpu()) and torch.equal(cpu[1], gpu[1].cpu())
    assert torch.allclose(cpu[2], gpu[2].cpu(), atol=1e-10)
