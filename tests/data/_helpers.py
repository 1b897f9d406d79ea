"""Helpers shared by the data tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pymatgen.core import Lattice, Structure

from cft_pyg.data import StructureError

NACL = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"],
                                 [[0, 0, 0], [0.5, 0.5, 0.5]])
"""Rock salt, Fm-3m (225)."""
LOW = Structure(Lattice.from_parameters(4.3, 5.1, 6.2, 81.0, 97.0, 108.0),
                ["Zn", "O", "O", "Si"],
                [[0.11, 0.23, 0.37], [0.52, 0.61, 0.08], [0.83, 0.05, 0.71],
                 [0.34, 0.79, 0.52]])
"""A triclinic P1 crystal with four different sites."""


def rejection_reason(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
    """The ``reason`` of the :class:`StructureError` that ``fn(*args, **kwargs)`` raises."""
    with pytest.raises(StructureError) as info:
        fn(*args, **kwargs)
    assert isinstance(info.value, ValueError)
    assert str(info.value)
    return info.value.reason
