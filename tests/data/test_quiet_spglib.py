"""spglib's C messages ("spglib: ... failed.") stay off stderr unless SPGLIB_WARNING=ON."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CARBON = Path(__file__).resolve().parents[3] / "shared" / "data" / "carbon_24" / "test.csv.gz"
# A Carbon-24 test crystal for which spglib's exact-position search fails once and retries.
NOISY = "C-107740-6840-34"

SCRIPT = f"""
import warnings
import pandas as pd
from pymatgen.core import Structure
from cft_pyg.data import from_structure
warnings.simplefilter("ignore")
df = pd.read_csv({str(CARBON)!r})
cif = df.loc[df.material_id == {NOISY!r}, "cif"].iloc[0]
print(int(from_structure(Structure.from_str(cif, fmt="cif")).space_group))
"""


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          env=env, check=True, timeout=120)


@pytest.mark.skipif(not CARBON.is_file(), reason=f"needs the Carbon-24 data at {CARBON}")
def test_spglib_c_messages_are_off_by_default_and_on_when_asked() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SPGLIB_WARNING"}
    quiet = _run(env)
    loud = _run({**env, "SPGLIB_WARNING": "ON"})
    assert "spglib:" in loud.stderr  # the crystal does trigger them
    assert "spglib:" not in quiet.stderr
    assert quiet.stdout == loud.stdout  # same crystal, same group either way
