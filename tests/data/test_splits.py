"""Tests of cft_pyg.data.splits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from cft_pyg import SpaceGroup
from cft_pyg.data.splits import (
    centrosymmetric_groups,
    few_shot_split,
    holdout_space_groups,
    random_split,
    space_groups_of,
)


def _numbers(n: int = 600, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.as_tensor(rng.integers(1, 231, size=n))


def _check_partition(split, n: int) -> None:
    parts = [split.train, split.val, split.test]
    for p in parts:
        assert p.dtype == torch.long
        assert torch.equal(p, torch.sort(p).values)
    allidx = torch.cat(parts)
    assert allidx.numel() == n
    assert torch.equal(torch.sort(allidx).values, torch.arange(n))


def test_centrosymmetric_groups() -> None:
    groups = centrosymmetric_groups()
    assert len(groups) == 92
    assert {2, 14, 62, 166, 194, 221, 225, 227, 229, 230} <= set(groups)
    assert not {1, 4, 19, 33, 146, 216, 217} & set(groups)
    for g in groups[::10]:
        assert np.any(np.all(SpaceGroup(g).rotations == -np.eye(3, dtype=np.int64), axis=(1, 2)))


def test_random_split_sizes_and_seed() -> None:
    a = random_split(1000, (0.8, 0.1, 0.1), seed=0)
    _check_partition(a, 1000)
    assert (a.train.numel(), a.val.numel(), a.test.numel()) == (800, 100, 100)
    b = random_split(1000, (0.8, 0.1, 0.1), seed=0)
    c = random_split(1000, (0.8, 0.1, 0.1), seed=1)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not torch.equal(a.test, c.test)
    with pytest.raises(ValueError):
        random_split(10, (0.5, 0.5, 0.5))


def test_holdout_centrosymmetric() -> None:
    numbers = _numbers()
    held = centrosymmetric_groups()
    split = holdout_space_groups(numbers, held, val_fraction=0.1, seed=3)
    _check_partition(split, numbers.numel())
    is_held = torch.isin(numbers, torch.tensor(held))
    assert torch.equal(split.test, torch.nonzero(is_held).flatten())
    assert not torch.isin(numbers[split.train], torch.tensor(held)).any()
    assert not torch.isin(numbers[split.val], torch.tensor(held)).any()
    seen = (~is_held).sum().item()
    assert split.val.numel() == round(0.1 * seen)


def test_holdout_any_list_and_dataset_input() -> None:
    data = [Data(space_group=torch.tensor([g])) for g in [1, 2, 2, 225, 225, 225, 14, 14]]
    split = holdout_space_groups(data, [225, 230], val_fraction=0.0)
    assert split.test.tolist() == [3, 4, 5]
    assert split.train.tolist() == [0, 1, 2, 6, 7] and split.val.numel() == 0
    assert space_groups_of(data).tolist() == [1, 2, 2, 225, 225, 225, 14, 14]
    empty = holdout_space_groups(data, [], val_fraction=0.25, seed=0)
    assert empty.test.numel() == 0 and empty.val.numel() == 2
    with pytest.raises(ValueError):
        holdout_space_groups(data, [231])


def test_few_shot() -> None:
    numbers = _numbers(2000)
    held = [2, 14, 225]
    base = holdout_space_groups(numbers, held, seed=5)
    few = few_shot_split(numbers, held, k=3, seed=5)
    _check_partition(few, numbers.numel())
    assert torch.equal(few.val, base.val)
    moved = torch.from_numpy(np.setdiff1d(few.train.numpy(), base.train.numpy()))
    assert torch.isin(moved, base.test).all()
    for g in held:
        n_g = int((numbers == g).sum())
        assert int((numbers[moved] == g).sum()) == min(3, n_g - 1)
        assert int((numbers[few.test] == g).sum()) == n_g - min(3, n_g - 1)
    again = few_shot_split(numbers, held, k=3, seed=5)
    assert torch.equal(again.train, few.train)
    other = few_shot_split(numbers, held, k=3, seed=6)
    assert not torch.equal(other.test, few.test)
    zero = few_shot_split(numbers, held, k=0, seed=5)
    assert all(torch.equal(x, y) for x, y in zip(zero, base, strict=True))
    # a group with a single crystal keeps it in test
    tiny = torch.tensor([1, 1, 1, 5])
    assert few_shot_split(tiny, [5], k=2, val_fraction=0.0).test.tolist() == [3]


def test_space_groups_of_in_memory_dataset(tmp_path) -> None:
    from cft_pyg.data.synthetic import SyntheticCrystals

    ds = SyntheticCrystals(tmp_path, num_crystals=6, seed=0, num_workers=0, log=False)
    numbers = space_groups_of(ds)
    assert numbers.tolist() == [int(d.space_group) for d in ds]
    sub = ds[torch.tensor([4, 1])]
    assert space_groups_of(sub).tolist() == [numbers[4].item(), numbers[1].item()]
