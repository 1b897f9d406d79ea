"""Commands that do not train import no Lightning; Python prediction prints no banners.

Speed is not timed here (timings belong to benchmarks); what makes the commands slow is
measurable as an import, so that is what the tests check.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

NO_LIGHTNING = """
import sys
from cft_pyg.cli import main
rc = main({argv!r})
heavy = sorted(m for m in ("lightning", "torch", "pytorch_lightning") if m in sys.modules)
print("RC", rc, "HEAVY", ",".join(heavy))
"""


@pytest.mark.parametrize(("argv", "rc"), [
    (["pretrained"], 0),
    (["pretrained", "mp20-band-gap"], 0),
    (["predict", "--pretrained", "mp20-band-gap", "missing.cif"], 1),
    (["evaluate", "missing.ckpt"], 1),
    (["train", "--lr", "-1"], 2),
    (["demo", "--lr", "-1"], 2),
])
def test_light_commands_import_no_lightning(argv: list[str], rc: int, tmp_path) -> None:
    out = subprocess.run([sys.executable, "-c", NO_LIGHTNING.format(argv=argv)],
                         capture_output=True, text=True, cwd=tmp_path, check=True, timeout=120)
    assert f"RC {rc} HEAVY" in out.stdout
    assert "lightning" not in out.stdout.split("HEAVY", 1)[1], out.stdout


PREDICT = """
from pymatgen.core import Lattice, Structure
from cft_pyg import pretrained
from cft_pyg.data import from_structure
from cft_pyg.training import predict
model = pretrained.load("mp20-formation-energy")
nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"],
                                 [[0, 0, 0], [0.5, 0.5, 0.5]])
df = predict(model, [from_structure(nacl, model.featurization)])
print("PREDICTION", float(df["y_pred"][0]))
"""


def test_python_predict_prints_only_what_the_user_prints(tmp_path) -> None:
    out = subprocess.run([sys.executable, "-W", "default", "-c", PREDICT], capture_output=True,
                         text=True, cwd=tmp_path, check=True, timeout=180)
    assert out.stdout.startswith("PREDICTION") and out.stdout.count("\n") == 1, out.stdout
    for banner in ("GPU available", "TPU available", "litlogger", "LeafSpec"):
        assert banner not in out.stdout + out.stderr, out.stderr
