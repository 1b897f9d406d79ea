"""Fixtures of the symmetry tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_torch_thread() -> Iterator[None]:
    """Run each symmetry test with one intra-op thread, restored afterwards.

    The tensors here are small; on a shared 2-core machine two spinning intra-op threads
    made the graph builds ~5x slower (measured), without changing any result.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
