"""Docs as tests: every shell and Python block of README.md runs exactly as written.

The blocks run in order in one temporary folder (a later block may use what an earlier one
wrote, as a reader following the README would), holding the files the README names:
``a.cif``, ``b.cif``, ``my_crystal.cif``, ``POSCAR``, ``structures/``, ``relaxed/CONTCAR``
(CGCNN's sample crystals), ``cifs/`` (CGCNN's classification sample) and ``mp_20/`` (the first
100 rows of MP-20's val and test files). Shell blocks run under ``bash -euo pipefail`` with
this environment's ``cft-pyg`` first on ``PATH``; Python blocks run in a fresh interpreter.

The first block (fresh machine) creates a virtual environment, installs the package and runs
the main job (``cft-pyg demo``, about 45 s), and then runs this suite: that is what CI does,
so it is not repeated here; ``.ci/run`` is checked to run those very lines.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from .conftest import REPO_ROOT

README = REPO_ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
INSTALL = 'python3 -m venv .venv && . .venv/bin/activate && pip install -c constraints.txt ' \
          '-e ".[dev]"'


def readme_blocks() -> list[tuple[int, str, str]]:
    """``(line, language, code)`` of every fenced block of the README, in order."""
    text = README.read_text()
    return [(text[:m.start()].count("\n") + 1, m.group(1), m.group(2))
            for m in FENCE.finditer(text)]


def test_every_block_is_shell_or_python() -> None:
    blocks = readme_blocks()
    assert len(blocks) >= 6
    others = [(line, lang) for line, lang, _ in blocks if lang not in ("bash", "python")]
    assert not others, f"README blocks that the docs test would not run: {others}"


def test_first_block_is_what_ci_runs() -> None:
    first = readme_blocks()[0][2].splitlines()
    assert first[0] == INSTALL + " && cft-pyg demo"
    ci = (REPO_ROOT / ".ci" / "run").read_text().splitlines()
    assert first[0] in ci and first[1] in ci  # install + main job, then the test command


def _workspace(root: Path, shared: Path) -> None:
    from pymatgen.core import Structure

    sample = shared / "cgcnn_sample"
    cifs = sorted((sample / "sample-regression").glob("*.cif"))
    for name, src in zip(("a.cif", "b.cif", "my_crystal.cif"), cifs, strict=False):
        shutil.copy(src, root / name)
    (root / "structures").mkdir()
    for src in cifs[3:5]:
        shutil.copy(src, root / "structures" / src.name)
    (root / "relaxed").mkdir()
    Structure.from_file(cifs[5]).to(filename=str(root / "relaxed" / "CONTCAR"), fmt="poscar")
    Structure.from_file(cifs[6]).to(filename=str(root / "POSCAR"), fmt="poscar")
    shutil.copytree(sample / "sample-classification", root / "cifs")
    (root / "mp_20").mkdir()
    for split in ("val", "test"):
        pd.read_csv(shared / "mp_20" / f"{split}.csv.gz", nrows=100).to_csv(
            root / "mp_20" / f"{split}.csv", index=False)


def _run(block: tuple[int, str, str], cwd: Path, env: dict[str, str]) -> None:
    line, lang, code = block
    command = ["bash", "-euo", "pipefail", "-c", code] if lang == "bash" else \
        [sys.executable, "-c", code]
    run = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, (f"README block at line {line} failed ({lang}):\n{code}\n"
                                 f"--- stdout\n{run.stdout[-3000:]}\n--- stderr\n"
                                 f"{run.stderr[-3000:]}")


@pytest.mark.slow
def test_every_readme_block_runs_as_written(shared_data_dir: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    _workspace(work, shared_data_dir)
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
           "OMP_NUM_THREADS": "1", "CFT_PYG_HOME": str(tmp_path / "home"),
           "PYTHONWARNINGS": "ignore"}
    for block in readme_blocks()[1:]:  # the first is CI's own (see the module docs)
        _run(block, work, env)
    assert any((work / "runs" / "x").glob("test_*"))
    assert len(pd.read_csv(work / "predictions.csv")) == 4  # a.cif, POSCAR, structures/ (2)
