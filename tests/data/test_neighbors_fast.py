"""The compiled single-crystal fast path of radius_graph_pbc gives the torch path's bits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import cft_pyg.data.neighbors as nb
import cft_pyg.data.neighbors_single as ns
from cft_pyg.data.generator import generate_crystal

CASES = [
    {"radius": 8.0, "max_neighbors": 12},
    {"radius": 8.0, "max_neighbors": None},
    {"radius": 8.0, "max_neighbors": 12, "strict_cap": True},
    {"radius": 5.0, "max_neighbors": 4},
    {"radius": 3.0, "max_neighbors": 1},
]


def _both(pos: torch.Tensor, cell: torch.Tensor, **kw) -> tuple[tuple, tuple, bool]:
    """(fast-path result, torch-path result, whether the fast path answered)."""
    calls = []
    single = nb._radius_graph_single

    def spy(*args, **kwargs):
        out = single(*args, **kwargs)
        calls.append(out is not None)
        return out

    orig_applies = nb._fast_path_applies
    try:
        nb._radius_graph_single = spy
        fast = nb.radius_graph_pbc(pos, cell, **kw)
        nb._fast_path_applies = lambda *a: False
        ref = nb.radius_graph_pbc(pos, cell, **kw)
    finally:
        nb._radius_graph_single = single
        nb._fast_path_applies = orig_applies
    return fast, ref, any(calls)


def _assert_identical(fast: tuple, ref: tuple) -> None:
    for x, y in zip(fast, ref, strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
        assert torch.equal(x, y)  # bitwise: same edges, order, offsets and distances


def _stored(cell: np.ndarray, frac: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions and cell as from_standardized builds them (float32-rounded, in float64)."""
    f32 = torch.from_numpy(frac).to(torch.float32)
    f32[f32 >= 1.0] = 0.0
    c = torch.from_numpy(cell).to(torch.float32).double()
    return f32.double() @ c, c


@pytest.fixture(scope="module")
def crystals() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """One generated crystal of each of the 230 space groups, plus 40 more (seeded)."""
    rng = np.random.default_rng(2024)
    numbers = list(range(1, 231)) + [int(v) for v in rng.integers(1, 231, size=40)]
    out = []
    for n in numbers:
        cell, frac, _ = generate_crystal(n, rng, max_atoms=48)
        out.append(_stored(cell, frac))
    return out


def test_fast_path_equals_torch_path_all_groups(crystals):
    used = 0
    for pos, cell in crystals:
        for kw in CASES:
            fast, ref, ran = _both(pos, cell, **kw)
            _assert_identical(fast, ref)
            used += ran
    assert used > 0.9 * len(crystals) * len(CASES)


def test_fast_path_on_high_symmetry_ties():
    """Shells straddling max_neighbors (cubic cells: 6 at a, 12 at a*sqrt(2), 8 at ...)."""
    for frac in ([[0, 0, 0]], [[0, 0, 0], [0.5, 0.5, 0.5]],
                 [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]):
        pos, cell = _stored(np.eye(3) * 3.1, np.array(frac, dtype=np.float64))
        for k in (1, 4, 6, 7, 8, 12, 13, 20):
            for strict in (False, True):
                fast, ref, ran = _both(pos, cell, radius=8.0, max_neighbors=k, strict_cap=strict)
                assert ran
                _assert_identical(fast, ref)
                if not strict:  # tied shells kept whole
                    assert fast[0].shape[1] >= k * pos.shape[0]


def test_fast_path_tiny_and_skewed_cells():
    """Short lattice vectors (many images; large boxes fall back to torch), one-atom cells."""
    rng = np.random.default_rng(5)
    for _ in range(30):
        cell = np.diag(rng.uniform(1.0, 3.0, 3)) + rng.uniform(-0.8, 0.8, (3, 3))
        natoms = int(rng.integers(1, 4))
        pos, c = _stored(cell, rng.uniform(0, 1, (natoms, 3)))
        for kw in ({"radius": 6.0, "max_neighbors": 12}, {"radius": 4.0, "max_neighbors": None}):
            fast, ref, _ = _both(pos + 0.3, c, **kw)  # unwrapped positions too
            _assert_identical(fast, ref)


