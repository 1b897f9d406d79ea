"""fit: train a model on crystals, select it on validation, evaluate the best one.

A run folder holds::

    config.yaml                  the settings used
    checkpoints/best.ckpt        lowest validation MAE (cross-entropy for a classifier)
    checkpoints/last.ckpt        end of the latest epoch, or its latest step with
                                 checkpoint_every_steps (resume from it)
    logs/version_<k>/            Lightning CSVLogger, one version per (re)start
    metrics.csv                  per-epoch train_loss, val_mae, lr (all versions merged)
    val_*.csv/json, test_*.csv/json   evaluation of the best checkpoint
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback, EarlyStopping
from lightning.pytorch.loggers import CSVLogger

from .._version import __version__
from ..data.featurization import Featurization, featurization_of
from ..data.sampler import atom_counts
from ..data.splits import space_groups_of
from .budget import TimeBudget
from .checkpoints import check_resume, load_model, run_record
from .config import TrainConfig, save_config
from .datamodule import CrystalDataModule, class_statistics, target_statistics
from .domain import domain_of
from .evaluation import EvaluationReport
from .module import CrystalPropertyModule
from .prediction import evaluate
from .registry import model_accepts
from .threads import set_threads
from .trainer import (
    RunCheckpoint,
    RunRecord,
    StopAfterEpochs,
    TrainingClock,
    epoch_metrics,
    make_trainer,
)

__all__ = ["FitResult", "fit", "model_kwargs_for"]

# Lightning's advice about dataloader workers is noise on CPU-only, small runs.
warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
warnings.filterwarnings("ignore", message=r".*Checkpoint directory .* exists and is not empty.*")


@dataclass
class FitResult:
    """What :func:`fit` produced.

    Attributes:
        module: the model restored from the best checkpoint (in eval mode).
        output_dir: the run folder.
        best_checkpoint, last_checkpoint: paths of the checkpoints.
        best_val_score: best value of the selection metric ``monitor``.
        epochs_run: epochs completed (fewer than ``config.epochs`` after early stopping).
        val_report, test_report: evaluation of the best model (``None`` for an empty split).
        extra_reports: evaluation of the best model on the ``extra_eval`` sets.
        monitor: the selection metric, ``'val_mae'`` (regression) or ``'val_loss'``
            (classification cross-entropy).
    """

    module: CrystalPropertyModule
    output_dir: Path
    best_checkpoint: Path
    last_checkpoint: Path
    best_val_score: float
    epochs_run: int
    val_report: EvaluationReport | None
    test_report: EvaluationReport | None
    extra_reports: dict[str, EvaluationReport] = field(default_factory=dict)
    monitor: str = "val_mae"

    @property
    def best_val_mae(self) -> float:
        """Lowest validation MAE of a regression (NaN for a classification)."""
        return self.best_val_score if self.monitor == "val_mae" else math.nan


def fit(config: TrainConfig, train: Sequence[Any], val: Sequence[Any],
        test: Sequence[Any] | None = None, *, extra_eval: dict[str, Sequence[Any]] | None = None,
        overwrite: bool = False, budget: TimeBudget | None = None,
        train_transform: Callable[[Sequence[Any]], Sequence[Any]] | None = None,
        callbacks: Sequence[Callback] = ()) -> FitResult:
    """Train ``config.model`` on ``train``, select on ``val``, evaluate on ``val``/``test``.

    Args:
        config: run settings (``config.resume`` continues from a checkpoint, which must come
            from the same data, target, featurization and a compatible version:
            :func:`~cft_pyg.training.checkpoints.check_resume`).
        train, val, test: sequences of crystal ``Data`` with targets.
        extra_eval: more named sets to evaluate with the best model (e.g. zero-shot groups);
            each writes ``<name>_*`` tables.
        overwrite: replace an existing run folder's outputs (a resumed run may always write
            into its own folder).
        budget: train for a budget of seconds instead of ``config.epochs``
            (:class:`~cft_pyg.training.budget.TimeBudget`: the learning rate follows the clock,
            validation at its moments, the best moment's weights are returned). Not with
            ``config.patience``, ``config.resume`` or several processes.
        train_transform: maps the training set to the set the optimizer sees (a wrapper
            such as :class:`cft_pyg.experimental.augmentation.SubgroupAugmented`); the
            normalization, the recorded training groups and the domain come from ``train``.
        callbacks: more Lightning callbacks for the trainer (e.g.
            :class:`cft_pyg.experimental.augmentation.RecordTrainingGroups`).

    Raises:
        FileExistsError: the output folder already holds a run, and neither ``overwrite`` nor
            ``config.resume`` was given.
        ValueError: empty sets, a budget with an epoch schedule, or a checkpoint to resume
            from that does not fit this run.
    """
    out = Path(config.output_dir)
    _check_fit(config, train, val, test, overwrite, budget)
    if config.threads is not None:
        set_threads(config.threads)
    L.seed_everything(config.seed, workers=True, verbose=False)
    featurization = featurization_of(train)
    module = _build_module(config, train, featurization)
    if config.resume is not None:
        check_resume(config.resume, config, featurization,
                     (float(module.target_mean), float(module.target_std)))
    _prepare_folder(config, out, overwrite)
    natoms = None if config.max_atoms_per_batch is None else atom_counts(train)
    if train_transform is not None:
        train = train_transform(train)
    data = CrystalDataModule(train, val, test, batch_size=config.batch_size, seed=config.seed,
                             num_workers=config.num_workers,
                             max_atoms_per_batch=config.max_atoms_per_batch, natoms=natoms)
    best_cb = RunCheckpoint(dirpath=out / "checkpoints", filename="best",
                              monitor=module.monitor, mode="min", save_top_k=1,
                              save_last=True, enable_version_counter=False)
    trainer = make_trainer(config, [*_callbacks(config, module, best_cb, budget), *callbacks],
                           logger=CSVLogger(save_dir=str(out), name="logs"),
                           max_epochs=None if budget is None else 1_000_000,
                           validate=budget is None)
    trainer.fit(module, datamodule=data, ckpt_path=config.resume, weights_only=True)
    if trainer.is_global_zero:
        epoch_metrics(out / "logs").to_csv(out / "metrics.csv", index=False)
    best_path, last_path, best_val = _best_of(trainer, module, best_cb, budget, out)
    best = load_model(best_path)
    reports = _evaluate_best(config, best, out, val, test, extra_eval) \
        if trainer.is_global_zero else {}
    return FitResult(best, out, best_path, last_path, best_val, trainer.current_epoch,
                     reports.pop("val", None), reports.pop("test", None), reports,
                     monitor=module.monitor)


def _check_fit(config: TrainConfig, train: Sequence[Any], val: Sequence[Any],
               test: Sequence[Any] | None, overwrite: bool, budget: TimeBudget | None) -> None:
    """Refuse what cannot run (an occupied folder, empty sets, a budget with an epoch
    schedule); warn about what runs but misleads (one-crystal sets, endless warm-up)."""
    out = Path(config.output_dir)
    if (out / "checkpoints").exists() and not overwrite and config.resume is None:
        raise FileExistsError(f"output folder {out} already holds a run "
                              "(use --overwrite to replace it, or --resume to continue it)")
    if len(train) == 0 or len(val) == 0:
        raise ValueError(f"training and validation sets must not be empty "
                         f"(got {len(train)} / {len(val)})")
    for name, part in (("validation", val), ("test", test)):
        if part is not None and len(part) == 1:
            warnings.warn(f"the {name} set holds a single crystal: its MAE is one error, not an "
                          "estimate (use larger fractions or more data)", UserWarning,
                          stacklevel=3)
    if budget is not None and (config.patience or config.resume or config.stop_after_epochs
                               or config.checkpoint_every_steps):
        raise ValueError("a time budget replaces the epoch schedule: it does not combine with "
                         "patience, resume, stop_after_epochs or checkpoint_every_steps")
    if budget is None and config.warmup_epochs >= config.epochs:
        warnings.warn(f"warmup_epochs ({config.warmup_epochs:g}) >= epochs ({config.epochs}): "
                      "the learning rate never reaches its peak and the cosine decay never "
                      "starts", UserWarning, stacklevel=3)


def _prepare_folder(config: TrainConfig, out: Path, overwrite: bool) -> None:
    """Create the run folder (clearing an overwritten run's checkpoints and logs) and write
    its ``config.yaml``."""
    out.mkdir(parents=True, exist_ok=True)
    if overwrite and config.resume is None:
        for p in (out / "checkpoints").glob("*.ckpt"):
            p.unlink(missing_ok=True)
        for p in (out / "metrics.csv", *(out / "logs").glob("version_*/metrics.csv")):
            p.unlink(missing_ok=True)
    save_config(config.to_dict(), out / "config.yaml")


def _build_module(config: TrainConfig, train: Sequence[Any],
                  featurization: Featurization | None) -> CrystalPropertyModule:
    """The LightningModule of ``config``, its normalization (or class counts) taken from
    ``train``, with a pretrained encoding loaded when asked."""
    mean, std, num_classes, counts = 0.0, 1.0, None, None
    if config.task == "classification":
        num_classes, counts = class_statistics(train, config.target_index, config.num_classes)
    elif config.normalize_target:
        mean, std = target_statistics(train, config.target_index)
    module = CrystalPropertyModule(
        model=config.model, model_kwargs=model_kwargs_for(config.model, config.model_kwargs,
                                                          featurization),
        target_mean=mean, target_std=std,
        target_index=config.target_index, lr=config.lr, weight_decay=config.weight_decay,
        warmup_epochs=config.warmup_epochs, min_lr_ratio=config.min_lr_ratio,
        loss=config.resolved_loss, seed=config.seed, featurization=featurization,
        library_version=__version__, task=config.task, num_classes=num_classes,
        class_counts=counts, output=config.resolved_output,
        training_groups=sorted({int(g) for g in space_groups_of(train).unique()}))
    module.hparams["domain"] = domain_of(train)  # cell sizes and elements (predict warns)
    if config.pretrained_encoding:
        from .pretraining import load_pretrained_encoding

        load_pretrained_encoding(module.model, config.pretrained_encoding)
    return module


def _callbacks(config: TrainConfig, module: CrystalPropertyModule, best_cb: RunCheckpoint,
               budget: TimeBudget | None) -> list[Callback]:
    """Checkpointing (or the time budget; ``last.ckpt`` every ``checkpoint_every_steps``
    steps too), the training clock, the run record, early stopping, a simulated
    interruption."""
    callbacks: list[Callback] = [best_cb if budget is None else budget, TrainingClock(),
                                 RunRecord(run_record(config))]
    if config.checkpoint_every_steps:
        callbacks.append(RunCheckpoint(dirpath=best_cb.dirpath, filename="last", monitor=None,
                                       every_n_train_steps=config.checkpoint_every_steps,
                                       save_top_k=1, enable_version_counter=False))
    if config.patience:
        callbacks.append(EarlyStopping(monitor=module.monitor, mode="min",
                                       patience=config.patience))
    if config.stop_after_epochs:
        callbacks.append(StopAfterEpochs(config.stop_after_epochs))
    return callbacks


def _best_of(trainer: L.Trainer, module: CrystalPropertyModule, best_cb: RunCheckpoint,
             budget: TimeBudget | None, out: Path) -> tuple[Path, Path, float]:
    """Paths of the best and last checkpoints, and the best validation score.

    The best checkpoint is looked up in this run's own folder (a run folder copied elsewhere
    and resumed still points at itself, not at the folder it was copied from).
    """
    ckpt_dir = out / "checkpoints"
    last_path = ckpt_dir / "last.ckpt"
    if budget is not None:  # the weights of the best moment of the clock
        if budget.best_state is None:
            raise RuntimeError("the time budget ended before its first validation moment")
        trainer.save_checkpoint(last_path)
        module.load_state_dict(budget.best_state)
        trainer.save_checkpoint(ckpt_dir / "best.ckpt")
        return ckpt_dir / "best.ckpt", last_path, float(budget.best_val_mae)
    if best_cb.best_model_path:
        best_path = ckpt_dir / Path(best_cb.best_model_path).name
    else:
        best_path = last_path
    best_score = best_cb.best_model_score
    return best_path, last_path, float(best_score) if best_score is not None else math.nan


def _evaluate_best(config: TrainConfig, best: CrystalPropertyModule, out: Path,
                   val: Sequence[Any], test: Sequence[Any] | None,
                   extra_eval: dict[str, Sequence[Any]] | None) -> dict[str, EvaluationReport]:
    """Evaluate the best model on ``val``, ``test`` and the extra sets; write their tables."""
    quiet = config.replace(progress_bar=False)
    sets = {"val": val, "test": test, **(extra_eval or {})}
    reports: dict[str, EvaluationReport] = {}
    for name, dataset in sets.items():
        if dataset is not None and len(dataset) > 0:
            reports[name] = evaluate(best, dataset, config=quiet)
            reports[name].write(out, prefix=f"{name}_", overwrite=True)
    return reports


_FEATURIZED_ARGUMENTS = (("radius", "radius"),)
"""Model constructor arguments that must equal a featurization option."""


def model_kwargs_for(model: str, model_kwargs: dict[str, Any],
                     featurization: Featurization | None) -> dict[str, Any]:
    """``model_kwargs`` with the neighbour ``radius`` of ``featurization`` filled in where
    the model takes it and the user did not set it,
    so that a model trained on crystals featurized at 6 Å reads them at 6 Å (a value set
    explicitly is kept; the model then refuses crystals featurized otherwise)."""
    kwargs = dict(model_kwargs)
    if featurization is None:
        return kwargs
    for argument, option in _FEATURIZED_ARGUMENTS:
        if argument not in kwargs and model_accepts(model, argument):
            kwargs[argument] = getattr(featurization, option)
    return kwargs
