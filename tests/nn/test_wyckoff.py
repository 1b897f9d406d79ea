"""The Wyckoff sites (:mod:`cft_pyg.data.wyckoff`) and the coordinate-free baseline
(:class:`cft_pyg.nn.WyckoffTransformer`): known letters, and the invariances the model
claims (permutations, cell description and size; composition-only: every polymorph)."""

from __future__ import annotations

import pytest
import torch
from pymatgen.core import Lattice, Structure
from torch_geometric.data import Batch

from cft_pyg.data import from_structure
from cft_pyg.data.wyckoff import AddWyckoff, letter_index, wyckoff_sites
from cft_pyg.nn import WyckoffTransformer
from cft_pyg.training import build_model

NACL = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"],
                                 [[0, 0, 0], [0.5, 0.5, 0.5]])
ZINCBLENDE = Structure.from_spacegroup("F-43m", Lattice.cubic(5.64), ["Na", "Cl"],
                                       [[0, 0, 0], [0.25, 0.25, 0.25]])
KZNBI = Structure.from_spacegroup("P6_3/mmc", Lattice.hexagonal(4.1, 9.3), ["K", "Zn", "Bi"],
                                  [[0, 0, 0.5], [1 / 3, 2 / 3, 0.75], [1 / 3, 2 / 3, 0.25]])
TOL = {"atol": 1e-5, "rtol": 1e-5}  # float32 model


def test_known_wyckoff_positions() -> None:
    letters, order = wyckoff_sites(from_structure(KZNBI))
    data = from_structure(KZNBI)
    by_element = {int(z): (int(w), int(o)) for z, w, o in zip(data.z, letters, order,
                                                              strict=True)}
    # K on 2a (-3m., order 12), Zn and Bi on 2c / 2d (-6m2, order 12)
    assert by_element[19] == (0, 12)
    assert {by_element[30][0], by_element[83][0]} == {2, 3}
    assert by_element[30][1] == by_element[83][1] == 12
    letters, order = wyckoff_sites(from_structure(NACL))
    assert set(letters.tolist()) == {0, 1} and set(order.tolist()) == {48}  # 4a, 4b (m-3m)
    assert letter_index("A") == 26 and letter_index("c") == 2
    with pytest.raises(ValueError, match="Wyckoff letter"):
        letter_index("?")


def test_wrong_group_is_refused() -> None:
    data = from_structure(NACL)
    data.space_group = torch.tensor([221])
    with pytest.raises(ValueError, match="spglib finds space group 225"):
        wyckoff_sites(data)


@pytest.mark.parametrize("inputs", ["wyckoff", "composition"])
def test_transform_equals_on_the_fly_and_invariances(inputs: str) -> None:
    torch.manual_seed(0)
    model = WyckoffTransformer(channels=32, inputs=inputs).eval()
    crystals = [from_structure(s) for s in (NACL, KZNBI)]
    plain = model(Batch.from_data_list(crystals))
    stored = model(Batch.from_data_list([AddWyckoff()(c) for c in crystals]))
    torch.testing.assert_close(plain, stored, atol=0.0, rtol=0.0)
    # another description (supercell, rotated and shifted, atoms permuted) and another
    # cell size: the same input, the same prediction
    other = KZNBI.copy()
    other.make_supercell([[1, 1, 0], [0, 1, 0], [0, 0, 2]])
    other.translate_sites(list(range(len(other))), [0.13, 0.29, 0.41])
    other = Structure(other.lattice, list(reversed(other.species)),
                      list(reversed(other.frac_coords)))
    other.scale_lattice(1.7 * other.volume)
    again = model(Batch.from_data_list([from_structure(NACL), from_structure(other)]))
    torch.testing.assert_close(again, plain, **TOL)


def test_composition_floor_sees_only_the_composition() -> None:
    torch.manual_seed(0)
    floor = build_model("composition", channels=32).eval()
    wyckoff = build_model("wyckoff", channels=32).eval()
    batch = Batch.from_data_list([from_structure(NACL), from_structure(ZINCBLENDE)])
    out = floor(batch)
    torch.testing.assert_close(out[0], out[1], **TOL)  # two polymorphs: one prediction
    assert not torch.allclose(wyckoff(batch)[0], wyckoff(batch)[1], **TOL)
    with pytest.raises(ValueError, match="inputs must be"):
        WyckoffTransformer(inputs="coordinates")
