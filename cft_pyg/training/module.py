"""LightningModule wrapping any crystal-property model of :mod:`cft_pyg.nn`.

:class:`CrystalPropertyModule` owns the model (built by name from the registry, so a
checkpoint alone rebuilds it), the task (regression, or classification into
``num_classes`` classes), the target normalization of a regression (training-split mean and
std, kept as buffers and therefore stored in every checkpoint), the loss, AdamW with linear
warm-up and cosine decay, and the validation/test metrics: the MAE in the target's own units
for a regression; cross-entropy, accuracy and ROC-AUC for a classification.
"""

from __future__ import annotations

import math
import random
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import MeanAbsoluteError
from torchmetrics.classification import (
    BinaryAccuracy,
    BinaryAUROC,
    MulticlassAccuracy,
    MulticlassAUROC,
)

from ..data.featurization import Featurization
from .property_model import PropertyOutputs, build_property_model, checked_options

__all__ = ["CrystalPropertyModule", "parameter_groups", "warmup_cosine_factor"]


def warmup_cosine_factor(step: int, warmup_steps: int, total_steps: int,
                         min_ratio: float = 0.0) -> float:
    """Learning-rate multiplier: linear warm-up to 1, then cosine decay to ``min_ratio``.

    Args:
        step: optimizer step (0-based).
        warmup_steps: number of warm-up steps (0: none).
        total_steps: steps of the whole schedule.
        min_ratio: final multiplier.
    """
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW parameter groups: weight decay on weight matrices, none on biases, norms and
    other vectors (used by the engine and by the wall-clock runner alike)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


