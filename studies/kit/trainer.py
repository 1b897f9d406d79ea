"""The one trainer of the studies: a catalog model trained by the engine
(:func:`cft_pyg.training.fit`) for a number of epochs or for a budget of training seconds
(:class:`cft_pyg.training.TimeBudget`), on one torch thread, with its figures.

Also the label-free pretraining of the encoding that ``pretrained_encoding`` models share
(:func:`pretrain`), written atomically so that other workers can wait for the file.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .catalog import TargetEntry, model_entry

__all__ = ["Trained", "pretrain", "train"]


@dataclass
class Trained:
    """A finished training.

    Attributes:
        result: what :func:`cft_pyg.training.fit` returned (the best model, reports).
        config: its :class:`~cft_pyg.training.TrainConfig`.
        wall_seconds, cpu_seconds: of the whole ``fit`` (evaluation included).
        parameters: trainable and frozen parameters of the model.
        budget: the :class:`~cft_pyg.training.TimeBudget` of a time-budget run.
    """

    result: Any
    config: Any
    wall_seconds: float
    cpu_seconds: float
    parameters: int
    budget: Any = None

    def epoch_curve(self) -> Any:
        """Per-epoch ``epoch, val_mae, train_seconds, train_loss`` of an epoch run."""
        from cft_pyg.training.engine import epoch_metrics

        curve = epoch_metrics(Path(self.config.output_dir) / "logs")
        cols = [c for c in ("epoch", "val_mae", "train_seconds", "train_loss_epoch",
                            "train_loss") if c in curve.columns]
        return curve[cols].dropna(subset=["val_mae"])


def train(name: str, target: TargetEntry, train_set: Sequence[Any], val_set: Sequence[Any],
          test_set: Sequence[Any] | None, *, seed: int, output_dir: str | Path,
          epochs: int | None = None, budget_seconds: float | None = None,
          eval_points: int = 8, warmup_fraction: float = 0.05, batch_size: int = 64,
          lr: float = 1e-3, weight_decay: float = 1e-4, warmup_epochs: float = 1.0,
          model_kwargs: dict[str, Any] | None = None,
          pretrained_encoding: str | Path | None = None) -> Trained:
    """Train catalog model ``name`` on ``target`` (its column of ``data.y``; a non-negative
    target such as the band gap gets the engine's softplus output, as in ``cft-pyg train``).

    Args:
        name: catalog name (:func:`studies.kit.catalog.model_entry`).
        target: the target (:func:`studies.kit.catalog.target_entry`).
        train_set, val_set, test_set: crystals (``test_set`` may be ``None``).
        seed: seed of initialization and data order.
        output_dir: the run folder (replaced).
        epochs: train for this many epochs (warm-up and cosine schedule of the engine, the
            best validation epoch selected), or
        budget_seconds: for this many training seconds (learning rate on the clock,
            validation at ``eval_points`` moments, the best moment selected).
        batch_size, lr, weight_decay, warmup_epochs: the optimizer settings.
        model_kwargs: constructor arguments (default: the catalog entry's).
        pretrained_encoding: a pretrained encoding file (:func:`pretrain`) or the name of a
            shipped encoder (default: the catalog entry's ``shipped_encoding``, if any).
    """
    import torch

    from cft_pyg.data import Featurization, FeaturizationMismatchError, featurization_of
    from cft_pyg.training import TimeBudget, TrainConfig, fit

    from .onehot import register as register_onehot

    register_onehot()  # the study-only models of the catalog
    if (epochs is None) == (budget_seconds is None):
        raise ValueError("give exactly one of epochs and budget_seconds")
    torch.set_num_threads(1)
    entry = model_entry(name)
    wanted = Featurization.resolve(dict(entry.featurization))
    found = featurization_of(train_set)
    if found is not None and found != wanted:
        raise FeaturizationMismatchError(
            f"{name} is trained on crystals featurized with {entry.featurization or 'defaults'}"
            f", these differ: {found.differences(wanted)} (load them with the entry's "
            "featurization: load_parts(..., featurization=entry.featurization))")
    if pretrained_encoding is None:
        pretrained_encoding = entry.shipped_encoding
    config = TrainConfig(
        model=entry.model, model_kwargs=entry.model_kwargs() if model_kwargs is None
        else dict(model_kwargs),
        pretrained_encoding=None if pretrained_encoding is None else str(pretrained_encoding),
        target=target.column, target_index=target.index, epochs=epochs or 1,
        batch_size=batch_size, lr=lr,
        weight_decay=weight_decay, warmup_epochs=warmup_epochs if epochs else 0.0,
        patience=None, seed=seed, accelerator="cpu", devices=1, output_dir=str(output_dir),
        progress_bar=False, **entry.training)
    budget = (None if budget_seconds is None else
              TimeBudget(budget_seconds, eval_points=eval_points,
                         warmup_fraction=warmup_fraction))
    start, cpu = time.perf_counter(), time.process_time()
    result = fit(config, train_set, val_set, test_set, overwrite=True, budget=budget,
                 **_experimental_hooks(entry, config))
    return Trained(result, config, time.perf_counter() - start, time.process_time() - cpu,
                   int(sum(p.numel() for p in result.module.model.parameters())), budget)


def _experimental_hooks(entry: Any, config: Any) -> dict[str, Any]:
    """The ``fit`` hooks of the entry's experimental options (subgroup augmentation)."""
    if not entry.subgroup_augmentation:
        return {}
    from cft_pyg.experimental.augmentation import augmentation_hooks

    return augmentation_hooks(entry.subgroup_augmentation, config.seed, config.featurization)


def pretrain(path: Path, name: str, pairs_per_group: int, epochs: int) -> dict[str, Any]:
    """Pretrain the encoding of catalog model ``name`` label-free on orbit distances of all
    230 groups (:func:`cft_pyg.training.pretraining.run_pretraining`, seed 0) into ``path``
    (written atomically); returns the run's record (``kind: 'pretraining'``)."""
    import torch

    from cft_pyg.training.pretraining import run_pretraining

    torch.set_num_threads(1)
    tmp = Path(path).with_suffix(".tmp")
    entry = model_entry(name)
    result = run_pretraining(tmp, entry.model_kwargs(), model=entry.model,
                             pairs_per_group=pairs_per_group, epochs=epochs, seed=0,
                             overwrite=True, threads=1)
    os.replace(tmp, path)
    return {"kind": "pretraining", **result.to_dict()}


def crystals_per_second(n_train: int, epochs: float, seconds: float) -> float | None:
    """Training throughput (``None`` without a positive time)."""
    return n_train * epochs / seconds if seconds and seconds > 0 and not math.isnan(seconds) \
        else None
