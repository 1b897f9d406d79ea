"""The zero-shot protocol of the demo and the studies: held-out groups, splits, GB-Gap.

The held-out groups are the 92 groups that contain inversion
(:func:`cft_pyg.data.centrosymmetric_groups`), as in the published CFT: a *zero-shot* model
never sees a crystal of them in training or validation, an *all-groups* model does, and both
are tested on the same held-out test crystals (paired).  The published metric is the GB-Gap,
``mean over held-out groups g of |MAE_zero-shot(g) - MAE_all(g)|`` (:func:`gb_gap`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cft_pyg.data.splits import centrosymmetric_groups
from cft_pyg.training.evaluation import GB_GAP_DEFINITION, gb_gap

__all__ = ["GB_GAP_DEFINITION", "MatchedSplit", "gb_gap", "gb_gap_table", "held_out_groups",
           "is_held_out", "matched_split", "random_zero_shot_split"]


def held_out_groups() -> list[int]:
    """The groups held out from a zero-shot model: every group containing inversion."""
    return list(centrosymmetric_groups())


def is_held_out(space_groups: Sequence[int] | np.ndarray) -> np.ndarray:
    """Boolean mask: which of ``space_groups`` (one per crystal) are held out."""
    return np.isin(np.asarray(space_groups), held_out_groups())


@dataclass(frozen=True)
class MatchedSplit:
    """Index lists (into one pool of crystals) of the size-matched zero-shot protocol.

    Attributes:
        test: held-out-group crystals of the test set (never trained on by any model).
        zero_shot_train, zero_shot_val: seen-group crystals only.
        all_train, all_val: random crystals of every group outside ``test``, exactly as many
            as ``zero_shot_train`` / ``zero_shot_val`` (so with equal epochs and batch size
            both models take the same number of optimizer steps).
        few_shot_train: ``{k: zero_shot_train + k crystals of every held-out group}`` (taken
            from held-out crystals outside ``test``).
    """

    test: list[int]
    zero_shot_train: list[int]
    zero_shot_val: list[int]
    all_train: list[int]
    all_val: list[int]
    few_shot_train: dict[int, list[int]]

    def sizes(self) -> dict[str, int]:
        """Number of crystals of every part."""
        out = {name: len(getattr(self, name)) for name in
               ("test", "zero_shot_train", "zero_shot_val", "all_train", "all_val")}
        out.update({f"k{k}_train": len(v) for k, v in self.few_shot_train.items()})
        return out


def matched_split(space_groups: Sequence[int] | np.ndarray, *, test_fraction: float = 0.4,
                  val_fraction: float = 0.15, few_shot_ks: Sequence[int] = (1, 5, 20),
                  seed: int = 0) -> MatchedSplit:
    """The size-matched zero-shot split of a pool of crystals (one space group each).

    ``test_fraction`` of the held-out-group crystals form the test set. The zero-shot model
    trains on the seen-group crystals (``val_fraction`` of them for validation). The
    all-groups model trains on a random subset, of the same size, of every crystal outside
    the test set, and validates on another random subset of the zero-shot validation size:
    the comparison then measures transfer, not the loss of training data.

    Raises:
        ValueError: bad fractions, or too few crystals outside the test set to match sizes.
    """
    if not 0 < test_fraction < 1 or not 0 < val_fraction < 1:
        raise ValueError("test_fraction and val_fraction must be in (0, 1)")
    groups = np.asarray(space_groups, dtype=np.int64)
    rng = np.random.default_rng(seed)
    held = is_held_out(groups)
    held_idx = rng.permutation(np.flatnonzero(held))
    seen_idx = rng.permutation(np.flatnonzero(~held))
    n_test = round(test_fraction * held_idx.size)
    test, held_rest = held_idx[:n_test], held_idx[n_test:]
    n_val = round(val_fraction * seen_idx.size)
    zs_val, zs_train = seen_idx[:n_val], seen_idx[n_val:]
    outside = rng.permutation(np.concatenate([seen_idx, held_rest]))
    if outside.size < zs_train.size + zs_val.size:
        raise ValueError("too few crystals outside the test set to match the zero-shot sizes")
    all_train = outside[:zs_train.size]
    all_val = outside[zs_train.size:zs_train.size + zs_val.size]
    few: dict[int, list[int]] = {}
    for k in few_shot_ks:
        picked = []
        for g in np.unique(groups[held_rest]):
            members = held_rest[groups[held_rest] == g]
            picked.append(members[:min(k, members.size)])  # held_rest is already shuffled
        extra = np.concatenate(picked) if picked else np.zeros(0, dtype=np.int64)
        few[int(k)] = sorted(np.concatenate([zs_train, extra]).tolist())
    return MatchedSplit(sorted(test.tolist()), sorted(zs_train.tolist()),
                        sorted(zs_val.tolist()), sorted(all_train.tolist()),
                        sorted(all_val.tolist()), few)


def gb_gap_table(zero_shot: pd.DataFrame, all_data: pd.DataFrame, min_count: int = 5
                 ) -> dict[str, float]:
    """GB-Gap over the held-out groups with at least ``min_count`` test crystals, plain and
    weighted by the number of test crystals, and the relative degradation of the zero-shot
    model on those crystals.

    Args:
        zero_shot, all_data: per-space-group tables (``space_group``, ``n``, ``mae``) of the
            two models on the same held-out test crystals.

    Returns:
        ``{"gb_gap", "gb_gap_weighted", "relative_degradation", "groups", "crystals"}``;
        ``relative_degradation = (MAE_zero-shot - MAE_all) / MAE_all`` over the crystals of
        the counted groups.
    """
    a = zero_shot.set_index("space_group")
    b = all_data.set_index("space_group")
    common = [g for g in a.index.intersection(b.index) if int(a.loc[g, "n"]) >= min_count]
    if not common:
        return {"gb_gap": math.nan, "gb_gap_weighted": math.nan,
                "relative_degradation": math.nan, "groups": 0, "crystals": 0}
    n = a.loc[common, "n"].to_numpy(dtype=np.float64)
    mz = a.loc[common, "mae"].to_numpy(dtype=np.float64)
    ma = b.loc[common, "mae"].to_numpy(dtype=np.float64)
    gap = np.abs(mz - ma)
    return {"gb_gap": float(gap.mean()), "gb_gap_weighted": float((gap * n).sum() / n.sum()),
            "relative_degradation": float(((mz - ma) * n).sum() / (ma * n).sum()),
            "groups": len(common), "crystals": int(n.sum())}


def random_zero_shot_split(space_groups: Sequence[int] | np.ndarray,
                           fractions: tuple[float, float, float], few_shot_ks: Sequence[int],
                           seed: int = 0) -> dict[str, list[int]]:
    """The published zero-shot protocol on a pool of crystals: a random train/val/test split
    of the pool (fixed, seed 0), the held-out test set is its test crystals of held-out
    groups; ``seed`` chooses the few-shot crystals.

    Returns:
        ``{'all_train', 'all_val', 'seen_val', 'held_test', 'k<k>_train' for every k}``:
        indices into the pool (``k0_train`` holds no held-out crystal).
    """
    import torch

    from cft_pyg.data import few_shot_split, random_split

    groups = torch.as_tensor(np.asarray(space_groups, dtype=np.int64))
    tr, va, te = random_split(len(groups), fractions, seed=0)
    held = is_held_out(groups.numpy())
    out = {"all_train": tr.tolist(), "all_val": va.tolist(),
           "seen_val": [i for i in va.tolist() if not held[i]],
           "held_test": [i for i in te.tolist() if held[i]]}
    for k in few_shot_ks:
        part = few_shot_split(groups[tr], held_out_groups(), k, val_fraction=0.0, seed=seed)
        out[f"k{k}_train"] = tr[part.train].tolist()
    return out
