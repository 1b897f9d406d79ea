"""Lattice features of the lattice itself (``LatticeFeatures(kind='minima')``): the
successive minima against a naive reference, the same for every cell of a lattice (every
subgroup description included), continuous under a small distortion, and invariant inside
the CFT."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

from cft_pyg.data import from_structure
from cft_pyg.data.generator import generate_crystal
from cft_pyg.experimental.augmentation import subgroup_data
from cft_pyg.experimental.subgroups import t_subgroups
from cft_pyg.nn import CrystalFourierTransformer, PublishedCFT
from cft_pyg.nn.lattice import LatticeFeatures, centring_table, successive_minima
from cft_pyg.testing import assert_invariant

from ._crystals import CRYSTALS, cell_from_parameters, crystal, with_frac_coords


def naive_minima(cell: np.ndarray, centring: np.ndarray, reach: int = 6) -> list[float]:
    """Every lattice vector with coefficients up to ``reach``, sorted by length; the k-th
    minimum is the first whose addition raises the rank to k (numpy's matrix_rank)."""
    vectors = [(np.array(n) + t) @ cell for n in itertools.product(range(-reach, reach + 1),
                                                                    repeat=3)
               for t in centring]
    vectors = sorted((v for v in vectors if np.linalg.norm(v) > 1e-9), key=np.linalg.norm)
    chosen: list[np.ndarray] = []
    out = []
    for v in vectors:
        if np.linalg.matrix_rank(np.array([*chosen, v]), tol=1e-6) > len(chosen):
            chosen.append(v)
            out.append(float(np.linalg.norm(v)))
            if len(out) == 3:
                return out
    raise AssertionError("the vectors do not span 3 dimensions")


@pytest.mark.parametrize("name", list(CRYSTALS))
def test_minima_agree_with_a_naive_search(name):
    group, params = CRYSTALS[name]
    cell = cell_from_parameters(*params)
    centring = centring_table()[group]
    got = successive_minima(cell, centring[None])[0]
    want = naive_minima(cell.numpy(), centring.numpy())
    torch.testing.assert_close(got, torch.tensor(want, dtype=torch.float64), atol=1e-10,
                               rtol=0)


def test_known_lattices():
    a = 4.0
    cube = torch.eye(3, dtype=torch.float64)[None] * a
    table = centring_table()
    for group, expected in [(221, a), (229, a * math.sqrt(3) / 2), (225, a / math.sqrt(2))]:
        torch.testing.assert_close(successive_minima(cube, table[[group]]),
                                   torch.full((1, 3), expected, dtype=torch.float64))
    primitive_fcc = torch.tensor([[0, .5, .5], [.5, 0, .5], [.5, .5, 0]],
                                 dtype=torch.float64)[None] * a
    torch.testing.assert_close(successive_minima(primitive_fcc, table[[1]]),
                               successive_minima(cube, table[[225]]))


def _generated(number: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return from_structure(generate_crystal(number, np.random.default_rng(number),
                                               max_atoms=24))


def _features(data, kind: str) -> torch.Tensor:
    cell = data.cell.reshape(1, 3, 3).to(torch.float64)
    return LatticeFeatures(kind)(cell, torch.tensor([data.z.numel()]),
                                 data.space_group.reshape(1))[0]


@pytest.mark.parametrize("number", [225, 221, 166, 139, 194, 62])
def test_every_subgroup_description_has_the_same_lattice_features(number):
    """The conventional-cell features jump between a crystal's descriptions in its
    t-subgroups (another cell); the minima do not (one lattice; the cells are stored in
    float32, hence 1e-5)."""
    data = _generated(number)
    ref = _features(data, "minima")
    jumps = 0.0
    for sub in t_subgroups(number)[1:]:
        other = subgroup_data(data, sub)
        torch.testing.assert_close(_features(other, "minima"), ref, atol=1e-5, rtol=0)
        jumps = max(jumps, float((_features(other, "conventional")
                                  - _features(data, "conventional")).abs().max()))
    if number in (225, 166, 194):  # their t-subgroups include other cells
        assert jumps > 1e-3


def test_minima_are_continuous_and_frame_invariant():
    cell = cell_from_parameters(5.0, 5.0, 5.0)[None]
    table = centring_table()[[225]]
    ref = successive_minima(cell, table)
    strain = torch.eye(3, dtype=torch.float64) + 1e-5 * torch.tensor(
        [[1.0, 0.3, 0.0], [0.3, -0.5, 0.2], [0.0, 0.2, 0.7]], dtype=torch.float64)
    assert float((successive_minima(cell @ strain, table) - ref).abs().max()) < 1e-4
    q, _ = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64,
                                       generator=torch.Generator().manual_seed(0)))
    torch.testing.assert_close(successive_minima(cell @ q.T, table), ref)


def test_bad_kind_and_missing_group():
    with pytest.raises(ValueError, match="kind"):
        LatticeFeatures("niggli")
    with pytest.raises(ValueError, match="space_group"):
        LatticeFeatures("minima")(torch.eye(3)[None], torch.tensor([1]))
    for bad in ("reduced", True, False):  # a Literal, not a bool
        with pytest.raises(ValueError, match="lattice must be one of"):
            CrystalFourierTransformer(channels=16, heads=2, lattice=bad)


@pytest.mark.parametrize("cls", [CrystalFourierTransformer, PublishedCFT])
def test_models_with_lattice_minima_are_invariant(cls):
    torch.manual_seed(0)
    kwargs = (dict(channels=16, heads=2) if cls is CrystalFourierTransformer else
              dict(channels=16, num_blocks=1, heads=2, encoder_hidden=16, encoder_initial=32,
                   encoder_blocks=1, head_hidden=(32, 16)))
    model = cls(lattice="minima", **kwargs).eval()
    assert model.positional.lattice.num_features == 5
    for name in ("C2/c", "R-3m", "Fm-3m"):
        data = crystal(name, num_atoms=4, seed=2)
        assert_invariant(lambda x, d=data: model(with_frac_coords(d, x)), data.frac_coords,
                         CRYSTALS[name][0], wrap=True)
    batch = Batch.from_data_list([crystal(n, num_atoms=3, seed=i)
                                  for i, n in enumerate(["P-1", "Ia-3d", "P6_3/mmc"])])
    with torch.no_grad():
        assert model(batch).shape == (3,)
