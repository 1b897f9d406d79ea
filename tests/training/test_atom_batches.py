"""Atom-balanced training batches in the engine (``TrainConfig.max_atoms_per_batch``): every
training crystal exactly once per epoch (on one process and over 2 gloo CPU processes under
Lightning DDP), no batch over the budget except a single larger crystal, the same batches for
the same seed, and a run killed in the middle of an epoch and resumed from its step
checkpoint (``checkpoint_every_steps``) trains exactly as an uninterrupted one; the same
resume mechanism serves the batches of ``batch_size`` crystals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from torch_geometric.data import Data

from cft_pyg.cli import main
from cft_pyg.training import TrainConfig, fit
from cft_pyg.training.config import ConfigError

from ._helpers import make_crystals

REPO = Path(__file__).resolve().parents[2]
BUDGET = 7
TINY = {"model": "test-tiny", "lr": 3e-3, "warmup_epochs": 1.0, "progress_bar": False,
        "accelerator": "cpu", "devices": 1, "patience": None, "threads": 1}


def _big_crystal(natoms: int) -> Data:
    """A crystal over the atom budget (it must make a batch of its own)."""
    g = torch.Generator().manual_seed(11)
    z = torch.randint(1, 30, (natoms,), generator=g)
    return Data(z=z, frac_coords=torch.rand(natoms, 3, generator=g),
                space_group=torch.tensor([225]), natoms=torch.tensor([natoms]),
                y=torch.tensor([float(z.float().mean() / 10)]), material_id="big",
                num_nodes=natoms)


@pytest.fixture(scope="module")
def crystals() -> tuple[list, list]:
    """62 crystals of 1-5 atoms and one of 9 (over the budget of 7), and a validation set."""
    return [*make_crystals(62, seed=0), _big_crystal(BUDGET + 2)], make_crystals(16, seed=1)


class Record(Callback):
    """``(epoch, step, crystal ids, atoms)`` of every training batch."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, int, list[str], int]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.rows.append((trainer.current_epoch, trainer.global_step, list(batch.material_id),
                          int(batch.num_nodes)))


