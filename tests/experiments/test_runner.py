"""The comparison runner's zero-shot split on the real MP-20 files (skipped without them)."""

from __future__ import annotations

import numpy as np
import pytest

from cft_pyg.data import centrosymmetric_groups, space_groups_of
from cft_pyg.experiments.compare import CompareSettings, load_parts, target_index, zero_shot_split


@pytest.fixture(scope="module")
def settings(shared_data_dir):
    root = shared_data_dir / "mp_20"
    if not (root / "val.csv.gz").is_file():
        pytest.skip("MP-20 files not found in the shared data folder")
    return CompareSettings.from_preset("quick", data_root=str(root), n_train=200, n_val=60,
                                       n_test=100)


def test_zero_shot_split_never_shows_held_out_groups(settings):
    groups = np.concatenate([space_groups_of(p).numpy() for p in load_parts(settings)])
    held = set(centrosymmetric_groups())
    idx = zero_shot_split(settings, seed=0)
    is_held = np.isin(groups, list(held))
    assert len(idx["held_test"]) > 0 and is_held[idx["held_test"]].all()
    assert not is_held[idx["k0_train"]].any() and not is_held[idx["seen_val"]].any()
    assert set(idx["held_test"]).isdisjoint(idx["all_train"])
    assert set(idx["all_val"]).isdisjoint(idx["all_train"])
    sizes = []
    for k in settings.few_shot_ks[1:]:
        cur = set(idx[f"k{k}_train"])
        assert set(idx["k0_train"]) <= cur <= set(idx["all_train"])
        added = np.array(sorted(cur - set(idx["k0_train"])), dtype=int)
        per_group = np.unique(groups[added], return_counts=True)[1] if added.size else []
        assert all(c <= k for c in per_group) and is_held[added].all()
        sizes.append(len(cur))
    assert sizes == sorted(sizes) and sizes[0] > len(idx["k0_train"])
    # the pool split is fixed; the seed only changes which few-shot crystals are added
    other = zero_shot_split(settings, seed=1)
    assert other["held_test"] == idx["held_test"] and other["k0_train"] == idx["k0_train"]


def test_both_targets_are_columns_of_y(settings):
    train = load_parts(settings)[0]
    assert train[0].y.shape == (1, 2)
    assert target_index("formation_energy_per_atom") == 0 and target_index("band_gap") == 1
    with pytest.raises(ValueError, match="target"):
        target_index("e_above_hull")
