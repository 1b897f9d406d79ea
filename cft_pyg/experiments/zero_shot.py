"""The zero-shot protocol shared by the demo and the comparison.

The held-out groups are the 92 groups that contain inversion
(:func:`cft_pyg.data.centrosymmetric_groups`), as in the published CFT: a *zero-shot* model
never sees a crystal of them in training or validation, an *all-groups* model does, and both
are tested on the same held-out test crystals (paired).  The published metric is the GB-Gap,
``mean over held-out groups g of |MAE_zero-shot(g) - MAE_all(g)|`` (:func:`gb_gap`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..data.splits import centrosymmetric_groups

__all__ = ["GB_GAP_DEFINITION", "gb_gap", "held_out_groups", "is_held_out"]

GB_GAP_DEFINITION = ("GB-Gap = mean over held-out groups g of |MAE_zero-shot(g) - MAE_all(g)| "
                     "on the same held-out test crystals")


def held_out_groups() -> list[int]:
    """The groups held out from a zero-shot model: every group containing inversion."""
    return list(centrosymmetric_groups())


def is_held_out(space_groups: Sequence[int] | np.ndarray) -> np.ndarray:
    """Boolean mask: which of ``space_groups`` (one per crystal) are held out."""
    return np.isin(np.asarray(space_groups), held_out_groups())


def gb_gap(zero_shot: pd.DataFrame, all_data: pd.DataFrame) -> tuple[float, int]:
    """GB-Gap: mean over held-out groups of ``|MAE_zero-shot(g) - MAE_all(g)|``.

    Args:
        zero_shot, all_data: per-space-group tables (``space_group``, ``mae``) of the two
            models on the same held-out test crystals.

    Returns:
        ``(gap, number of groups)``; groups missing from either table are left out (``nan``
        and 0 when none is common).
    """
    a = zero_shot.set_index("space_group")["mae"]
    b = all_data.set_index("space_group")["mae"]
    common = a.index.intersection(b.index)
    if len(common) == 0:
        return math.nan, 0
    return float((a[common] - b[common]).abs().mean()), len(common)