def test_fast_path_empty_and_errors():
    pos, cell = _stored(np.eye(3) * 10.0, np.array([[0.1, 0.2, 0.3]]))
    fast, ref, ran = _both(pos, cell, radius=2.0, max_neighbors=12)
    assert ran and fast[0].shape == (2, 0)
    _assert_identical(fast, ref)
    with pytest.raises(ValueError, match="non-finite"):
        nb.radius_graph_pbc(torch.full((1, 3), float("nan"), dtype=torch.float64), cell)
    with pytest.raises(ValueError, match="singular"):
        nb.radius_graph_pbc(pos, torch.zeros(3, 3, dtype=torch.float64))


def test_from_standardized_fields_and_graph_unchanged():
    """from_standardized's float32 fields and graph equal the torch-only construction."""
    from cft_pyg.data import DEFAULT_FEATURIZATION
    from cft_pyg.data.structure import from_standardized, standardize

    rng = np.random.default_rng(11)
    for number in (1, 15, 62, 166, 194, 221, 227):
        std = standardize(generate_crystal(number, rng, max_atoms=48), DEFAULT_FEATURIZATION)
        data = from_standardized(std, DEFAULT_FEATURIZATION)
        frac32 = torch.from_numpy(std.frac_coords).to(torch.float32)
        frac32[frac32 >= 1.0] = 0.0
        cell32 = torch.from_numpy(std.lattice).to(torch.float32)
        assert torch.equal(data.frac_coords, frac32)
        assert torch.equal(data.cell[0], cell32)
        assert torch.equal(data.pos, frac32 @ cell32)
        orig = nb._fast_path_applies
        try:
            nb._fast_path_applies = lambda *a: False
            ref = nb.radius_graph_pbc(frac32.double() @ cell32.double(), cell32.double(),
                                      radius=DEFAULT_FEATURIZATION.radius,
                                      max_neighbors=DEFAULT_FEATURIZATION.max_neighbors)
        finally:
            nb._fast_path_applies = orig
        assert torch.equal(data.edge_index, ref[0])
        assert torch.equal(data.cell_offsets, ref[1])
        assert torch.equal(data.edge_dist, ref[2].to(torch.float32))


def test_fast_path_near_integer_image_bounds(monkeypatch):
    """Where a floor/ceil argument lies near an integer, torch's radius decides: a radius
    that is an exact multiple of the face distance (2 r / d integer), and pairs whose first
    image sits 1e-9 from an integer (the compiled loop stops and reruns); same bits."""
    calls = []
    kernel = ns._pair_candidates

    def spy(*args):
        out = kernel(*args)
        calls.append(out[0])
        return out

    monkeypatch.setattr(ns, "_pair_candidates", spy)
    exact = _stored(np.eye(3) * 4.0, np.array([[0.0, 0.0, 0.0], [0.25, 0.5, 0.5]]))
    near = _stored(np.eye(3) * 5.0, np.array([[0.0, 0.0, 0.0], [0.4, 0.4, 0.4]]))
    for (pos, cell), stops in ((exact, False), (near, True)):
        calls.clear()
        for kw in ({"radius": 8.0, "max_neighbors": 12}, {"radius": 8.0, "max_neighbors": None}):
            fast, ref, ran = _both(pos, cell, **kw)
            assert ran
            _assert_identical(fast, ref)
        assert (-1 in calls) is stops  # the rerun with torch's radius happened where expected


def test_fast_path_cap_counts():
    """Centres with fewer, exactly and more candidates than the cap (the cap's branches)."""
    pos, cell = _stored(np.diag([3.0, 3.5, 9.0]), np.array([[0.1, 0.2, 0.3], [0.6, 0.7, 0.3]]))
    for k in (1, 5, 10, 11, 12, 40, 200, 10_000):
        for strict in (False, True):
            fast, ref, ran = _both(pos, cell, radius=6.0, max_neighbors=k, strict_cap=strict)
            assert ran
            _assert_identical(fast, ref)


def test_fast_path_one_compiled_version():
    """Inputs of any layout (views, transposed storage) and an integer radius reach the
    compiled loops with the same argument types: no second compilation (about 5 s each)."""
    frac = np.array([[0.1, 0.2, 0.3], [0.6, 0.1, 0.8]])
    pos, cell = _stored(np.diag([4.0, 5.0, 6.0]) + 0.3, frac)
    for p, c, r in ((pos, cell, 6.0), (pos.T.contiguous().T, cell.T.contiguous().T, 6),
                    (torch.cat([pos, pos], 1)[:, :3], cell.unsqueeze(0), 5)):
        fast, ref, ran = _both(p, c, radius=r, max_neighbors=12)
        assert ran
        _assert_identical(fast, ref)
    assert len(ns._pair_candidates.signatures) == 1
    assert len(ns._select_edges.signatures) == 1
