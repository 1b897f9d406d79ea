r"""Training for a budget of seconds instead of epochs: a callback of the one engine.

:class:`TimeBudget` turns :func:`cft_pyg.training.fit` into a wall-clock run: the learning rate
follows the clock (:func:`clock_lr_factor`: linear warm-up over the first
``warmup_fraction`` of the budget, then cosine decay that reaches zero exactly when the
budget is spent, so every model ends its schedule whatever its speed), the validation MAE is
measured at ``eval_points`` equally spaced moments of training time (the clock stops while
validating), training stops when the budget is spent, and ``fit`` returns the weights of the
best moment. Training seconds count data loading, forward, backward and the optimizer step;
not validation.

.. code-block:: python

    budget = TimeBudget(seconds=240, eval_points=8)
    result = fit(config, train, val, test, budget=budget)
    budget.curve          # [{'train_seconds', 'steps', 'epochs', 'val_mae'}, ...]
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback

__all__ = ["TimeBudget", "clock_lr_factor", "mean_absolute_error"]


def clock_lr_factor(fraction: float, warmup_fraction: float) -> float:
    """Learning-rate multiplier at ``fraction`` of the time budget: linear warm-up, then
    cosine decay that reaches zero at the end of the budget."""
    fraction = min(max(fraction, 0.0), 1.0)
    if warmup_fraction > 0 and fraction < warmup_fraction:
        return max(fraction / warmup_fraction, 1e-3)
    progress = (fraction - warmup_fraction) / max(1e-12, 1.0 - warmup_fraction)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def mean_absolute_error(module: Any, dataset: Sequence[Any], batch_size: int = 128
                        ) -> tuple[float, np.ndarray]:
    """MAE (physical units) of ``module`` on ``dataset`` and the per-crystal absolute
    errors, in dataset order (the module is left in the mode it was in)."""
    from torch_geometric.loader import DataLoader

    was_training = module.training
    module.eval()
    errors = []
    with torch.no_grad():
        for batch in DataLoader(dataset, batch_size=batch_size):
            errors.append((module(batch) - module.target(batch)).abs().double().cpu().numpy())
    module.train(was_training)
    err = np.concatenate(errors) if errors else np.zeros(0)
    return float(err.mean()) if err.size else math.nan, err


class TimeBudget(Callback):
    """Train for ``seconds`` of training time (see the module docstring).

    Args:
        seconds: the budget of training seconds.
        eval_points: validation moments, equally spaced in training time (the last one at
            the end of the budget).
        warmup_fraction: share of the budget spent warming the learning rate up.
        clock: the clock (default :func:`time.perf_counter`; a test may pass a fake one).

    Attributes (after training):
        curve: one ``{'train_seconds', 'steps', 'epochs', 'val_mae'}`` per moment.
        best_val_mae, best_state: the best moment's validation MAE and weights.
        train_seconds, steps, seen: training time, optimizer steps and crystals seen.
    """

    def __init__(self, seconds: float, eval_points: int = 8, warmup_fraction: float = 0.05,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        if seconds <= 0:
            raise ValueError(f"the budget must be positive, got {seconds} s")
        if eval_points < 1:
            raise ValueError(f"eval_points must be >= 1, got {eval_points}")
        if not 0 <= warmup_fraction < 1:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {warmup_fraction}")
        self.seconds = float(seconds)
        self.eval_points = int(eval_points)
        self.warmup_fraction = float(warmup_fraction)
        self.clock = clock
        self.marks = [self.seconds * (i + 1) / self.eval_points for i in range(self.eval_points)]
        self.curve: list[dict[str, float]] = []
        self.best_val_mae = math.inf
        self.best_state: dict[str, Any] | None = None
        self.train_seconds = 0.0
        self.steps = 0
        self.seen = 0
        self.eval_seconds = 0.0
        self._tick: float | None = None
        self._val: Sequence[Any] = ()
        self._n_train = 1
        self._base_lrs: list[float] = []

    @property
    def done(self) -> bool:
        """All validation moments are measured (the budget is spent)."""
        return len(self.curve) >= len(self.marks)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # the clock owns the learning rate: the epoch-based schedule of the module is dropped
        trainer.strategy.lr_scheduler_configs = []
        self._base_lrs = [g["lr"] for g in trainer.optimizers[0].param_groups]
        data = trainer.datamodule
        if data is None or not getattr(data, "val_set", None):
            raise ValueError("a time budget validates on the data module's val_set")
        self._val = data.val_set
        self._n_train = max(1, len(data.train_set or ()))

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # the clock runs from here and from the end of each step, so that the time spent
        # fetching a batch (loading, augmentation, collation) is counted with its step
        self._tick = self.clock()

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule,
                             batch: Any, batch_idx: int) -> None:
        factor = clock_lr_factor(self.train_seconds / self.seconds, self.warmup_fraction)
        for group, base in zip(trainer.optimizers[0].param_groups, self._base_lrs,
                               strict=True):
            group["lr"] = base * factor

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        self._step_end(trainer, pl_module, batch)
        self._tick = self.clock()  # after validation: the clock stops while validating

    def _step_end(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any) -> None:
        if self._tick is not None:
            self.train_seconds += self.clock() - self._tick
            self._tick = None
        self.steps += 1
        first = batch[0] if isinstance(batch, (list, tuple)) else batch  # a pair: 1 crystal
        self.seen += int(first.num_graphs)
        if self.done:
            trainer.should_stop = True
            return
        if self.train_seconds >= self.marks[len(self.curve)] or self.train_seconds >= self.seconds:
            start = self.clock()
            mae, _ = mean_absolute_error(pl_module, self._val)
            self.eval_seconds += self.clock() - start
            self.curve.append({"train_seconds": self.train_seconds, "steps": self.steps,
                               "epochs": self.seen / self._n_train, "val_mae": mae})
            if mae < self.best_val_mae:
                self.best_val_mae = mae
                self.best_state = copy.deepcopy(pl_module.state_dict())
            if self.done or self.train_seconds >= self.seconds:
                trainer.should_stop = True
