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
def shared_data_dir(tmp_path_factory) -> Path:
    """The real datasets, as a temporary mirror (real folders, files linked to the originals).

    Tests that need them are skipped with a reason without them.  Anything a test creates
    beside the data (``processed/``, ``raw/``) lands in the mirror: the suite never writes
    into ``../shared`` (checked at the end of the session, see :func:`pytest_sessionfinish`).
    """
    root = shared_data_root()
    if root is None:
        pytest.skip("real datasets not found: expected ../shared/data beside the checkout "
                    "or $CFT_PYG_SHARED_DATA")
    mirror = tmp_path_factory.mktemp("shared_data")
    for path in sorted(root.rglob("*")):
        target = mirror / path.relative_to(root)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(path)
    return mirror


def _snapshot(root: Path | None) -> set[str]:
    return set() if root is None else {str(p) for p in root.rglob("*")}


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config._shared_before = _snapshot(shared_data_root())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any test wrote into the shared data folder."""
    before = getattr(session.config, "_shared_before", None)
    if before is None:
        return
    new = sorted(_snapshot(shared_data_root()) - before)
    if new:
        print(f"\nERROR: the test session wrote into the shared data folder: {new[:5]}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
