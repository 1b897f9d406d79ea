"""From a TrainConfig to train/val/test(/zero-shot) sets: predefined, random and hold-out."""

from __future__ import annotations

import pytest

from cft_pyg.data.splits import centrosymmetric_groups
from cft_pyg.training import ConfigError, TrainConfig, register_dataset
from cft_pyg.training.data import build_splits

from ._helpers import make_crystals

_PARTS = {"project-train": 0, "project-val": 1, "project-test": 2, "other": 3}


def split_dataset(split: str = "project-train", num: int = 40, root: str | None = None):
    """A dataset with its own parts (like MP20's ``split`` argument)."""
    if split not in _PARTS:
        raise ValueError(f"unknown split {split}")
    return make_crystals(num, seed=10 + _PARTS[split])


register_dataset("test-split-crystals", split_dataset, overwrite=True)


def _ids(ds) -> set[str]:
    return {d.material_id for d in ds}


def test_dataset_split_uses_the_predefined_parts() -> None:
    s = build_splits(TrainConfig(dataset="test-split-crystals"))  # split='auto'
    assert _ids(s.train) == {f"test-10-{i}" for i in range(40)}
    assert _ids(s.val) == {f"test-11-{i}" for i in range(40)}
    assert _ids(s.test) == {f"test-12-{i}" for i in range(40)}
    assert s.zeroshot is None
    # max_crystals limits the training part, and the others in proportion, seeded
    s2 = build_splits(TrainConfig(dataset="test-split-crystals", max_crystals=10))
    assert len(s2.train) == 10 and len(s2.val) == len(s2.test) == 2  # ceil(10 * 0.1 / 0.8)
    assert _ids(s2.val) < _ids(s.val) and _ids(s2.test) < _ids(s.test)
    s4 = build_splits(TrainConfig(dataset="test-split-crystals", max_crystals=24,
                                  val_fraction=0.2, test_fraction=0.2))
    assert (len(s4.train), len(s4.val), len(s4.test)) == (24, 8, 8)
    assert _ids(s2.train) == _ids(build_splits(TrainConfig(dataset="test-split-crystals",
                                                           max_crystals=10)).train)
    # pinning one part makes it a plain dataset, split at random
    s3 = build_splits(TrainConfig(dataset="test-split-crystals",
                                  dataset_kwargs={"split": "other"}))
    assert _ids(s3.train) | _ids(s3.val) | _ids(s3.test) == {f"test-13-{i}" for i in range(40)}
    assert (len(s3.train), len(s3.val), len(s3.test)) == (32, 4, 4)


def test_random_split_is_seeded_and_disjoint() -> None:
    cfg = TrainConfig(dataset="test-crystals", dataset_kwargs={"num": 100})
    a, b = build_splits(cfg), build_splits(cfg)
    assert [_ids(p) for p in (a.train, a.val, a.test)] == [_ids(p) for p in (b.train, b.val,
                                                                             b.test)]
    assert (len(a.train), len(a.val), len(a.test)) == (80, 10, 10)
    assert not (_ids(a.train) & _ids(a.val) or _ids(a.train) & _ids(a.test))
    c = build_splits(cfg.replace(seed=1))
    assert _ids(c.test) != _ids(a.test)
    with pytest.raises(ConfigError, match="no predefined split"):
        build_splits(cfg.replace(split="dataset"))


def test_holdout_splits() -> None:
    cfg = TrainConfig(dataset="test-crystals", dataset_kwargs={"num": 200},
                      split="holdout-centrosymmetric")
    s = build_splits(cfg)
    centro = set(centrosymmetric_groups())
    seen_parts = (s.train, s.val, s.test)
    for part in seen_parts:
        assert all(int(d.space_group) not in centro for d in part)
    assert s.zeroshot and all(int(d.space_group) in centro for d in s.zeroshot)
    assert sum(len(p) for p in seen_parts) + len(s.zeroshot) == 200
    assert s.holdout_groups == tuple(sorted(centro))

    s2 = build_splits(cfg.replace(split="holdout", holdout_groups=[int(s.train[0].space_group)]))
    assert {int(d.space_group) for d in s2.zeroshot} == {int(s.train[0].space_group)}
    assert s2.part("zeroshot") is s2.zeroshot
    with pytest.raises(KeyError):
        build_splits(cfg.replace(split="random")).part("zeroshot")