class Kill(Callback):
    """Raises after training step ``step`` (before that step's checkpoint is written)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            raise RuntimeError("killed")


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu",
                      weights_only=True)["state_dict"]


def _check_epochs(rows: list, ids: list[str], epochs: int, budget: int | None) -> list[int]:
    """Every crystal exactly once per epoch, no batch over the budget but a single crystal;
    the number of batches of every epoch."""
    counts = []
    for epoch in range(epochs):
        mine = [r for r in rows if r[0] == epoch]
        assert sorted(i for r in mine for i in r[2]) == sorted(ids), epoch
        assert budget is None or all(r[3] <= budget or len(r[2]) == 1 for r in mine)
        counts.append(len(mine))
    return counts


@pytest.mark.parametrize("order, workers", [("atoms", 0), ("atoms", 2), ("crystals", 0)])
def test_killed_mid_epoch_and_resumed_trains_as_uninterrupted(tmp_path, crystals, order,
                                                              workers) -> None:
    train, val = crystals
    size = {"max_atoms_per_batch": BUDGET} if order == "atoms" else {"batch_size": 10}
    config = TrainConfig(epochs=3, checkpoint_every_steps=4, num_workers=workers, **size, **TINY)
    straight, first, second = Record(), Record(), Record()
    fit(config.replace(output_dir=str(tmp_path / "a")), train, val, callbacks=[straight])
    counts = _check_epochs(straight.rows, [d.material_id for d in train], 3,
                           BUDGET if order == "atoms" else None)
    if order == "atoms":
        assert "big" in [r[2][0] for r in straight.rows if len(r[2]) == 1]
        assert len(set(counts)) > 1  # the number of batches follows each epoch's packing
    kill = counts[0] + 6  # in the middle of epoch 1, after a step checkpoint (every 4 steps)
    with pytest.raises(RuntimeError, match="killed"):
        fit(config.replace(output_dir=str(tmp_path / "b")), train, val,
            callbacks=[first, Kill(kill)])
    last = tmp_path / "b" / "checkpoints" / "last.ckpt"
    position = torch.load(last, weights_only=True)["CrystalDataModule"]
    assert position["epoch"] == 1 and 0 < position["batches_done"] < position["batches"]
    resumed = fit(config.replace(output_dir=str(tmp_path / "b"), resume=str(last)), train, val,
                  callbacks=[second])
    assert resumed.epochs_run == 3
    step = second.rows[0][1]
    assert step == counts[0] + position["batches_done"] and step < kill + 1
    # the same batches at every step: the killed run up to its checkpoint, then the resumed
    assert [r for r in first.rows if r[1] < step] + second.rows == straight.rows
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)
    ma, mb = (pd.read_csv(tmp_path / run / "metrics.csv") for run in "ab")
    assert ma["val_mae"].tolist() == mb["val_mae"].tolist()


def test_resume_at_an_epoch_end_with_loader_workers(tmp_path, crystals) -> None:
    """Workers draw batches as soon as the loader is iterated: the resumed epoch must be set
    before (it was not: a resumed run with workers trained on epoch 0's order)."""
    train, val = crystals
    config = TrainConfig(epochs=3, batch_size=16, num_workers=2, **TINY)
    fit(config.replace(output_dir=str(tmp_path / "a")), train, val)
    fit(config.replace(output_dir=str(tmp_path / "b"), stop_after_epochs=1), train, val)
    fit(config.replace(output_dir=str(tmp_path / "b"),
                       resume=str(tmp_path / "b" / "checkpoints" / "last.ckpt")), train, val)
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_other_seed_other_batches_and_mismatched_resume_is_refused(tmp_path, crystals) -> None:
    train, val = crystals
    config = TrainConfig(epochs=1, max_atoms_per_batch=BUDGET, checkpoint_every_steps=5,
                         output_dir=str(tmp_path / "a"), **TINY)
    one, other = Record(), Record()
    with pytest.raises(RuntimeError, match="killed"):
        fit(config, train, val, callbacks=[one, Kill(7)])
    fit(config.replace(seed=1, output_dir=str(tmp_path / "b")), train, val, callbacks=[other])
    assert [r[2] for r in one.rows[:5]] != [r[2] for r in other.rows[:5]]
    last = str(tmp_path / "a" / "checkpoints" / "last.ckpt")
    with pytest.raises(ValueError, match=r"cannot resume in the middle of epoch 0: .*"
                                         r"'max_atoms_per_batch': 7.*'max_atoms_per_batch': 9"):
        fit(config.replace(resume=last, max_atoms_per_batch=9), train, val)


def test_settings_are_checked_and_are_flags(tmp_path, capsys) -> None:
    for name in ("max_atoms_per_batch", "checkpoint_every_steps"):
        with pytest.raises(ConfigError, match=f"{name} must be >= 1"):
            TrainConfig(**{name: 0})
    with pytest.raises(ConfigError, match="max_atoms_per_batch"):
        TrainConfig(max_atoms_per_batch="many")
    assert TrainConfig.from_dict({"max_atoms_per_batch": "512"}).max_atoms_per_batch == 512
    rc = main(["train", "--model", "test-tiny", "--dataset", "test-crystals", "--epochs", "1",
               "--accelerator", "cpu", "--devices", "1", "--no-progress", "--threads", "1",
               "--max-atoms-per-batch", "12", "--checkpoint-every-steps", "3",
               "--output-dir", str(tmp_path / "run")])
    assert rc == 0
    used = (tmp_path / "run" / "config.yaml").read_text()
    assert "max_atoms_per_batch: 12" in used and "checkpoint_every_steps: 3" in used
    rc = main(["train", "--max-atoms-per-batch", "0", "--output-dir", str(tmp_path / "bad")])
    assert rc != 0 and "max_atoms_per_batch must be >= 1" in capsys.readouterr().err


def test_the_data_module_needs_a_loader_per_epoch_for_atom_batches(crystals) -> None:
    from types import SimpleNamespace

    from cft_pyg.training import CrystalDataModule

    data = CrystalDataModule(*crystals, max_atoms_per_batch=BUDGET)
    data.trainer = SimpleNamespace(reload_dataloaders_every_n_epochs=0, current_epoch=0,
                                   world_size=1, global_rank=0)
    with pytest.raises(ValueError, match="reload_dataloaders_every_n_epochs=1"):
        data.train_dataloader()
    data.trainer.reload_dataloaders_every_n_epochs = 1
    batches = list(data.train_dataloader().batch_sampler)
    assert sorted(i for b in batches for i in b) == list(range(len(crystals[0])))


def test_a_time_budget_refuses_step_checkpoints(tmp_path, crystals) -> None:
    from cft_pyg.training.budget import TimeBudget

    with pytest.raises(ValueError, match="checkpoint_every_steps"):
        fit(TrainConfig(epochs=1, checkpoint_every_steps=2, output_dir=str(tmp_path), **TINY),
            *crystals, budget=TimeBudget(seconds=1.0))


# ------------------------------------------------ Lightning DDP on 2 gloo CPU processes
SCRIPT = r"""
import json, os, signal, sys, warnings
warnings.simplefilter("ignore")
sys.path.insert(0, sys.argv[4])
from lightning.pytorch.callbacks import Callback
from tests.training._helpers import make_crystals  # registers 'test-tiny'
from cft_pyg.training import TrainConfig, fit

out, tag, kill = sys.argv[1], sys.argv[2], int(sys.argv[3])


class Record(Callback):
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        with open(f"{out}/{tag}-rank{trainer.global_rank}.jsonl", "a") as f:
            f.write(json.dumps([trainer.current_epoch, trainer.global_step,
                                list(batch.material_id), int(batch.num_nodes)]) + "\n")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == kill:  # a kill -9 of every process in the middle of an epoch
            os.kill(os.getpid(), signal.SIGKILL)


train = make_crystals(61, seed=0)
cfg = TrainConfig(model="test-tiny", epochs=3, max_atoms_per_batch=7, lr=3e-3,
                  warmup_epochs=1.0, patience=None, seed=0, accelerator="cpu", devices=2,
                  strategy="ddp", threads=1, checkpoint_every_steps=4, progress_bar=False,
                  output_dir=f"{out}/run-{tag}" if tag != "resumed" else f"{out}/run-killed",
                  resume=f"{out}/run-killed/checkpoints/last.ckpt" if tag == "resumed" else None)
fit(cfg, train, make_crystals(8, seed=1), overwrite=tag != "resumed", callbacks=[Record()])
"""


def _rows(path: Path) -> list:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_ddp_two_processes_every_crystal_once_per_epoch_and_resume_mid_epoch(tmp_path) -> None:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}

    def run(tag: str, kill: int = -1) -> int:
        done = subprocess.run([sys.executable, str(script), str(tmp_path), tag, str(kill),
                               str(REPO)], capture_output=True, text=True, env=env, timeout=600)
        assert done.returncode in (0, -9), done.stderr[-3000:]
        return done.returncode

    assert run("straight") == 0
    straight = [_rows(tmp_path / f"straight-rank{r}.jsonl") for r in (0, 1)]
    ids = sorted(f"test-0-{i}" for i in range(61))
    per_epoch = []
    for epoch in range(3):
        batches = [[row for row in rank if row[0] == epoch] for rank in straight]
        assert len(batches[0]) == len(batches[1])  # the same number of steps on both
        seen = Counter(i for rank in batches for row in rank for i in row[2])
        assert sorted(seen) == ids and set(seen.values()) == {1}  # every crystal once
        assert all(row[3] <= 7 or len(row[2]) == 1 for rank in batches for row in rank)
        per_epoch.append(len(batches[0]))
    kill = per_epoch[0] + 6  # in the middle of epoch 1, after a step checkpoint (every 4)
    assert run("killed", kill) == -9
    position = torch.load(tmp_path / "run-killed" / "checkpoints" / "last.ckpt",
                          weights_only=True)["CrystalDataModule"]
    assert position["epoch"] == 1 and 0 < position["batches_done"] < position["batches"]
    assert run("resumed") == 0
    for rank in (0, 1):
        killed = _rows(tmp_path / f"killed-rank{rank}.jsonl")
        resumed = _rows(tmp_path / f"resumed-rank{rank}.jsonl")
        assert resumed[0][1] == per_epoch[0] + position["batches_done"] <= kill
        joined = [row for row in killed if row[1] < resumed[0][1]] + resumed
        assert joined == straight[rank]  # the same batches, step for step, on every process
    a, b = _weights(tmp_path / "run-straight"), _weights(tmp_path / "run-killed")
    assert all(torch.equal(a[k], b[k]) for k in a)