class CrystalPropertyModule(PropertyOutputs, L.LightningModule):
    """Regression or classification of one crystal property with a model of :mod:`cft_pyg.nn`.

    Its outputs (normalization, output transform, prediction records) are those of
    :class:`~cft_pyg.training.property_model.PropertyOutputs`, shared with the
    Lightning-free :class:`~cft_pyg.training.property_model.PropertyModel` that
    prediction loads.

    Regression learns ``(y - mean) / std`` with an MSE, L1 or Huber loss and reports MAE in
    physical units. Classification learns integer labels ``0 .. num_classes - 1``: a binary
    task (``num_classes=2``) has one logit and the binary cross-entropy, a multi-class task
    one logit per class and the cross-entropy; it reports the cross-entropy (``val_loss``,
    used for model selection), accuracy and ROC-AUC (one-vs-rest macro average for
    multi-class).

    Args:
        model: registered model name (see :func:`cft_pyg.training.available_models`).
        model_kwargs: keyword arguments of the model's constructor (``out_channels`` is set
            by the task).
        target_mean, target_std: normalization of a regression target (the model learns
            ``(y - mean) / std``; predictions are mapped back). Set them from the training
            split; they are buffers, saved in the checkpoint. Unused by classification.
        target_index: column of ``batch.y`` to learn when ``y`` has several targets.
        lr, weight_decay: AdamW settings.
        warmup_epochs: linear warm-up length in epochs (fractional allowed).
        min_lr_ratio: final learning rate of the cosine decay, relative to ``lr``.
        loss: regression loss ``'mse'``, ``'l1'`` or ``'huber'`` (on normalized targets);
            classification always uses the cross-entropy (``'cross_entropy'``).
        output: regression output: ``'linear'`` (``y = mean + std * z``) or ``'softplus'``
            (``y = softplus(mean + std * z)``, never negative: band gaps, moduli); the loss
            compares ``(y - mean) / std`` with the normalized target either way.
        seed: base seed; every training step starts from RNG state ``f(seed, step, rank)``
            so that a resumed run reproduces an uninterrupted one exactly.
        featurization: the :class:`~cft_pyg.data.Featurization` of the training crystals
            (or its :meth:`~cft_pyg.data.Featurization.to_dict`), kept in the checkpoint as
            a plain dict so that new crystals are featurized the same way wherever the
            checkpoint goes (:attr:`featurization`).
        library_version: cft-pyg version that wrote the checkpoint (set by
            :func:`cft_pyg.training.fit`; ``load_model`` refuses other major.minor versions).
        task: ``'regression'`` or ``'classification'``.
        num_classes: number of classes of a classification (>= 2).
        class_counts: training crystals per class (classification; gives the majority-class
            baseline of the evaluation tables).
        training_groups: space groups the model was trained on (set by
            :func:`cft_pyg.training.fit`: the training crystals' groups; a training-set
            wrapper's callback may widen them, e.g.
            :class:`cft_pyg.experimental.augmentation.RecordTrainingGroups`).
    """

    def __init__(
        self,
        model: str = "cft",
        model_kwargs: dict[str, Any] | None = None,
        target_mean: float = 0.0,
        target_std: float = 1.0,
        target_index: int = 0,
        lr: float = 5e-4,
        weight_decay: float = 1e-4,
        warmup_epochs: float = 5.0,
        min_lr_ratio: float = 0.0,
        loss: str = "mse",
        seed: int = 0,
        featurization: Featurization | dict[str, Any] | None = None,
        library_version: str | None = None,
        task: str = "regression",
        num_classes: int | None = None,
        class_counts: list[int] | None = None,
        output: str = "linear",
        training_groups: list[int] | None = None,
    ) -> None:
        super().__init__()
        training_groups, featurization = checked_options(task, num_classes, loss, output,
                                                         training_groups, featurization)
        self.save_hyperparameters()
        self.model = build_property_model(model, model_kwargs, task, num_classes)
        self.register_buffer("target_mean", torch.tensor(float(target_mean)))
        self.register_buffer("target_std", torch.tensor(float(target_std)))
        if task == "regression":
            self.val_mae = MeanAbsoluteError()
            self.test_mae = MeanAbsoluteError()
        elif num_classes == 2:
            self.val_accuracy, self.val_auc = BinaryAccuracy(), BinaryAUROC()
        else:
            self.val_accuracy = MulticlassAccuracy(num_classes=num_classes, average="micro")
            self.val_auc = MulticlassAUROC(num_classes=num_classes, average="macro")

    # ------------------------------------------------------------------ task
    @property
    def monitor(self) -> str:
        """Validation metric that selects the best epoch (lower is better): ``val_mae`` for a
        regression, ``val_loss`` (cross-entropy) for a classification."""
        return "val_loss" if self.is_classifier else "val_mae"

    def _train_output(self, batch: Any) -> Tensor:
        """What the loss compares with the target: logits (classification) or the output
        in normalized target units (regression)."""
        out = self.logits(batch)
        if not self.is_classifier and self.hparams.get("output", "linear") == "softplus":
            out = (self._physical(out) - self.target_mean) / self.target_std
        return out

    def _loss(self, batch: Any, out: Tensor | None = None) -> Tensor:
        out = self._train_output(batch) if out is None else out
        if self.is_classifier:
            target = self.target(batch)
            if self.hparams.num_classes == 2:
                return F.binary_cross_entropy_with_logits(out, target.to(out.dtype))
            return F.cross_entropy(out, target)
        target = (self.target(batch) - self.target_mean) / self.target_std
        if self.hparams.loss == "l1":
            return F.l1_loss(out, target)
        if self.hparams.loss == "huber":
            return F.smooth_l1_loss(out, target)
        return F.mse_loss(out, target)

    # ------------------------------------------------------------------ loops
    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        """Reseed all RNGs from ``(seed, global_step, rank)``.

        The randomness of a step (dropout, ...) then depends on nothing but its position in
        the run, so a run resumed from a checkpoint reproduces the uninterrupted one.
        """
        s = (int(self.hparams.seed) * 1_000_003 + self.global_step * 7919
             + self.global_rank * 104_729) % (2**32)
        random.seed(s)
        np.random.seed(s)
        torch.manual_seed(s)

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        """Loss (normalized targets / cross-entropy); logs ``train_loss`` and ``lr``."""
        loss = self._loss(batch)
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True,
                 batch_size=batch.num_graphs, sync_dist=True)
        self.log("lr", self.optimizers().param_groups[0]["lr"], on_step=False, on_epoch=True,
                 batch_size=batch.num_graphs, sync_dist=True)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        """Regression: the validation MAE (physical units), logged as ``val_mae``.
        Classification: ``val_loss`` (cross-entropy), ``val_accuracy`` and ``val_auc``."""
        n = batch.num_graphs
        if not self.is_classifier:
            self.val_mae(self(batch), self.target(batch))
            self.log("val_mae", self.val_mae, on_step=False, on_epoch=True, prog_bar=True,
                     batch_size=n)
            return
        target = self.target(batch)
        self.log("val_loss", self._loss(batch), on_step=False, on_epoch=True, prog_bar=True,
                 batch_size=n, sync_dist=True)
        prob = self(batch)
        self.val_accuracy(prob, target)
        self.val_auc(prob, target)
        self.log("val_accuracy", self.val_accuracy, on_step=False, on_epoch=True,
                 prog_bar=True, batch_size=n)
        self.log("val_auc", self.val_auc, on_step=False, on_epoch=True, batch_size=n)

    def test_step(self, batch: Any, batch_idx: int) -> None:
        """Accumulates the test MAE (physical units), logged as ``test_mae`` (regression)."""
        if self.is_classifier:
            raise NotImplementedError("use cft_pyg.training.evaluate for a classifier's test "
                                      "metrics")
        self.test_mae(self(batch), self.target(batch))
        self.log("test_mae", self.test_mae, on_step=False, on_epoch=True,
                 batch_size=batch.num_graphs)

    # ------------------------------------------------------------------ optimizer
    def configure_optimizers(self) -> dict[str, Any]:
        """AdamW + per-step linear warm-up and cosine decay over ``trainer.max_epochs``."""
        optimizer = torch.optim.AdamW(parameter_groups(self.model, self.hparams.weight_decay),
                                      lr=self.hparams.lr)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        max_epochs = max(1, int(self.trainer.max_epochs or 1))
        steps_per_epoch = total / max_epochs
        warmup = round(self.hparams.warmup_epochs * steps_per_epoch)
        warmup = min(warmup, total - 1) if total > 1 else 0
        min_ratio = float(self.hparams.min_lr_ratio)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: warmup_cosine_factor(step, warmup, total, min_ratio))
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1}}

