"""Fixtures of the study tests: the same as the library's (``tests/conftest.py``): one torch
thread, the repository root, the shared datasets as a temporary mirror (skipped with a reason
without them)."""

from __future__ import annotations

from tests.conftest import REPO_ROOT, shared_data_dir, shared_data_root

__all__ = ["REPO_ROOT", "shared_data_dir", "shared_data_root"]
