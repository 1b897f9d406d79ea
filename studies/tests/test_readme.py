"""The Python blocks of ``studies/README.md`` run as written, from the repository root."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from ..conftest import REPO_ROOT

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def _python_blocks() -> list[str]:
    text = (REPO_ROOT / "studies" / "README.md").read_text()
    return [m.group(2) for m in FENCE.finditer(text) if m.group(1) == "python"]


def test_the_readme_has_its_example() -> None:
    assert len(_python_blocks()) >= 1


@pytest.mark.parametrize("index", range(len(_python_blocks())))
def test_python_block_runs(index: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", _python_blocks()[index]], cwd=REPO_ROOT,
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
