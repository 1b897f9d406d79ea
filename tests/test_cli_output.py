"""What the command line prints: readable, once, without noise.

``cft-pyg pretrained`` imports no torch and prints a readable card (``--json``: the record);
a run whose output is not a terminal reports one plain line per epoch instead of progress
bars; a short run raises no warm-up warning; warnings are one line; a two-process DDP run
prints its report once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from cft_pyg.cli import main

from .training import _helpers  # noqa: F401  (registers test-tiny and test-crystals)

TRAIN = ["--model", "test-tiny", "--dataset", "test-crystals", "--batch-size", "16",
         "--accelerator", "cpu", "--devices", "1", "--dataset-kwargs", '{"num": 60}']

NO_TORCH = """
import sys
from cft_pyg.cli import main
codes = [main(a) for a in {argvs!r}]
print("CODES", codes, "TORCH", "torch" in sys.modules)
"""


def test_pretrained_commands_import_no_torch(tmp_path) -> None:
    argvs = [["pretrained"], ["pretrained", "mp20-band-gap"],
             ["pretrained", "mp20-formation-energy", "--json"],
             ["pretrained", "cft-published-r5"]]
    out = subprocess.run([sys.executable, "-c", NO_TORCH.format(argvs=argvs)],
                         capture_output=True, text=True, cwd=tmp_path, check=True, timeout=120)
    assert "CODES [0, 0, 0, 0] TORCH False" in out.stdout, out.stdout + out.stderr


def test_pretrained_card_is_readable_and_json_on_request(capsys) -> None:
    assert main(["pretrained", "mp20-band-gap"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("mp20-band-gap: ")
    assert "test MAE" in text and "where it fails" in text and "{" not in text.split("\n")[0]
    assert not text.lstrip().startswith("{")
    assert len(text.splitlines()) < 80
    assert main(["pretrained", "mp20-band-gap", "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["name"] == "mp20-band-gap" and "validity" in card
    assert main(["pretrained", "--json"]) == 2  # --json needs a NAME


def test_log_output_has_epoch_lines_not_bars_and_no_warmup_warning(tmp_path, capsys) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rc = main(["train", "--epochs", "2", "--output-dir", str(tmp_path / "run"), *TRAIN])
    assert rc == 0
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert [ln.split()[1] for ln in lines if ln.startswith("epoch ")] == ["1/2", "2/2"]
    assert "\r" not in out.out + out.err and "it/s" not in out.out + out.err
    assert "warm-up: 1 epochs" in out.out  # said once, as a line, not a warning
    assert not [w for w in caught if "warmup" in str(w.message)]


def test_warnings_are_one_line(capsys) -> None:
    from cft_pyg import cli

    cli._quiet_warnings()
    text = warnings.formatwarning("something odd", UserWarning, "/x/y.py", 3, "source line")
    assert text == "cft-pyg: warning: something odd\n"


@pytest.mark.slow
def test_ddp_run_prints_once(tmp_path: Path) -> None:
    """Two processes (DDP over gloo on the CPU): the report is printed by the first only."""
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                          os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "cft_pyg.cli", "train", "--dataset", "synthetic",
           "--dataset-kwargs", '{"num_crystals": 40}', "--model", "cft", "--model-kwargs",
           '{"channels": 16, "num_blocks": 1, "heads": 2}', "--epochs", "1", "--devices", "2",
           "--strategy", "ddp", "--accelerator", "cpu", "--threads", "1", "--batch-size", "8",
           "--output-dir", str(tmp_path / "ddp")]
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env,
                         timeout=600)
    text = run.stdout + run.stderr
    assert run.returncode == 0, text
    for line in ("crystals: train", "best validation MAE", "torch CPU threads", "epoch 1/1",
                 "checkpoints:"):
        assert text.count(line) == 1, (line, text)
    assert "[rank1]" not in text and "sync_dist" not in text
