"""The canonical origin and handedness are decided on integers: coordinates that lie exactly on
the key's 1e-4 rounding boundary (five published decimals ending in 5) give one description
whatever the float noise of the input's description (found on mp-2488, SiOs in P2_13, whose
standardized crystal was its mirror image in some descriptions and not in others)."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Structure
from scipy.spatial.transform import Rotation

from cft_pyg.data.canonical_origin import _canonical_key
from cft_pyg.data.standardization import standardize

SI_OS = """Si4 Os4
1.0
4.794101 0.000000 0.000000
0.000000 4.794101 0.000000
0.000000 0.000000 4.794101
Si Os
4 4
direct
0.164550 0.335450 0.664550 Si
0.335450 0.664550 0.164550 Si
0.664550 0.164550 0.335450 Si
0.835450 0.835450 0.835450 Si
0.877178 0.622822 0.377178 Os
0.622822 0.377178 0.877178 Os
0.377178 0.877178 0.622822 Os
0.122822 0.122822 0.122822 Os
"""


@pytest.mark.parametrize("noise", [1e-13, -1e-13, 3e-11, -3e-11])
def test_key_ignores_float_noise_on_a_rounding_boundary(noise: float) -> None:
    frac = np.array([[0.08545, 0.16455, 0.33545], [0.5, 0.25, 0.99995]])
    numbers = np.array([14, 76])
    assert _canonical_key(frac + noise, numbers) == _canonical_key(frac, numbers)


def test_key_rounds_to_the_grid() -> None:
    frac = np.array([[0.12344, 0.12346, 0.99996]])
    assert _canonical_key(frac, np.array([6])) == (6, 1234, 1235, 0)


def test_boundary_crystal_has_one_standard_description() -> None:
    crystal = Structure.from_str(SI_OS, fmt="poscar")
    rng = np.random.default_rng(0)
    described = set()
    for i in range(12):
        t = crystal.copy()
        if i:
            t.translate_sites(list(range(len(t))), rng.integers(0, 4, 3) / 4, frac_coords=True)
            rotation = Rotation.random(random_state=i).as_matrix()
            t = Structure(t.lattice.matrix @ rotation.T, t.species, t.frac_coords)
        st = standardize(t)
        order = np.lexsort(st.frac_coords.T)
        described.add((st.number, st.mirrored,
                       tuple(np.round(st.frac_coords[order], 9).ravel())))
    assert len(described) == 1
