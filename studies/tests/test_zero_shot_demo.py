"""The shared zero-shot protocol, and the demo's new home with the old import path."""

from __future__ import annotations

import numpy as np

from cft_pyg.data import centrosymmetric_groups
from studies.kit.zero_shot import held_out_groups, is_held_out


def test_held_out_groups_are_the_centrosymmetric_ones() -> None:
    assert held_out_groups() == list(centrosymmetric_groups())
    assert len(held_out_groups()) == 92
    np.testing.assert_array_equal(is_held_out([1, 2, 14, 225, 4]),
                                  [False, True, True, True, False])
