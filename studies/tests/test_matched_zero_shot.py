"""The size-matched zero-shot protocol on the whole MP-20 pool (18,093 crystals): the
all-groups comparison model trains on as many crystals, for as many optimizer steps, as the
zero-shot model; the test set holds only held-out groups and is large; GB-Gap variants."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from studies.kit.zero_shot import (
    gb_gap,
    gb_gap_table,
    held_out_groups,
    is_held_out,
    matched_split,
)


def optimizer_steps(n_train: int, batch_size: int, epochs: int) -> int:
    """Steps of the engine: one per batch (the last may be smaller), every epoch."""
    return epochs * math.ceil(n_train / batch_size)


@pytest.fixture(scope="module")
def pool_groups(shared_data_dir) -> np.ndarray:
    frames = [pd.read_csv(shared_data_dir / "mp_20" / f"{s}.csv.gz",
                          usecols=["spacegroup.number"]) for s in ("val", "test")]
    return pd.concat(frames)["spacegroup.number"].to_numpy()


def test_all_groups_model_matches_size_and_steps(pool_groups: np.ndarray) -> None:
    assert pool_groups.size == 18093
    split = matched_split(pool_groups, seed=0)
    held = is_held_out(pool_groups)
    sizes = split.sizes()
    assert sizes["all_train"] == sizes["zero_shot_train"]
    assert sizes["all_val"] == sizes["zero_shot_val"]
    for batch_size, epochs in ((64, 15), (32, 7)):
        assert optimizer_steps(sizes["all_train"], batch_size, epochs) == \
            optimizer_steps(sizes["zero_shot_train"], batch_size, epochs)
    test = set(split.test)
    assert held[split.test].all() and not held[split.zero_shot_train].any()
    assert not held[split.zero_shot_val].any()
    for part in (split.zero_shot_train, split.zero_shot_val, split.all_train, split.all_val):
        assert not test & set(part)
    assert not set(split.all_train) & set(split.all_val)
    assert held[split.all_train].mean() > 0.5  # the all-groups model sees held-out groups
    assert sizes["test"] > 5000  # the whole pool: a large held-out test set
    counts = pd.Series(pool_groups[split.test]).value_counts()
    assert (counts >= 5).sum() >= 40
    for k, part in split.few_shot_train.items():
        extra = np.setdiff1d(part, split.zero_shot_train)
        assert held[extra].all() and not test & set(extra.tolist())
        assert pd.Series(pool_groups[extra]).value_counts().max() <= k
    assert split == matched_split(pool_groups, seed=0)  # deterministic
    assert split.all_train != matched_split(pool_groups, seed=1).all_train


def test_gb_gap_table_counts_only_groups_with_enough_crystals() -> None:
    zs = pd.DataFrame({"space_group": [2, 12, 14], "n": [10, 2, 30], "mae": [0.3, 0.9, 0.2]})
    al = pd.DataFrame({"space_group": [2, 12, 14], "n": [10, 2, 30], "mae": [0.1, 0.1, 0.1]})
    out = gb_gap_table(zs, al, min_count=5)
    assert out["groups"] == 2 and out["crystals"] == 40
    assert out["gb_gap"] == pytest.approx((0.2 + 0.1) / 2)
    assert out["gb_gap_weighted"] == pytest.approx((0.2 * 10 + 0.1 * 30) / 40)
    assert out["relative_degradation"] == pytest.approx((0.2 * 10 + 0.1 * 30) / (0.1 * 40))
    assert gb_gap(zs, al)[1] == 3  # the published definition counts every group
    assert 2 in held_out_groups() and 1 not in held_out_groups()
