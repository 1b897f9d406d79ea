"""Zero-shot prediction by subgroup descent: which subgroups are used, that the result does
not depend on a choice of copy or on the description of the crystal, that checkpoints record
their training groups, and that descent is used only for unseen groups (unless asked)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from cft_pyg import SpaceGroup
from cft_pyg.data import from_structure, standardize
from cft_pyg.data.generator import generate_crystal
from cft_pyg.experimental.augmentation import subgroup_data
from cft_pyg.experimental.descent import (
    descent_plan,
    descent_subgroups,
    predict_with_descent,
    training_groups_of,
)
from cft_pyg.experimental.subgroups import t_subgroups
from cft_pyg.testing import default_tolerance
from cft_pyg.training import CrystalPropertyModule, predict

ATOL, RTOL = default_tolerance(torch.float32)


def _crystal(number: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return generate_crystal(number, np.random.default_rng(number), max_atoms=24)


def test_descent_takes_every_copy_of_the_seen_subgroups_of_smallest_index():
    # P2_1/c (14): its index-2 t-subgroups are P2_1 (4), Pc (7) and P-1 (2), one copy each
    assert [s.number for s in descent_subgroups(14, {4, 7, 1})] == [4, 7]
    assert [s.number for s in descent_subgroups(14, {1})] == [1]
    assert descent_subgroups(14, {14, 4}) == list(t_subgroups(14)[:1])  # G seen: G itself
    assert [s.number for s in descent_subgroups(14, {14, 4}, proper=True)] == [4]
    assert descent_subgroups(14, {200}) == []
    # P4/mmm (123) through its monoclinic subgroups (index 4): 2/m along z, x and y is P2/m
    # (10), along the two diagonals C2/m (12)
    subs = descent_subgroups(123, {10, 12, 1})
    assert sorted(s.number for s in subs) == [10, 10, 10, 12, 12]
    assert {s.index for s in subs} == {4}
    assert len({s.conjugacy_class for s in subs}) == 3


def test_plan_modes():
    seen = [1, 4, 7]
    assert descent_plan([14, 4], seen, "off") == [None, None]
    plan = descent_plan([14, 4, 1], seen, "unseen")
    assert [s.number for s in plan[0]] == [4, 7] and plan[1] is None and plan[2] is None
    plan = descent_plan([14, 4, 1], seen, "all")
    assert [s.number for s in plan[1]] == [1] and plan[2] is None  # P1 has no proper one
    with pytest.raises(ValueError, match="descent must be one of"):
        descent_plan([14], seen, "sometimes")
    with pytest.raises(ValueError, match="does not record"):
        descent_plan([14], None, "unseen")
    with pytest.warns(UserWarning, match=r"no t-subgroup of space group\(s\) \[14\]"):
        assert descent_plan([14], [200], "unseen") == [None]


def test_training_groups_of_a_dataset():
    items = [from_structure(_crystal(n)) for n in (14, 4, 14)]
    assert training_groups_of(items) == [4, 14]
    assert training_groups_of(items, augmented=True) == [1, 2, 4, 7, 14]


@pytest.fixture(scope="module")
def module():
    torch.manual_seed(0)
    m = CrystalPropertyModule(model="cft", model_kwargs={"channels": 32, "heads": 4},
                              training_groups=[1, 2, 4, 7, 10, 47, 65, 99, 115])
    return m.eval()


def _direct(module, items) -> np.ndarray:
    return predict(module, items, progress=False)["y_pred"].to_numpy()


def test_descent_is_used_only_for_unseen_groups(module):
    items = [from_structure(_crystal(n)) for n in (14, 4, 123, 1)]
    direct = _direct(module, items)
    df = predict_with_descent(module, items, progress=False, mode="unseen")
    assert df["space_group"].tolist() == [14, 4, 123, 1]
    assert df["descent_index"].tolist() == [2, 1, 2, 1]
    assert df["descent_types"].tolist() == ["2;4;7", "", "47;65;99;115", ""]
    assert df["natoms"].tolist() == [int(d.num_nodes) for d in items]
    y = df["y_pred"].to_numpy()
    np.testing.assert_allclose(y[[1, 3]], direct[[1, 3]], rtol=RTOL, atol=ATOL)  # as it is
    for i, number in ((0, 14), (2, 123)):  # unseen: the mean over the seen subgroups
        subs = descent_subgroups(number, module.training_groups)
        manual = _direct(module, [subgroup_data(items[i], s) for s in subs]).mean()
        assert y[i] == pytest.approx(manual, abs=1e-6)
        assert abs(y[i] - direct[i]) > 1e-4  # descent changed the prediction
    # asked for all: the seen P2_1 crystal descends to P1 too
    df = predict_with_descent(module, items, progress=False, mode="all")
    assert df["descent_index"].tolist() == [2, 2, 2, 1]


def test_checkpoint_without_training_groups_refuses_descent():
    m = CrystalPropertyModule(model="cft", model_kwargs={"channels": 16, "heads": 2}).eval()
    assert m.training_groups is None
    with pytest.raises(ValueError, match="does not record"):
        predict_with_descent(m, [from_structure(_crystal(14))], progress=False, mode="unseen")
    with pytest.raises(ValueError, match="1-230"):
        CrystalPropertyModule(training_groups=[0, 14])


@pytest.mark.parametrize("number", (123, 194, 221, 227))
def test_descent_does_not_depend_on_the_copy_or_the_description(number, module):
    """Every copy of the seen subgroup type gives the same prediction, and the descent
    prediction is the same for every image of the crystal under G (atoms permuted)."""
    # seen: one subgroup type of index 2 or 3 (several copies where the group has them)
    subs = t_subgroups(number)
    by_class: dict[int, list] = {}
    for s in subs[1:]:
        by_class.setdefault(s.conjugacy_class, []).append(s)
    copies = max(by_class.values(), key=len)
    m = CrystalPropertyModule(model="cft", model_kwargs={"channels": 32, "heads": 4},
                              training_groups=[copies[0].number])
    m.load_state_dict(module.state_dict())
    m.eval()
    std = standardize(_crystal(number))
    data = from_structure((std.lattice, std.frac_coords, std.numbers))
    per_copy = torch.tensor(_direct(m, [subgroup_data(data, s) for s in copies]))
    assert torch.allclose(per_copy, per_copy[:1].expand_as(per_copy), atol=ATOL, rtol=RTOL)
    group = SpaceGroup(number)
    rng = np.random.default_rng(1)
    variants = [data]
    for k in rng.choice(group.num_operations, size=min(4, group.num_operations), replace=False):
        x = std.frac_coords @ group.rotations[k].T + group.translations[k]
        perm = rng.permutation(len(x))
        variants.append(from_structure(Structure(Lattice(std.lattice),
                                                 std.numbers[perm].tolist(), x[perm])))
    df = predict_with_descent(m, variants, progress=False, mode="unseen")
    assert set(df["descent_types"]) == {str(copies[0].number)}
    out = torch.tensor(df["y_pred"].to_numpy())
    assert torch.allclose(out, out[:1].expand_as(out), atol=ATOL, rtol=RTOL)
