"""Helpers shared by the data tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cft_pyg.data import StructureError


def rejection_reason(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
    """The ``reason`` of the :class:`StructureError` that ``fn(*args, **kwargs)`` raises."""
    with pytest.raises(StructureError) as info:
        fn(*args, **kwargs)
    assert isinstance(info.value, ValueError)
    assert str(info.value)
    return info.value.reason
