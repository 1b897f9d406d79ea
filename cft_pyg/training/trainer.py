"""The Lightning trainer of a run: hardware settings, the run's callbacks, its metrics table.

Multi-GPU and multi-node data parallelism come from :class:`lightning.Trainer`
(``accelerator``, ``devices``, ``num_nodes``, ``strategy`` of :class:`TrainConfig`); nothing
here is specific to one device.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import pandas as pd
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

from .config import TrainConfig
from .quiet import on_terminal

__all__ = ["EpochLine", "RunCheckpoint", "RunRecord", "StopAfterEpochs", "TrainingClock",
           "epoch_metrics", "make_trainer", "on_terminal", "resolve_strategy"]


class StopAfterEpochs(Callback):
    """Stop after ``n`` epochs in total (simulated interruption; schedule unchanged)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch + 1 >= self.n:
            trainer.should_stop = True


class TrainingClock(Callback):
    """Logs ``train_seconds``: cumulative wall-clock seconds spent in training epochs
    (optimizer steps and data loading, validation excluded) at the end of every epoch, so
    that learning curves can be drawn against training time as well as epochs."""

    def __init__(self) -> None:
        self.total = 0.0
        self._start: float | None = None

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._start is not None:
            self.total += time.perf_counter() - self._start
            self._start = None
        pl_module.log("train_seconds", self.total, on_epoch=True, on_step=False)

    def state_dict(self) -> dict[str, float]:
        return {"total": self.total}

    def load_state_dict(self, state_dict: dict[str, float]) -> None:
        self.total = float(state_dict.get("total", 0.0))


class EpochLine(Callback):
    """One plain line per finished epoch (``epoch 3/100  train_loss ...  val_mae ...  12 s``)
    on the first process: the progress report of a run whose output is not a terminal."""

    def __init__(self) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        shown = {k: float(v) for k, v in trainer.callback_metrics.items()
                 if k in ("train_loss", "val_mae", "val_loss", "val_accuracy")}
        values = "  ".join(f"{k} {v:.4g}" for k, v in sorted(shown.items()))
        print(f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}  {values}  "
              f"{time.perf_counter() - self._start:.0f} s", flush=True)


class RunRecord(Callback):
    """Stores the run's settings of :data:`~cft_pyg.training.checkpoints.RUN_RECORD` (dataset,
    target, ...) in every checkpoint, so that a resumed run can be checked against them."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = dict(record)

    def state_dict(self) -> dict[str, Any]:
        return dict(self.record)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Nothing to restore: :func:`~cft_pyg.training.checkpoints.check_resume` compared
        the record before training started."""


class RunCheckpoint(ModelCheckpoint):
    """:class:`ModelCheckpoint` whose state follows its run folder.

    Lightning records absolute paths in a checkpoint's callback state; resumed in a run folder
    that was copied or moved, it would forget the best score (``nan``) and point the best
    checkpoint at the original folder. Here every recorded path inside the recorded folder is
    mapped to the same file name in this callback's folder, so a copied run resumes into
    itself. Its state key is that of :class:`ModelCheckpoint`, so older checkpoints resume.
    """

    @property
    def state_key(self) -> str:
        return "ModelCheckpoint" + repr({
            "monitor": self.monitor, "mode": self.mode,
            "every_n_train_steps": self._every_n_train_steps,
            "every_n_epochs": self._every_n_epochs,
            "train_time_interval": self._train_time_interval})

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        old = state_dict.get("dirpath")
        if old is not None and self.dirpath is not None and old != self.dirpath:
            def here(path: Any) -> Any:
                if isinstance(path, str) and path and Path(path).parent == Path(old):
                    return str(Path(self.dirpath) / Path(path).name)
                return path

            state_dict = dict(state_dict, dirpath=self.dirpath)
            for key in ("best_model_path", "kth_best_model_path", "last_model_path"):
                if key in state_dict:
                    state_dict[key] = here(state_dict[key])
            if "best_k_models" in state_dict:
                state_dict["best_k_models"] = {here(k): v for k, v
                                               in state_dict["best_k_models"].items()}
        super().load_state_dict(state_dict)


def resolve_strategy(strategy: str) -> str:
    """Lightning's strategy for ``TrainConfig.strategy``.

    ``'ddp'`` (and ``'ddp_spawn'``) run with ``find_unused_parameters=True``: a batch leaves
    some parameters without gradient (the CFT's per-family first layers of the crystal
    families absent from it), which plain DDP refuses. It costs one walk over the autograd
    graph per step. Any other name goes to Lightning unchanged.
    """
    return {"ddp": "ddp_find_unused_parameters_true",
            "ddp_spawn": "ddp_spawn_find_unused_parameters_true"}.get(strategy, strategy)


def make_trainer(config: TrainConfig, callbacks: Sequence[Callback] = (),
                 logger: Any = False, max_epochs: int | None = None,
                 validate: bool = True) -> L.Trainer:
    """A :class:`lightning.Trainer` with the hardware settings of ``config``.

    Data-parallel runs share the training crystals out with the data module's own sampler
    (:class:`~cft_pyg.training.datamodule.EpochSeededSampler`: the processes' batches make up
    the single-process batch; or the atom-balanced batches), so Lightning's distributed
    sampler is off; validation and test sets are evaluated whole on every process. The
    training loader is asked for every epoch (its batches, and their number with an atom
    budget, are the epoch's: :class:`~cft_pyg.training.datamodule.CrystalDataModule`).
    ``validate=False`` turns Lightning's validation loop off (a
    :class:`~cft_pyg.training.budget.TimeBudget` validates on its own clock).
    ``config.progress_bar`` shows Lightning's bars on a terminal, and one line per epoch
    (:class:`EpochLine`) where the output goes elsewhere (a log file, a pipe).
    """
    bars = config.progress_bar and on_terminal()
    if config.progress_bar and not bars:  # a log file: one plain line per epoch instead
        callbacks = [*callbacks, EpochLine()]
    return L.Trainer(
        accelerator=config.accelerator,
        devices=config.devices,
        num_nodes=config.num_nodes,
        strategy=resolve_strategy(config.strategy),
        use_distributed_sampler=False,
        reload_dataloaders_every_n_epochs=1,
        precision=config.precision,
        max_epochs=max_epochs if max_epochs is not None else config.epochs,
        gradient_clip_val=config.grad_clip or None,
        gradient_clip_algorithm="norm",
        callbacks=list(callbacks),
        logger=logger,
        enable_progress_bar=bars,
        enable_model_summary=config.progress_bar,
        enable_checkpointing=any(isinstance(c, ModelCheckpoint) for c in callbacks),
        num_sanity_val_steps=0,
        limit_val_batches=None if validate else 0,
        log_every_n_steps=1,
        deterministic=False,
        default_root_dir=config.output_dir,
    )


def epoch_metrics(log_dir: str | Path) -> pd.DataFrame:
    """One row per epoch (``epoch``, ``train_loss``, ``val_mae``, ``lr``, ...) merged from all
    CSV logs under ``log_dir`` (a resumed run adds a ``version_<k>``; later ones win)."""
    frames = []
    for path in sorted(Path(log_dir).glob("version_*/metrics.csv"),
                       key=lambda p: int(p.parent.name.split("_")[-1])):
        df = pd.read_csv(path)
        if "epoch" in df.columns and len(df):
            frames.append(df)
    if not frames:
        return pd.DataFrame(columns=["epoch"])
    df = pd.concat(frames, ignore_index=True)
    df = df.groupby("epoch", sort=True).last().reset_index()
    return df.drop(columns=[c for c in ("step",) if c in df.columns])
