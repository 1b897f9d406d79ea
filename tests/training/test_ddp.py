"""Training on two processes (DDP over gloo on the CPU) follows training on one process with
the same global batch: the processes' batches make up the single-process batch
(:class:`~cft_pyg.training.datamodule.EpochSeededSampler`), gradients are averaged, and the
CFT's per-family layers that a batch leaves without gradient do not stop DDP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cft_pyg.training.datamodule import EpochSeededSampler
from cft_pyg.training.engine import resolve_strategy

SCRIPT = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
import torch
from cft_pyg.data import SyntheticCrystals
from cft_pyg.training import TrainConfig, fit

out, devices, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = list(SyntheticCrystals(num_crystals=48, seed=3, log=False))
cfg = TrainConfig(model="cft", model_kwargs={"channels": 32, "num_blocks": 1}, epochs=2,
                  batch_size=batch, lr=3e-3, warmup_epochs=0.5, seed=0, accelerator="cpu",
                  devices=devices, strategy="ddp" if devices > 1 else "auto", threads=1,
                  output_dir=out, progress_bar=False)
result = fit(cfg, data[:32], data[32:], None, overwrite=True)
if result.val_report is not None:  # global rank 0
    params = torch.cat([p.detach().flatten() for p in result.module.parameters()])
    json.dump({"val_mae": result.best_val_mae, "params": params.tolist()},
              open(out + "/result.json", "w"))
"""


def test_sampler_shares_each_global_batch_out_over_processes() -> None:
    single = list(EpochSeededSampler(22, seed=1))
    parts = [list(EpochSeededSampler(22, seed=1, num_replicas=2, rank=r, batch_size=4))
             for r in (0, 1)]
    assert len(parts[0]) == len(parts[1]) == len(EpochSeededSampler(
        22, seed=1, num_replicas=2, rank=0, batch_size=4)) == 11
    for t, start in enumerate(range(0, 16, 8)):  # the full global batches
        assert sorted(parts[0][4 * t:4 * t + 4] + parts[1][4 * t:4 * t + 4]) == \
            sorted(single[start:start + 8])
    # the last global batch (6 crystals) is split 3 + 3, no crystal lost
    assert sorted(parts[0][8:] + parts[1][8:]) == sorted(single[16:])
    with pytest.raises(ValueError, match="rank"):
        EpochSeededSampler(4, num_replicas=2, rank=2)
    assert resolve_strategy("ddp") == "ddp_find_unused_parameters_true"
    assert resolve_strategy("fsdp") == "fsdp"


@pytest.mark.slow
def test_two_processes_follow_one_process_with_the_same_global_batch(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    results = {}
    for name, devices, batch in (("one", 1, 16), ("two", 2, 8)):
        out = tmp_path / name
        run = subprocess.run([sys.executable, str(script), str(out), str(devices), str(batch)],
                             capture_output=True, text=True, env=env, timeout=600)
        assert run.returncode == 0, run.stderr[-3000:]
        results[name] = json.loads((out / "result.json").read_text())
    one, two = results["one"], results["two"]
    assert two["val_mae"] == pytest.approx(one["val_mae"], rel=1e-4)
    diff = max(abs(a - b) for a, b in zip(one["params"], two["params"], strict=True))
    scale = max(abs(a) for a in one["params"])
    assert diff < 1e-4 * scale
    # and the comparison can fail: another global batch trains to other weights
    other = tmp_path / "other"
    run = subprocess.run([sys.executable, str(script), str(other), "2", "4"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    params = json.loads((other / "result.json").read_text())["params"]
    assert max(abs(a - b) for a, b in zip(one["params"], params, strict=True)) > 1e-3 * scale
