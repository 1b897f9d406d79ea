"""Shared pytest fixtures for cft-pyg."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# The suite checks correctness on small tensors: one intra-op thread avoids OpenMP
# start-up and spin costs that dominate small ops (and explode on a busy machine).
torch.set_num_threads(1)

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_root() -> Path | None:
    """``../shared/data`` beside the checkout (or ``$CFT_PYG_SHARED_DATA``), if present."""
    env = os.environ.get("CFT_PYG_SHARED_DATA")
    root = Path(env) if env else REPO_ROOT.parent / "shared" / "data"
    return root if root.is_dir() else None


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The real datasets folder; tests that need it are skipped with a reason without it."""
    root = shared_data_root()
    if root is None:
        pytest.skip("real datasets not found: expected ../shared/data beside the checkout "
                    "or $CFT_PYG_SHARED_DATA")
    return root
